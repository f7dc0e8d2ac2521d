"""Copy scikit-image's real photographs into a texture folder, with the train / eval split fixed.

    .venv/backend/bin/python scripts/export_textures.py OUT_DIR

Run with the BACKEND Python (it finds the images through the installed ``skimage`` package;
the Blender side never imports skimage, it only reads the folder this writes). Writes the
images and ``OUT_DIR/textures.json``::

    {"source": "scikit-image <version>", "images": [{"file", "split", "gray", "size",
     "licence", "description"}, ...]}

``split`` is ``train`` or ``eval``; ``procedural.build_scene`` only ever loads the images of its
own family, so the eval scenes' photographs are never seen in training. Only photographs with
a clear public-domain / CC0 / no-known-restriction statement in ``skimage.data`` are used;
synthetic images, scans of text-only pages, microscopy of single cells and the Middlebury
stereo pair (licence not stated) are left out.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

# file: (split, licence as stated in skimage.data, description)
IMAGES = {
    "astronaut.png": ("train", "public domain (NASA)", "astronaut Eileen Collins, colour photo"),
    "chelsea.png": ("train", "CC0 (Stefan van der Walt)", "a cat, colour photo"),
    "rocket.jpg": ("train", "public domain (SpaceX)", "a rocket launch, colour photo"),
    "ihc.png": ("train", "no known copyright restrictions (CMMI)", "immunohistochemistry slide, colour micrograph"),
    "camera.png": ("train", "CC0 (Lav Varshney)", "cameraman, grey photo"),
    "brick.png": ("train", "CC0 (CC0Textures Bricks25)", "brick wall, grey texture photo"),
    "grass.png": ("train", "CC0 (CC0Textures)", "grass, grey texture photo"),
    "text.png": ("train", "public domain (Wikipedia File:Corner.png)", "handwriting on paper, grey photo"),
    # Held out: only the eval family (benchmarks) ever sees these.
    "coffee.png": ("eval", "CC0 (Rachel Michetti)", "a cup of coffee, colour photo"),
    "gravel.png": ("eval", "CC0 (CC0Textures Gravel04)", "gravel, grey texture photo"),
    "coins.png": ("eval", "no known copyright restrictions (Brooklyn Museum)", "Greek coins, grey photo"),
}


def skimage_data_dir() -> Path:
    import skimage  # the backend environment's; only its files are used

    return Path(skimage.__file__).resolve().parent / "data"


def export(out_dir: str | os.PathLike) -> dict:
    from PIL import Image
    import skimage

    src = skimage_data_dir()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    entries = []
    for name in sorted(IMAGES):
        split, licence, description = IMAGES[name]
        path = src / name
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing from this scikit-image install")
        shutil.copyfile(path, out / name)
        with Image.open(path) as im:
            gray = im.mode in ("L", "LA", "I", "I;16")
            size = list(im.size)
        entries.append(
            {"file": name, "split": split, "gray": gray, "size": size, "licence": licence, "description": description}
        )
    listing = {"source": f"scikit-image {skimage.__version__} (skimage/data)", "images": entries}
    tmp = out / "textures.json.tmp"
    tmp.write_text(json.dumps(listing, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, out / "textures.json")
    return listing


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out_dir", help="folder for the images and textures.json")
    args = p.parse_args(argv)
    listing = export(args.out_dir)
    n = {s: sum(e["split"] == s for e in listing["images"]) for s in ("train", "eval")}
    print(f"{len(listing['images'])} images ({n['train']} train, {n['eval']} eval) -> {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
