"""What differs between the Blender versions we support (4.2 LTS to 5.2 LTS), in one place.

Each difference is one name here; the modules that need it import it instead of testing
``bpy.app.version`` themselves. (Point clouds have their own single switch,
``geometry_import.point_cloud_method``: 5.1+ ``PointCloud.resize``, 4.5+ convert, 4.2
geometry nodes.)
"""

import bpy

# Blender 5.0 split an output's kind from its format: ``ImageFormatSettings.media_type``
# ('IMAGE', 'MULTI_LAYER_IMAGE', 'VIDEO') must be set before ``file_format``. Before 5.0
# ``file_format = 'OPEN_EXR_MULTILAYER'`` alone makes a multilayer EXR.
HAS_MEDIA_TYPE = "media_type" in bpy.types.ImageFormatSettings.bl_rna.properties

# Blender 5.0 gave render passes descriptive names; the object-index pass is a multilayer
# EXR's "<layer>.IndexOB.X" before that and "<layer>.Object Index.X" since.
OBJECT_INDEX_PASS = "Object Index" if bpy.app.version >= (5, 0, 0) else "IndexOB"
