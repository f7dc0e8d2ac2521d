"""Image quality numbers, in one place: every PSNR and SSIM the backend reports comes from here.

``psnr`` needs only a mean squared error (the trainers keep one); ``image_metrics`` compares two
images with scikit-image. Images are float in 0..1.
"""

from __future__ import annotations

import math

import numpy as np

# A perfect match has an infinite PSNR; this floor on the error keeps the number finite (120 dB).
MSE_FLOOR = 1e-12


def psnr(mse: float) -> float:
    """Peak signal-to-noise ratio in dB of a mean squared error on 0..1 images; NaN stays NaN."""
    mse = float(mse)
    return mse if math.isnan(mse) else -10.0 * math.log10(max(mse, MSE_FLOOR))


def image_metrics(pred: np.ndarray, gt: np.ndarray) -> dict:
    """PSNR and SSIM of ``pred`` against ``gt`` ((H, W, 3) floats in 0..1). SSIM uses a 7-pixel
    uniform window (scikit-image's default), not the 11-pixel Gaussian of published NeRF tables."""
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    pred = pred.astype(np.float64)
    gt = gt.astype(np.float64)
    win = min(7, min(gt.shape[:2]) // 2 * 2 - 1)  # SSIM's window must fit the image and be odd
    return {"psnr": float(peak_signal_noise_ratio(gt, pred, data_range=1.0)),
            "ssim": float(structural_similarity(gt, pred, data_range=1.0, channel_axis=2, win_size=max(3, win)))}
