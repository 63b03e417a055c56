"""Bundle what training fitted into one scorer."""

from __future__ import annotations

from typing import Any

import pandas as pd

from autoencoder_pipelines.config import MonitoringParams
from autoencoder_pipelines.data.frames import ID, ModelInput, Skipped
from autoencoder_pipelines.data.schema import DataSchema
from autoencoder_pipelines.jobs.runtime import Network

EXAMPLE_ROWS = 5


def build_scorer(
    validated: pd.DataFrame,
    schema: DataSchema,
    scaler: dict[str, Any],
    autoencoder: Network,
    detector: Any,
    classifier: Network | Skipped,
) -> Any:
    """The scorer, with a few raw input rows as its example (as a user's file would hold them)."""
    from autoencoder_pipelines.jobs.scoring import Scorer

    example = validated[schema.features].head(EXAMPLE_ROWS).astype("float64")
    if schema.id_column:
        example[schema.id_column] = validated[ID].head(EXAMPLE_ROWS).to_numpy()
    return Scorer(
        schema, scaler, autoencoder, detector, None if isinstance(classifier, Skipped) else classifier,
        example=example.to_dict(orient="records"),
    )


def add_reference_profile(scorer: Any, validated: pd.DataFrame, model_input: ModelInput, monitoring: MonitoringParams) -> Any:
    """The scorer with its reference profile (jobs/monitoring.py): the training rows' feature
    distributions, and the reconstruction errors and anomaly rate of the validation and test
    rows, which the detector never trained on (training rows score lower errors than new rows
    from the same source, and would make every scoring run look shifted)."""
    heldout = validated[ID].isin(pd.concat([model_input.val[ID], model_input.test[ID]]))
    return scorer.profiled(validated[~heldout], validated[heldout], monitoring.grid, monitoring.psi_bins)
