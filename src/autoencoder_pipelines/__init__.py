"""autoencoder-pipelines: robust learned features with autoencoders, as Kedro pipelines."""

import os

# MLflow 3 sends usage telemetry from a background thread unless told not to, and this project
# never touches the network. Set here, before anything of the package imports mlflow (the
# Kedro CLI imports this package before mlflow); the user's own setting wins.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
# Kedro's telemetry too: the repository's .telemetry says consent: false, but a packaged
# project on a scoring machine has no such file (and kedro-telemetry's catalog hook imported
# every dataset class there, Spark's without pyspark included).
os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")
# MLflow 3's start_run looks for a Databricks serverless-GPU job to resume its run, importing
# IPython (where installed) to ask a notebook's dbutils: time at every tracked run's start,
# scheduled scoring included. On Databricks serverless GPU, set it to true to keep that resumption.
os.environ.setdefault("MLFLOW_ENABLE_SGC_RUN_RESUMPTION_FOR_DATABRICKS_JOBS", "false")

__version__ = "0.1.0"


def __getattr__(name: str):
    """`from autoencoder_pipelines import AutoencoderDetector`: the anomaly detector, a
    scikit-learn estimator (nn/detector.py), imported (with torch) only when asked for, so that
    importing the package stays light."""
    if name == "AutoencoderDetector":
        from autoencoder_pipelines.nn.detector import AutoencoderDetector

        return AutoencoderDetector
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["AutoencoderDetector", "__version__"]
