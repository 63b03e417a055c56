"""The scoring model in MLflow: logged as a pyfunc from code with a signature and an input
example, registered in the Model Registry, promoted by alias, and resolved by scoring jobs."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autoencoder_pipelines.data.errors import UserError
from autoencoder_pipelines.tracking.store import sqlite_path, waiting_for_store

logger = logging.getLogger(__name__)

# What the model's code imports (a test checks the list against the imports), pinned like the
# project, so the model loads in a fresh environment built from its own requirements.
PIP_REQUIREMENTS = [
    "mlflow-skinny==3.17.0",
    "torch==2.13.0",
    "numpy==2.4.6",
    "pandas==3.1.1",
    "pydantic==2.14.3",
    "click==8.5.1",
    "scikit-learn==1.9.1",  # the detector is a scikit-learn estimator (nn/detector.py)
]
PACKAGE = Path(__file__).resolve().parents[1]
# MLflow's error codes for a registered model, version or alias that does not exist
NOT_FOUND = ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")
ARTIFACT_PATH = "scoring_model"


def signature(scorer: Any):
    """Raw feature columns (and the id column, optional) in; id, codes, score, flag, the flagged
    rows' top features and shares, class out."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    inputs = [ColSpec("double", name) for name in scorer.features]
    id_column = scorer.schema.id_column
    if id_column:
        inputs.append(ColSpec("string", id_column, required=False))
    outputs = [ColSpec("string", "id"), *(ColSpec("float", f"z_{i}") for i in range(scorer.code_size)),
               ColSpec("float", "reconstruction_error"), ColSpec("boolean", "is_anomaly")]
    for i in range(1, min(scorer.detector.top_k, len(scorer.features)) + 1):  # empty for unflagged rows
        outputs += [ColSpec("string", f"top_feature_{i}", required=False), ColSpec("float", f"top_share_{i}", required=False)]
    if scorer.classifier is not None:
        classes = scorer.schema.classes
        kind = "long" if all(isinstance(c, int) and not isinstance(c, bool) for c in classes) else "string"
        outputs += [ColSpec(kind, "predicted_class"), ColSpec("float", "predicted_probability")]
    return ModelSignature(Schema(inputs), Schema(outputs))


def log_scoring_model(scorer: Any, scorer_file: Path, registered_name: str | None = None) -> Any:
    """Log the scorer to the active run (and register a version under `registered_name`)."""
    import mlflow

    return mlflow.pyfunc.log_model(
        name=ARTIFACT_PATH,
        python_model=str(Path(__file__).with_name("scoring_pyfunc.py")),
        artifacts={"scorer": str(scorer_file)},
        code_paths=[str(PACKAGE)],
        signature=signature(scorer),
        input_example=scorer.input_example(),
        pip_requirements=PIP_REQUIREMENTS,
        registered_model_name=registered_name,
    )


@dataclass(frozen=True)
class ScoringModelRef:
    """The model a scoring run uses, pinned: a registered name and version (an alias is
    resolved once, so a promotion during the run changes nothing), or a plain model URI. A
    version is set only where the registry says so: a model folder's own claim is not trusted."""

    uri: str  # what was asked for: models:/<name>/<version>, runs:/<id>/scoring_model, a model folder
    name: str | None = None
    version: int | None = None
    run_id: str | None = None  # the training run that logged it
    location: str | None = None  # where its files are, when not where `uri` leads (the project moved)

    def __str__(self) -> str:
        if self.name is not None:
            return f"model '{self.name}' version {self.version}"
        return f"model {self.uri}"

    @property
    def files(self) -> str:
        """What MLflow loads the model from."""
        return self.location or self.uri

    def columns(self) -> dict[str, Any]:
        """Stamped on every scored row."""
        return {"model_name": self.name or self.uri, "model_version": self.version, "model_run_id": self.run_id}

    def params(self) -> dict[str, str]:
        """Logged to the scoring run."""
        return {"model.name": self.name or "", "model.version": "" if self.version is None else str(self.version),
                "model.run_id": self.run_id or "", "model.uri": self.uri}


class ModelNotFoundError(UserError):
    """No registered model, version or alias where the configuration points."""


class ModelLoadError(UserError):
    """The model was found but its files cannot be loaded; `reason`: what is wrong with them."""

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason or message


def _how_to_promote() -> str:
    return ("promote one: `kedro run --pipelines=promote --params=registry.version=N`, or train with "
            "`kedro run --params=registry.promote=true`")


def registered_versions(name: str) -> list[int]:
    from mlflow import MlflowClient

    return sorted(int(v.version) for v in MlflowClient().search_model_versions(f"name = '{name}'"))


def _versions_text(name: str) -> str:
    versions = registered_versions(name)
    return f"registered versions: {', '.join(map(str, versions))}" if versions else f"no version of '{name}' is registered yet"


def _model_version(name: str, version: int) -> Any:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        return MlflowClient().get_model_version(name, str(version))
    except MlflowException as error:
        if error.error_code not in NOT_FOUND:
            raise
        raise ModelNotFoundError(f"model '{name}' has no version {version} in {_store()}; {_versions_text(name)}") from None


def _store() -> str:
    import mlflow

    return f"the registry at {mlflow.get_tracking_uri()}"


def promote(name: str, alias: str, version: int | None) -> Any:
    """Point `alias` at `version` of `name`; the version must exist. Returns the model version."""
    from mlflow import MlflowClient

    if version is None:
        raise ModelNotFoundError(
            f"promoting needs the version to promote: `kedro run --pipelines=promote --params=registry.version=N` "
            f"({_versions_text(name)})"
        )
    model_version = waiting_for_store(lambda: _model_version(name, version), "reading the version")
    try:
        check_loads(_pinned(name, model_version))
    except ModelLoadError as error:
        raise ModelLoadError(f"model '{name}' version {version} does not load ({error.reason}): not promoted, "
                             f"{_alias_now(name, alias)}") from None
    waiting_for_store(lambda: MlflowClient().set_registered_model_alias(name, alias, str(version)), "moving the alias")
    logger.info("%s@%s -> version %s (run %s)", name, alias, version, model_version.run_id)
    return model_version


def _alias_now(name: str, alias: str) -> str:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        return f"@{alias} still points to version {MlflowClient().get_model_version_by_alias(name, alias).version}"
    except MlflowException:
        return f"@{alias} still points to no version"


def check_loads(model: ScoringModelRef) -> Any:
    """Every file the model's MLmodel names is there (its scorer, code, model code, environment)
    and its scorer loads (tensors plus JSON, weights_only): what a scoring run will need. Returns
    the Scorer; raises ModelLoadError naming the model and the first file missing."""
    try:
        mlmodel = _mlmodel(model.files)
        flavor = mlmodel.flavors["python_function"]
        needed = [_scorer_path(mlmodel), flavor.get("code"), *(flavor.get("env") or {}).values()]
        if flavor.get("model_code_path"):
            needed.append(Path(flavor["model_code_path"]).name)
        present = _files_at(model.files)
        missing = [name for name in needed if name and name.split("/")[0] not in present]
    except Exception as error:  # noqa: BLE001 - no MLmodel, or one that names nothing
        reason = f"{model.files}: {type(error).__name__}: {first_line(error)}"
        raise ModelLoadError(f"{model} does not load: {reason}", reason) from None
    if missing:
        reason = f"{model.files} lacks {', '.join(missing)}"
        raise ModelLoadError(f"{model} does not load: {reason}", reason)
    return load_scorer(model)


def _files_at(location: str) -> set[str]:
    """The names at the top of a model folder, local or in an artifact store."""
    local = local_path(location)
    if local is not None:
        return {p.name for p in local.iterdir()}
    import mlflow

    return {Path(info.path).name for info in mlflow.artifacts.list_artifacts(artifact_uri=location)}


def pinned_scoring_model(registry: Any, scoring_with: str = "scoring with") -> ScoringModelRef:
    """resolve_scoring_model for a scoring run, logged; MLflow is told to refuse pickled
    models in this process (the scorer is tensors plus JSON)."""
    os.environ["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] = "false"
    model = waiting_for_store(lambda: resolve_scoring_model(registry), "reading the registry")
    logger.info("%s %s (%s, training run %s)", scoring_with, model, model.uri, model.run_id)
    return model


def resolve_scoring_model(registry: Any) -> ScoringModelRef:
    """The model `score` uses (registry: config.RegistryParams): `registry.model_uri` when set,
    else `registry.version` when set, else the version the alias points to, resolved once."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    name = registry.model_name
    if registry.model_uri:
        return _reference_of_uri(registry.model_uri)
    if registry.version is not None:
        model_version = _model_version(name, registry.version)
    else:
        try:
            model_version = MlflowClient().get_model_version_by_alias(name, registry.alias)
        except MlflowException as error:
            if error.error_code not in NOT_FOUND:  # the store itself failed: say so, not "no model"
                raise
            raise ModelNotFoundError(
                f"no model is registered as '{name}@{registry.alias}' in {_store()} ({_versions_text(name)}); "
                + _how_to_promote()
            ) from None
    return _pinned(name, model_version)


def _reference_of_uri(uri: str) -> ScoringModelRef:
    """A model URI given by hand: a registry URI is pinned to its version like the alias is; a
    model folder is read without any store, and stamped with the version it claims only when
    the registry confirms it (that version exists and holds the very same scorer file)."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    if uri.startswith("models:/") and not uri.startswith("models:/m-"):
        name, _, rest = uri[len("models:/"):].partition("/")
        try:
            if "@" in name:
                name, alias = name.split("@", 1)
                model_version = MlflowClient().get_model_version_by_alias(name, alias)
            elif rest.isdigit():
                model_version = MlflowClient().get_model_version(name, rest)
            else:
                model_version = None
        except MlflowException as error:
            if error.error_code not in NOT_FOUND:
                raise
            raise ModelNotFoundError(f"{uri}: not found in {_store()} ({first_line(error)})") from None
        if model_version is not None:
            return _pinned(name, model_version)
    if local_path(uri) is not None:
        return _reference_of_folder(local_path(uri))
    try:
        run_id = _mlmodel(uri).run_id
    except Exception as error:  # noqa: BLE001 - whatever MLflow raises for a URI without a model: named in one line
        raise ModelNotFoundError(f"{uri}: no MLflow model there ({type(error).__name__}: {first_line(error)})") from None
    return ScoringModelRef(uri, None, None, run_id)


def _pinned(name: str, model_version: Any) -> ScoringModelRef:
    version = int(model_version.version)
    return ScoringModelRef(f"models:/{name}/{version}", name, version, model_version.run_id,
                           location=version_location(name, version))


def _mlmodel(uri: str) -> Any:
    """The model's MLmodel, read where the model is (mlflow.models.get_model_info would also look
    its model id up in the current store, which may not be the one it was logged in)."""
    from mlflow.models import Model

    local = local_path(uri)
    return Model.load(str(local) if local is not None else uri)  # Model.load takes no file:// URI


def local_path(uri: str) -> Path | None:
    """The local path of a file URI or a plain path; None for models:/, runs:/, s3://, ..."""
    from urllib.parse import unquote, urlparse

    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    return Path(uri) if parsed.scheme == "" else None


def _reference_of_folder(folder: Path) -> ScoringModelRef:
    uri = str(folder.resolve())
    try:
        mlmodel = _mlmodel(uri)
    except Exception as error:  # noqa: BLE001 - whatever MLflow raises for a folder without a model: named in one line
        raise ModelNotFoundError(f"{folder}: no MLflow model there ({type(error).__name__}: {first_line(error)})") from None
    meta = folder / "registered_model_meta"  # what `mlflow artifacts download -u models:/...` writes
    if not meta.is_file():
        return ScoringModelRef(uri)
    import yaml

    claimed = yaml.safe_load(meta.read_text()) or {}
    name, version = claimed.get("model_name"), str(claimed.get("model_version", ""))
    if not name or not version.isdigit():
        return ScoringModelRef(uri)
    refusal = _unconfirmed(folder, mlmodel, name, int(version))
    if refusal:
        logger.warning("%s says it is version %s of '%s', but %s: its rows are stamped with the folder, not a "
                       "version", folder, version, name, refusal)
        return ScoringModelRef(uri)
    return ScoringModelRef(uri, name, int(version), mlmodel.run_id)


def _unconfirmed(folder: Path, mlmodel: Any, name: str, version: int) -> str | None:
    """Why the registry does not confirm that `folder` is `version` of `name`; None when it does."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    if not _store_exists():
        return f"there is no registry to confirm it ({_store()} does not exist)"
    try:
        MlflowClient().get_model_version(name, str(version))
    except MlflowException as error:
        if error.error_code not in NOT_FOUND:
            return f"{_store()} could not be asked ({first_line(error)})"
        return f"{_store()} has no such version"
    try:
        scorer = _scorer_path(mlmodel)
        registered = _sha256(_download(f"{version_location(name, version).rstrip('/')}/{scorer}"))
        if _sha256(folder / scorer) != registered:
            return f"its scorer file differs from the registered version's in {_store()}"
    except Exception as error:  # noqa: BLE001 - what cannot be compared is not confirmed
        return f"it could not be compared with the registered version ({first_line(error)})"
    return None


def _store_exists() -> bool:
    """Whether the current tracking store exists (asking a SQLite store that does not would make one)."""
    import mlflow

    path = sqlite_path(mlflow.get_tracking_uri(), Path.cwd())
    return path is None or path.is_file()


def _scorer_path(mlmodel: Any) -> str:
    return mlmodel.flavors["python_function"]["artifacts"]["scorer"]["path"]


def _download(uri: str) -> Path:
    import mlflow

    return Path(mlflow.artifacts.download_artifacts(artifact_uri=uri))


def _sha256(path: Path) -> str:
    import hashlib

    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def version_location(name: str, version: int) -> str:
    """Where a registered version's files are: what the store records, or, where that is a local
    folder that no longer exists (the project was moved or restored elsewhere: a SQLite store
    records absolute paths, and MLflow has no relative ones, mlflow/mlflow#3144), the same
    folder under this project's own mlruns/."""
    from mlflow import MlflowClient

    return found_location(MlflowClient().get_model_version_download_uri(name, str(version)),
                          f"model '{name}' version {version}")


def found_location(recorded: str, what: str) -> str:
    """`recorded` (an artifact location), or the same folder under this project's own mlruns/
    where the recorded local folder no longer exists (version_location); ModelLoadError naming
    both when neither exists."""
    local = local_path(recorded)
    if local is None:
        return recorded
    if local.exists():
        return str(local)
    for moved in own_artifact_folders(local):
        if moved.exists():
            logger.info("%s: its files are recorded at %s, which does not exist; found them at %s (the project moved)",
                        what, local, moved)
            return str(moved)
    reason = (f"its files are recorded at {local}, which does not exist, nor does that folder under this project's "
              f"mlruns/ ({', '.join(map(str, own_artifact_folders(local))) or 'none'})")
    raise ModelLoadError(
        f"{what} does not load: {reason}; restore that folder (every version logged there is affected, so another "
        "version will not help), or point MLFLOW_TRACKING_URI at the store that sits beside it",
        reason,
    )


def register_run(run_id: str, name: str) -> tuple[int, bool]:
    """Register the scoring model that training run `run_id` logged as a version of `name`, once:
    (version, True), or (the version that already holds it, False). The model must load
    (check_loads) before it is registered; a store locked by another process is waited for
    (tracking.store.waiting_for_store)."""
    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient()

    def registered() -> int | None:
        versions = [int(v.version) for v in client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'")]
        return max(versions) if versions else None

    def logged_model() -> Any:
        try:
            run = client.get_run(run_id)
        except MlflowException as error:
            if error.error_code not in NOT_FOUND:
                raise
            raise ModelNotFoundError(f"registry.run_id: there is no run {run_id} in {_store()}") from None
        for output in (run.outputs.model_outputs if run.outputs else []):
            model = client.get_logged_model(output.model_id)
            if model.name == ARTIFACT_PATH:
                return model
        raise ModelNotFoundError(f"run {run_id} ('{run.info.run_name}') logged no scoring model: only a training run "
                                 "that trains one (denoise, anomaly, scorer) can be registered")

    existing = waiting_for_store(registered, "looking for the run's version")
    if existing is not None:
        return existing, False
    model = waiting_for_store(logged_model, "reading the run")
    check_loads(ScoringModelRef(f"models:/{model.model_id}", run_id=run_id,
                                location=found_location(model.artifact_location, f"the scoring model of run {run_id}")))

    def register() -> int:  # idempotent: a version made before a lock broke the call is found, not made again
        return registered() or int(mlflow.register_model(f"models:/{model.model_id}", name).version)

    return waiting_for_store(register, "registering the model"), True


def own_artifact_folders(recorded: Path) -> list[Path]:
    """`recorded` (…/mlruns/<experiment>/models/<id>/artifacts) under the mlruns/ of this store's
    folder and of the working directory."""
    import mlflow

    parts = recorded.parts
    if "mlruns" not in parts:
        return []
    tail = parts[len(parts) - parts[::-1].index("mlruns"):]
    roots = []
    store = sqlite_path(mlflow.get_tracking_uri(), Path.cwd())
    for root in ([store.parent / "mlruns"] if store else []) + [Path.cwd() / "mlruns"]:
        if root not in roots:
            roots.append(root)
    return [root.joinpath(*tail) for root in roots]


def load_scorer(model: ScoringModelRef | str) -> Any:
    """The Scorer of an MLflow scoring model, read from its scorer file (tensors plus JSON, read
    with weights_only=True): what the pyfunc's predict runs, without unpickling anything. A model
    that does not load raises ModelLoadError naming the model and the file."""
    from autoencoder_pipelines.jobs.scoring import Scorer
    from autoencoder_pipelines.nn.serialization import ModelFileError

    if isinstance(model, str):
        model = ScoringModelRef(model)
    location = model.files
    try:
        scorer_path = _scorer_path(_mlmodel(model.files))
        # under the model's own folder, not the MLmodel's artifact_path: a copied model folder
        # records where it was logged, which may be another machine's store
        local = local_path(model.files)
        location = str(local / scorer_path) if local is not None else f"{model.files.rstrip('/')}/{scorer_path}"
        return Scorer.load(_download(location))
    except ModelFileError as error:
        reason = str(error)
    except Exception as error:  # noqa: BLE001 - any download or read failure: named in one line, with the file
        reason = f"{location}: {type(error).__name__}: {first_line(error)}"
    raise ModelLoadError(
        f"{model} does not load: {reason}. Nothing was scored; score with another version "
        "(--params=registry.version=N, or promote one) or fix the model's files",
        reason,
    )


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
