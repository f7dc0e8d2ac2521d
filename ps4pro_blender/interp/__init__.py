"""PS4PRO interpolation: in-between views from neighbouring captured views (geometry-aware, with
depth and poses) or frames (footage, images only), with one small network family.

warp.py     z-buffered forward warp, push-pull hole fill, the plain no-learning baseline
flow.py     backward warping and the classical DIS-flow fallback for footage
model.py    PS4PROInterp: the shared fusion U-Net and the coarse-to-fine flow estimator
weights.py  weights and checkpoint files (plain state dicts, loaded with weights_only=True)
infer.py    interpolate_views / interpolate_footage, tiled, CPU or CUDA
train.py    the train-interp command
"""
