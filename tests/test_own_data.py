"""A user's own table with the defaults: settings derived from the data, the anomaly pipeline
alone with its baselines. (Every mismatch refused right after ingestion: test_bad_inputs.py.)"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

from autoencoder_pipelines.config import AnomalyParams, ModelParams, SplitParams
from autoencoder_pipelines.data.schema import DataSchema
from autoencoder_pipelines.jobs.checks import normal_classes, unsupervised_reason

BASELINE_KEYS = ["anomaly.roc_auc", "anomaly.average_precision", "anomaly.isolation_forest.roc_auc",
                 "anomaly.isolation_forest.average_precision", "anomaly.pca.roc_auc", "anomaly.pca.average_precision"]
THRESHOLD_KEYS = ["anomaly.precision", "anomaly.recall", "anomaly.f1", "anomaly.true_positives",
                  "anomaly.false_positives", "anomaly.true_negatives", "anomaly.false_negatives"]
ANOMALY_ONLY = {"runtime": {"device": "cpu", "log_every": 0, "threads": 1}, "anomaly": {"epochs": 5}}


@pytest.mark.parametrize("n_features, sizes", [(4, [16, 8, 2]), (13, [52, 26, 5]), (30, [120, 60, 11]),
                                               (64, [256, 128, 24]), (784, [256, 128, 32])])
def test_hidden_sizes_follow_the_number_of_features(n_features, sizes):
    assert ModelParams().hidden_sizes_for(n_features) == sizes
    assert ModelParams(hidden_sizes=[7, 3]).hidden_sizes_for(n_features) == [7, 3]


def test_scaling_and_loss_follow_the_kind_of_data():
    table = DataSchema(source="t", features=[f"p{i}" for i in range(64)], n_rows=10)
    image = table.model_copy(update={"image_shape": [8, 8]})
    assert (SplitParams().scaling_for(image), SplitParams().scaling_for(table)) == ("global", "robust")
    assert (ModelParams().loss_for(image), ModelParams().loss_for(table)) == ("bce", "mse")
    assert SplitParams(scaling="per_feature").scaling_for(image) == "per_feature"


@pytest.mark.parametrize("classes, expected", [([0, 1], [0]), ([False, True], [False]), (None, None),
                                              (list(range(10)), None), (["cat", "dog"], None)])
def test_normal_classes_default_from_the_label(classes, expected):
    schema = DataSchema(source="t", features=["a"], classes=classes, label_column="y", n_rows=10)
    assert normal_classes(AnomalyParams(), schema) == expected


def test_a_label_that_names_no_normal_class_makes_the_detector_unsupervised_and_says_so():
    ten = DataSchema(source="t", features=["a"], classes=list(range(10)), label_column="digit", n_rows=100)
    line = unsupervised_reason(AnomalyParams(), ten)
    assert line is not None and "\n" not in line
    assert "unsupervised" in line and "'digit' has 10 classes" in line and "anomaly.normal_classes=[0,1,2]" in line
    assert normal_classes(AnomalyParams(normal_classes=[0, 1]), ten) == [0, 1]  # named: today's behaviour
    assert unsupervised_reason(AnomalyParams(normal_classes=[0, 1]), ten) is None
    assert unsupervised_reason(AnomalyParams(), ten.model_copy(update={"classes": [0, 1]})) is None
    assert unsupervised_reason(AnomalyParams(), ten.model_copy(update={"classes": None})) is None  # no labels: no news


class _Lines(logging.Handler):
    """The log lines of one module: its logger replaced by one outside logging's registry, which
    Kedro's logging configuration (it clears the handlers of the package's loggers) leaves alone."""

    def __init__(self, module, patch: pytest.MonkeyPatch) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []
        logger = logging.Logger(module.__name__, logging.INFO)
        logger.addHandler(self)
        patch.setattr(module, "logger", logger)

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_a_labelled_10_class_csv_trains_end_to_end_with_the_defaults(make_project, tiny, monkeypatch):
    """The bundled digits written as a CSV with their label: nothing says which digits are normal,
    so the detector learns every training row; the classifier, denoiser and reduction train as
    ever, and no ROC-AUC or AP is reported (it was refused at ingestion before)."""
    from sklearn.datasets import load_digits

    frame = load_digits(as_frame=True).frame.rename(columns={"target": "digit"})
    project = make_project(tiny)
    from autoencoder_pipelines.jobs import anomaly

    log = _Lines(anomaly, monkeypatch)
    project.run("denoise", data={"source": "csv", "path": _write(project, frame), "label_column": "digit"})
    metrics = project.metrics()
    assert metrics["finetune.test_accuracy"] > 0.3 and metrics["denoise.test_mse_denoised"] > 0
    assert not any(key.endswith(("roc_auc", "average_precision")) for key in metrics if key.startswith("anomaly"))
    assert "anomaly.precision" not in metrics
    scores = pd.read_parquet(project.path("data/07_model_output/anomaly_scores.parquet"))
    train = scores[scores["split"] == "train"]
    assert abs(train["is_anomaly"].mean() - 0.05) < 0.01 and scores["anomalous"].isna().all()
    lines = [line for line in log.lines if line.startswith("anomaly detector: unsupervised")]
    assert len(lines) == 1 and "'digit' has 10 classes" in lines[0]
    (run,) = project.runs()
    assert run.data.params["derived.anomaly.unsupervised"] == "True"
    assert run.data.params["derived.anomaly.normal_classes"] == "None"


def _write(project, frame, name="table.csv"):
    frame.to_csv(project.path(f"data/01_raw/{name}"), index=False)
    return f"data/01_raw/{name}"


def test_the_anomaly_pipeline_alone_reports_the_baselines(make_project):
    bunch = load_breast_cancer(as_frame=True).frame
    frame = pd.concat([bunch[bunch.target == 1], bunch[bunch.target == 0].head(25)]).sample(frac=1, random_state=0)
    frame["malignant"] = 1 - frame.pop("target")
    project = make_project(ANOMALY_ONLY)
    project.run("anomaly", data={"source": "csv", "path": _write(project, frame), "label_column": "malignant"})
    metrics = project.metrics()
    for key in BASELINE_KEYS + THRESHOLD_KEYS:
        assert key in metrics, key
    assert metrics["anomaly.roc_auc"] > 0.8
    for figure in ("anomaly_roc.png", "anomaly_pr.png", "anomaly_scores.png", "learning_curves.png"):
        assert project.path(f"data/08_reporting/{figure}").stat().st_size > 1000, figure
    trained = {p.name for p in project.path("data/06_models").iterdir()}
    assert trained == {"anomaly_model.pt", "scaler.json"}  # no classifier, denoiser or reduction model
    (run,) = project.runs()
    assert run.data.params["derived.split.scaling"] == "robust"
    assert run.data.params["derived.anomaly.normal_classes"] == "[0]"


def test_contamination_is_the_share_of_anomalies_in_the_data(make_project):
    """An unlabelled table with 8% planted anomalies and contamination 0.08: about that share
    of the rows is flagged, and the flags are mostly the planted rows."""
    rng = np.random.default_rng(1)
    rows, planted = 500, 40
    latent = rng.normal(size=(rows, 2))
    values = latent @ rng.normal(size=(2, 8)) + 0.05 * rng.normal(size=(rows, 8))
    values[:planted] += rng.choice([-1, 1], size=(planted, 8)) * 3.0  # off the 2-D structure
    frame = pd.DataFrame(values, columns=[f"s{i}" for i in range(8)])
    frame.insert(0, "row", [f"{'planted' if i < planted else 'ok'}-{i}" for i in range(rows)])
    project = make_project({**ANOMALY_ONLY, "anomaly": {"epochs": 30, "contamination": 0.08}})
    project.run("anomaly", data={"source": "csv", "path": _write(project, frame), "id_column": "row"})
    metrics = project.metrics()
    assert "anomaly.roc_auc" not in metrics and "anomaly.precision" not in metrics  # no labels
    scores = pd.read_parquet(project.path("data/07_model_output/anomaly_scores.parquet"))
    assert abs(scores["is_anomaly"].mean() - 0.08) < 0.02
    flagged = scores[scores["is_anomaly"]]
    assert flagged["id"].str.startswith("planted").mean() > 0.8


def test_classifier_accuracy_comes_with_the_majority_rate_and_balanced_accuracy(trained_project):
    metrics = trained_project.metrics()
    assert 0 < metrics["finetune.test_majority_rate"] < metrics["finetune.test_accuracy"]
    assert 0 < metrics["finetune.test_balanced_accuracy"] <= 1


def test_a_table_with_90_percent_empty_labels_trains_end_to_end(make_project, tiny):
    """400 rows, 40 of them labelled: every row pretrains and feeds the unsupervised models,
    the 40 labelled ones the classifiers, their metrics and the label budget curve."""
    rng = np.random.default_rng(0)
    labels = np.arange(400) % 2
    values = rng.normal(size=(400, 12)) + 1.5 * labels[:, None] * (np.arange(12) < 6)
    frame = pd.DataFrame(values, columns=[f"s{i}" for i in range(12)])
    frame.insert(0, "status", labels.astype(float))
    frame.loc[rng.permutation(400)[40:], "status"] = np.nan  # 90% empty
    tiny["finetune"]["label_fractions"] = [0.25, 1.0]
    project = make_project(tiny)
    project.run("denoise", data={"source": "csv", "path": _write(project, frame), "label_column": "status"})
    metrics = project.metrics()
    assert (metrics["data.labelled_rows"], metrics["data.unlabelled_rows"]) == (40, 360)
    assert metrics["data.train_labelled_rows"] + metrics["data.train_unlabelled_rows"] == 280
    predictions = pd.read_parquet(project.path("data/07_model_output/test_predictions.parquet"))
    assert len(predictions) == metrics["data.test_labelled_rows"] == 8 and predictions["label"].notna().all()
    assert 0 < metrics["finetune.test_accuracy"] <= 1 and "anomaly.roc_auc" in metrics
    scores = pd.read_parquet(project.path("data/07_model_output/anomaly_scores.parquet"))
    assert scores["anomalous"].isna().sum() == 360  # an unlabelled row is neither normal nor anomalous
    assert len(pd.read_parquet(project.path("data/07_model_output/embeddings.parquet"))) == 400
    curve = pd.read_csv(project.path("data/08_reporting/label_budget.csv"))
    assert list(curve["fraction"]) == [0.25, 1.0] and list(curve["labelled_rows"]) == [
        metrics["label_budget.0.25.labelled_rows"], metrics["label_budget.1.0.labelled_rows"]]
    assert 6 <= curve["train_labelled_rows"][0] <= 8  # a quarter of each class's training rows (28 in all)
    assert curve["labelled_rows"][0] - curve["train_labelled_rows"][0] == 2  # validation: one row a class
    assert metrics["label_budget.1.0.labelled_rows"] == 32  # every labelled training and validation row
    assert metrics["label_budget.1.0.pretrained_test_accuracy"] == metrics["finetune.test_accuracy"]
    assert project.path("data/08_reporting/label_budget.png").stat().st_size > 1000
    (run,) = project.runs()
    assert metrics["data.unlabelled_rows"] == 360  # metrics.json: the MLflow run has the compared figures
    assert run.data.metrics["test/label_budget.0.25.pretrained_test_accuracy"] == \
        metrics["label_budget.0.25.pretrained_test_accuracy"]


def test_the_hint_for_text_classes_is_a_list_the_console_shows_and_kedro_parses():
    from omegaconf import OmegaConf
    from rich.text import Text

    from autoencoder_pipelines.config import AnomalyParams
    from autoencoder_pipelines.data.schema import DataSchema
    from autoencoder_pipelines.jobs.checks import unsupervised_reason

    iris = DataSchema(source="iris.csv", features=["a"], n_rows=150, label_column="species",
                      classes=["setosa", "versicolor", "virginica"])
    line = unsupervised_reason(AnomalyParams(), iris)
    assert Text.from_markup(line).plain == line  # nothing read as a style tag
    setting = line.split('--params="')[1].rstrip('"')
    assert setting == "anomaly.normal_classes=['setosa','versicolor']"
    assert OmegaConf.to_container(OmegaConf.from_dotlist([setting])) == {"anomaly": {"normal_classes": ["setosa", "versicolor"]}}
