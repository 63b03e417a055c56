"""`kedro run --pipelines=tune`: the pruner's callback, the search space's validation, settings
checked against the data before any trial, and a tiny search that nests its trials in MLflow,
writes its best parameters and resumes its study."""

from types import SimpleNamespace

import optuna
import pytest
import yaml
from pydantic import ValidationError

from autoencoder_pipelines.config import ConfigError, TuneParams, validate_parameters
from autoencoder_pipelines.data.schema import DataSchema
from autoencoder_pipelines.jobs.tuning import check_search, default_choices, resolve
from autoencoder_pipelines.nn.trainer import Pruning

SCHEMA = DataSchema(source="table.csv", features=[f"x{i}" for i in range(10)], n_rows=200)


def _sections(**overrides):
    return validate_parameters({"model": {"hidden_sizes": [16, 4]}, **overrides})


# -- the pruner's callback -------------------------------------------------------------------


def test_the_pruning_callback_reports_its_phase_and_ends_a_trial_that_falls_behind():
    study = optuna.create_study(direction="minimize", pruner=optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=2))
    first = study.ask()
    for epoch, loss in enumerate([1.0, 0.5, 0.4], start=1):
        first.report(loss, epoch)
    study.tell(first, 0.4)
    trial = study.ask()
    callback = Pruning(trial, "reduction", "val_loss", 1.0, optuna.TrialPruned)
    state = lambda name, epoch, loss: SimpleNamespace(name=name, epoch=epoch, record={"val_loss": loss}, stop=False)  # noqa: E731
    callback.on_epoch_end(state("pretrain.layer_1", 1, 99.0))  # another phase: not reported
    callback.on_epoch_end(state("reduction", 1, 2.0))  # behind, but within the warm-up epoch
    assert callback.values == [2.0] and trial.should_prune() is False
    late = state("reduction", 2, 2.0)
    with pytest.raises(optuna.TrialPruned, match="reduction: val_loss 2 at epoch 2"):
        callback.on_epoch_end(late)
    assert late.stop and callback.values == [2.0, 2.0]


def test_a_pruned_trial_is_reported_by_its_epoch_not_by_the_pruners_figure(caplog):
    from autoencoder_pipelines.pipelines.tune.nodes import _report, trials_table

    study = optuna.create_study(direction="maximize")  # anomaly_ap: the pruner sees -val_loss
    trial = study.ask()
    for epoch, negated_loss in enumerate([-0.9, -0.6, -0.58], start=1):
        trial.report(negated_loss, epoch)
    study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    done = study.ask()
    study.tell(done, 0.71)  # an average precision
    table = trials_table(study)
    assert table["value"].isna().tolist() == [True, False] and table["pruned_at_epoch"].tolist()[0] == 3
    with caplog.at_level("INFO", logger="autoencoder_pipelines"):
        _report(study, study.trials[0])
    assert "tune: trial 0 pruned at epoch 3 in" in caplog.text and "-0.58" not in caplog.text


# -- the search space ------------------------------------------------------------------------


@pytest.mark.parametrize("space, message", [
    ({"learning_rate": {"low": 2.0, "high": 1.0}}, "low must be below high"),
    ({"learning_rate": {"low": 0.0, "high": 1.0, "log": True}}, "a log range needs low > 0"),
    ({"widht": [1.0]}, r"unknown key\(s\) \['widht'\] \(did you mean 'width'\?\)"),
    ({"corruption_kind": ["masking", "blur"]}, "corruption_kind"),
    ({"epochs": []}, "epochs"),
    ({key: None for key in ("learning_rate", "width", "code_size", "epochs", "corruption_kind", "corruption_level")},
     "nothing to search"),
])
def test_a_bad_search_space_is_refused_naming_its_key(space, message):
    with pytest.raises(ValidationError, match=message):
        TuneParams(space=space)


def test_a_trial_resolves_to_parameters_and_the_first_is_the_untuned_configuration():
    sections = _sections()
    choices = {"learning_rate": 2.0, "width": 0.5, "code_size": 0.5, "epochs": 0.5, "corruption_kind": "gaussian",
               "corruption_level": 0.123456}
    assert resolve(choices, sections, SCHEMA, "reconstruction") == {
        "pretrain": {"learning_rate": 0.006, "epochs": 15}, "reduction": {"learning_rate": 0.006, "epochs": 50},
        "model": {"hidden_sizes": [8, 2]}, "corruption": {"kind": "gaussian", "level": 0.1235},
    }
    assert resolve({"width": 2.0, "corruption_kind": "none"}, sections, SCHEMA, "anomaly_ap") == {
        "anomaly": {"hidden_sizes": [40, 2], "corruption": None}}
    assert default_choices(TuneParams(), sections, "reconstruction") == {
        "learning_rate": 1.0, "width": 1.0, "epochs": 1.0, "corruption_kind": "masking", "corruption_level": 0.25}


# -- every reachable setting against the data, before any trial ------------------------------


@pytest.mark.parametrize("tune, overrides, message", [
    ({"space": {"code_size": {"low": 0.5, "high": 3.0}}}, {},
     r"tune.space.code_size = 3.0 gives a code of 12 units \(hidden sizes \[16, 12\]\) for 10 features"),
    ({"objective": "accuracy"}, {}, "tune.objective 'accuracy' is measured against labels, but the data has none"),
    ({"objective": "anomaly_ap"}, {}, "tune.objective 'anomaly_ap' is measured against labels"),
    ({"space": {"corruption_level": {"low": 0.1, "high": 1.5}}}, {},
     r"tune.space.corruption_level = 1.5 gives invalid parameters: .*corruption.level: a masking level is a fraction"),
    ({"space": {"corruption_kind": None, "corruption_level": [0.1, 0.2]}}, {"corruption": {"kind": "none"}},
     "tune.space.corruption_level is searched, but the corruption kind is 'none'"),
    ({"grid": {"corruption_kind": ["masking"]}}, {"model": {"kind": "vae", "hidden_sizes": [16, 4]}},
     "tune.grid.corruption_kind: model.kind 'vae' does not corrupt its inputs"),
])
def test_settings_a_search_could_reach_are_checked_before_any_trial(tune, overrides, message):
    sections = {**_sections(**overrides), "tune": TuneParams(**tune)}
    with pytest.raises(ConfigError, match=message):
        check_search(sections, SCHEMA, None)


def test_an_accuracy_search_that_would_train_on_its_own_validation_rows_is_refused():
    labelled = DataSchema(source="table.csv", features=SCHEMA.features, n_rows=200, label_column="y", classes=[0, 1])
    sections = {**_sections(finetune={"train_on_validation": True, "patience": None}),
                "tune": TuneParams(objective="accuracy")}
    with pytest.raises(ConfigError, match="measured on the validation rows, but finetune.train_on_validation=true"):
        check_search(sections, labelled, None)
    sections["finetune"] = _sections()["finetune"]
    check_search(sections, labelled, None)


def test_a_detector_search_scales_the_network_the_untuned_detector_builds():
    import numpy as np
    import pandas as pd

    from autoencoder_pipelines.jobs.tuning import with_detector_sizes
    from autoencoder_pipelines.nn.detector import AutoencoderDetector

    rng = np.random.default_rng(0)
    labelled = DataSchema(source="table.csv", features=SCHEMA.features, n_rows=320, label_column="y", classes=[0, 1])
    normal = pd.DataFrame(rng.normal(size=(300, 3)) @ rng.normal(size=(3, 10)) + 0.05 * rng.normal(size=(300, 10)),
                          columns=SCHEMA.features)
    anomalies = pd.DataFrame(rng.normal(size=(20, 10)), columns=SCHEMA.features)  # not what the detector learns
    rows = pd.concat([normal.assign(label=0), anomalies.assign(label=1)], ignore_index=True)
    sections = {**_sections(), "tune": TuneParams(objective="anomaly_ap")}
    pinned = with_detector_sizes(sections, labelled, "anomaly_ap", rows)
    untuned = AutoencoderDetector(epochs=1, random_state=0).fit(normal, X_val=normal)
    first_trial = resolve({"width": 1.0, "code_size": 1.0}, pinned, labelled, "anomaly_ap")["anomaly"]["hidden_sizes"]
    assert first_trial == untuned.network_.config["hidden_sizes"] == [20, 3]  # not a quarter of d: [20, 2]
    assert with_detector_sizes(sections, labelled, "reconstruction", rows) is sections
    # ten independent columns: the untuned code is 9 units, so a factor of 1.5 cannot be searched
    wide = pd.DataFrame(rng.normal(size=(300, 10)), columns=SCHEMA.features).assign(label=0)
    sections["tune"] = TuneParams(objective="anomaly_ap", space={"code_size": {"low": 0.5, "high": 1.5}})
    with pytest.raises(ConfigError, match=r"tune.space.code_size = 1.5 gives a code of 14 units \(hidden sizes \[20, 14\]\)"):
        check_search(sections, labelled, {0: 290, 1: 10}, wide)
    # another objective never reads the anomaly settings, a bad one included
    unlabelled_search = {**_sections(anomaly={"normal_classes": [0]}), "tune": TuneParams(objective="reconstruction")}
    check_search(unlabelled_search, SCHEMA, None, normal)


# -- a search, end to end ----------------------------------------------------------------------


def test_a_search_nests_its_trials_writes_its_best_parameters_and_resumes(make_project, tiny):
    tiny["tune"] = {"n_trials": 2, "startup_trials": 1, "prune_startup_trials": 1, "prune_warmup_epochs": 0,
                    "space": {"width": {"low": 0.5, "high": 2.0}, "epochs": [0.5, 1.0], "learning_rate": None,
                              "corruption_kind": None, "corruption_level": None}}
    project = make_project(tiny)
    project.run("tune")
    best_file = project.path("data/06_models/tune/best_params.yml")
    best = yaml.safe_load(best_file.read_text())
    assert set(best) <= {"model", "pretrain", "reduction"} and len(best["model"]["hidden_sizes"]) == 2
    validate_parameters({**tiny, **{k: {**tiny.get(k, {}), **v} for k, v in best.items()}})  # copyable into conf/local
    runs = project.runs()
    parent = next(r for r in runs if r.info.run_name == "tune")
    # the sections the search's job reads (reconstruction: pretraining, reduction), not every one
    assert {key.split(".")[0] for key in parent.data.params} - {"derived"} == {
        "tune", "data", "split", "runtime", "pretrain", "reduction", "model", "corruption"}
    trials = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    # each trial named by its number and what it drew: trial 0 the defaults (start_from_defaults)
    for trial in trials:
        label, number, *drawn = trial.info.run_name.split(" ")
        assert (label, number) == ("trial", trial.data.tags["optuna.trial_number"]) and set(drawn) == _drawn(trial)
    assert {r.info.run_name.split(" ")[1] for r in trials} == {"0", "1"}
    assert _drawn(next(r for r in trials if r.data.tags["optuna.trial_number"] == "0")) == {"width=1", "epochs=1"}
    assert all(r.data.tags["optuna.state"] in ("COMPLETE", "PRUNED") for r in trials)
    complete = parent.data.metrics["tune.trials_complete"]
    assert complete + parent.data.metrics["tune.trials_pruned"] == 2
    artifacts = {a.path for a in project.client().list_artifacts(parent.info.run_id, "tune")}
    artifacts |= {a.path for a in project.client().list_artifacts(parent.info.run_id, "figures")}
    assert {"tune/best_params.yml", "tune/trials.csv", "figures/optimization_history.png"} <= artifacts
    # the importances need 2 completed trials: without them, no stand-in figure
    assert ("figures/param_importances.png" in artifacts) == (complete == 2)

    storage = f"sqlite:///{project.path('data/06_models/tune/study.db')}"
    (summary,) = optuna.get_all_study_summaries(storage)
    assert summary.n_trials == 2

    # a larger budget resumes the same study: one more trial, one more nested run
    tiny["tune"]["n_trials"] = 3
    (project.path("conf/local/parameters.yml")).write_text(yaml.safe_dump(tiny))
    project.run("tune")
    (summary,) = optuna.get_all_study_summaries(storage)
    assert summary.n_trials == 3
    nested = [r for r in project.runs() if r.data.tags.get("mlflow.parentRunId")]
    assert sorted(r.info.run_name.split(" ")[1] for r in nested) == ["0", "1", "2"]


def _drawn(trial_run) -> set[str]:
    """{"width=1.234", "epochs=0.5"}: a trial's drawn values (its tune.* parameters) as its name shows them."""
    params = trial_run.data.params
    return {f"{key}={float(params[f'tune.{key}']):.4g}" for key in ("width", "epochs")}


def test_a_search_the_data_cannot_support_fails_right_after_ingestion(make_project, tiny):
    tiny["tune"] = {"space": {"code_size": [1.0, 10.0]}}
    project = make_project(tiny)
    with pytest.raises(ConfigError, match=r"tune.space.code_size = 10.0 gives a code of 80 units"):
        project.run("tune")
    assert not project.path("data/06_models/tune/study.db").exists()


def test_ctrl_c_in_a_trial_leaves_no_optuna_traceback_on_screen():
    import logging
    import sys

    from autoencoder_pipelines.pipelines.tune.nodes import _WithoutInterruptTraceback

    def record(message, error=None):
        exc_info = None
        if error is not None:
            try:
                raise error
            except BaseException:  # noqa: BLE001 - to make the record's exc_info
                exc_info = sys.exc_info()
        return logging.LogRecord("optuna", logging.WARNING, __file__, 1, message, None, exc_info)

    shown = _WithoutInterruptTraceback()
    assert shown.filter(record("Trial 3 failed with value None."))  # a real failure stays
    assert shown.filter(record("Trial 3 failed because of ValueError", ValueError("bad")))
    assert not shown.filter(record("Trial 4 failed because of KeyboardInterrupt()", KeyboardInterrupt()))
    assert not shown.filter(record("Trial 4 failed with value None."))
    assert shown.filter(record("Trial 0 failed with value None."))  # a later search's own failure
