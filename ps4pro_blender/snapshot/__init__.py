"""3D Snapshot: a reconstruction's tri-plane hidden inside one ordinary-looking PNG.

payload.py    the fixed layout: planes, their 8-bit codes, the secret image the network hides
quantize.py   tri-plane features <-> 8-bit codes with per-channel ranges
decoder.py    the shared decoder, the snapshot weights file, building a field from planes
distill.py    a trained field (teacher) -> snapshot planes (and training the shared decoder)
hiding.py     the invertible hiding network (Haar front end, dynamic affine-coupling blocks)
lsb.py        the exact baseline: payload bytes in the lowest bits of the cover's pixels
methods.py    hide / reveal the codes by either method
container.py  the PNG file: 8-bit RGB pixels plus a JSON header in an iTXt chunk (read and checked
              without ever executing anything from the file)
encode.py     the ``snapshot-encode`` command; decode.py ``snapshot-decode``; train.py ``train-snapshot``
"""
