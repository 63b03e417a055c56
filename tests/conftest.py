import os

import pytest
import torch

# The test models are tiny: one thread is faster than several and keeps the suite
# predictable on a 2-core CI machine.
torch.set_num_threads(1)
os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
