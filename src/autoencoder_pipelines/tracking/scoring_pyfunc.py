"""The scoring model as MLflow loads it ("models from code": no pickle). Its one artifact is
the scorer file (tensors plus JSON) that training wrote; this package travels with the model
as its code, so the model loads wherever its requirements are installed."""

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel


class ScoringModel(PythonModel):
    def load_context(self, context) -> None:
        from autoencoder_pipelines.jobs.scoring import Scorer

        self.scorer = Scorer.load(context.artifacts["scorer"])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        """Raw rows in (the training feature columns, and the id column if the model has one),
        scored rows out; without an id column the ids are `request:<row>`. An empty cell (an
        unflagged row's top_share_i) is None, not NaN: the server writes JSON, which has null
        and no NaN (a strict parser refused the reply)."""
        scored = self.scorer.score(pd.DataFrame(model_input), source="request")
        for column in scored.columns[scored.isna().any()]:
            if scored[column].dtype != object:  # an object column's empty cells are None already
                scored[column] = scored[column].astype(object).where(scored[column].notna(), None)
        return scored


mlflow.models.set_model(ScoringModel())
