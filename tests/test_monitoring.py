"""Monitoring's statistics (jobs/monitoring.py) on generated tables with known structure: the
counts, PSI and KS against scipy, a profile that survives the bundle, and the issue's three
checks on a real scorer: an unshifted batch raises nothing, a batch with two features scaled and
offset and one replaced by noise raises an alert naming them, and unshifted batches of 20 seeds
raise at most one false alarm (5%)."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp

from autoencoder_pipelines.config import MonitoringParams
from autoencoder_pipelines.jobs.monitoring import (
    RUN_SCOPE,
    ReferenceProfile,
    alert_text,
    compare,
    drift_table,
    ks_on_grid,
    metric_name,
    monitor_tallies,
    psi,
    run_metrics,
)

SETTINGS = MonitoringParams()
FEATURES = [f"f{i}" for i in range(8)]


def draw(rows: int, seed: int) -> pd.DataFrame:
    """A table with known structure: 8 features driven by 3 latent factors (fixed loadings), each
    with its own offset and scale, plus a little noise; every seed draws from the same law."""
    structure = np.random.default_rng(0)
    loadings = structure.normal(size=(3, len(FEATURES)))
    offsets, scales = structure.normal(5.0, 2.0, len(FEATURES)), structure.uniform(1.0, 3.0, len(FEATURES))
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(rows, 3))
    values = offsets + scales * (latent @ loadings + 0.1 * rng.normal(size=(rows, len(FEATURES))))
    return pd.DataFrame(values, columns=FEATURES)


def shifted(batch: pd.DataFrame, seed: int) -> pd.DataFrame:
    """f1 and f4 scaled by 1.3 and offset by half a standard deviation (a recalibrated sensor);
    f6 replaced by noise (a dead one: standard normal, unrelated to the rows)."""
    out = batch.copy()
    for name in ("f1", "f4"):
        out[name] = 1.3 * out[name] + 0.5 * out[name].std()
    out["f6"] = np.random.default_rng(seed + 1000).normal(size=len(out))
    return out


def profile_of(values: np.ndarray, errors: np.ndarray | None = None, threshold: float = 1.0, **kwargs) -> ReferenceProfile:
    errors = np.abs(values[:, 0]) if errors is None else errors
    return ReferenceProfile.build([f"f{i}" for i in range(values.shape[1])], values, errors, errors > threshold,
                                  threshold, **kwargs)


# ---- the statistics ----------------------------------------------------------------------------


def test_psi_of_known_shares_and_of_identical_samples():
    reference = np.array([[50, 50]])
    assert psi(reference, reference)[0] == 0.0
    expected = (0.8 - 0.5) * np.log(0.8 / 0.5) + (0.2 - 0.5) * np.log(0.2 / 0.5)
    assert psi(reference, np.array([[80, 20]]))[0] == pytest.approx(expected)
    # an empty bin counts as a share of 1e-4, not as an infinite PSI
    assert np.isfinite(psi(reference, np.array([[100, 0]]))[0])


def test_grid_ks_is_the_exact_two_sample_statistic_within_one_bin():
    rng = np.random.default_rng(1)
    reference, batch = rng.normal(size=(5000, 1)), rng.normal(0.2, 1.1, size=(3000, 1))
    profile = profile_of(reference)
    statistic = ks_on_grid(profile.counts[0], profile.bin_counts(batch)[0])[0]
    exact = ks_2samp(reference[:, 0], batch[:, 0]).statistic
    assert exact - 1 / profile.grid - 1e-9 <= statistic <= exact + 1e-9


def test_grid_ks_is_exact_for_a_discrete_feature_and_sees_values_beyond_the_training_range():
    rng = np.random.default_rng(2)
    reference = rng.integers(0, 17, size=(2000, 1)).astype("float64")  # pixel values 0..16
    profile = profile_of(reference)
    batch = rng.integers(0, 17, size=(1000, 1)).astype("float64")
    assert ks_on_grid(profile.counts[0], profile.bin_counts(batch)[0])[0] == pytest.approx(
        ks_2samp(reference[:, 0], batch[:, 0]).statistic)
    beyond = np.full((1000, 1), 40.0)  # all above the training maximum: their own bin, not the maximum's
    assert ks_on_grid(profile.counts[0], profile.bin_counts(beyond)[0])[0] == pytest.approx(1.0)
    assert profile.bin_counts(beyond)[0, -1] == 0 or profile.bin_counts(beyond)[0].argmax() > profile.bin_counts(
        np.full((1, 1), 16.0))[0].argmax()


def test_a_constant_feature_drifts_when_it_takes_another_value():
    reference = np.column_stack([np.zeros(500), np.random.default_rng(3).normal(size=500)])
    profile = profile_of(reference)
    same = profile.tally(reference[:200], np.abs(reference[:200, 0]), np.zeros(200, bool))
    other = reference[:200].copy()
    other[:, 0] = 1.0
    moved = profile.tally(other, np.abs(reference[:200, 0]), np.zeros(200, bool))
    assert compare(same, profile, SETTINGS).drifted == []
    assert compare(moved, profile, SETTINGS).drifted == ["f0"]


def test_tallies_add_up_chunks_and_files_exactly():
    rng = np.random.default_rng(4)
    values, errors = rng.normal(size=(3000, 3)), rng.exponential(size=3000)
    profile = profile_of(values, errors)
    whole = profile.tally(values, errors, errors > 1)
    parts = profile.empty()
    for start in range(0, 3000, 700):
        parts.add(profile.tally(values[start:start + 700], errors[start:start + 700], errors[start:start + 700] > 1))
    assert parts.rows == whole.rows and parts.anomalies == whole.anomalies
    assert (parts.counts == whole.counts).all() and (parts.error_counts == whole.error_counts).all()
    assert parts.error_sum == pytest.approx(whole.error_sum)


def test_the_run_is_the_sum_of_its_files_and_a_file_breaches_alone():
    rng = np.random.default_rng(5)
    values, errors = rng.normal(size=(4000, 3)), rng.exponential(size=4000)
    profile = profile_of(values, errors)
    fresh = rng.normal(size=(2000, 3))
    moved = fresh.copy()
    moved[:, 2] += 2.0
    tallies = {"a.csv": profile.tally(fresh, rng.exponential(size=2000), np.zeros(2000, bool)),
               "b.csv": profile.tally(moved[:300], rng.exponential(size=300), np.zeros(300, bool))}
    drifts = monitor_tallies(tallies, profile, SETTINGS)
    assert [d.scope for d in drifts] == ["a.csv", "b.csv", RUN_SCOPE]
    assert drifts[-1].rows == 2300 and not drifts[0].alert and drifts[1].drifted == ["f2"]
    # 300 moved rows among 2,300 are a small shift of the whole run: the file alerts on its own
    assert not drifts[-1].alert
    assert alert_text(drifts).startswith("b.csv (300 rows): 1 of 3 features drifted: f2 (PSI")
    table = drift_table(drifts)
    assert list(table["scope"]) == ["a.csv", "b.csv", RUN_SCOPE] and list(table["alert"]) == [False, True, False]


def test_the_anomaly_rate_test_counts_the_uncertainty_of_the_expected_rate():
    """15 of 300 held-out rows flagged (5%): 6% of 100,000 rows is within that measurement's error,
    not an alert; 15% is."""
    values = np.random.default_rng(6).normal(size=(300, 1))
    errors = np.linspace(0, 1, 300)
    profile = profile_of(values, errors, threshold=errors[-16])
    assert profile.expected_anomaly_rate == pytest.approx(0.05)
    batch_values = np.random.default_rng(7).normal(size=(100_000, 1))
    for rate, alert in ((0.06, False), (0.15, True)):
        flagged = np.arange(100_000) < rate * 100_000
        drift = compare(profile.tally(batch_values, np.random.default_rng(8).permutation(np.tile(errors, 334)[:100_000]),
                                      flagged), profile, SETTINGS)
        assert any(b.startswith("anomaly rate") for b in drift.breaches) is alert, (rate, drift.breaches)


def test_metric_names_chart_well_and_are_valid_for_mlflow():
    rng = np.random.default_rng(9)
    values = rng.normal(size=(500, 2))
    profile = ReferenceProfile.build(["temp (°C)", "flow"], values, np.abs(values[:, 0]), np.zeros(500, bool), 1.0)
    metrics = run_metrics(compare(profile.tally(values, np.abs(values[:, 0]), np.zeros(500, bool)), profile, SETTINGS),
                          SETTINGS)
    assert {"monitor/anomaly_rate", "monitor/expected_anomaly_rate", "monitor/error_ks", "monitor/max_psi",
            "monitor/features_drifted", "monitor/alert", "psi/flow", "ks/flow", "psi/temp __C_"} <= set(metrics)
    assert metric_name("a/b:c?") == "a_b_c_" and metric_name("..") == "_"
    from mlflow.utils.validation import _validate_metric_name

    for name in metrics:
        _validate_metric_name(name)
    capped = run_metrics(compare(profile.tally(values, values[:, 0] ** 2, np.zeros(500, bool)), profile, SETTINGS),
                         SETTINGS.model_copy(update={"feature_metrics": 1}))
    assert len([name for name in capped if name.startswith("psi/")]) == 1


def test_the_thresholds_are_checked():
    from autoencoder_pipelines.config import parse
    from autoencoder_pipelines.data.errors import ConfigError

    with pytest.raises(ConfigError, match="monitoring: grid .* must be a multiple of psi_bins"):
        parse(MonitoringParams, {"grid": 100, "psi_bins": 7}, "monitoring")
    with pytest.raises(ConfigError, match="monitoring.alpha"):
        parse(MonitoringParams, {"alpha": 0}, "monitoring")


# ---- on a real scorer ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scorer(tmp_path_factory):
    """A scorer trained by `denoise` (tiny settings) on 3,000 rows of `draw`, read back from
    its bundle (tensors plus JSON): its reference profile included."""
    from autoencoder_pipelines.jobs.scoring import Scorer
    from tests.conftest import TINY, Project

    root = tmp_path_factory.mktemp("monitoring")
    table = root / "table.csv"
    draw(3000, seed=0).to_csv(table, index=False)
    local = {**TINY, "data": {"source": "csv", "path": str(table)}, "model": {"hidden_sizes": [16, 4]},
             "anomaly": {"epochs": 20, "batch_size": 128}}
    project = Project(root / "project", local)
    project.run()
    (path,) = project.path("data/06_models/scoring_model.pt").glob("*/scoring_model.pt")
    return Scorer.load(path)


def scored_tally(scorer, batch: pd.DataFrame):
    tally = scorer.profile.empty()
    for _ in scorer.score_chunks([batch.iloc[:1024], batch.iloc[1024:]], source="batch", observe=scorer.profile.observer(tally)):
        pass
    return tally


def test_the_bundle_carries_the_profile_of_the_training_and_held_out_rows(scorer):
    profile = scorer.profile
    assert profile is not None and profile.features == FEATURES
    assert profile.rows == 2100 and profile.heldout_rows == 900  # split 70/15/15 of 3,000 rows
    assert 0 < profile.expected_anomaly_rate < 0.5
    assert profile.threshold == scorer.detector.threshold_


def test_the_error_alerts_when_the_batch_errors_grow_not_when_they_shrink():
    """Smaller errors (the training rows scored again: a smoke test with the training file) are
    no reason to alert; larger ones are. The one-sided grid statistic is scipy's within a bin."""
    from autoencoder_pipelines.jobs.monitoring import ks_larger_on_grid

    rng = np.random.default_rng(3)
    reference_errors = np.abs(rng.normal(size=4000))
    profile = profile_of(rng.normal(size=(4000, 2)), reference_errors, threshold=10.0)
    values, unflagged = rng.normal(size=(2000, 2)), np.zeros(2000, dtype=bool)
    smaller, larger = 0.6 * np.abs(rng.normal(size=2000)), 1.6 * np.abs(rng.normal(size=2000))
    shrank = compare(profile.tally(values, smaller, unflagged), profile, SETTINGS)
    assert shrank.error_ks == 0.0 and not any("reconstruction error" in b for b in shrank.breaches), shrank.breaches
    grew = compare(profile.tally(values, larger, unflagged), profile, SETTINGS)
    assert any(b.startswith("reconstruction error grew") for b in grew.breaches), grew.breaches
    exact = ks_2samp(reference_errors, larger, alternative="greater").statistic
    statistic = ks_larger_on_grid(profile.error_counts, profile.tally(values, larger, unflagged).error_counts)
    assert statistic == grew.error_ks and exact - 1 / profile.grid - 1e-9 <= statistic <= exact + 1e-9


def test_a_batch_drawn_like_the_training_rows_raises_no_alert(scorer):
    drift = compare(scored_tally(scorer, draw(2000, seed=101)), scorer.profile, SETTINGS)
    assert not drift.alert, drift.breaches
    assert drift.rows == 2000 and drift.drifted == []


def test_two_features_scaled_and_offset_and_one_replaced_by_noise_raise_an_alert_naming_them(scorer):
    drift = compare(scored_tally(scorer, shifted(draw(2000, seed=102), seed=102)), scorer.profile, SETTINGS)
    assert drift.alert
    assert sorted(drift.drifted) == ["f1", "f4", "f6"]  # those three, and no other feature
    text = alert_text([drift])
    assert "3 of 8 features drifted" in text and all(name in text for name in ("f1", "f4", "f6"))
    # the reconstruction error sees the broken correlations too
    assert any(breach.startswith("reconstruction error grew") for breach in drift.breaches), drift.breaches


def test_unshifted_batches_of_20_seeds_raise_at_most_one_false_alarm(scorer):
    """Every test of every scope counts: 8 features (Bonferroni at alpha / 8, and PSI >= 0.2), the
    error distribution and the anomaly rate, for batches of 2,000 rows."""
    alarms = [seed for seed in range(20)
              if compare(scored_tally(scorer, draw(2000, seed=200 + seed)), scorer.profile, SETTINGS).alert]
    assert len(alarms) <= 1, alarms


def test_a_scorer_saved_without_a_profile_loads_and_is_not_monitored(scorer, tmp_path, caplog):
    from autoencoder_pipelines.data.frames import Skipped
    from autoencoder_pipelines.jobs.scoring import Scorer
    from autoencoder_pipelines.pipelines.score.nodes import monitor_scoring

    old = Scorer(scorer.schema, scorer.scaler, scorer.autoencoder, scorer.detector, scorer.classifier, scorer.example)
    old.save(tmp_path / "old.pt")
    loaded = Scorer.load(tmp_path / "old.pt")
    assert loaded.profile is None
    report = {"tallies": {"a.csv": scorer.profile.empty()}, "errors": {}}
    with caplog.at_level(logging.WARNING):
        metrics, table, out = monitor_scoring(loaded, report, SETTINGS)
    assert metrics == {} and isinstance(table, Skipped) and out["alert"] == ""  # the last table stays
    assert [r.message for r in caplog.records if "not monitored" in r.message] == [
        "not monitored: the model has no reference profile (trained before monitoring existed); "
        "a model trained now carries one"]


def test_sorted_counting_gives_the_counts_of_a_search_per_value():
    from autoencoder_pipelines.jobs.monitoring import _bin

    rng = np.random.default_rng(10)
    reference = np.column_stack([rng.normal(size=800), rng.integers(0, 5, 800), np.zeros(800)]).astype("float32")
    profile = profile_of(reference)
    batch = np.column_stack([rng.normal(0.3, 2, 500), rng.integers(-1, 7, 500), rng.choice([0, 1], 500)]).astype("float32")
    expected = np.stack([np.bincount(_bin(profile.edges[j], batch[:, j]), minlength=profile.grid + 3) for j in range(3)])
    assert (profile.bin_counts(batch) == expected).all()
    assert (profile.bin_counts(batch).sum(axis=1) == 500).all()
