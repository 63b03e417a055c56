#!/usr/bin/env python
"""Write scikit-learn's bundled digits (1,797 8x8 images, 10 classes; no download) as image files,
the way people keep images: one sub-folder per class (torchvision's ImageFolder convention),
or one flat folder, or MNIST's IDX pair. For the docs' "your own images" walk-through and tests.

    python scripts/digits_to_images.py data/01_raw/digits_png                  # grayscale PNG, 0/ .. 9/
    python scripts/digits_to_images.py data/01_raw/digits_rgb --rgb            # colour PNG (3 channels)
    python scripts/digits_to_images.py data/01_raw/inbox_png --flat --rows 1700:  # no class folders
    python scripts/digits_to_images.py data/01_raw/digits_idx --idx            # images.idx3-ubyte.gz + labels.idx1-ubyte.gz

Pixels: the digits' 0-16 values scaled to 0-255 (ink is bright, as in MNIST); --size upsamples
(e.g. --size 28 for MNIST-sized images).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits


def digits(size: int) -> tuple[np.ndarray, np.ndarray]:
    bunch = load_digits()
    images = np.rint(bunch.images * (255 / 16)).astype(np.uint8)
    if size != 8:
        images = np.stack([np.asarray(Image.fromarray(i).resize((size, size), Image.Resampling.BILINEAR)) for i in images])
    return images, bunch.target


def coloured(gray: np.ndarray) -> np.ndarray:
    """A gray image as RGB: the digit in orange on a dark blue ground (three channels that differ)."""
    g = gray.astype(np.float32) / 255
    rgb = np.stack([255 * g, 160 * g, 90 * (1 - g)], axis=-1)
    return np.rint(rgb).astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="the folder to write (made if missing)")
    parser.add_argument("--rgb", action="store_true", help="colour PNG files (3 channels) instead of grayscale")
    parser.add_argument("--flat", action="store_true", help="every file in one folder (unlabelled), no class sub-folders")
    parser.add_argument("--idx", action="store_true", help="MNIST's IDX files (gzip) instead of PNG files")
    parser.add_argument("--jpeg", action="store_true", help="JPEG files instead of PNG")
    parser.add_argument("--size", type=int, default=8, help="height and width in pixels (default 8, the digits' own)")
    parser.add_argument("--rows", default=":", help="a Python slice of the 1,797 images, e.g. 1700: (default all)")
    args = parser.parse_args()
    images, labels = digits(args.size)
    start, _, stop = args.rows.partition(":")
    chosen = slice(int(start) if start else None, int(stop) if stop else None)
    indices = np.arange(len(images))[chosen]
    args.out.mkdir(parents=True, exist_ok=True)
    if args.idx:
        import sys

        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
        from autoencoder_pipelines.data.idx import write_idx

        write_idx(args.out / "images.idx3-ubyte.gz", images[indices])
        write_idx(args.out / "labels.idx1-ubyte.gz", labels[indices].astype(np.uint8))
        print(f"wrote {len(indices)} images and labels as IDX to {args.out}")
        return
    suffix = ".jpg" if args.jpeg else ".png"
    for i in indices:
        folder = args.out if args.flat else args.out / str(labels[i])
        folder.mkdir(exist_ok=True)
        pixels = coloured(images[i]) if args.rgb else images[i]
        Image.fromarray(pixels, mode="RGB" if args.rgb else "L").save(folder / f"digit_{i:04d}{suffix}")
    layout = "one folder" if args.flat else "a sub-folder per class"
    kind = "RGB" if args.rgb else "grayscale"
    print(f"wrote {len(indices)} {kind} {args.size}x{args.size} {suffix} files to {args.out} ({layout})")


if __name__ == "__main__":
    main()
