"""The scoring model in MLflow: logged as a pyfunc from code with a signature and an input
example, registered in the Model Registry, promoted by alias, and resolved by scoring jobs."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

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
]
PACKAGE = Path(__file__).resolve().parents[1]
ARTIFACT_PATH = "scoring_model"


def signature(scorer: Any):
    """Raw feature columns (and the id column, optional) in; id, codes, score, flag, class out."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    inputs = [ColSpec("double", name) for name in scorer.features]
    id_column = scorer.schema.get("id_column")
    if id_column:
        inputs.append(ColSpec("string", id_column, required=False))
    outputs = [ColSpec("string", "id"), *(ColSpec("float", f"z_{i}") for i in range(scorer.code_size)),
               ColSpec("float", "reconstruction_error"), ColSpec("boolean", "is_anomaly")]
    if scorer.classifier is not None:
        classes = scorer.schema["classes"]
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


def load_scorer(model_uri: str) -> Any:
    """The Scorer of an MLflow scoring model (`runs:/...`, `models:/...`), read from its scorer
    file (tensors plus JSON): what scoring jobs run, identical to the pyfunc's predict."""
    import mlflow

    from autoencoder_pipelines.scoring import Scorer

    local = Path(mlflow.artifacts.download_artifacts(model_uri))
    return Scorer.load(next(local.glob("artifacts/*")))
