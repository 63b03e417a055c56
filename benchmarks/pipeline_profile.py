"""Wall time of `kedro run --pipelines=denoise` on the default config, by node, and the
share spent outside torch training (Kedro start-up, I/O, MLflow logging, reporting).

    .venv/bin/python benchmarks/pipeline_profile.py [--repeats 3] [extra kedro args...]

Node times come from the project's NodeTimingHook (logged to MLflow as time/node.<node>);
the run goes to a temporary MLflow store, created before the timed run.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from denoise_targets import run_once  # the same timed `kedro run` in a given store
from mlflow.tracking import MlflowClient

TRAINING_NODES = {
    "pretraining.pretrain_stack",
    "finetuning.finetune_classifier",
    "finetuning.train_random_init_classifier",
    "finetuning.finetune_denoiser",
    "finetuning.label_budget_fits",
    "anomaly.train_anomaly_model",
    "reduction.finetune_reduction_autoencoder",
    "reduction.sweep_code_sizes",
}


def profile_once(extra: list[str]) -> tuple[float, dict[str, float], dict[str, float]]:
    """One timed run in a fresh temporary store: (wall seconds, node seconds, save seconds)."""
    with tempfile.TemporaryDirectory() as store:
        uri = f"sqlite:///{Path(store) / 'mlflow.db'}"
        # Created beforehand, as a project's store is after its first run: creating the SQLite
        # tables (~1.7 s) is a one-off, not a per-run cost.
        MlflowClient(uri).search_experiments()
        wall, _ = run_once(extra, Path(store))
        client = MlflowClient(uri)
        run = client.search_runs([client.get_experiment_by_name("autoencoder_pipelines").experiment_id])[0]
    nodes = {k.split(".", 1)[1]: v for k, v in run.data.metrics.items() if k.startswith("time/node.")}
    saves = {k.split(".", 1)[1]: v for k, v in run.data.metrics.items() if k.startswith("time/save.")}
    return wall, nodes, saves


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="runs; the breakdown shown is the median-wall run's")
    args, extra = parser.parse_known_args()
    runs = []
    for repeat in range(args.repeats):
        wall, nodes, saves = profile_once(extra)
        training = sum(v for k, v in nodes.items() if k in TRAINING_NODES)
        runs.append((wall, training, nodes, saves))
        print(f"run {repeat + 1}: {wall:.1f} s wall, {training:.1f} s training, "
              f"non-training share {(wall - training) / wall:.1%}", flush=True)
    wall, training, nodes, saves = sorted(runs, key=lambda run: run[0])[len(runs) // 2]
    in_nodes = sum(nodes.values()) + sum(saves.values())
    print(f"\nmedian run:\n{'node':32} {'seconds':>8}")
    for name, seconds in sorted(nodes.items(), key=lambda item: -item[1]):
        print(f"{name:32} {seconds:8.2f}{'  (training)' if name in TRAINING_NODES else ''}")
    print(f"\n{'dataset save':32} {'seconds':>8}")
    for name, seconds in sorted(saves.items(), key=lambda item: -item[1])[:10]:
        print(f"{name:32} {seconds:8.2f}")
    print(f"\n{'training nodes':32} {training:8.2f}")
    print(f"{'other nodes and saves':32} {in_nodes - training:8.2f}")
    print(f"{'outside (start-up, loads, hooks)':32} {wall - in_nodes:8.2f}")
    print(f"{'total wall':32} {wall:8.2f}   target <= 60")
    print(f"non-training share: {(wall - training) / wall:.1%}   target <= 20%")


if __name__ == "__main__":
    main()
