"""A line plot as a PNG with Pillow alone (the backend environment has no matplotlib): enough for
bench/results curves such as held-out PSNR against training time."""

from __future__ import annotations

import math

from PIL import Image, ImageDraw, ImageFont

COLOURS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75)]


def _ticks(lo: float, hi: float, count: int = 6) -> list[float]:
    span = hi - lo or 1.0
    raw = span / count
    step = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if raw <= m * step:
            step *= m
            break
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def line_plot(path: str, series: dict, *, title: str, xlabel: str, ylabel: str, log_x: bool = False,
              size=(900, 560)) -> None:
    """``series``: label -> [(x, y), ...]. Writes a PNG with axes, ticks, a legend and markers."""
    w, h = size
    left, right, top, bottom = 80, 200, 50, 60
    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    pts = [p for s in series.values() for p in s]
    fx = (lambda v: math.log10(v)) if log_x else (lambda v: v)
    xs, ys = [fx(p[0]) for p in pts], [p[1] for p in pts]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    pad = 0.05 * ((x1 - x0) or 1.0)
    x0, x1 = x0 - pad, x1 + pad
    ypad = 0.08 * ((y1 - y0) or 1.0)
    y0, y1 = y0 - ypad, y1 + ypad

    def at(x, y):
        return (left + (fx(x) - x0) / (x1 - x0) * (w - left - right),
                h - bottom - (y - y0) / (y1 - y0) * (h - top - bottom))

    draw.rectangle([left, top, w - right, h - bottom], outline="black")
    for v in _ticks(y0, y1):
        _, py = at(10 ** x0 if log_x else x0, v)
        draw.line([left, py, w - right, py], fill=(230, 230, 230))
        draw.text((left - 8, py), f"{v:g}", fill="black", font=font, anchor="rm")
    xticks = sorted({p[0] for p in pts}) if log_x else _ticks(x0, x1)
    for v in xticks:
        px, _ = at(v, y0)
        draw.line([px, top, px, h - bottom], fill=(230, 230, 230))
        draw.text((px, h - bottom + 8), f"{v:g}", fill="black", font=font, anchor="mt")
    for i, (label, s) in enumerate(series.items()):
        colour = COLOURS[i % len(COLOURS)]
        xy = [at(x, y) for x, y in sorted(s)]
        if len(xy) > 1:
            draw.line(xy, fill=colour, width=2)
        for px, py in xy:
            draw.ellipse([px - 3, py - 3, px + 3, py + 3], fill=colour)
        ly = top + 10 + 18 * i
        draw.line([w - right + 12, ly, w - right + 32, ly], fill=colour, width=2)
        draw.text((w - right + 38, ly), label, fill="black", font=font, anchor="lm")
    draw.text((w / 2, 20), title, fill="black", font=font, anchor="mm")
    draw.text(((left + w - right) / 2, h - 22), xlabel, fill="black", font=font, anchor="mm")
    draw.text((12, top - 20), ylabel, fill="black", font=font, anchor="lm")
    img.save(path)
