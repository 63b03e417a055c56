#!/usr/bin/env python
"""Flatten a folder of PNG/JPEG files into one Parquet file of rows the scoring model takes:
`path` (each file's path), `label` where class sub-folders give one, and one column per pixel,
read exactly as `data.source: images` reads them for training (data/images.py). This is how
image files reach Spark (`kedro run --pipelines=score_spark`), which reads tables: put the file
under data/01_raw/incoming_spark/.

    python scripts/images_to_parquet.py data/01_raw/new_images data/01_raw/incoming_spark/new_images.parquet --image-shape 8 8

--image-shape gives the model's [height, width] (or channels height width): every image is
resized (and converted) to it. Bad files are refused naming each, or left out with --drop-bad.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from autoencoder_pipelines.data.errors import UserError
from autoencoder_pipelines.data.images import read_image_folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("out", type=Path, help="the Parquet file to write")
    parser.add_argument("--image-shape", type=int, nargs="+", default=None, help="the model's image shape, e.g. 28 28")
    parser.add_argument("--drop-bad", action="store_true", help="leave out files that cannot be read (else refuse)")
    args = parser.parse_args()
    try:
        frame, shape = read_image_folder(args.folder, args.image_shape, "drop" if args.drop_bad else "refuse")
    except UserError as error:
        sys.exit(f"Error: {error.message}".replace("set data.bad_rows: drop", "pass --drop-bad"))
    frame["path"] = [(args.folder / path).as_posix() for path in frame["path"]]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    temporary = args.out.with_name(f".{args.out.name}.tmp")
    frame.to_parquet(temporary, index=False)
    temporary.replace(args.out)  # never a half-written file where Spark reads
    print(f"wrote {len(frame)} images of shape {shape} as rows of {frame.shape[1] - 1 - ('label' in frame)} pixels to {args.out}")


if __name__ == "__main__":
    main()
