#!/usr/bin/env bash
# The GPU path, checked on a machine with CUDA in under 8 minutes on one H200 (issue 30):
#   1. the tests marked `cuda` (training in fp32/bf16/fp16 on the GPU; a phase syncs with the host
#      once an epoch, not once a step, under torch.cuda.set_sync_debug_mode; a tiny `kedro run` on
#      cuda whose model then scores on the CPU), made to fail, not skip, without CUDA;
#   2. benchmarks/trainer_throughput.py --device cuda at 784 features and the GPU's default batch
#      (nn.sizes' CUDA rule for the rows): the project's Trainer against a bare loop, fp32 and
#      bf16, and bf16's speed-up over fp32 (target >= 1.5x);
#   3. benchmarks/gpu_chain.py: `kedro run --pipelines=denoise --env gpu` on 784-pixel digit tables
#      of 10,000 and 60,000 rows (60,000: target <= 30 s) with nvidia-smi sampling how busy the GPU
#      is while the training nodes run (target >= 50%), the bundled digits on cuda and on the CPU
#      (target: cuda no slower), and the 10,000-row chain on the CPU: quality against the CPU defaults;
#   4. with more than one GPU, benchmarks/ddp_scaling.py --device cuda on 1 .. all of them (NCCL).
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
nvidia-smi --query-gpu=name,memory.total,utilization.gpu --format=csv

step "tests marked cuda"
AEP_REQUIRE_CUDA=1 "$PYTHON" -m pytest tests -m cuda -q -p no:cacheprovider -n 0 -rA --no-header -s

step "trainer vs bare torch on cuda: 784 features, 50,000 rows, the GPU's default batch, the step as a CUDA graph"
BATCH=$("$PYTHON" -c "from autoencoder_pipelines.nn.sizes import default_batch_size; print(default_batch_size(50000, 'cuda'))")
for precision in fp32 bf16; do
  echo "-- $precision, batch $BATCH, project step replayed from a CUDA graph (conf/gpu), bare loop eager"
  "$PYTHON" benchmarks/trainer_throughput.py --device cuda --precision "$precision" --cuda-graphs \
      --features 784 --rows 50000 --batch-size "$BATCH" --epochs 3 --repeats 3 | tee "logs/.gpu_trainer_$precision"
done
for precision in fp32 bf16; do
  echo "-- $precision, batch $BATCH, both eager (what the graph adds)"
  "$PYTHON" benchmarks/trainer_throughput.py --device cuda --precision "$precision" \
      --features 784 --rows 50000 --batch-size "$BATCH" --epochs 2 --repeats 2 | tail -2
done
echo "-- fp32, batch 256, both eager (the first GPU run's setting, for comparison)"
"$PYTHON" benchmarks/trainer_throughput.py --device cuda --precision fp32 --features 784 --rows 50000 \
    --batch-size 256 --epochs 1 --repeats 2 | tail -2
"$PYTHON" - "$BATCH" <<'PY'
import re, sys
rates = {}
for precision in ("fp32", "bf16"):
    text = open(f"logs/.gpu_trainer_{precision}").read()
    bare, project = (float(v.replace(",", "")) for v in re.search(r"median: bare ([\d,]+) samples/s, project ([\d,]+)", text).groups())
    rates[precision] = project
    print(f"{precision}: project {project:,.0f} samples/s, bare {bare:,.0f}, ratio {project / bare:.3f}")
print(f"bf16 speed-up over fp32 at the GPU's default batch ({sys.argv[1]}), project: "
      f"{rates['bf16'] / rates['fp32']:.2f}x (target >= 1.5)")
PY
rm -f logs/.gpu_trainer_*

step "the full chain on the GPU: 10,000 and 60,000 x 784, GPU busy while training; digits cuda vs CPU"
"$PYTHON" benchmarks/gpu_chain.py --rows 10000 60000

if [ "$GPUS" -gt 1 ]; then
  step "torchrun on 1..$GPUS GPUs"
  PROCESSES=$("$PYTHON" -c "n=$GPUS; print(' '.join(str(p) for p in sorted({1, *[2**i for i in range(1, 8) if 2**i < n], n})))")
  "$PYTHON" benchmarks/ddp_scaling.py --device cuda --processes $PROCESSES --rows 200000 --features 784 --epochs 2
fi

step "done in $(( $(date +%s) - started )) s (target < 480); figures in $LOG"
