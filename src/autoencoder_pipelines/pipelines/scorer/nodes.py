"""Bundle what training fitted into one scorer."""

from __future__ import annotations

from typing import Any

import pandas as pd

from autoencoder_pipelines.data.frames import ID, Skipped
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
