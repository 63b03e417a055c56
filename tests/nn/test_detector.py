"""The anomaly detector: fit, scores, thresholds, saving, the batched inference under it, and the
scikit-learn estimator it is (PyOD's conventions; clone, Pipeline, model selection, the checks)."""

import json
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer
from sklearn.exceptions import NotFittedError
from sklearn.metrics import average_precision_score, make_scorer, roc_auc_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from autoencoder_pipelines.nn.detector import AutoencoderDetector, principal_variances
from autoencoder_pipelines.nn.inference import predict_in_batches
from autoencoder_pipelines.nn.kinds import get_kind
from autoencoder_pipelines.nn.networks import DenseAutoencoder
from autoencoder_pipelines.nn.serialization import ModelFileError, load, load_bundle, save
from autoencoder_pipelines.nn.sizes import default_hidden_sizes, detector_code_size

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
    return {"train": normal(300), "val": normal(100), "test": torch.cat([normal(200), anomalies]), "plane": plane}


@pytest.fixture(scope="module")
def detector(data):
    return AutoencoderDetector(contamination=0.05).fit(data["train"])


def _quick(**params):
    return AutoencoderDetector(epochs=2, batch_size=64, **params)


def test_anomalies_score_higher_than_normal_rows(detector, data):
    assert roc_auc_score(LABELS, detector.decision_function(data["test"])) > 0.9


def test_rows_far_out_along_the_structure_rank_high_under_the_combined_score_only(data):
    """A row 4x farther out on the plane keeps the structure: the network rebuilds it fairly
    well (its error alone ranks it lower), the distance from the centre does not. How well one
    network rebuilds them varies with its seed (the error's AUC: 0.75 to 0.97 over five), so the
    claim is over five seeds: the combined score is high on each, the error's mean lower."""
    generator = torch.Generator().manual_seed(1)
    far = 0.5 + 0.4 * (torch.randn(20, 2, generator=generator) @ data["plane"]) + 0.01 * torch.randn(20, 16, generator=generator)
    test = torch.cat([data["test"][:200], far])
    auc = {rule: [roc_auc_score(LABELS, AutoencoderDetector(score_rule=rule, random_state=seed)
                                .fit(data["train"], X_val=data["val"]).decision_function(test)) for seed in range(5)]
           for rule in ("combined", "reconstruction")}
    assert min(auc["combined"]) > 0.94 and np.mean(auc["reconstruction"]) < np.mean(auc["combined"]) - 0.04, auc


def test_the_combined_score_is_the_larger_standardised_part(data):
    detector = AutoencoderDetector().fit(data["train"], X_val=data["val"])
    x = detector._standardized(data["test"])
    errors, distances = detector._raw_parts(x)
    (em, es), (dm, ds) = detector.score_reference_["reconstruction"], detector.score_reference_["distance"]
    assert np.allclose(detector.decision_function(data["test"]), np.maximum((errors - em) / es, (distances - dm) / ds))
    val_errors, _ = detector._raw_parts(detector._standardized(data["val"]))  # standardised by the validation rows
    assert em == pytest.approx(val_errors.mean()) and es == pytest.approx(val_errors.std())


def test_without_a_network_fit_builds_a_dense_autoencoder_its_code_from_the_data(data):
    default = _quick(batch_norm=False).fit(data["train"])
    assert isinstance(default.network_, DenseAutoencoder) and default.network is None
    standardised = (data["train"] - default.center_) / default.scale_
    spectrum = principal_variances(standardised)  # a plane: 2 components hold 90% of the variance
    assert default.network_.config["hidden_sizes"] == default_hidden_sizes(16, detector_code_size(spectrum, 16)) == [32, 2]
    assert not any(isinstance(m, torch.nn.BatchNorm1d) for m in default.network_.modules())
    sized = _quick(hidden_sizes=(8, 3)).fit(data["train"])
    assert sized.network_.config["hidden_sizes"] == [8, 3] and sized.transform(data["test"]).shape == (220, 3)
    again = _quick(hidden_sizes=(8, 3)).fit(data["train"])
    assert np.array_equal(again.decision_function(data["test"]), sized.decision_function(data["test"]))  # seeded


def test_the_code_is_as_wide_as_the_principal_components_that_hold_90_percent_of_the_variance():
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(0)
    pairs = np.repeat(rng.normal(size=(500, 5)), 2, axis=1) + 0.1 * rng.normal(size=(500, 10))  # 5 directions in 10 columns
    code = detector_code_size(principal_variances(torch.from_numpy(pairs)), 10)
    assert code == PCA(n_components=0.9, svd_solver="full").fit(pairs).n_components_ == 5  # a quarter of d: 2, too narrow
    assert detector_code_size(principal_variances(torch.randn(500, 200)), 200) == 64  # at most 64
    assert detector_code_size(principal_variances(torch.ones(50, 3)), 3) == 2  # no variance: 2
    assert detector_code_size([1.0, 1.0], 2) == 1 and detector_code_size([], 5) == 2  # below d
    assert default_hidden_sizes(16) == [32, 4]  # without rows (a tuning space's base): a quarter of d


def test_fit_trains_a_copy_of_a_given_network_and_records_its_history(data, arch_for):
    network = get_kind("undercomplete").build(arch_for("undercomplete"))
    before = [p.detach().clone() for p in network.parameters()]
    detector = _quick(standardize=False, network=network).fit(data["train"])
    assert detector.network is network and detector.network_ is not network
    assert all(torch.equal(a, b) for a, b in zip(before, network.parameters(), strict=True))
    assert detector.history_.name == "detector" and len(detector.history_.epochs) == 2


def test_standardising_makes_the_scores_independent_of_the_features_units(data):
    units = torch.ones(16)
    units[3], units[7] = 1000.0, 0.001  # one feature in grams, another in tonnes
    auc = {}
    for standardize in (True, False):
        detector = AutoencoderDetector(standardize=standardize, score_rule="reconstruction").fit(data["train"] * units)
        auc[standardize] = roc_auc_score(LABELS, detector.decision_function(data["test"] * units))
    assert auc[True] > 0.9 and auc[False] < 0.75


def test_a_constant_feature_keeps_scale_1_and_a_new_value_counts_by_its_distance(data):
    x = data["train"].clone()
    x[:, 5] = 2.0  # constant in the training rows
    detector = AutoencoderDetector(score_rule="reconstruction").fit(x)
    assert detector.scale_[5] == 1.0
    test = data["test"][:200].clone()
    test[:, 5] = 2.0
    test[0, 5] = 3.0  # one unit off: a squared error of about 1 over 16 features, not of 10^12
    scores = detector.decision_function(test)
    assert np.median(scores) < scores[0] < 1.0


def test_the_contamination_rule_flags_that_share_of_the_fitted_rows(detector, data):
    assert detector.labels_.dtype == np.int64 and set(np.unique(detector.labels_)) == {0, 1}
    assert abs(detector.labels_.mean() - 0.05) <= 1 / 300
    assert np.array_equal(detector.decision_scores_, detector.decision_function(data["train"]))
    assert detector.threshold_ == pytest.approx(np.quantile(detector.decision_scores_, 0.95))
    assert np.array_equal(detector.labels_, detector.predict(data["train"]))


def test_the_false_alarm_rate_rule_flags_that_share_of_the_validation_rows(data):
    detector = _quick(contamination=0.3, threshold_rule="false_alarm_rate",
                      false_alarm_rate=0.1).fit(data["train"], X_val=data["val"])
    assert abs(detector.predict(data["val"]).mean() - 0.1) <= 1 / 100
    assert detector.threshold_ == pytest.approx(np.quantile(detector.decision_function(data["val"]), 0.9))


def test_set_threshold_moves_the_threshold_and_the_fitted_rows_labels(data):
    detector = _quick(contamination=0.1).fit(data["train"])
    detector.set_threshold(np.arange(101.0))  # the contamination rule's quantile of these scores: 90
    assert detector.threshold_ == 90.0
    assert np.array_equal(detector.labels_, (detector.decision_scores_ > 90.0).astype(np.int64))


def test_predict_flags_the_rows_scored_above_the_threshold(detector, data):
    scores = detector.decision_function(data["test"])
    assert np.array_equal(detector.predict(data["test"]), (scores > detector.threshold_).astype(np.int64))
    unfitted = AutoencoderDetector()
    for method in (unfitted.predict, unfitted.decision_function, unfitted.predict_proba, unfitted.transform, unfitted.explain):
        with pytest.raises(NotFittedError):
            method(data["test"])


@pytest.mark.parametrize("method", ["linear", "unify"])
def test_predict_proba_as_pyod_defines_it(detector, data, method):
    from scipy.special import erf

    proba = detector.predict_proba(data["test"], method=method)
    scores, fitted = detector.decision_function(data["test"]), detector.decision_scores_
    assert proba.shape == (220, 2) and np.allclose(proba.sum(axis=1), 1) and ((proba >= 0) & (proba <= 1)).all()
    if method == "linear":  # PyOD: the test scores min-max scaled by the training scores, clipped
        expected = np.clip((scores - fitted.min()) / (fitted.max() - fitted.min()), 0, 1)
    else:  # PyOD: erf of the standardised score, clipped at 0
        expected = np.clip(erf((scores - fitted.mean()) / (fitted.std() * np.sqrt(2))), 0, 1)
    assert np.allclose(proba[:, 1], expected)
    with pytest.raises(ValueError, match="method is 'softmax'; expected one of linear, unify"):
        detector.predict_proba(data["test"], method="softmax")


def test_fit_ignores_y_and_fit_predict_gives_the_fitted_rows_labels(data):
    x = data["train"].numpy()
    plain = _quick().fit(x)
    with_y = _quick().fit(x, np.r_[np.zeros(290), np.ones(10)])  # y is ignored (PyOD), never validation rows
    assert np.array_equal(plain.decision_scores_, with_y.decision_scores_)
    assert np.array_equal(_quick().fit_predict(x), plain.labels_)


def test_validation_rows_are_held_out_of_x_unless_given_and_never_from_fewer_than_10(data, monkeypatch):
    import autoencoder_pipelines.nn.detector as module

    seen = []
    real = module.fine_tune
    monkeypatch.setattr(module, "fine_tune",
                        lambda network, x, val, *rest: (seen.append((len(x), len(val))), real(network, x, val, *rest))[1])
    _quick().fit(data["train"])  # validation_fraction 0.1
    _quick(validation_fraction=0.25).fit(data["train"])
    _quick().fit(data["train"], X_val=data["val"])
    _quick().fit(data["train"][:9])  # too few to hold any out: the training rows validate
    assert seen == [(270, 30), (225, 75), (300, 100), (9, 9)]


@pytest.mark.parametrize(("params", "message"), [
    ({"contamination": 0.7}, "contamination is 0.7; expected a share in (0, 0.5)"),
    ({"score_rule": "error"}, "score_rule is 'error'; expected one of combined, reconstruction"),
    ({"threshold_rule": "share"}, "threshold_rule is 'share'; expected one of contamination, false_alarm_rate"),
    ({"validation_fraction": 1.0}, "validation_fraction is 1.0; expected a share in [0, 1)"),
    ({"epochs": 0}, "epochs is 0; expected an integer >= 1"),
])
def test_fit_refuses_settings_that_cannot_work(data, params, message):
    with pytest.raises(ValueError, match=re.escape(f"AutoencoderDetector: {message}")):
        AutoencoderDetector(**params).fit(data["train"])


@pytest.mark.parametrize(("rows", "message"), [
    (np.ones((5, 3)) * np.nan, "Input X contains NaN"),
    (np.ones(5), "Expected 2D array"),
    (np.ones((1, 3)), "minimum of 2 is required"),
    (torch.ones(5), "Expected a 2-D tensor"),
])
def test_bad_rows_are_refused_with_scikit_learns_messages(rows, message):
    with pytest.raises(ValueError, match=message):
        AutoencoderDetector().fit(rows)


def test_rows_with_another_number_of_features_are_refused(detector, data):
    for rows in (data["test"][:, :15], data["test"][:, :15].numpy()):
        with pytest.raises(ValueError, match="X has 15 features, but AutoencoderDetector is expecting 16 features as input"):
            detector.decision_function(rows)


def test_scores_codes_and_reconstructions(data):
    detector = AutoencoderDetector(score_rule="reconstruction").fit(data["train"], X_val=data["val"])
    x = data["test"]
    codes, reconstructions, scores = detector.transform(x), detector.reconstruct(x), detector.decision_function(x)
    assert codes.shape == (220, detector.network_.code_size) and reconstructions.shape == (220, 16) and scores.shape == (220,)
    # reconstructions are in the data's units; scores are errors of the standardised rows
    assert torch.allclose(detector.center_, data["train"].mean(dim=0))
    assert torch.allclose(detector.scale_, data["train"].std(dim=0))
    standardised_errors = (((reconstructions - x.numpy()) / detector.scale_.numpy()) ** 2).mean(axis=1)
    assert np.allclose(scores, standardised_errors, rtol=1e-3, atol=1e-6)
    assert np.allclose(detector.decision_function(x.numpy().astype(np.float64)), scores)  # arrays work too
    assert np.allclose(detector.feature_scores(x).mean(axis=1), scores, rtol=1e-5)  # the terms whose mean is the score


def test_save_and_load_give_the_same_detector(detector, data, tmp_path):
    path = tmp_path / "detector.pt"
    save(detector, path)
    loaded = load(path, expected=AutoencoderDetector)
    assert loaded.get_params() == {**detector.get_params(), "network": None}
    assert loaded.threshold_ == detector.threshold_ and loaded.n_features_in_ == 16
    assert torch.equal(loaded.center_, detector.center_) and torch.equal(loaded.scale_, detector.scale_)
    assert np.array_equal(loaded.decision_function(data["test"]), detector.decision_function(data["test"]))
    assert np.array_equal(loaded.predict_proba(data["test"]), detector.predict_proba(data["test"]))
    assert np.array_equal(loaded.explain(data["test"])[1], detector.explain(data["test"])[1])
    assert np.array_equal(loaded.reconstruct(data["test"]), detector.reconstruct(data["test"]))


def test_a_bundle_written_before_the_detector_was_an_estimator_still_loads_and_scores_as_then(data, tmp_path):
    """The file layout of commit 90f7aa1 (DetectorSettings, a corruption spec, the network's
    weights only): its threshold was set on the reconstruction error, which it keeps scoring."""
    network = DenseAutoencoder(16, [32, 4])
    center, scale = data["train"].mean(dim=0), data["train"].std(dim=0)
    settings = {"contamination": 0.05, "threshold_rule": "contamination", "false_alarm_rate": 0.05, "hidden_sizes": None,
                "activation": "relu", "batch_norm": True, "standardize": True, "loss": "mse", "epochs": 2, "batch_size": None,
                "learning_rate": 0.03, "weight_decay": 0.0, "patience": 5, "min_delta": 0.001, "seed": 7, "top_k": 2}
    description = {"type": "detector", "network": {"type": "dense", "config": network.config}, "settings": settings,
                   "corruption": {"kind": "gaussian", "level": 0.2, "low": 0.0, "high": 1.0}, "threshold": 1.25,
                   "center": center.tolist(), "scale": scale.tolist()}
    torch.save({"format": 1, "json": json.dumps({"meta": {"run": "old"}, "parts": {"detector": description}}),
                "state_dicts": {"detector": network.state_dict()}}, tmp_path / "old.pt")
    meta, parts = load_bundle(tmp_path / "old.pt")
    old = parts["detector"]
    assert meta == {"run": "old"} and old.score_rule == "reconstruction" and old.threshold_ == 1.25
    assert (old.random_state, old.top_k, old.corruption, old.corruption_level) == (7, 2, "gaussian", 0.2)
    with torch.no_grad():
        standardised = (data["test"] - center) / scale
        expected = ((network.eval()(standardised) - standardised) ** 2).mean(dim=1).numpy()
    assert np.allclose(old.decision_function(data["test"]), expected, rtol=1e-6)
    assert np.array_equal(old.predict(data["test"]), (old.decision_function(data["test"]) > 1.25).astype(np.int64))


def test_the_corruption_and_hidden_sizes_are_saved_with_the_detector(data, tmp_path):
    detector = _quick(hidden_sizes=(8, 3), corruption="gaussian", corruption_level=0.2).fit(data["train"])
    save(detector, tmp_path / "detector.pt")
    loaded = load(tmp_path / "detector.pt", expected=AutoencoderDetector)
    assert (loaded.corruption, loaded.corruption_level, loaded.hidden_sizes) == ("gaussian", 0.2, (8, 3))


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
    AutoencoderDetector(epochs=2).fit(data["train"][:65])  # batches of 64, then one row


@pytest.mark.parametrize(("rows", "params", "expected"), [
    (250, {}, 25),  # a small table: about ten steps an epoch, to learn and to stop early
    (600, {}, 32),
    (4000, {}, 100),
    (50_000, {}, 256),
    (250, {"batch_size": 64}, 64),
])
def test_the_batch_size_follows_the_training_rows_unless_set(rows, params, expected, monkeypatch):
    import autoencoder_pipelines.nn.detector as module

    used = []
    monkeypatch.setattr(module, "fine_tune",
                        lambda network, x, val, trainer, *rest: (used.append(trainer.settings.batch_size), (network, None))[1])
    AutoencoderDetector(epochs=1, validation_fraction=0.0, score_rule="reconstruction", **params).fit(torch.rand(rows, 4))
    assert used == [expected]


# -- a scikit-learn estimator -------------------------------------------------------------------


# scikit-learn's checks for outlier detectors assume its own convention, predict in {-1 (outlier),
# +1 (inlier)} and decision_function negative for outliers; this detector follows PyOD's:
# predict in {0 (normal), 1 (anomaly)}, decision_function growing with the anomaly.
EXPECTED_FAILURES = {
    "check_outliers_train": "PyOD's convention: predict gives 0/1, not scikit-learn's +1/-1",
    "check_outliers_fit_predict": "PyOD's convention: fit_predict gives 0/1, not scikit-learn's +1/-1",
    # a float32 network: a row's score may differ in its 7th digit with the rows computed beside
    # it (BLAS blocks a matrix product by its shape); the check allows 1e-7 (2e-6 seen)
    "check_methods_subset_invariance": "float32 scores agree to about 1e-6 between a batch and its subsets, not 1e-7",
}


@parametrize_with_checks([AutoencoderDetector(epochs=3)], expected_failed_checks=lambda estimator: EXPECTED_FAILURES)
def test_scikit_learn_estimator_checks(estimator, check):
    """53 checks (scikit-learn 1.9.1): all pass but those above and check_array_api_input
    (skipped unless SCIPY_ARRAY_API is set: torch is not an array-API input here)."""
    check(estimator)


def test_a_rows_score_does_not_depend_on_the_rows_beside_it(detector, data):
    """What check_methods_subset_invariance asks, to float32's precision (it asks 1e-7)."""
    scores = detector.decision_function(data["test"])
    for part in (slice(0, 1), slice(3, 50), slice(100, 220)):
        np.testing.assert_allclose(detector.decision_function(data["test"][part]), scores[part], rtol=1e-5, atol=1e-5)


def test_clone_get_params_and_set_params(detector):
    copy = clone(detector)
    assert copy.get_params() == detector.get_params() and not hasattr(copy, "network_")
    copy.set_params(hidden_sizes=(8, 2), learning_rate=0.01)
    assert copy.hidden_sizes == (8, 2) and detector.hidden_sizes is None
    assert {"contamination", "hidden_sizes", "epochs", "batch_size", "learning_rate", "random_state",
            "device"} <= set(copy.get_params())


@pytest.fixture(scope="module")
def breast_cancer():
    """Benign rows and 20 malignant ones (the anomalies), in the data's own units."""
    bunch = load_breast_cancer()
    x = np.vstack([bunch.data[bunch.target == 1], bunch.data[bunch.target == 0][:20]])
    return x, np.r_[np.zeros((bunch.target == 1).sum(), int), np.ones(20, int)]


def test_a_pipeline_with_a_scaler_fits_scores_and_predicts(breast_cancer):
    x, y = breast_cancer
    pipeline = make_pipeline(StandardScaler(), AutoencoderDetector(epochs=20, standardize=False)).fit(x)
    assert roc_auc_score(y, pipeline.decision_function(x)) > 0.9
    assert set(np.unique(pipeline.predict(x))) == {0, 1} and pipeline.predict_proba(x).shape == (len(x), 2)
    assert pipeline[-1].n_features_in_ == 30


def test_grid_search_and_cross_validation_with_a_scorer(breast_cancer):
    x, y = breast_cancer
    auc = make_scorer(roc_auc_score, response_method="decision_function")
    folds = StratifiedKFold(3, shuffle=True, random_state=0)  # y's anomalies in every fold
    search = GridSearchCV(AutoencoderDetector(epochs=5),
                          {"hidden_sizes": [(16, 4), (32, 8)], "score_rule": ["combined", "reconstruction"]},
                          scoring=auc, cv=folds).fit(x, y)
    assert search.best_params_["hidden_sizes"] in [(16, 4), (32, 8)] and search.best_score_ > 0.8
    scores = cross_val_score(AutoencoderDetector(epochs=5), x, y, cv=folds,
                             scoring=make_scorer(average_precision_score, response_method="decision_function"))
    assert scores.shape == (3,) and (scores > 0.2).all()  # 20 anomalies in 377 rows: chance is 0.05


def test_the_package_exports_the_detector_without_importing_torch_at_import():
    code = ("import sys, autoencoder_pipelines; assert 'torch' not in sys.modules; "
            "from autoencoder_pipelines import AutoencoderDetector; print(AutoencoderDetector.__module__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "autoencoder_pipelines.nn.detector"


# -- batched inference ----------------------------------------------------------------------


@pytest.mark.parametrize("n_rows", [1, 64, 100])
def test_predict_in_batches_matches_one_pass(n_rows):
    x = torch.randn(n_rows, 3)
    calls = []
    out = predict_in_batches(lambda b: calls.append(len(b)) or b * 2, x, batch_size=64)
    assert torch.equal(out, x * 2)
    assert calls == [min(n_rows - start, 64) for start in range(0, n_rows, 64)]
