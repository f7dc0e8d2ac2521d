import bpy


def test_extension_registers(scene):
    assert hasattr(scene, "ps4pro")
    assert scene.ps4pro.source == "PATH"
