"""PS4PRO interpolation: in-between views from neighbouring captured views (geometry-aware, with
depth and poses) or frames (footage, images only), with one small network family.

warp.py     z-buffered forward warp, push-pull hole fill, the plain no-learning baseline
flow.py     backward warping and DIS flow (OpenCV) for footage mode
model.py    PS4PROInterp: the fusion U-Net both modes share, and its inputs per mode
weights.py  weights and checkpoint files (plain state dicts, loaded with weights_only=True)
infer.py    interpolate_views / interpolate_footage, tiled, CPU or CUDA
train.py    the train-interp command
"""
