#!/usr/bin/env bash
# Prepare what `make test-gpu` needs on a lent GPU machine that has no network (see README,
# "GPU proof"): .whl/ holds the pinned wheels that machine lacks or has in another version,
# .gpu_data/ the real instruction rows of ../shared/data (never committed: both are git-ignored).
# Together they must stay under the 64 MiB a call can carry (the working tree counts too).
set -euo pipefail
cd "$(dirname "$0")/.."

pin() { grep -E "^$1==" requirements.txt | cut -d' ' -f1; }
# not in requirements.txt: datasets' own needs that the machine lacks, and regex (transformers
# checks regex>=2025.10.22 at import; the machine's version is unknown)
EXTRA="dill==0.4.1 multiprocess==0.70.19 regex==2026.11.19"

mkdir -p .whl
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64 \
  -d .whl "$(pin bitsandbytes)" "$(pin transformers)" "$(pin peft)" "$(pin datasets)" $EXTRA

if [ -d ../shared/data/alpaca_gpt4_demo ]; then
  mkdir -p .gpu_data && cp -r ../shared/data/alpaca_gpt4_demo .gpu_data/
fi

total=$(du -cb .whl/*.whl .gpu_data 2>/dev/null | tail -1 | cut -f1)
tree=$(git ls-files -z | xargs -0 du -cb --apparent-size | tail -1 | cut -f1)
echo "carry: $((total / 1024 / 1024)) MiB (.whl + .gpu_data); tracked tree: $((tree / 1024)) KiB; limit 64 MiB"
if [ $((total + tree)) -gt $((62 * 1024 * 1024)) ]; then
  echo "over budget: keep only libbitsandbytes_cuda130.so and _cpu.so in the bitsandbytes wheel" >&2
  exit 1
fi
