"""In-memory data and a resolved CPU runtime for node tests (no Kedro session)."""

import numpy as np
import pandas as pd
import pytest

from autoencoder_pipelines.config import RuntimeParams
from autoencoder_pipelines.data.schema import DataSchema
from autoencoder_pipelines.jobs.runtime import resolve_runtime

FEATURES = [f"f{i}" for i in range(16)]


@pytest.fixture(scope="session")
def runtime():
    return resolve_runtime(RuntimeParams(device="cpu", log_every=0, checkpoint_every=0, threads=1))


@pytest.fixture(scope="session")
def schema():
    return DataSchema(source="test table", features=FEATURES, image_shape=[4, 4], classes=[0, 1], label_column="label",
                      id_column=None, n_rows=64)


@pytest.fixture(scope="session")
def frame():
    """64 rows in [0, 1], two classes of 32 (class 1 brighter), ids and labels."""
    rng = np.random.default_rng(0)
    values = rng.random((64, 16), dtype="float32") * 0.5
    labels = np.repeat([0, 1], 32)
    values[labels == 1] += 0.5
    data = pd.DataFrame(values, columns=FEATURES)
    data.insert(0, "label", labels)
    data.insert(0, "id", [f"r{i}" for i in range(64)])
    return data
