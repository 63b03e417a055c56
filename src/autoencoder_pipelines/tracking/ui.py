"""How the project's runs look in the MLflow UI: the names of their metrics, which the UI groups
into chart sections by the text before the first `/` (sorted by name), and how an experiment
opens. MLflow 3.17's UI opens an experiment as the URL's `workflowType` says, else as the browser
last chose (GenAI on a first visit), not as the experiment's tag `mlflow.experimentKind` says
(set too: other UIs read it); the runs table's columns come from a view saved in the experiment
(the tag mlflow.sharedViewState.<key>, listed under Views) that the URL names
(`viewStateShareKey`)."""

from __future__ import annotations

import json
import time

TEST = "test/"  # the figures runs are compared on: the first chart section
# Metrics in a run's summary and description, and columns of the runs table, where a run has them.
HEADLINE = (
    f"{TEST}finetune.test_accuracy", f"{TEST}denoise.test_mse_denoised", f"{TEST}reduction.ae_test_mse",
    f"{TEST}anomaly.roc_auc", "score.rows_scored", "score.rows_refused", "score.partitions_scored",
    "score.partitions_failed", "monitor/anomaly_rate", "monitor/expected_anomaly_rate", "monitor/error_ks",
    "monitor/max_psi", "monitor/features_drifted", "tune.best_value", "tune.trials_complete", "tune.trials_pruned", "run.seconds",
)
VIEW = "autoencoder-pipelines"
RUN_NAME = "attributes.`Run Name`"


def history_name(key: str) -> str:
    """A per-epoch series in a chart section of its phase, after the test figures:
    pretrain.layer_1.val_loss -> training.pretrain/layer_1.val_loss."""
    phase, _, rest = key.partition(".")
    return f"training.{phase}/{rest}"


def runs_table_url(base: str, experiment_id: str) -> str:
    """The experiment's runs table in the UI's model-training view, with the columns of VIEW."""
    return f"{base.rstrip('/')}/#/experiments/{experiment_id}/runs?workflowType=machine_learning&viewStateShareKey={VIEW}"


def experiment_tags(scoring: bool = False) -> dict[str, str]:
    """The model-training kind, and the view "Compare runs": the run name, then for a training
    experiment its headline test metrics, the data and the settings most often varied, the
    model; for the scoring experiment the scoring and monitoring figures and the model scored
    with. (The run's duration is a column already.)"""
    if scoring:
        metrics = [name for name in HEADLINE if name.startswith(("score.", "monitor/"))]
        params = ["model.name", "model.version"]
    else:
        metrics = [name for name in HEADLINE if name.startswith((TEST, "tune."))]
        params = ["derived.data.file", "model.kind", "corruption.kind", "corruption.level"]
    columns = [*(f"params.`{name}`" for name in params[:2]), *(f"metrics.`{name}`" for name in metrics),
               *(f"params.`{name}`" for name in params[2:]), *([] if scoring else ["attributes.`Models`"])]
    state = {"selectedColumns": columns, "columnOrder": [RUN_NAME, *columns],
             # narrow: a full float (0.9944289922714233) reads well enough at 0.99442899
             "columnWidths": {RUN_NAME: 240, **{column: 120 if column.startswith("metrics") else 110 for column in columns}}}
    now = int(time.time() * 1000)
    view = {"name": "Compare runs", "createdAt": now, "updatedAt": now, "state": json.dumps(state)}
    return {"mlflow.experimentKind": "custom_model_development", f"mlflow.sharedViewState.{VIEW}": json.dumps(view)}
