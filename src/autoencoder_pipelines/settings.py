"""Project settings: hooks, config loading, and the default MLflow store."""

import warnings

from autoencoder_pipelines.hooks import DistributedRunHook, MlflowModelLoggingHook, NodeTimingHook, ProjectHooks
from autoencoder_pipelines.nn.distributed import is_rank_zero
from autoencoder_pipelines.tracking import MlflowHook

# Library noise that says nothing about this project's run:
# omegaconf's resolver-API deprecation (raised inside kedro and kedro-mlflow), and mlflow's
# reminder that pickled models run code on load (we log our own models, by design: the
# pt2 format needs an input example and reloads as a GraphModule).
warnings.filterwarnings("ignore", message=r"register_new_resolver\(\) is deprecated")
warnings.filterwarnings("ignore", message=r"Saving pytorch model by Pickle")
warnings.filterwarnings("ignore", message=r".*Add type hints to the `predict` method")

HOOKS = (
    ProjectHooks(),
    NodeTimingHook(),
    MlflowModelLoggingHook(
        datasets=("classifier", "denoiser", "reduction_autoencoder", "anomaly_model", "scoring_model")
    ),
    DistributedRunHook(),
    # kedro-mlflow's, batched (tracking.py); registered last, as the plugin's would be. Under
    # torchrun only global rank 0 tracks: the others hold their outputs in memory.
    *([MlflowHook()] if is_rank_zero() else []),
)
# ... in place of the plugin's own hook, which would log every parameter again one by one.
DISABLE_HOOKS_FOR_PLUGINS = ("kedro_mlflow",)

CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # `--env gpu` overrides single keys, not whole blocks.
    "merge_strategy": {"parameters": "soft", "mlflow": "soft"},
}
