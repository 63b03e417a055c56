#!/usr/bin/env bash
# All set-up on a fresh machine that has Python 3.11 and pip: a virtual environment in
# .venv with the pinned stack (requirements.lock) and this project, dev tools included.
# Safe to re-run: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python - <<'PY'
import sys
if sys.version_info[:2] != (3, 11):
    sys.exit(f"autoencoder-pipelines needs Python 3.11; .venv has {sys.version.split()[0]}. "
             "Remove .venv and run again with PYTHON=python3.11.")
PY
pip() { .venv/bin/python -m pip --disable-pip-version-check "$@"; }
# torch first, pinned exactly: this pin takes the CPU wheel; any other spec would pull
# gigabytes of CUDA packages.
pip install --quiet torch==2.13.0
pip install --quiet -r requirements.lock
# The `spark` extra (score_spark, its test): pyspark needs Java 17 at run time. AEP_SPARK=0 skips
# it (the Spark test is then skipped).
if [ "${AEP_SPARK:-1}" != "0" ]; then
  pip install --quiet -r requirements-spark.lock
fi
# Dropped from the stack: kedro-mlflow's CLI plugin imported MLflow at every kedro command.
pip uninstall --quiet --yes kedro-mlflow 2>/dev/null || true
pip install --quiet --no-deps -e ".[dev]"
echo "set-up done: .venv ready ($(.venv/bin/python -c 'import torch, kedro; print(f"torch {torch.__version__}, kedro {kedro.__version__}")'))"
