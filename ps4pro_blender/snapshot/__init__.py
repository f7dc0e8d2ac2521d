"""3D Snapshot: a reconstruction's tri-plane hidden inside one ordinary-looking PNG.

container.py  the PNG file: 8-bit RGB pixels plus a JSON header in an iTXt chunk (read and checked
              without ever executing anything from the file)
quantize.py   tri-plane features <-> 8-bit codes with per-channel ranges (the payload)
lsb.py        the exact baseline: payload bytes in the lowest bits of the cover's pixels
"""
