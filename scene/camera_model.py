"""Pinhole intrinsics and poses exactly as Blender projects a perspective camera, both ways:
:func:`intrinsics` from a Blender camera (capture), :func:`blender_camera` for one (import).

Mirrors ``BKE_camera_params_compute_viewplane``: the sensor-fit dimension spans
``viewfac`` pixels (the render width for horizontal fit, the height times the pixel
aspect ratio ``ycor`` for vertical fit), lens shift moves the view plane by
``shift * viewfac`` pixels, and non-square pixels stretch rows by ``ycor``.

Output follows the OpenCV/nerfstudio convention: ``u = fl_x * x / z + cx`` and
``v = fl_y * y / z + cy`` with x right, y down, z forward, and (0, 0) the top-left
corner of the image, so pixel centres sit at +0.5.
"""

import math


def render_size(render) -> tuple[int, int]:
    """Pixel size of the rendered image (resolution times percentage, as Blender rounds it)."""
    pct = render.resolution_percentage
    return render.resolution_x * pct // 100, render.resolution_y * pct // 100


def intrinsics_from(
    lens: float,
    sensor_width: float,
    sensor_height: float,
    sensor_fit: str,
    shift_x: float,
    shift_y: float,
    width: int,
    height: int,
    pixel_aspect_x: float = 1.0,
    pixel_aspect_y: float = 1.0,
) -> dict:
    """Intrinsics of a perspective camera rendering ``width`` x ``height`` pixels."""
    ycor = pixel_aspect_y / pixel_aspect_x
    # AUTO fits the sensor width to the larger side of the (aspect-corrected) image.
    if sensor_fit == "AUTO":
        fit = "HORIZONTAL" if pixel_aspect_x * width >= pixel_aspect_y * height else "VERTICAL"
    else:
        fit = sensor_fit
    sensor = sensor_height if sensor_fit == "VERTICAL" else sensor_width
    viewfac = width if fit == "HORIZONTAL" else ycor * height
    fl_x = lens * viewfac / sensor
    fl_y = fl_x / ycor
    # Image v grows downwards while Blender's shift_y moves the view up, hence the signs.
    cx = width / 2.0 - shift_x * viewfac
    cy = height / 2.0 + shift_y * viewfac / ycor
    return {
        "fl_x": fl_x,
        "fl_y": fl_y,
        "cx": cx,
        "cy": cy,
        "w": int(width),
        "h": int(height),
        "camera_angle_x": 2.0 * math.atan(width / (2.0 * fl_x)),
        "camera_angle_y": 2.0 * math.atan(height / (2.0 * fl_y)),
    }


def intrinsics(camera_data, render) -> dict:
    """Intrinsics of ``camera_data`` (a perspective bpy Camera) under ``render`` settings."""
    width, height = render_size(render)
    return intrinsics_from(
        camera_data.lens,
        camera_data.sensor_width,
        camera_data.sensor_height,
        camera_data.sensor_fit,
        camera_data.shift_x,
        camera_data.shift_y,
        width,
        height,
        render.pixel_aspect_x,
        render.pixel_aspect_y,
    )


def blender_camera(fx: float, fy: float, cx: float, cy: float, w: int, h: int, sensor_width: float = 36.0) -> dict:
    """Blender camera settings that project like this pinhole camera (the inverse of
    :func:`intrinsics_from` with ``sensor_fit='HORIZONTAL'``).

    Blender's focal length in pixels is then ``lens / sensor_width * W``; a shift moves the
    principal point by ``shift * W`` pixels (x to the left, y down in image rows, divided by the
    pixel aspect ``ycor``).
    """
    ycor = fx / fy  # pixel_aspect_y / pixel_aspect_x
    return {"sensor_fit": "HORIZONTAL", "sensor_width": sensor_width, "lens": fx * sensor_width / w,
            # Blender keeps both pixel aspects >= 1.
            "pixel_aspect": (1.0 / ycor, 1.0) if ycor < 1.0 else (1.0, ycor),
            "shift_x": (w / 2.0 - cx) / w, "shift_y": (cy - h / 2.0) * ycor / w}


def camera_to_world(matrix_world) -> list[list[float]]:
    """4x4 camera-to-world in Blender camera axes (-Z forward, +Y up), scale removed.

    Blender renders through ``normalize_m4`` of the object matrix, so normalising the
    axis columns (rather than a full decompose) gives the pose the renderer used.
    """
    m = matrix_world.normalized()
    return [[float(m[r][c]) for c in range(4)] for r in range(4)]
