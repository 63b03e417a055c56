"""The anomaly detector (fit, scores, thresholds, saving) and the batched inference under it."""

import dataclasses

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from autoencoder_pipelines.nn.corruption import CorruptionSpec
from autoencoder_pipelines.nn.detector import AutoencoderDetector, DetectorSettings
from autoencoder_pipelines.nn.inference import predict_in_batches
from autoencoder_pipelines.nn.kinds import get_kind
from autoencoder_pipelines.nn.networks import DenseAutoencoder
from autoencoder_pipelines.nn.serialization import ModelFileError, load, save
from autoencoder_pipelines.nn.sizes import default_hidden_sizes
from autoencoder_pipelines.nn.trainer import Trainer, TrainSettings

LABELS = np.r_[np.zeros(200), np.ones(20)]  # of data["test"]


@pytest.fixture(scope="module")
def data():
    """Normal rows near a 2-D plane in 16-D (train, validation, and the first 200 test rows),
    and 20 anomalies as far from the centre but in every direction: only the plane tells them
    apart (an untrained network ranks them at chance)."""
    generator = torch.Generator().manual_seed(0)
    plane = torch.randn(2, 16, generator=generator) / 2

    def normal(n):
        return 0.5 + 0.1 * (torch.randn(n, 2, generator=generator) @ plane) + 0.01 * torch.randn(n, 16, generator=generator)

    anomalies = 0.5 + 0.07 * torch.randn(20, 16, generator=generator)
    return {"train": normal(300), "val": normal(100), "test": torch.cat([normal(200), anomalies])}


@pytest.fixture(scope="module")
def detector(data):
    return AutoencoderDetector(DetectorSettings(contamination=0.05)).fit(data["train"])


def _quick():
    return Trainer(TrainSettings(epochs=2, batch_size=64))


def test_anomalies_score_higher_than_normal_rows(detector, data):
    assert roc_auc_score(LABELS, detector.decision_function(data["test"])) > 0.9


def test_without_a_network_fit_builds_a_dense_autoencoder_of_the_settings(data):
    default = AutoencoderDetector(DetectorSettings(batch_norm=False)).fit(data["train"], trainer=_quick())
    assert isinstance(default.network, DenseAutoencoder)
    assert default.network.config["hidden_sizes"] == default_hidden_sizes(16) == [32, 4]
    assert not any(isinstance(m, torch.nn.BatchNorm1d) for m in default.network.modules())
    sized = AutoencoderDetector(DetectorSettings(hidden_sizes=(8, 3))).fit(data["train"], trainer=_quick())
    assert sized.network.config["hidden_sizes"] == [8, 3] and sized.transform(data["test"]).shape == (220, 3)
    again = AutoencoderDetector(DetectorSettings(hidden_sizes=(8, 3))).fit(data["train"], trainer=_quick())
    assert np.array_equal(again.decision_function(data["test"]), sized.decision_function(data["test"]))  # seeded


def test_fit_trains_a_copy_of_a_given_network_and_records_its_history(data, arch_for):
    network = get_kind("undercomplete").build(arch_for("undercomplete"))
    before = [p.detach().clone() for p in network.parameters()]
    detector = AutoencoderDetector(DetectorSettings(standardize=False), network).fit(data["train"], trainer=_quick())
    assert detector.network is not network
    assert all(torch.equal(a, b) for a, b in zip(before, network.parameters()))
    assert detector.history_.name == "detector" and len(detector.history_.epochs) == 2


def test_standardising_makes_the_scores_independent_of_the_features_units(data):
    units = torch.ones(16)
    units[3], units[7] = 1000.0, 0.001  # one feature in grams, another in tonnes
    auc = {}
    for standardize in (True, False):
        detector = AutoencoderDetector(DetectorSettings(standardize=standardize)).fit(data["train"] * units)
        auc[standardize] = roc_auc_score(LABELS, detector.decision_function(data["test"] * units))
    assert auc[True] > 0.9 and auc[False] < 0.75


def test_the_contamination_rule_flags_that_share_of_the_training_rows(detector, data):
    assert abs(detector.predict(data["train"]).mean() - 0.05) <= 1 / 300
    assert detector.threshold_ == pytest.approx(np.quantile(detector.decision_function(data["train"]), 0.95))


def test_the_false_alarm_rate_rule_flags_that_share_of_the_validation_rows(data):
    settings = DetectorSettings(contamination=0.3, threshold_rule="false_alarm_rate", false_alarm_rate=0.1)
    detector = AutoencoderDetector(settings).fit(data["train"], data["val"], trainer=_quick())
    assert abs(detector.predict(data["val"]).mean() - 0.1) <= 1 / 100
    assert detector.threshold_ == pytest.approx(np.quantile(detector.decision_function(data["val"]), 0.9))


def test_predict_flags_the_rows_scored_above_the_threshold(detector, data):
    scores = detector.decision_function(data["test"])
    assert np.array_equal(detector.predict(data["test"]), (scores > detector.threshold_).astype(np.int64))
    unfitted = AutoencoderDetector(DetectorSettings(contamination=0.1), detector.network)
    with pytest.raises(RuntimeError, match="no threshold"):
        unfitted.predict(data["test"])
    unfitted.set_threshold(np.arange(101.0))  # the contamination rule's quantile of these scores: 90
    assert unfitted.threshold_ == 90.0


def test_scores_codes_and_reconstructions(detector, data):
    x = data["test"]
    codes, reconstructions, scores = detector.transform(x), detector.reconstruct(x), detector.decision_function(x)
    assert codes.shape == (220, 4) and reconstructions.shape == (220, 16) and scores.shape == (220,)
    # reconstructions are in the data's units; scores are errors of the standardised rows
    assert torch.allclose(detector.center_, data["train"].mean(dim=0)) and torch.allclose(detector.scale_, data["train"].std(dim=0))
    standardised_errors = (((reconstructions - x.numpy()) / detector.scale_.numpy()) ** 2).mean(axis=1)
    assert np.allclose(scores, standardised_errors, rtol=1e-3, atol=1e-6)
    assert np.array_equal(detector.decision_function(x.numpy().astype(np.float64)), scores)  # arrays work too


def test_save_and_load_give_the_same_detector(detector, data, tmp_path):
    path = tmp_path / "detector.pt"
    save(detector, path)
    loaded = load(path, expected=AutoencoderDetector)
    assert loaded.threshold_ == detector.threshold_ and loaded.settings == detector.settings
    assert torch.equal(loaded.center_, detector.center_) and torch.equal(loaded.scale_, detector.scale_)
    assert np.array_equal(loaded.decision_function(data["test"]), detector.decision_function(data["test"]))
    assert np.array_equal(loaded.reconstruct(data["test"]), detector.reconstruct(data["test"]))


def test_the_corruption_and_hidden_sizes_are_saved_with_the_detector(data, tmp_path):
    settings = DetectorSettings(hidden_sizes=(8, 3))
    detector = AutoencoderDetector(settings, corruption=CorruptionSpec("gaussian", 0.2)).fit(data["train"], trainer=_quick())
    save(detector, tmp_path / "detector.pt")
    loaded = load(tmp_path / "detector.pt", expected=AutoencoderDetector)
    assert loaded.corruption == CorruptionSpec("gaussian", 0.2) and loaded.settings == settings


def test_a_planted_pickle_is_refused_without_running_it(tmp_path, plant_pickle):
    path = tmp_path / "detector.pt"
    marker = plant_pickle(path)
    with pytest.raises(ModelFileError, match="refused: it holds Python objects, not only tensors, and is never unpickled"):
        load(path, expected=AutoencoderDetector)
    assert not marker.exists()
    torch.load(path, weights_only=False)  # the file is live: an unsafe load runs it
    assert marker.exists()


def test_a_file_of_another_model_is_not_a_detector(tmp_path, arch_for):
    save(get_kind("undercomplete").build(arch_for("undercomplete")), tmp_path / "autoencoder.pt")
    with pytest.raises(ModelFileError, match="holds a StackedAutoencoder, expected a AutoencoderDetector"):
        load(tmp_path / "autoencoder.pt", expected=AutoencoderDetector)


def test_any_number_of_rows_can_be_fitted(data):
    x = data["train"][:65]  # batches of 64, then one row
    AutoencoderDetector(DetectorSettings()).fit(x, trainer=_quick())


# -- batched inference ----------------------------------------------------------------------


@pytest.mark.parametrize("n_rows", [1, 64, 100])
def test_predict_in_batches_matches_one_pass(n_rows):
    x = torch.randn(n_rows, 3)
    calls = []
    out = predict_in_batches(lambda b: calls.append(len(b)) or b * 2, x, batch_size=64)
    assert torch.equal(out, x * 2)
    assert calls == [min(n_rows - start, 64) for start in range(0, n_rows, 64)]


@pytest.mark.parametrize(("rows", "settings", "expected"), [
    (250, DetectorSettings(), 32),  # a small table: enough steps an epoch to learn and to stop early
    (4000, DetectorSettings(), 100),
    (50_000, DetectorSettings(), 256),
    (250, DetectorSettings(batch_size=64), 64),
])
def test_the_batch_size_follows_the_training_rows_unless_set(rows, settings, expected, monkeypatch):
    import autoencoder_pipelines.nn.detector as module

    used = []
    monkeypatch.setattr(module, "fine_tune", lambda network, x, val, trainer, *rest: (used.append(trainer.settings.batch_size), (network, None))[1])
    AutoencoderDetector(dataclasses.replace(settings, epochs=1)).fit(torch.rand(rows, 4))
    assert used == [expected]
