"""PS4PRO backend: runs in its own Python process (torch, numpy, ...; never bpy).

``python -m ps4pro_blender <command> ...``; see cli.py. Only protocol.py (stdlib) and ply.py
(numpy) are also imported by the Blender side, so this package's __init__ stays empty of imports.
"""

__version__ = "0.1.0"
