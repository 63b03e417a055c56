"""Training and evaluation nodes on in-memory data: each kind gets its own objective, settings
reach the phases they configure, outputs have the promised shape."""

from unittest.mock import MagicMock, patch

import numpy as np
import pandas as pd
import pytest
import torch

from autoencoder_pipelines.config import (
    AnomalyParams,
    CorruptionParams,
    DenoiserParams,
    FinetuneParams,
    ModelParams,
    PretrainParams,
    ReductionParams,
)
from autoencoder_pipelines.data.errors import ConfigError
from autoencoder_pipelines.data.frames import ModelInput, Skipped
from autoencoder_pipelines.jobs.anomaly import train_detector
from autoencoder_pipelines.jobs.autoencoders import layer_losses
from autoencoder_pipelines.jobs.classification import (
    finetune_classifier,
    train_random_init_classifier,
)
from autoencoder_pipelines.jobs.pretraining import pretrain_stack
from autoencoder_pipelines.nn import stacking
from autoencoder_pipelines.pipelines.anomaly.nodes import score_anomalies
from autoencoder_pipelines.pipelines.finetuning.nodes import (
    evaluate_classifiers,
    finetune_denoiser,
)
from autoencoder_pipelines.pipelines.reduction.nodes import sweep_code_sizes
from autoencoder_pipelines.pipelines.reporting.nodes import plot_generated_samples
from autoencoder_pipelines.pipelines.scorer.nodes import build_scorer

PRETRAIN = PretrainParams(epochs=1, batch_size=32)
MASKING = CorruptionParams(kind="masking", level=0.25)


def rows(frame, schema, train=None, val=None, test=None, **changes):
    """A ModelInput of `frame` in every part (or the parts given), its schema with `changes`."""
    schema = schema.model_copy(update=changes) if changes else schema
    return ModelInput(frame if train is None else train, frame if val is None else val, frame if test is None else test, schema)


def _pretrain(frame, schema, runtime, kind="denoising", **model):
    return pretrain_stack(rows(frame, schema), ModelParams(kind=kind, hidden_sizes=[8, 4], **model), PRETRAIN, MASKING, runtime)


def _spy_pretrain(frame, schema, runtime, kind):
    with patch.object(stacking, "train_autoencoder", wraps=stacking.train_autoencoder) as spy:
        _pretrain(frame, schema, runtime, kind)
    return [call.args[5] for call in spy.call_args_list]  # the corruption of each phase


def test_only_the_denoising_kind_corrupts_each_layers_input(frame, schema, runtime):
    assert [c.kind for c in _spy_pretrain(frame, schema, runtime, "denoising")] == ["masking", "masking"]
    for kind in ("undercomplete", "sparse", "contractive", "vae"):
        assert all(c.is_identity for c in _spy_pretrain(frame, schema, runtime, kind)), kind


@pytest.mark.parametrize("kind, phases", [
    ("sparse", ["pretrain.layer_1", "pretrain.layer_2"]), ("vae", ["pretrain.vae"]), ("conv", ["pretrain.conv"]),
])
def test_stacking_kinds_pretrain_per_layer_and_the_others_end_to_end(frame, schema, runtime, kind, phases):
    network, history = _pretrain(frame, schema, runtime, kind)
    assert network.code_size == 4 and network.architecture.kind == kind
    assert sorted({key.rsplit(".", 1)[0] for key in history}) == phases
    assert all(len(values) == 1 for values in history.values())


def test_conv_needs_an_image_shape(frame, schema, runtime):
    with pytest.raises(ConfigError, match="model.kind 'conv' needs images: set data.image_shape"):
        _pretrain(frame, schema.model_copy(update={"image_shape": None}), runtime, "conv")


@pytest.mark.parametrize("kind", ["vae", "conv", "denoising"])
def test_l1_weight_reaches_every_kind(frame, schema, runtime, kind):
    from autoencoder_pipelines.nn.kinds import base, vae

    target = vae if kind == "vae" else base
    with patch.object(target, "l1_weight_penalty", wraps=target.l1_weight_penalty) as penalty:
        _pretrain(frame, schema, runtime, kind, l1_weight=0.01)
    assert penalty.call_count > 0 and penalty.call_args.args[1] == 0.01


def test_the_first_layer_reconstructs_the_data_and_the_others_hidden_codes(schema):
    assert layer_losses(ModelParams(hidden_sizes=[8, 4, 2], loss="bce", hidden_loss="l1"), schema) == ["bce", "l1", "l1"]
    # auto: bce for images, mse for tables; the sizes follow the data when unset
    assert layer_losses(ModelParams(), schema) == ["bce", "mse", "mse"]
    assert layer_losses(ModelParams(), schema.model_copy(update={"image_shape": None})) == ["mse", "mse", "mse"]


def test_classifiers_pretrained_and_random_init(frame, schema, runtime):
    stack, _ = _pretrain(frame, schema, runtime)
    params = FinetuneParams(epochs=2, batch_size=32, mode="head_only", train_on_validation=False)
    classifier, history = finetune_classifier(stack, rows(frame, schema), params, runtime)
    assert set(history) == {"finetune.train_loss", "finetune.val_loss", "finetune.val_accuracy"}
    # head_only froze the pretrained encoder; the random-init twin always trains in full
    assert all(np.allclose(a.detach(), b.detach())
               for a, b in zip(classifier.encoder.parameters(), stack.encoder().parameters(), strict=True))
    model = ModelParams(hidden_sizes=[8, 4])
    twin, _ = train_random_init_classifier(rows(frame, schema), model, params, runtime)
    metrics, predictions = evaluate_classifiers(classifier, twin, rows(frame, schema), frame)
    assert set(metrics) == {"finetune.test_accuracy", "finetune.noisy_test_accuracy",
                            "finetune.random_init_test_accuracy", "finetune.random_init_noisy_test_accuracy",
                            "finetune.test_majority_rate", "finetune.test_balanced_accuracy",
                            "finetune.random_init_test_balanced_accuracy"}
    assert metrics["finetune.test_majority_rate"] == 0.5
    assert list(predictions.columns) == ["id", "label", "predicted", "random_init_predicted"]
    skipped, history = finetune_classifier(stack, rows(frame, schema, classes=None), params, runtime)
    assert isinstance(skipped, Skipped) and history == {}


def test_the_denoiser_is_a_fine_tuned_copy(frame, schema, runtime):
    stack, _ = _pretrain(frame, schema, runtime)
    before = [p.detach().clone() for p in stack.parameters()]
    denoiser, history = finetune_denoiser(stack, rows(frame, schema), ModelParams(hidden_sizes=[8, 4]), MASKING,
                                          DenoiserParams(epochs=2, batch_size=32), runtime)
    assert set(history) == {"denoiser.train_loss", "denoiser.val_loss", "denoiser.val_mse"}
    assert all(np.array_equal(a, b.detach()) for a, b in zip(before, stack.parameters(), strict=True))
    assert not all(np.array_equal(a, b.detach()) for a, b in zip(before, denoiser.parameters(), strict=True))


def test_the_code_size_sweep_reuses_the_pretrained_lower_layers(frame, schema, runtime):
    stack, _ = _pretrain(frame, schema, runtime, "undercomplete")
    params = ReductionParams(epochs=1, sweep_code_sizes=[2, 6, 16], sweep_epochs=1, batch_size=32)
    table = sweep_code_sizes(stack, stack, rows(frame, schema), ModelParams(kind="undercomplete", hidden_sizes=[8, 4]),
                             params, runtime)
    assert list(table["code_size"]) == [2, 4, 6]  # 16 is not smaller than the 16 features
    assert list(table["epochs"]) == [1, 1, 1]
    vae, _ = _pretrain(frame, schema, runtime, "vae")
    table = sweep_code_sizes(vae, vae, rows(frame, schema), ModelParams(kind="vae", hidden_sizes=[8, 4]), params, runtime)
    assert list(table["code_size"]) == [4]


def test_one_pca_fit_gives_the_test_error_of_every_code_size():
    from sklearn.decomposition import PCA

    from autoencoder_pipelines.pipelines.reduction.nodes import _pca_test_mse_by_size

    generator = np.random.default_rng(0)
    x = generator.normal(size=(300, 12)) @ generator.normal(size=(12, 12))
    errors = _pca_test_mse_by_size(x[:200], x[200:], [2, 5, 9])
    for k, error in errors.items():  # as a PCA of k components fitted alone
        alone = PCA(n_components=k, svd_solver="full").fit(x[:200])
        reconstructed = alone.inverse_transform(alone.transform(x[200:]))
        assert error == pytest.approx(float(((reconstructed - x[200:]) ** 2).mean()), rel=1e-6)
    assert errors[2] > errors[5] > errors[9]


def test_the_detector_learns_the_normal_rows_and_flags_above_its_threshold(frame, schema, runtime):
    params = AnomalyParams(epochs=30, batch_size=16, normal_classes=[0], patience=None)
    detector, history = train_detector(rows(frame, schema), params, runtime)
    assert len(history["anomaly.train_loss"]) == 30
    scores, metrics = score_anomalies(detector, rows(frame, schema), params)
    assert len(scores) == 3 * len(frame)
    assert (scores["is_anomaly"] == (scores["reconstruction_error"] > metrics["anomaly.threshold"])).all()
    assert metrics["anomaly.roc_auc"] > 0.9  # class 1 was never seen by the detector
    # contamination: that share of the training rows, anomalies included, is flagged
    assert metrics["anomaly.train_flag_rate"] == pytest.approx(params.contamination, abs=1 / len(frame))
    # and the detector's fitted attributes describe those rows, as its threshold does (PyOD's convention)
    assert len(detector.decision_scores_) == len(frame) and detector.labels_.mean() == pytest.approx(params.contamination,
                                                                                                    abs=1 / len(frame))
    assert detector.threshold_ == pytest.approx(np.quantile(detector.decision_scores_, 1 - params.contamination))


def test_normal_classes_must_exist(frame, schema, runtime):
    with pytest.raises(ConfigError, match=r"anomaly.normal_classes: \['cat'\] are not classes of the data"):
        train_detector(rows(frame, schema), AnomalyParams(epochs=1, normal_classes=["cat"]), runtime)


def test_the_detectors_score_rule_and_code_follow_the_kind_of_data_unless_set(frame, schema, runtime):
    table = schema.model_copy(update={"image_shape": None})
    detector, _ = train_detector(rows(frame, table), AnomalyParams(epochs=1, normal_classes=[0]), runtime)
    assert detector.score_rule == "combined" and detector.score_reference_ is not None
    assert detector.network_.config["hidden_sizes"][0] == 32  # [2d, the code from the rows' variance]
    assert AnomalyParams().detector_choices(schema)["score_rule"] == "reconstruction"  # images
    assert AnomalyParams(score_rule="combined").detector_choices(schema)["score_rule"] == "combined"
    chosen, _ = train_detector(rows(frame, table), AnomalyParams(epochs=1, normal_classes=[0], score_rule="reconstruction",
                                                                 hidden_sizes=[8, 3]), runtime)
    assert chosen.score_reference_ is None and chosen.network_.config["hidden_sizes"] == [8, 3]


def _scorer(frame, schema, runtime, id_column):
    stack, _ = _pretrain(frame, schema, runtime, "undercomplete")
    detector, _ = train_detector(rows(frame, schema), AnomalyParams(epochs=1, normal_classes=[0]), runtime)
    scaler = {"kind": "global", "features": schema.features, "minimum": [0.0] * 16, "maximum": [1.0] * 16}
    return build_scorer(frame, schema.model_copy(update={"id_column": id_column}), scaler, stack, detector, Skipped("no labels"))


def test_the_scorer_keeps_a_few_raw_rows_as_its_example(frame, schema, runtime):
    scorer = _scorer(frame, schema, runtime, "row")
    example = scorer.input_example()
    assert list(example.columns) == [*schema.features, "row"] and len(example) == 5
    assert list(scorer.score(example)["id"]) == list(frame["id"].head(5))


def test_scoring_ignores_the_columns_training_left_out_and_refuses_others(frame, schema, runtime):
    """A file laid out as the training file was: its text columns, and those not in
    data.feature_columns, are ignored as training ignored them; a column it never had is refused."""
    from autoencoder_pipelines.data.errors import DataValidationError
    from autoencoder_pipelines.data.validation import validate_table

    raw = frame[schema.features].assign(site="north", spare=1.0)
    _, selected = validate_table(raw, "train.csv", feature_columns=schema.features)
    assert selected.ignored_columns == ["site", "spare"] and selected.features == schema.features
    scorer = _scorer(frame, schema.model_copy(update={"ignored_columns": selected.ignored_columns}), runtime, None)
    assert len(scorer.score(raw.head(4), source="new.csv")) == 4
    with pytest.raises(DataValidationError, match=r"new.csv: 1 column\(s\) the model was not trained on, e.g. \['other'\]"):
        scorer.score(raw.head(4).assign(other=2.0), source="new.csv")


def test_scored_ids_are_the_id_column_or_source_and_row_and_never_repeat(frame, schema, runtime):
    from autoencoder_pipelines.data.errors import DataValidationError

    head = frame[schema.features].head(8)
    without_ids = _scorer(frame, schema, runtime, None)
    assert list(without_ids.score(head, source="day1.csv")["id"]) == [f"day1.csv:{i}" for i in range(8)]
    assert list(without_ids.score(head, source="day2.csv")["id"])[:2] == ["day2.csv:0", "day2.csv:1"]

    with_ids = _scorer(frame, schema, runtime, "row")
    with pytest.raises(DataValidationError, match=r"day1.csv: the id column 'row' \(data.id_column of the model\) is missing"):
        with_ids.score(head, source="day1.csv", require_id=True)
    duplicated = head.assign(row=["a", "b", "a", "c", "b", "d", "e", "a"])
    with pytest.raises(DataValidationError) as error:
        with_ids.score(duplicated, source="day1.csv")
    assert str(error.value) == ("day1.csv: column 'row' (id): 5 rows share 2 id(s), e.g. ['a', 'b']; "
                                "ids must be unique within a file")
    with pytest.raises(DataValidationError, match="day1.csv: column 'row' \\(id\\): 1 missing id"):
        with_ids.score(head.assign(row=["a", None, "c", "d", "e", "f", "g", "h"]), source="day1.csv")
    assert list(with_ids.score(head.assign(row=[f"r{i}" for i in range(8)]), source="day1.csv",
                               require_id=True)["id"]) == [f"r{i}" for i in range(8)]


def test_only_generative_kinds_draw_samples(frame, schema, runtime):
    vae, _ = _pretrain(frame, schema, runtime, "vae")
    stack, _ = _pretrain(frame, schema, runtime, "undercomplete")
    assert len(plot_generated_samples(vae, rows(frame, schema)).axes) == 32  # 3 rows of prior draws, 1 of interpolation
    assert "does not generate" in str(plot_generated_samples(stack, rows(frame, schema)))  # NotApplicable: not drawn


def test_the_adversarial_kind_pretrains_on_labelled_rows_and_feeds_every_downstream_node(frame, schema, runtime, tmp_path):
    from autoencoder_pipelines.nn.serialization import load, save
    from autoencoder_pipelines.pipelines.finetuning.nodes import evaluate_denoiser
    from autoencoder_pipelines.pipelines.reduction.nodes import (
        compare_with_pca,
        export_embeddings,
    )

    network, history = _pretrain(frame, schema, runtime, "adversarial", adversarial={"prior": "class_gaussians"})
    assert network.prior_means.shape == (2, 4)  # one component per class
    assert {f"pretrain.adversarial.{m}"
            for m in ("train_loss", "val_loss", "discriminator_loss", "generator_loss")} == set(history)
    with pytest.raises(ConfigError, match="class_gaussians' draws one Gaussian per class: it needs labels"):
        _pretrain(frame, schema.model_copy(update={"classes": None}), runtime, "adversarial",
                  adversarial={"prior": "class_gaussians"})
    model = ModelParams(kind="adversarial", hidden_sizes=[8, 4])
    data = rows(frame, schema)
    classifier, _ = finetune_classifier(network, data, FinetuneParams(epochs=1, batch_size=32), runtime)
    denoiser, _ = finetune_denoiser(network, data, model, MASKING, DenoiserParams(epochs=1, batch_size=32), runtime)
    metrics, _ = evaluate_denoiser(denoiser, data, frame)
    embeddings = export_embeddings(denoiser, data)
    _, reduction = compare_with_pca(denoiser, data, ReductionParams())
    assert [c for c in embeddings.columns if c.startswith("z_")] == ["z_0", "z_1", "z_2", "z_3"]
    assert np.isfinite([metrics["denoise.test_mse_denoised"], reduction["reduction.ae_test_mse"]]).all()
    detector, _ = train_detector(data, AnomalyParams(epochs=1, normal_classes=[0]), runtime)
    scaler = {"kind": "global", "features": schema.features, "minimum": [0.0] * 16, "maximum": [1.0] * 16}
    scored = build_scorer(frame, schema, scaler, network, detector, classifier).score(frame.head(3))
    assert {"z_0", "predicted_class"} <= set(scored.columns)
    save(network, tmp_path / "aae.pt")  # the prior travels with the model; the discriminator does not
    loaded = load(tmp_path / "aae.pt")
    assert torch.equal(loaded.prior_means, network.prior_means)
    assert not any("discriminator" in key for key in loaded.state_dict())
    assert len(plot_generated_samples(loaded, data).axes) > 1


def test_classical_classifiers_on_the_codes_the_raw_inputs_and_pca_codes_of_the_same_size(frame, schema, runtime,
                                                                                         monkeypatch):
    from autoencoder_pipelines.pipelines.reduction.nodes import (
        classify_features,
        compare_with_pca,
        export_embeddings,
    )

    network, _ = _pretrain(frame, schema, runtime, "undercomplete")
    train, test = frame.iloc[::2].reset_index(drop=True), frame.iloc[1::2].reset_index(drop=True)
    data = rows(frame, schema, train=train, val=test.head(4), test=test)
    embeddings = export_embeddings(network, data)
    pca, _ = compare_with_pca(network, data, ReductionParams())
    metrics = classify_features(embeddings, pca, data, ReductionParams())
    assert {key for key in metrics if key.endswith("test_accuracy")} == {
        f"{features}.{classifier}.test_accuracy"
        for features in ("codes", "raw", "pca") for classifier in ("logistic_regression", "linear_svm")}
    assert (metrics["codes.dimensions"], metrics["pca.dimensions"], metrics["raw.dimensions"]) == (4, 4, 16)
    assert metrics["raw.logistic_regression.test_accuracy"] == 1.0  # class 1 is brighter everywhere
    # the features' rows line up with their labels: scrambled labels score about chance
    scrambled = {split: part.assign(label=np.roll(part["label"].to_numpy(), 7))
                 for split, part in (("train", train), ("test", test))}
    scrambled_data = rows(frame, schema, train=scrambled["train"], val=test.head(4), test=test)
    scrambled_metrics = classify_features(embeddings, pca, scrambled_data, ReductionParams())
    assert scrambled_metrics["raw.linear_svm.test_accuracy"] < 0.75
    # the SVM's dual solver shuffles its coordinates: seeded, not by NumPy's global state (a resumed
    # run differed from an uninterrupted one by a test row where it did not converge)
    from sklearn.svm import LinearSVC

    seeds, fit = [], LinearSVC.fit
    monkeypatch.setattr(LinearSVC, "fit", lambda self, *args, **kw: seeds.append(self.random_state) or fit(self, *args, **kw))
    assert classify_features(embeddings, pca, data, ReductionParams()) == metrics
    assert seeds and None not in seeds
    assert classify_features(embeddings, pca, rows(frame, schema, train=train, test=test, classes=None), ReductionParams()) == {}
    assert metrics["classical.train_rows"] == len(train)  # below the sample's size: every row


def test_the_classical_classifiers_fit_on_a_stated_stratified_sample_the_same_for_the_three(frame, schema, runtime, monkeypatch):
    from sklearn.pipeline import Pipeline

    from autoencoder_pipelines.pipelines.reduction.nodes import (
        classify_features,
        compare_with_pca,
        export_embeddings,
    )

    network, _ = _pretrain(frame, schema, runtime, "undercomplete")
    train, test = frame.iloc[::2].reset_index(drop=True), frame.iloc[1::2].reset_index(drop=True)
    data = rows(frame, schema, train=train, val=test.head(4), test=test)
    embeddings = export_embeddings(network, data)
    pca, _ = compare_with_pca(network, data, ReductionParams())
    fitted = []
    real_fit = Pipeline.fit
    monkeypatch.setattr(Pipeline, "fit",
                        lambda self, x, y: fitted.append((x.shape[0], sorted(set(y)), list(y))) or real_fit(self, x, y))
    limit = len(train) // 2
    metrics = classify_features(embeddings, pca, data, ReductionParams(classifier_rows=limit))
    assert metrics["classical.train_rows"] == limit
    assert len(fitted) == 6 and {rows for rows, _, _ in fitted} == {limit}
    assert len({tuple(labels) for _, _, labels in fitted}) == 1  # the same rows (their labels, in order) for the three sets
    assert fitted[0][1] == sorted(set(train["label"].astype(str)))  # every class in the sample


def _clustered(frame, schema, runtime, **clustering):
    """The fixture's codes, PCA codes and rows (even rows train, odd rows test), clustered."""
    from autoencoder_pipelines.config import ClusteringParams
    from autoencoder_pipelines.pipelines.reduction.nodes import cluster_features, compare_with_pca, export_embeddings

    network, _ = _pretrain(frame, schema, runtime, "undercomplete")
    train, test = frame.iloc[::2].reset_index(drop=True), frame.iloc[1::2].reset_index(drop=True)

    def cluster(data, **changes):
        params = ReductionParams(clustering=ClusteringParams(**{**clustering, **changes}))
        pca = compare_with_pca(network, data, params)[0]
        return cluster_features(export_embeddings(network, data), pca, data, params, runtime)

    return cluster, train, test


def test_kmeans_on_the_codes_the_raw_inputs_and_pca_codes_of_the_same_size(frame, schema, runtime):
    cluster, train, test = _clustered(frame, schema, runtime, n_init=2)
    data = rows(frame, schema, train=train, val=test.head(4), test=test)
    table, metrics = cluster(data)
    assert list(table["features"]) == ["raw", "codes", "pca"] and list(table["dimensions"]) == [16, 4, 4]
    assert (table["n_clusters"] == 2).all() and (table["test_rows"] == 32).all()  # k = the number of classes
    assert table.loc[0, ["ari", "nmi"]].tolist() == [1.0, 1.0]  # class 1 is brighter everywhere
    compared = {f"cluster/{features}.{score}" for features in ("codes", "best_baseline") for score in ("ari", "nmi")}
    own_space = {f"cluster/{features}.silhouette" for features in ("codes", "raw", "pca")}  # no "better" one
    assert set(metrics) == compared | own_space
    assert metrics["cluster/best_baseline.ari"] == table["ari"].iloc[[0, 2]].max()
    assert [metrics[f"cluster/{name}.silhouette"] for name in ("raw", "codes", "pca")] == table["silhouette"].tolist()
    assert -1 <= metrics["cluster/codes.silhouette"] <= 1
    # the same seed, the same clusters
    again, _ = cluster(data)
    pd.testing.assert_frame_equal(again.drop(columns="seconds"), table.drop(columns="seconds"))
    # scored against the test rows' own labels: scrambled labels score about chance
    scrambled = test.assign(label=np.roll(test["label"].to_numpy(), 7))
    assert cluster(rows(frame, schema, train=train, val=test.head(4), test=scrambled))[1]["cluster/best_baseline.ari"] < 0.3


def test_kmeans_without_labels_sets_k_and_reports_the_silhouette_alone(frame, schema, runtime):
    cluster, train, test = _clustered(frame, schema, runtime, n_init=1)
    unlabelled = {name: part.drop(columns="label") for name, part in (("train", train), ("test", test))}
    data = rows(frame.drop(columns="label"), schema, train=unlabelled["train"], test=unlabelled["test"], classes=None,
                label_column=None)
    table, metrics = cluster(data)
    assert "ari" not in table.columns and (table["n_clusters"] == 8).all()  # scikit-learn's default without labels
    assert set(metrics) == {"cluster/codes.silhouette", "cluster/raw.silhouette", "cluster/pca.silhouette"}
    assert (cluster(data, n_clusters=3)[0]["n_clusters"] == 3).all()


def test_kmeans_on_partly_labelled_rows_scores_the_labelled_test_rows(frame, schema, runtime):
    cluster, _, _ = _clustered(frame, schema, runtime, n_init=1, silhouette_rows=10)
    partly = _partly_labelled(frame)
    train, test = partly.iloc[1::2].reset_index(drop=True), partly.iloc[::2].reset_index(drop=True)  # labels on the test rows
    table, metrics = cluster(rows(partly, schema, train=train, val=test.head(4), test=test))
    assert table.loc[0, "labelled_test_rows"] == test["label"].notna().sum() == 16
    assert table.loc[0, "ari"] == 1.0 and (table["silhouette_rows"] == 10).all()  # a seeded sample of the test rows


def test_kmeans_off_and_an_undefined_silhouette(frame, schema, runtime):
    from autoencoder_pipelines.pipelines.reporting.nodes import plot_clustering

    cluster, train, test = _clustered(frame, schema, runtime, n_init=1)
    table, metrics = cluster(rows(frame, schema, train=train, test=test), enabled=False)
    assert table.empty and metrics == {}
    assert "enabled is false" in str(plot_clustering(table))  # NotApplicable: neither written nor logged
    # test rows of one class fall in one cluster: no silhouette (NaN in the table, no metric), ARI and NMI still
    dark = test[test["label"] == 0]
    table, metrics = cluster(rows(frame, schema, train=train, test=dark))
    assert np.isnan(table.loc[0, "silhouette"]) and table.loc[0, "ari"] == 1.0  # raw: every dark row in one cluster
    assert "cluster/codes.ari" in metrics and np.isfinite(list(metrics.values())).all()


def test_kmeans_runs_on_the_runtime_threads(frame, schema, runtime):
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_info

    cluster, train, test = _clustered(frame, schema, runtime, n_init=1)
    seen, fit = [], KMeans.fit

    def counting_fit(self, *args, **kwargs):
        seen.append({pool["num_threads"] for pool in threadpool_info()})
        return fit(self, *args, **kwargs)

    with patch.object(KMeans, "fit", counting_fit):
        cluster(rows(frame, schema, train=train, test=test))
    assert seen == [{runtime.params.threads}] * 3


def test_the_clustering_figure_has_a_panel_per_score(frame, schema, runtime):
    from autoencoder_pipelines.pipelines.reporting.nodes import plot_clustering

    cluster, train, test = _clustered(frame, schema, runtime, n_init=1)
    table, _ = cluster(rows(frame, schema, train=train, test=test))
    figure = plot_clustering(table)
    assert [ax.get_title() for ax in figure.axes] == ["adjusted Rand index", "normalised mutual information", "silhouette"]
    assert [len(ax.patches) for ax in figure.axes] == [3, 3, 3]
    assert figure._suptitle.get_text() == "k-means, k=2, fitted on the training rows; 32 test rows (silhouette on 32)"
    assert len(plot_clustering(table.drop(columns=["ari", "nmi"])).axes) == 1


def test_more_clusters_than_training_rows_is_refused_before_training(frame, schema):
    """The project hook's check of a run that uses `reduction` (64 rows: 44 train with the default split)."""
    from autoencoder_pipelines.config import ClusteringParams, SplitParams
    from autoencoder_pipelines.jobs.checks import check_settings

    def check(**clustering):
        sections = {"split": SplitParams(), "reduction": ReductionParams(clustering=ClusteringParams(**clustering))}
        check_settings(frame, schema, sections, {"split", "reduction"})

    check(n_clusters=20)
    with pytest.raises(ConfigError, match=r"clustering.n_clusters: k-means cannot make 60 clusters of the 4\d training"):
        check(n_clusters=60)
    check(n_clusters=60, enabled=False)


def test_the_contraction_analysis_of_the_pretrained_encoder(frame, schema, runtime):
    from autoencoder_pipelines.config import ReportParams
    from autoencoder_pipelines.pipelines.reporting.nodes import analyse_contraction

    network, _ = _pretrain(frame, schema, runtime, "contractive")
    metrics, table, figure = analyse_contraction(network, rows(frame, schema), ReportParams(contraction_rows=20))
    assert {"contraction.jacobian_frobenius", "contraction.jacobian_frobenius_normalised", "contraction.ratio_all",
            "contraction.sensitive_directions", "contraction.ratio.q00_01",
            "contraction.normalised_ratio.q90_100"} <= set(metrics)
    assert np.isfinite(list(metrics.values())).all()
    assert table.groupby("measure").size().to_dict() == {"singular_value": 4, "ratio": 5, "normalised_ratio": 5}
    assert len(figure.axes) == 3


def test_the_codes_against_the_prior_for_kinds_with_a_prior(frame, schema, runtime, caplog):
    from autoencoder_pipelines.config import ReportParams
    from autoencoder_pipelines.pipelines.reporting.nodes import compare_codes_with_prior

    for kind in ("adversarial", "vae"):
        network, _ = _pretrain(frame, schema, runtime, kind)
        metrics, figure = compare_codes_with_prior(network, rows(frame, schema), ReportParams())
        points = sum(len(collection.get_offsets()) for collection in figure.axes[0].collections)
        assert points == 2 * len(frame), kind  # every test code and as many prior draws
        assert set(metrics) == {"prior.linear_separability", "prior.mean_distance", "prior.code_std"}
        assert 0 <= metrics["prior.linear_separability"] <= 1
    # codes far from the prior are told apart from its draws; draws of the prior itself are not
    network.encode = lambda x: network.sample_prior(len(x), torch.Generator().manual_seed(1)) + 5
    caplog.clear()
    with caplog.at_level("WARNING", logger="autoencoder_pipelines"):
        assert compare_codes_with_prior(network, rows(frame, schema), ReportParams())[0]["prior.linear_separability"] > 0.95
    assert "the codes do not follow the prior" in caplog.text  # said in the run, not only in a figure
    caplog.clear()
    network.encode = lambda x: network.sample_prior(len(x), torch.Generator().manual_seed(1))
    with caplog.at_level("WARNING", logger="autoencoder_pipelines"):
        assert compare_codes_with_prior(network, rows(frame, schema), ReportParams())[0]["prior.linear_separability"] < 0.7
    assert "do not follow the prior" not in caplog.text
    stack, _ = _pretrain(frame, schema, runtime, "denoising")
    metrics, figure = compare_codes_with_prior(stack, rows(frame, schema), ReportParams())
    assert metrics == {} and "no prior" in str(figure)


def _partly_labelled(frame, keep_every=4):
    """The fixture's rows with every label but each `keep_every`-th one emptied (unlabelled)."""
    partly = frame.copy()
    partly["label"] = pd.array(partly["label"], dtype="Int64")
    partly.loc[partly.index % keep_every != 0, "label"] = pd.NA
    return partly


def test_unlabelled_rows_feed_pretraining_but_not_the_classifiers(frame, schema, runtime):
    from autoencoder_pipelines.nn import finetuning

    partly = _partly_labelled(frame)
    n_labelled = int(partly["label"].notna().sum())
    with patch.object(stacking, "train_autoencoder", wraps=stacking.train_autoencoder) as spy:
        stack, _ = _pretrain(partly, schema, runtime)
    assert {len(call.args[3]) for call in spy.call_args_list} == {len(partly)}  # every row, each layer
    params = FinetuneParams(epochs=1, batch_size=32)
    with patch.object(finetuning, "train_classifier", wraps=finetuning.train_classifier) as spy:
        classifier, _ = finetune_classifier(stack, rows(partly, schema), params, runtime)
        twin, _ = train_random_init_classifier(rows(partly, schema), ModelParams(hidden_sizes=[8, 4]), params, runtime)
    for call in spy.call_args_list:  # x_train, y_train, x_val, y_val: the labelled rows only
        assert [len(t) for t in call.args[1:5]] == [n_labelled] * 4
    metrics, predictions = evaluate_classifiers(classifier, twin, rows(partly, schema), partly)
    assert len(predictions) == n_labelled and predictions["label"].notna().all()
    assert metrics["finetune.test_majority_rate"] == 0.5  # of the 16 labelled rows, 8 per class


def test_unlabelled_rows_are_neither_normal_nor_anomalous(frame, schema, runtime):
    from autoencoder_pipelines.jobs.anomaly import normal_part

    partly = _partly_labelled(frame)
    params = AnomalyParams(epochs=1, batch_size=16, normal_classes=[0])
    assert len(normal_part(partly, schema, params)) == 8  # the rows labelled 0, not the unlabelled ones
    detector, _ = train_detector(rows(partly, schema), params, runtime)
    scores, metrics = score_anomalies(detector, rows(partly, schema), params)
    test = scores[scores["split"] == "test"]
    assert test["anomalous"].isna().sum() == 48 and test["anomalous"].sum() == 8
    assert metrics["anomaly.test_anomaly_rate"] == 0.5  # measured on the 16 labelled rows
    assert metrics["anomaly.true_positives"] + metrics["anomaly.false_negatives"] == 8
    # the figures take the same 16 rows: the ROC legend's AUC is the logged one, and the
    # histogram draws the unlabelled rows apart
    from autoencoder_pipelines.pipelines.anomaly.nodes import plot_anomaly_curves, plot_anomaly_scores, score_baselines

    baselines, _ = score_baselines(rows(partly, schema), params, runtime)
    roc, pr = plot_anomaly_curves(scores, baselines)
    legend = [text.get_text() for text in roc.axes[0].get_legend().get_texts()]
    assert legend[0] == f"autoencoder (AUC = {metrics['anomaly.roc_auc']:.2f})"
    assert "(16 labelled of 64 rows)" in roc.axes[0].get_title() and "(16 labelled of 64 rows)" in pr.axes[0].get_title()
    histogram = plot_anomaly_scores(scores, metrics)
    assert [t.get_text() for t in histogram.axes[0].get_legend().get_texts()] == [
        "normal rows", "anomalous rows", "unlabelled rows", "threshold"]
    import matplotlib.pyplot as plt

    plt.close("all")


def test_the_label_budget_curve_reports_every_fraction_for_all_three(frame, schema, runtime):
    from autoencoder_pipelines.jobs import classification
    from autoencoder_pipelines.pipelines.finetuning import nodes as finetuning_nodes
    from autoencoder_pipelines.pipelines.finetuning.nodes import label_budget_curve, label_budget_fits
    from autoencoder_pipelines.pipelines.reporting.nodes import plot_label_budget

    partly = _partly_labelled(frame, keep_every=2)  # 32 labelled rows, 16 per class
    data = rows(partly, schema)
    stack, _ = _pretrain(partly, schema, runtime)
    model, params = ModelParams(hidden_sizes=[8, 4]), FinetuneParams(epochs=2, batch_size=32, label_fractions=[1.0, 0.1, 0.5])
    assert params.label_fractions == [0.1, 0.5, 1.0]
    classifier, history = finetune_classifier(stack, data, params, runtime)
    twin, twin_history = train_random_init_classifier(data, model, params, runtime)
    fit = MagicMock(wraps=classification.fit_classifier)  # the pretrained classifiers' and the twins'
    from sklearn.linear_model import LogisticRegression

    regression_rows = []
    regression_fit = LogisticRegression.fit

    def fit_regression(self, x, y):
        regression_rows.append(len(x))
        return regression_fit(self, x, y)

    with patch.object(finetuning_nodes, "fit_classifier", fit), patch.object(classification, "fit_classifier", fit), \
            patch.object(LogisticRegression, "fit", fit_regression):
        fits = label_budget_fits(stack, data, model, params, runtime)
    assert regression_rows == [8, 32, 64]  # the labels the networks use: training and validation rows
    metrics, table = label_budget_curve(fits, classifier, twin, history, twin_history, data)
    assert fit.call_count == 4  # two networks for 0.1 and 0.5; 1.0 is the run's own classifiers
    assert {len(call.args[1]) for call in fit.call_args_list} == {4, 16}  # 0.1: 2 of each class's 16; 0.5: 8
    for fraction, labelled in (("0.1", 8), ("0.5", 32), ("1.0", 64)):  # sampled training + validation rows
        assert metrics[f"label_budget.{fraction}.labelled_rows"] == labelled
        for name in ("pretrained", "random_init", "pca_logreg"):
            assert 0 <= metrics[f"label_budget.{fraction}.{name}_test_accuracy"] <= 1
    assert list(table["fraction"]) == [0.1, 0.5, 1.0] and list(table["pretrained_epochs"]) == [2, 2, 2]
    figure = plot_label_budget(table)
    assert figure.axes[0].get_xscale() == "log" and len(figure.axes[0].get_lines()) == 3
    off, empty = label_budget_curve(label_budget_fits(stack, data, model, FinetuneParams(), runtime), classifier, twin,
                                    history, twin_history, data)
    assert off == {} and empty.empty and "no curve" in str(plot_label_budget(empty))


def test_a_prior_with_a_component_per_class_pretrains_and_reports_on_the_labelled_rows(frame, schema, runtime):
    """Unlabelled rows have no component: the class-conditioned adversarial kind pretrains on
    the labelled rows, and its codes are set against the prior on the labelled test rows."""
    from autoencoder_pipelines.config import ReportParams
    from autoencoder_pipelines.data.frames import labels_tensor
    from autoencoder_pipelines.pipelines.reporting.nodes import compare_codes_with_prior

    partly = _partly_labelled(frame)
    n_labelled = int(partly["label"].notna().sum())
    with patch.object(stacking, "train_autoencoder", wraps=stacking.train_autoencoder) as spy:
        network, _ = _pretrain(partly, schema, runtime, "adversarial", adversarial={"prior": "class_gaussians"})
    assert [len(call.args[3]) for call in spy.call_args_list] == [n_labelled]
    metrics, figure = compare_codes_with_prior(network, rows(partly, schema), ReportParams())
    assert sum(len(c.get_offsets()) for c in figure.axes[0].collections) == 2 * n_labelled
    assert 0 <= metrics["prior.linear_separability"] <= 1
    with pytest.raises(ValueError, match=f"labels_tensor: {len(frame) - n_labelled} of {len(frame)} rows have no label"):
        labels_tensor(partly, schema)


def test_a_scoring_error_names_the_file_as_the_inbox_does():
    from autoencoder_pipelines.pipelines.score.nodes import _named_by_partition

    assert _named_by_partition("/srv/p/data/01_raw/incoming/day1.csv: file is empty", "day1.csv") == "day1.csv: file is empty"
    assert _named_by_partition("/srv/in/batch1/a.png: file is empty", "batch1/a.png") == "batch1/a.png: file is empty"
    assert _named_by_partition("day1.csv: 2 bad cells", "day1.csv") == "day1.csv: 2 bad cells"
    assert _named_by_partition("/srv/other.csv: file is empty", "day1.csv") == "/srv/other.csv: file is empty"


def test_a_random_init_twin_that_classifies_clearly_better_is_warned_about(caplog):
    from autoencoder_pipelines.pipelines.finetuning.nodes import _warn_if_random_init_is_better

    right = torch.ones(30, dtype=torch.bool)
    pretrained = right.clone()
    pretrained[:10] = False  # iris's seed 42 before the small-table batch rule: 0.667 against 1.000
    with caplog.at_level("WARNING"):
        _warn_if_random_init_is_better(pretrained, right)
    assert "10 test rows only it gets right, 0 only the pretrained one (McNemar p = 0.002)" in caplog.text
    caplog.clear()
    twin = right.clone()
    twin[:2] = False
    with caplog.at_level("WARNING"):
        _warn_if_random_init_is_better(right, twin)  # pretrained better: no word
        pretrained = right.clone()
        pretrained[:3] = False
        _warn_if_random_init_is_better(pretrained, right)  # 3 to 0: p = 0.25, noise
    assert caplog.text == ""
