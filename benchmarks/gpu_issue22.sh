#!/usr/bin/env bash
# Issue 22 on one lent GPU, in priority order, each stage bounded and its results written into $OUT
# as they complete (a cut run keeps what it measured):
#   1. the GPU proof for both model shapes at 16/8/4 bits (benchmarks/gpu_smoke.py), merge checked
#      against the forward each adapter was trained in;
#   2. the training-step benchmark, all six (bits, rank) cells, plain vs maple, mfu per row;
#   3. the 32-layer rows (Llama-2-7B, Mistral-7B) at b4-r8, maple's step.
# Then benchmarks/check_issue22.py prints the verdict. TINY=1: the same stages on CPU at toy shapes
# (proof of the command, not the goal metric).
set -u
cd "$(dirname "$0")/.."
T0=$SECONDS
OUT=${OUT:-/tmp/issue22}
mkdir -p "$OUT"
BUDGET=${BUDGET:-490}          # seconds for everything, setup included (each stage: timeout -k 8)
PROOF_S=${PROOF_S:-290}        # stage 1 cap
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false \
  HF_DATASETS_CACHE=/tmp/hfds_i22 TORCHINDUCTOR_CACHE_DIR=/tmp/inductor_i22
left() { echo $((BUDGET - (SECONDS - T0))); }
# stage NAME SECONDS CMD...: full output to /tmp/i22_NAME.log; result rows echoed; the traceback if it failed
stage() {
  local name=$1 t=$2; shift 2
  timeout -k 8 "$t" "$@" > "/tmp/i22_$name.log" 2>&1
  local rc=$?
  grep -E '^\{' "/tmp/i22_$name.log" | cut -c1-600
  if [ $rc -ne 0 ]; then
    grep -v -E "it/s\]|s/it\]|Loading weights|Writing model|Map|Generating|Creating parquet|^W[0-9]{4} |^\s*$" \
      "/tmp/i22_$name.log" | tail -25 | cut -c1-400
  fi
  echo "$name rc=$rc at $((SECONDS - T0)) s"
}
if [ "${TINY:-0}" = 1 ]; then
  PY=${PY:-.venv/bin/python}; export PYTHONPATH=$PWD
  SMOKE=(--gpu-shapes tiny --device cpu); TT=(--tiny --no-compile); L32=(--tiny --no-compile --layers 4)
else
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site_i22 .whl/*.whl || exit 3
  PY=python3; export PYTHONPATH=/tmp/site_i22:$PWD
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  SMOKE=(); TT=(); L32=(--layers 32 --warmup 2 --steps 4)
fi
$PY -c "import torch, transformers, peft, bitsandbytes, datasets; print('versions', torch.__version__, transformers.__version__, peft.__version__, bitsandbytes.__version__, datasets.__version__)" || exit 4
$PY -c "import liger_kernel; print('liger', liger_kernel.__file__)" 2>&1 | tail -1
echo "setup done at $((SECONDS - T0)) s"

# 1. proof, both shapes (Llama-2-7B first: it never ran), per-block compile off (function, not speed)
t=$(( $(left) < PROOF_S ? $(left) : PROOF_S ))
stage proof $t $PY benchmarks/gpu_smoke.py "${SMOKE[@]}" --no-compile --out "$OUT/gpu_smoke.json"

# 2. benchmark, the six cells, plain then maple per cell, the never-measured b8-r128 early
t=$(( $(left) - 10 ))
if [ $t -gt 30 ]; then
  stage benchmark $t $PY benchmarks/train_throughput.py "${TT[@]}" --cells 4:8,8:128,16:8,4:128,16:128,8:8 --resume \
    --out "$OUT/train_throughput_gpu.json"
  grep -h -o -E "(liger|Liger|CompilationError|identify_accessed_tensors)[^\"]{0,160}" /tmp/i22_benchmark.log | sort | uniq -c | head -5
fi

# 3. full depth, maple's step at b4-r8 (QLoRA recipe, the grid's first rank), one file per model
for m in llama-2-7b mistral-7b; do
  t=$(( $(left) - 5 ))
  [ $t -lt 60 ] && { echo "stop before 32-layer $m: $(left) s left"; break; }
  stage "32l_$m" $t $PY benchmarks/train_throughput.py "${L32[@]}" --model $m --cells 4:8 --impls maple --resume \
    --out "$OUT/train_throughput_gpu_32l_$m.json"
done
$PY benchmarks/check_issue22.py "$OUT" | tee "$OUT/verdict.txt"
echo "end at $((SECONDS - T0)) s"
