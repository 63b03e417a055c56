#!/usr/bin/env bash
# Screenshots of the MLflow UI on a store, as a data scientist first sees it: the runs table
# (the link every run's summary prints), the chart view of the experiment, the compare page of
# the latest runs, the page of the latest run and of its logged model (charts take longer than
# 15 s of virtual time to draw on a busy machine: 45 s). Starts `mlflow ui` on the loopback at a free
# port, takes each picture with headless Chromium (a fresh profile: no view remembered from an
# earlier visit), stops the server, and shrinks the PNGs (256 colours) for docs/.
#
#   scripts/ui_snapshot.sh                                  # the project's store, 3 latest runs
#   scripts/ui_snapshot.sh --store sqlite:////tmp/x/mlflow.db --runs 3 --out docs/images/ui
#
# Needs Chromium (Debian: apt-get install -y chromium) and scripts/setup.sh's .venv. Nothing
# here reaches the network: the server listens on 127.0.0.1 only, and Chromium's background
# traffic is off.
set -euo pipefail
cd "$(dirname "$0")/.."
STORE=${MLFLOW_TRACKING_URI:-sqlite:///$PWD/mlflow.db}
OUT=docs/images/ui
RUNS=3
EXPERIMENT=autoencoder_pipelines
while [ $# -gt 0 ]; do
  case "$1" in
    --store) STORE=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --experiment) EXPERIMENT=$2; shift 2 ;;
    *) echo "unknown option $1 (--store URI, --out FOLDER, --runs N, --experiment NAME)" >&2; exit 2 ;;
  esac
done
PYTHON=.venv/bin/python
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
[ -n "$CHROMIUM" ] || { echo "no chromium: apt-get install -y chromium" >&2; exit 1; }
# no background job runner in the server (it runs GenAI jobs): fewer processes to start and stop
export MLFLOW_DISABLE_TELEMETRY=true KEDRO_DISABLE_TELEMETRY=1 MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false
mkdir -p "$OUT"
WORK=$(mktemp -d)
SERVER=""
stop() {
  # the server's own process group (setsid below): mlflow ui and the uvicorn worker it starts;
  # what has not stopped 10 s after SIGTERM gets SIGKILL
  if [ -n "$SERVER" ]; then
    kill -- "-$SERVER" 2>/dev/null || true
    for _ in $(seq 20); do kill -0 -- "-$SERVER" 2>/dev/null || break; sleep 0.5; done
    kill -KILL -- "-$SERVER" 2>/dev/null || true
    wait "$SERVER" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap stop EXIT

PORT=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# in a process group of its own, so that stopping it stops its worker too
setsid .venv/bin/mlflow ui --backend-store-uri "$STORE" --host 127.0.0.1 --port "$PORT" --workers 1 \
  > "$WORK/server.log" 2>&1 &
SERVER=$!
BASE="http://127.0.0.1:$PORT"
for _ in $(seq 240); do
  curl -sf "$BASE/health" > /dev/null && break
  kill -0 "$SERVER" 2>/dev/null || { cat "$WORK/server.log" >&2; exit 1; }
  sleep 0.5
done
curl -sf "$BASE/health" > /dev/null || { echo "mlflow ui did not answer on $BASE" >&2; exit 1; }

# name<TAB>URL of each picture: the project's own runs-table link, the chart view, compare, a run
"$PYTHON" - "$STORE" "$EXPERIMENT" "$RUNS" "$BASE" > "$WORK/pages" <<'PY'
import json, sys
from urllib.parse import quote

from mlflow import MlflowClient

from autoencoder_pipelines.tracking.ui import runs_table_url

store, name, count, base = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
client = MlflowClient(store)
experiment = client.get_experiment_by_name(name)
if experiment is None:
    sys.exit(f"no experiment '{name}' in {store}")
runs = client.search_runs([experiment.experiment_id], "attributes.status = 'FINISHED'", max_results=count,
                          order_by=["attributes.start_time DESC"])
if not runs:
    sys.exit(f"no finished run in experiment '{name}'")
table = runs_table_url(base, experiment.experiment_id)
ids = json.dumps([run.info.run_id for run in runs], separators=(",", ":"))
trainer = "workflowType=machine_learning"  # the model-training view, as the runs table's link has it
pages = {
    "runs_table": table,
    "chart_view": table + "&compareRunsMode=CHART",
    "compare": f"{base}/#/compare-runs?runs={quote(ids)}&experiments={quote(json.dumps([experiment.experiment_id]))}"
               f"&{trainer}",
    "run_page": f"{base}/#/experiments/{experiment.experiment_id}/runs/{runs[0].info.run_id}?{trainer}",
}
models = client.search_logged_models([experiment.experiment_id], filter_string=f"source_run_id = '{runs[0].info.run_id}'")
if models:  # the latest run's logged model, with its metrics
    pages["model_page"] = f"{base}/#/experiments/{experiment.experiment_id}/models/{models[0].model_id}?{trainer}"
for page, url in pages.items():
    print(f"{page}\t{url}")
PY

while IFS=$'\t' read -r page url; do
  "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
    --disable-sync --no-first-run --hide-scrollbars --user-data-dir="$WORK/profile-$page" \
    --window-size=1600,1000 --virtual-time-budget=45000 --screenshot="$OUT/$page.png" "$url" > "$WORK/$page.log" 2>&1 \
    || { cat "$WORK/$page.log" >&2; exit 1; }
  echo "$OUT/$page.png  <- $url"
done < "$WORK/pages"
cut -f1 "$WORK/pages" | sed "s|^|$OUT/|; s|$|.png|" > "$WORK/pictures"

# 256 colours: a UI screenshot keeps its text sharp at about a third of the size
"$PYTHON" - "$WORK/pictures" <<'PY'
import sys
from pathlib import Path

from PIL import Image

for path in map(Path, Path(sys.argv[1]).read_text().split()):
    before = path.stat().st_size
    Image.open(path).convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    print(f"{path}: {before // 1024} KB -> {path.stat().st_size // 1024} KB")
PY
