#!/usr/bin/env bash
# Does an MLflow scoring model load and predict in a fresh virtual environment built only from
# its own requirements.txt? Downloads the model, makes a venv (torch==2.13.0 first: that exact
# pin takes the CPU wheel, any other spec pulls gigabytes of CUDA packages), installs the
# model's requirements, then, outside the project and with nothing of it installed, loads the
# model with mlflow.pyfunc and predicts on the model's input example.
#
#   scripts/check_model_portable.sh [MODEL]     default: models:/autoencoder-pipelines@champion
#
# MODEL: models:/<name>@<alias>, models:/<name>/<version>, runs:/<run_id>/scoring_model, or a
# model folder. Environment: MLFLOW_TRACKING_URI (default: the project's sqlite:///mlflow.db),
# PYTHON (for the new venv; default python3.11), KEEP=1 keeps the work folder.
# The last line is "OK: ..." (exit 0) or "FAIL: ..." (exit 1).
set -uo pipefail
PROJECT=$(cd "$(dirname "$0")/.." && pwd)
MODEL=${1:-models:/autoencoder-pipelines@champion}
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
PROJECT_PY=${PROJECT_PY:-$PROJECT/.venv/bin/python}   # has mlflow: downloads the model
export MLFLOW_TRACKING_URI=${MLFLOW_TRACKING_URI:-sqlite:///$PROJECT/mlflow.db}
export MLFLOW_DISABLE_TELEMETRY=true PIP_DISABLE_PIP_VERSION_CHECK=1 MLFLOW_ALLOW_PICKLE_DESERIALIZATION=false
WORK=$(mktemp -d "${TMPDIR:-/tmp}/portable.XXXXXX")
[ "${KEEP:-0}" = 1 ] && echo "work folder: $WORK" || trap 'rm -rf "$WORK"' EXIT
START=$(date +%s)
step() { echo "[$(( $(date +%s) - START ))s] $*"; }
fail() { echo "FAIL: $MODEL: $* ($(( $(date +%s) - START ))s)"; exit 1; }

# 1. the model's files
if [ -d "$MODEL" ]; then
  cp -r "$MODEL" "$WORK/model"
else
  step "downloading $MODEL from $MLFLOW_TRACKING_URI"
  "$PROJECT_PY" -c 'import sys, mlflow.artifacts as a; a.download_artifacts(artifact_uri=sys.argv[1], dst_path=sys.argv[2])' \
      "$MODEL" "$WORK/model" >"$WORK/download.log" 2>&1 || { tail -3 "$WORK/download.log"; fail "download"; }
fi
M="$WORK/model"
[ -f "$M/MLmodel" ] || fail "no MLmodel file: not an MLflow model"
[ -f "$M/requirements.txt" ] || fail "no requirements.txt in the model"
PICKLES=$(find "$M" -type f \( -name '*.pkl' -o -name '*.pickle' -o -name '*.cloudpickle' \))
[ -z "$PICKLES" ] || fail "pickle files in the model: $PICKLES"
step "requirements: $(tr '\n' ' ' < "$M/requirements.txt")"

# 2. a fresh venv from the model's own requirements, torch first
"$PYTHON" -m venv "$WORK/venv" || fail "cannot make a venv with $PYTHON"
PIP="$WORK/venv/bin/python -m pip --quiet"
step "pip install torch==2.13.0"
$PIP install torch==2.13.0 >"$WORK/pip-torch.log" 2>&1 || { tail -5 "$WORK/pip-torch.log"; fail "torch install"; }
step "pip install -r requirements.txt"
$PIP install -r "$M/requirements.txt" >"$WORK/pip.log" 2>&1 || { tail -5 "$WORK/pip.log"; fail "requirements install"; }
step "venv: $("$WORK/venv/bin/python" -m pip list 2>/dev/null | tail -n +3 | wc -l) packages"

# 3. load and predict outside the project, nothing of it on the path but the model's own code
cat > "$WORK/predict.py" <<'PY'
import sys, time
import pandas as pd
import mlflow.pyfunc
from mlflow.models import Model

path = sys.argv[1]
started = time.perf_counter()
model = mlflow.pyfunc.load_model(path)
print(f"loaded in {time.perf_counter() - started:.1f} s; package from {sys.modules['autoencoder_pipelines'].__file__}")
example = Model.load(path).load_input_example(path)
scored = model.predict(example)
with pd.option_context("display.width", 160, "display.max_columns", 8):
    print(scored)
expected = [c.name for c in model.metadata.get_output_schema().inputs]
assert list(scored.columns) == expected, f"columns {list(scored.columns)} != signature {expected}"
assert len(scored) == len(example), "one output row per input row"
PY
step "predict on the input example"
( cd "$WORK" && env -u PYTHONPATH "$WORK/venv/bin/python" -W ignore "$WORK/predict.py" "$M" ) >"$WORK/predict.log" 2>&1
rc=$?
grep -v "^Downloading artifacts" "$WORK/predict.log" | tail -20
[ "$rc" = 0 ] || fail "prediction failed (exit $rc)"
echo "OK: $MODEL loads and predicts in a fresh venv built from its requirements.txt ($(( $(date +%s) - START ))s)"
