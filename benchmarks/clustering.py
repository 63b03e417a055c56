"""k-means on the autoencoder codes against k-means on the raw inputs and on PCA codes of the same
size (the reduction pipeline's `cluster_features` node), as `kedro run --pipelines=denoise` makes
them, on tables it was not tuned on, and the time the node adds to the run:

  digits         the bundled 8x8 digits (1,797 x 64, 10 classes): the default configuration
  breast_cancer  scikit-learn's (569 x 30, 2 classes)
  wine           scikit-learn's (178 x 13, 3 classes)
  images         10,000 x 784 (digits upsampled to 28x28 with noise: time_to_answer.py's table)

    .venv/bin/python benchmarks/clustering.py [--tables digits breast_cancer wine images] [--out DIR]

Each run's table (clustering.csv: ARI and NMI on the labelled test rows, silhouette on at most
2,000 of them, and the node's seconds per feature set) is printed beside the run's wall time and
load average; --out keeps each run's clustering.png and .csv as <table>.png/.csv (the docs'
figures come from here).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pandas as pd
from time_to_answer import REPO, RUNTIME, image_table, kedro_run


def sklearn_table(name: str, path: Path) -> Path:
    from sklearn import datasets

    frame = getattr(datasets, f"load_{name}")(as_frame=True).frame
    frame.rename(columns={"target": "class"}).sample(frac=1, random_state=0).to_csv(path, index=False)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    tables = ["digits", "breast_cancer", "wine", "images"]
    parser.add_argument("--tables", nargs="+", default=tables, choices=tables)
    parser.add_argument("--out", type=Path, help="a folder for each run's clustering figure and table, <table>.png/.csv")
    parser.add_argument("--kedro", default=str(Path(sys.executable).with_name("kedro")))
    args = parser.parse_args()
    pd.set_option("display.width", 160)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        for name in args.tables:
            local, data_file = dict(RUNTIME), None
            if name in ("breast_cancer", "wine"):
                data_file = sklearn_table(name, root / f"{name}.csv")
                local["data"] = {"source": "csv", "path": f"data/01_raw/{data_file.name}", "label_column": "class"}
                if name == "wine":  # the anomaly pipeline of denoise needs its normal classes named
                    local["anomaly"] = {"normal_classes": [0, 1]}
            elif name == "images":
                data_file = image_table(root / "images.csv")
                local["data"] = {"source": "csv", "path": "data/01_raw/images.csv", "label_column": "digit",
                                 "image_shape": [28, 28]}
                local["anomaly"] = {"normal_classes": list(range(9))}
            load = os.getloadavg()[0]
            wall, metrics = kedro_run(REPO, args.kedro, "denoise", local, data_file, keep=root / name)
            table = pd.read_csv(root / name / "clustering.csv")
            print(f"{name}: denoise {wall:.1f} s wall (load average {load:.1f} -> {os.getloadavg()[0]:.1f}), k-means "
                  f"{table['seconds'].sum():.2f} s of it ({100 * table['seconds'].sum() / wall:.1f}%); finetune accuracy "
                  f"{metrics.get('finetune.test_accuracy', float('nan')):.4f}")
            print(table.round(4).to_string(index=False), flush=True)
            if args.out:
                args.out.mkdir(parents=True, exist_ok=True)
                for suffix in (".png", ".csv"):
                    shutil.copy(root / name / f"clustering{suffix}", args.out / f"{name}{suffix}")


if __name__ == "__main__":
    main()
