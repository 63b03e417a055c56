"""Project settings: hooks and config loading."""

import warnings

from omegaconf.resolvers import oc

from autoencoder_pipelines.framework.config_loader import TypedConfigLoader
from autoencoder_pipelines.framework.hooks import (
    DistributedRunHook,
    NodeTimingHook,
    ProjectHooks,
)
from autoencoder_pipelines.framework.spark import SparkHooks
from autoencoder_pipelines.tracking.hook import MlflowTrackingHook

# omegaconf's resolver-API deprecation, raised inside kedro: says nothing about this project's run.
warnings.filterwarnings("ignore", message=r"register_new_resolver\(\) is deprecated")

HOOKS = (ProjectHooks(), NodeTimingHook(), DistributedRunHook(), MlflowTrackingHook(), SparkHooks())
# kedro-viz (a dev tool) registers hooks that record dataset statistics and run events at
# every run; `kedro viz run` works without them.
DISABLE_HOOKS_FOR_PLUGINS = ("kedro-viz",)

# The parameters are parsed once into their typed sections (config.py) when they are read.
CONFIG_LOADER_CLASS = TypedConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "config_patterns": {"mlflow": ["mlflow*", "mlflow*/**"], "spark": ["spark*", "spark*/**"]},
    # `--env gpu` overrides single keys, not whole blocks.
    "merge_strategy": {"parameters": "soft", "mlflow": "soft", "spark": "soft"},
    # ${oc.env:NAME,default} in any config file (Kedro allows it only in credentials by default):
    # conf/cluster/spark.yml takes the Spark master from AEP_SPARK_MASTER.
    "custom_resolvers": {"oc.env": oc.env},
}
