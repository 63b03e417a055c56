"""conf/cluster: the environment of `kedro run --env cluster --pipelines=score_spark` resolves, takes
the Spark master from AEP_SPARK_MASTER (a standalone master on loopback without it) and keeps the
rest of conf/base/spark.yml. (Running it on a standalone cluster: docs/scale.md.)"""

from __future__ import annotations

from pathlib import Path

from kedro.config import OmegaConfigLoader

from autoencoder_pipelines.settings import CONFIG_LOADER_ARGS

CONF = Path(__file__).resolve().parents[1] / "conf"


def _spark(env: str | None) -> dict:
    return OmegaConfigLoader(str(CONF), env=env, **CONFIG_LOADER_ARGS)["spark"]


def test_the_cluster_environment_defaults_to_a_standalone_master_on_loopback(monkeypatch):
    monkeypatch.delenv("AEP_SPARK_MASTER", raising=False)
    monkeypatch.delenv("AEP_SPARK_DRIVER_HOST", raising=False)
    spark, base = _spark("cluster"), _spark(None)
    assert spark["spark.master"] == "spark://127.0.0.1:7077" and base["spark.master"] == "local[2]"
    assert spark["spark.driver.host"] == "127.0.0.1"
    # merged key by key: base's session settings stay
    kept = [key for key in base if key != "spark.master"]
    assert {key: spark[key] for key in kept} == {key: base[key] for key in kept}


def test_the_master_and_driver_address_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("AEP_SPARK_MASTER", "yarn")
    monkeypatch.setenv("AEP_SPARK_DRIVER_HOST", "10.0.0.5")
    spark = _spark("cluster")
    assert (spark["spark.master"], spark["spark.driver.host"]) == ("yarn", "10.0.0.5")
    assert _spark(None)["spark.master"] == "local[2]"  # base does not read the variable
