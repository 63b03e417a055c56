#!/usr/bin/env bash
# The GPU path, checked on a machine with CUDA in under 5 minutes (about 3 on one GPU):
#   1. the tests marked `cuda` (training in fp32/bf16/fp16 on the GPU, a tiny `kedro run` on
#      cuda whose model then scores on the CPU), made to fail, not skip, without CUDA;
#   2. benchmarks/trainer_throughput.py --device cuda: the project's Trainer against a bare
#      torch loop, in fp32, bf16 and fp16 (the speed-up of each over fp32 is printed at the end);
#   3. benchmarks/ddp_scaling.py --device cuda: torchrun on 1 .. all visible GPUs (NCCL).
# Prints the device and every figure, and writes them to logs/gpu_check-<time>.log; exits
# non-zero at the first failure, at once when there is no CUDA device.
#
#   scripts/gpu_check.sh            # from the project folder, after scripts/setup.sh
#   PYTHON=/path/to/python scripts/gpu_check.sh
# The torch 2.13.0 of requirements.lock is the CPU wheel: on a GPU machine install the CUDA
# build of the same version first (pip install torch==2.13.0 --index-url <the CUDA wheel index>).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
export KEDRO_DISABLE_TELEMETRY=1 MLFLOW_DISABLE_TELEMETRY=true
mkdir -p logs
LOG="logs/gpu_check-$(date +%Y%m%d-%H%M%S).log"
exec > >(tee "$LOG") 2>&1
started=$(date +%s)
step() { echo; echo "== $* ($(( $(date +%s) - started )) s)"; }

step "device"
"$PYTHON" - <<'PY'
import sys
import torch
if not torch.cuda.is_available():
    sys.exit(f"FAIL: torch {torch.__version__} sees no CUDA device (CUDA build: {torch.version.cuda}); "
             "this check needs a GPU and the CUDA build of torch")
count = torch.cuda.device_count()
names = [torch.cuda.get_device_name(i) for i in range(count)]
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, {count} GPU(s): {', '.join(names)}")
print(f"bf16 supported: {torch.cuda.is_bf16_supported()}")
PY
GPUS=$("$PYTHON" -c "import torch; print(torch.cuda.device_count())")

step "tests marked cuda"
AEP_REQUIRE_CUDA=1 "$PYTHON" -m pytest tests -m cuda -q -p no:cacheprovider -n 0 -rA --no-header

step "trainer vs bare torch on cuda (784 features, batch 256)"
for precision in fp32 bf16 fp16; do
  echo "-- $precision"
  "$PYTHON" benchmarks/trainer_throughput.py --device cuda --precision "$precision" \
      --features 784 --rows 50000 --batch-size 256 --epochs 2 --repeats 3 | tee "logs/.gpu_trainer_$precision"
done
"$PYTHON" - <<'PY'
import re
rates = {}
for precision in ("fp32", "bf16", "fp16"):
    text = open(f"logs/.gpu_trainer_{precision}").read()
    bare, project = (float(v.replace(",", "")) for v in re.search(r"median: bare ([\d,]+) samples/s, project ([\d,]+)", text).groups())
    rates[precision] = project
    print(f"{precision}: project {project:,.0f} samples/s, bare {bare:,.0f}, ratio {project / bare:.3f}")
for precision in ("bf16", "fp16"):
    print(f"{precision} speed-up over fp32 (project): {rates[precision] / rates['fp32']:.2f}x")
PY
rm -f logs/.gpu_trainer_*

step "torchrun on 1..$GPUS GPU(s)"
PROCESSES=$("$PYTHON" -c "n=$GPUS; print(' '.join(str(p) for p in sorted({1, *[2**i for i in range(1, 8) if 2**i < n], n})))")
"$PYTHON" benchmarks/ddp_scaling.py --device cuda --processes $PROCESSES --rows 200000 --features 784 --epochs 2

step "done in $(( $(date +%s) - started )) s; figures in $LOG"
