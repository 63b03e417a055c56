from kedro.pipeline import Pipeline

from autoencoder_pipelines.pipelines import (
    data_processing,
    finetuning,
    pretraining,
    reduction,
    reporting,
    scorer,
)
from autoencoder_pipelines.pipelines.anomaly.pipeline import core as anomaly_core

# A module of its own (not a sum in the registry) because find_pipelines() imports only
# the pipelines named on the command line.
PARTS = (data_processing, pretraining, finetuning, reduction, scorer, reporting)


def create_pipeline(**kwargs) -> Pipeline:
    return sum((part.create_pipeline() for part in PARTS), anomaly_core())
