"""Detection delay and false alarms of scoring-run monitoring (jobs/monitoring.py) on a synthetic
stream with a change at a known batch, per threshold setting, beside a baseline measured on the
same batches: the rule a user could apply by hand to the `score.anomaly_rate` metric that
scoring runs logged before monitoring (alert when a batch's anomaly rate is over twice the
rate expected).

The stream: a table of 12 features driven by 3 latent factors (each feature its own offset and
scale, a little noise), a detector and its reference profile trained on 4,000 rows of it (the
project's AutoencoderDetector, Scorer and ReferenceProfile: what training bundles), then batches
of fresh rows from the same law, scored as the `score` pipeline scores them; from batch
`--change` on, every batch carries the change. Changes (CHANGES below): one feature offset by
0.25 or 0.5 standard deviations, or scaled by 1.25; three features scaled by 1.3 and offset by
half a standard deviation (a recalibration); one feature holding its training median in 20% of
the rows (an upstream default); one replaced by standard normal noise (a dead sensor); 3% of
the rows replaced by rows far from the data.

Per change and setting: false alarms (alerting batches before the change, over all seeds),
detections (seeds where a batch at or after the change alerted), and the median delay (batches
from the change to the first alert; 0: the first changed batch).

    .venv/bin/python benchmarks/monitoring_drift.py                # 5 seeds, 40 batches of 1,000 rows
    .venv/bin/python benchmarks/monitoring_drift.py --seeds 10 --rows 500
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import pandas as pd
import torch

from autoencoder_pipelines.config import ModelParams, MonitoringParams
from autoencoder_pipelines.data.scaling import apply_scaler, fit_scaler
from autoencoder_pipelines.data.schema import DataSchema
from autoencoder_pipelines.jobs.autoencoders import architecture
from autoencoder_pipelines.jobs.monitoring import compare
from autoencoder_pipelines.jobs.scoring import Scorer
from autoencoder_pipelines.nn.detector import AutoencoderDetector
from autoencoder_pipelines.nn.kinds import get_kind

FEATURES = [f"f{i}" for i in range(12)]
SETTINGS = {
    "sensitive (alpha 0.01, PSI 0.1, error KS 0.05, rate 1.2x)":
        MonitoringParams(alpha=0.01, psi=0.1, error_ks=0.05, anomaly_rate_ratio=1.2),
    "default (alpha 0.001, PSI 0.2, error KS 0.1, rate 1.5x)": MonitoringParams(),
    "strict (alpha 0.0001, PSI 0.25, error KS 0.15, rate 2x)":
        MonitoringParams(alpha=0.0001, psi=0.25, error_ks=0.15, anomaly_rate_ratio=2.0),
}
BASELINE = "baseline: anomaly rate > 2x expected, no test"


def draw(rows: int, rng: np.random.Generator) -> pd.DataFrame:
    structure = np.random.default_rng(0)
    loadings = structure.normal(size=(3, len(FEATURES)))
    offsets, scales = structure.normal(5.0, 2.0, len(FEATURES)), structure.uniform(1.0, 3.0, len(FEATURES))
    latent = rng.normal(size=(rows, 3))
    values = offsets + scales * (latent @ loadings + 0.1 * rng.normal(size=(rows, len(FEATURES))))
    return pd.DataFrame(values, columns=FEATURES)


CHANGES = {
    "offset 0.25 sd": "one feature offset by a quarter of its standard deviation",
    "offset 0.5 sd": "one feature offset by half its standard deviation",
    "scale 1.25": "one feature scaled by 1.25 about its mean",
    "recalibrated x3": "three features scaled by 1.3 and offset by half a standard deviation",
    "default 20%": "one feature holds its training median in 20% of the rows (an upstream default)",
    "dead sensor": "one feature replaced by standard normal noise",
    "burst 3%": "3% of the rows replaced by rows far from the training data",
}


def change(kind: str, batch: pd.DataFrame, reference: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    out = batch.copy()
    sd, mean = reference[FEATURES].std(), reference[FEATURES].mean()
    if kind == "offset 0.25 sd":
        out["f2"] += 0.25 * sd["f2"]
    elif kind == "offset 0.5 sd":
        out["f2"] += 0.5 * sd["f2"]
    elif kind == "scale 1.25":
        out["f2"] = mean["f2"] + 1.25 * (out["f2"] - mean["f2"])
    elif kind == "recalibrated x3":
        for name in ("f2", "f5", "f9"):
            out[name] = 1.3 * out[name] + 0.5 * sd[name]
    elif kind == "default 20%":
        out.loc[rng.random(len(out)) < 0.2, "f7"] = reference["f7"].median()
    elif kind == "dead sensor":
        out["f4"] = rng.normal(size=len(out))
    elif kind == "burst 3%":
        rows = rng.random(len(out)) < 0.03
        out.loc[rows, FEATURES] = mean.to_numpy() + 6 * sd.to_numpy() * rng.choice([-1, 1], size=(int(rows.sum()), len(FEATURES)))
    return out


def trained_scorer(training: pd.DataFrame, heldout: pd.DataFrame) -> Scorer:
    torch.manual_seed(0)
    schema = DataSchema(source="generated", features=FEATURES, n_rows=len(training) + len(heldout))
    scaler = fit_scaler(training, FEATURES, "per_feature")
    scaled = apply_scaler(training, scaler)[FEATURES].to_numpy("float32")
    detector = AutoencoderDetector(epochs=40, random_state=0, batch_size=128).fit(scaled)
    autoencoder = get_kind("undercomplete").build(architecture(ModelParams(hidden_sizes=[8, 3]), schema))
    return Scorer(schema, scaler, autoencoder, detector, None).profiled(training, heldout, 100, 10)


def tally(scorer: Scorer, batch: pd.DataFrame):
    total = scorer.profile.empty()
    for _ in scorer.score_chunks([batch], source="batch", observe=scorer.profile.observer(total)):
        pass
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--change", type=int, default=20, help="the first changed batch")
    parser.add_argument("--rows", type=int, default=1000, help="rows per batch")
    args = parser.parse_args()
    torch.set_num_threads(1)
    started = time.perf_counter()
    rng = np.random.default_rng(12345)
    training, heldout = draw(4000, rng), draw(1000, rng)
    scorer = trained_scorer(training, heldout)
    profile = scorer.profile
    print(f"trained in {time.perf_counter() - started:.0f} s; expected anomaly rate {profile.expected_anomaly_rate:.3f} "
          f"({profile.anomalies} of {profile.heldout_rows} held-out rows)")
    kinds = list(CHANGES)
    names = [*SETTINGS, BASELINE]
    results: dict[tuple[str, str], dict[str, list]] = {}
    seconds = []
    for kind in kinds:
        for name in names:
            results[kind, name] = {"false": [], "delay": []}
        for seed in range(args.seeds):
            stream = np.random.default_rng([seed, kinds.index(kind)])
            first: dict[str, int | None] = dict.fromkeys(names)
            false = dict.fromkeys(names, 0)
            for index in range(args.batches):
                batch = draw(args.rows, stream)
                if index >= args.change:
                    batch = change(kind, batch, training, stream)
                clock = time.perf_counter()
                counts = tally(scorer, batch)
                alerts = {name: compare(counts, profile, settings).alert for name, settings in SETTINGS.items()}
                seconds.append(time.perf_counter() - clock)
                alerts[BASELINE] = counts.anomalies / counts.rows > 2 * profile.expected_anomaly_rate
                for name, alert in alerts.items():
                    if alert and index < args.change:
                        false[name] += 1
                    elif alert and index >= args.change and first[name] is None:
                        first[name] = index - args.change
            for name in names:
                results[kind, name]["false"].append(false[name])
                results[kind, name]["delay"].append(first[name])
    before = args.change * args.seeds
    print(f"\n{args.seeds} seeds x {args.batches} batches of {args.rows} rows, change at batch {args.change}; "
          f"false alarms out of {before} unchanged batches per row\n")
    print(f"{'change':<16} {'setting':<58} {'false alarms':>13} {'detected':>9} {'median delay':>13}")
    for kind in kinds:
        for name in names:
            found = results[kind, name]
            delays = [d for d in found["delay"] if d is not None]
            shown = f"{statistics.median(delays):g}" if delays else "-"
            print(f"{kind:<16} {name:<58} {sum(found['false']):>6} / {before:<5} {len(delays):>4} / {args.seeds:<3} {shown:>13}")
    print(f"\nscoring + tally + 3 comparisons per batch: {1000 * statistics.median(seconds):.1f} ms "
          f"(median of {len(seconds)}); {time.perf_counter() - started:.0f} s in all")


if __name__ == "__main__":
    main()
