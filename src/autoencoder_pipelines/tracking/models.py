"""The scoring model in MLflow: logged as a pyfunc from code with a signature and an input
example, registered in the Model Registry, promoted by alias, and resolved by scoring jobs."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autoencoder_pipelines.data.errors import UserError

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
    resolved once, so a promotion during the run changes nothing), or a plain model URI."""

    uri: str  # what is loaded: models:/<name>/<version>, runs:/<id>/scoring_model, a model folder
    name: str | None = None
    version: int | None = None
    run_id: str | None = None  # the training run that logged it

    def __str__(self) -> str:
        if self.name is not None:
            return f"model '{self.name}' version {self.version}"
        return f"model {self.uri}"

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
    """The model was found but its files cannot be loaded."""


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
    model_version = _model_version(name, version)
    MlflowClient().set_registered_model_alias(name, alias, str(version))
    logger.info("%s@%s -> version %s (run %s)", name, alias, version, model_version.run_id)
    return model_version


def pinned_scoring_model(registry: Any, scoring_with: str = "scoring with") -> ScoringModelRef:
    """resolve_scoring_model for a scoring run, logged; MLflow is told to refuse pickled
    models in this process (the scorer is tensors plus JSON)."""
    os.environ["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] = "false"
    model = resolve_scoring_model(registry)
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
    version = int(model_version.version)
    return ScoringModelRef(f"models:/{name}/{version}", name, version, model_version.run_id)


def _reference_of_uri(uri: str) -> ScoringModelRef:
    """A model URI given by hand: a registry URI is pinned to its version like the alias is."""
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
            raise ModelNotFoundError(f"{uri}: not found in {_store()} ({_first_line(error)})") from None
        if model_version is not None:
            version = int(model_version.version)
            return ScoringModelRef(f"models:/{name}/{version}", name, version, model_version.run_id)
    from mlflow.models import get_model_info

    try:
        run_id = get_model_info(uri).run_id
    except Exception as error:
        raise ModelNotFoundError(f"{uri}: no MLflow model there ({type(error).__name__}: {_first_line(error)})") from None
    # a folder downloaded from the registry records which version it is
    meta = Path(uri) / "registered_model_meta"
    if meta.is_file():
        import yaml

        registered = yaml.safe_load(meta.read_text()) or {}
        if registered.get("model_name") and str(registered.get("model_version", "")).isdigit():
            return ScoringModelRef(uri, registered["model_name"], int(registered["model_version"]), run_id)
    return ScoringModelRef(uri, None, None, run_id)


def load_scorer(model: ScoringModelRef | str) -> Any:
    """The Scorer of an MLflow scoring model, read from its scorer file (tensors plus JSON, read
    with weights_only=True): what the pyfunc's predict runs, without unpickling anything. A model
    that does not load raises ModelLoadError naming the model and the file."""
    import mlflow
    from mlflow.models import get_model_info

    from autoencoder_pipelines.jobs.scoring import Scorer
    from autoencoder_pipelines.nn.serialization import ModelFileError

    if isinstance(model, str):
        model = ScoringModelRef(model)
    location = model.uri
    try:
        scorer_path = get_model_info(model.uri).flavors["python_function"]["artifacts"]["scorer"]["path"]
        # under the URI given, not the MLmodel's artifact_path: a copied model folder records
        # where it was logged, which may be another machine's store
        local = Path(model.uri)
        location = str(local / scorer_path) if local.is_dir() else f"{model.uri.rstrip('/')}/{scorer_path}"
        return Scorer.load(mlflow.artifacts.download_artifacts(artifact_uri=location))
    except ModelFileError as error:
        reason = str(error)
    except Exception as error:
        reason = f"{location}: {type(error).__name__}: {_first_line(error)}"
    raise ModelLoadError(
        f"{model} does not load: {reason}. Nothing was scored; score with another version "
        "(--params=registry.version=N, or promote one) or fix the model's files"
    )


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
