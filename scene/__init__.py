"""Reading and writing the Blender scene (bpy): camera models, capture sources and renders, dataset
files, imported geometry, and what differs between Blender versions. No operators live here."""
