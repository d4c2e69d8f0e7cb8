"""GPU proof: every stage of a cell through the workflow's own functions, at 7B shape on CUDA.

For a Llama-2-7B-shaped and a Mistral-7B-shaped model with random weights (hidden size, heads,
KV heads, MLP width and vocabulary of the real ones; fewer layers), at 16 (bf16), 8 (LLM.int8)
and 4 bits (nf4 + double quantisation), with the paper config's training settings:
  train_adapter  a few steps on one fixed batch of real-length examples: loss finite and falling,
                 steady-state tokens/s (median step after warm-up) and peak GPU memory
  merged_model   merged logits against base + adapter logits (4/8-bit bases de-quantised)
  data_collator  packed batch (position ids reset per example) against the padded one: per-example loss
  merge_adapter  one cell written to disk, then HfBackend generation on one task's real prompts
                 and the log-likelihood path (choice_logprobs via choice_extras)

  python benchmarks/gpu_smoke.py                                 # CUDA, 7B shapes -> benchmarks/results/gpu_smoke.json
  python benchmarks/gpu_smoke.py --gpu-shapes tiny --device cpu  # -> benchmarks/results/gpu_smoke_cpu_tiny.json

vLLM is not exercised here: its CUDA wheel is far over what can be carried to a lent machine (see
README); its CUDA settings are covered by unit tests (tests/test_generate.py).
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the worktree's maple, also when run as a script

RESULTS = ROOT / "benchmarks" / "results"
OUT_FILES = {"cuda": RESULTS / "gpu_smoke.json", "cpu": RESULTS / "gpu_smoke_cpu_tiny.json"}
SHARED_REAL_DATA = ROOT.parent / "shared" / "data" / "alpaca_gpt4_demo"  # real Alpaca-GPT4 rows (en, zh)
CARRIED_REAL_DATA = ROOT / ".gpu_data" / "alpaca_gpt4_demo"  # the same, copied for a lent machine

# Real architectures' widths; only the layer count is cut. Tiny: toy widths, a 2k vocabulary and
# 128-token examples (32k-vocabulary logits of 16 x 768 tokens cost ~20 s a step on two CPU cores).
SHAPES = {
    "7b": {
        "llama-2-7b": dict(model_type="llama", hidden_size=4096, intermediate_size=11008, num_attention_heads=32,
                           num_key_value_heads=32, vocab_size=32000, max_position_embeddings=4096, rms_norm_eps=1e-5),
        "mistral-7b": dict(model_type="mistral", hidden_size=4096, intermediate_size=14336, num_attention_heads=32,
                           num_key_value_heads=8, vocab_size=32000, max_position_embeddings=32768, rms_norm_eps=1e-5,
                           sliding_window=4096, rope_theta=10000.0),
    },
    "tiny": {
        "llama-2-7b": dict(model_type="llama", hidden_size=64, intermediate_size=192, num_attention_heads=4,
                           num_key_value_heads=4, vocab_size=2048, max_position_embeddings=4096, rms_norm_eps=1e-5),
        "mistral-7b": dict(model_type="mistral", hidden_size=64, intermediate_size=256, num_attention_heads=4,
                           num_key_value_heads=2, vocab_size=2048, max_position_embeddings=32768, rms_norm_eps=1e-5,
                           sliding_window=4096, rope_theta=10000.0),
    },
}
LAYERS = {"7b": 4, "tiny": 2}
STEPS = {"7b": 8, "tiny": 6}
TOKENIZER_VOCAB = {"7b": 8000, "tiny": 2000}  # BPE on the repo's text; the 7B models keep 32k ids
MAX_LENGTH = {"7b": None, "tiny": 128}  # None: the paper's prompt.max_length (768)
BYTES_PER_PARAM = {16: 2.0, 8: 1.0, 4: 0.5 + 0.127 / 8}  # bf16; int8; nf4 + double-quantised scales
WARMUP_STEPS = 2  # steps left out of the tokens/s median (kernel selection, allocator growth)
BATCH = 16  # the paper config's per_device_train_batch_size: one optimizer step sees the whole fixed batch
# The smoke run's only departure from the paper's training settings: a few steps must show a fall
# that bf16 rounding cannot hide (2e-4 moves a fresh adapter too little in 8 steps).
LEARNING_RATE = 1e-3

# Stated before any GPU run. Merge: max |merged - (base + adapter)| logit over real positions,
# relative to the largest reference logit. bf16 merges round W + BA once (16-bit, nf4: the
# de-quantised nf4 weights are exactly what the 4-bit forward multiplies); LLM.int8 also quantises
# the activations in the unmerged forward, the merged model does not. On CPU (fp32) 16-bit is
# near exact; bitsandbytes' CPU 4-bit and 8-bit kernels gave 0.3% and 0.7% of the logit scale
# (benchmarks/results/gpu_smoke_cpu_tiny.json).
MERGE_REL_TOL = {"cuda": {16: 0.02, 8: 0.10, 4: 0.02}, "cpu": {16: 1e-4, 8: 0.10, 4: 0.02}}
# Merged against what was trained (maple.train.lora.trained_model: the cell's own forward, fused LoRA
# on the de-quantised weight, under the Trainer's bf16 autocast on CUDA): every bit width is held to
# the 16-bit tolerance, since the merged weight is that forward's weight plus the delta, rounded once.
TRAINED_REL_TOL = {"cuda": 0.02, "cpu": 1e-4}
# Packing: per-example mean loss (nats) of the packed row against the padded batch.
PACKING_TOL = {"cuda": 2e-2, "cpu": 1e-4}


def paper_config() -> dict:
    import yaml

    return yaml.safe_load((ROOT / "config" / "paper.yaml").read_text())


def embedded_config() -> dict:
    import yaml

    return yaml.safe_load((ROOT / "config.yaml").read_text())


def cell_training_config(paper: dict, model: str, bits: int, steps: int, device: str, compile_blocks: bool = True) -> dict:
    """grid.training_config on the paper config, with the smoke run's few steps (and, with
    compile_blocks False, per-block compile off: the proof checks function, the benchmark speed)."""
    from maple import grid

    cfg = dict(paper)
    overrides = dict(max_steps=steps, logging_steps=1, save_steps=10 * steps, learning_rate=LEARNING_RATE)
    if device == "cpu":
        # bitsandbytes' paged optimizers page through CUDA unified memory: CUDA only
        overrides["optim"] = "adamw_torch"
    cfg["training"] = {**paper["training"], **overrides}
    if not compile_blocks:
        speed = {k: dict(v or {}) for k, v in (paper["training"].get("speed") or {}).items()}
        speed.setdefault("default", {})["compile"] = False
        cfg["training"]["speed"] = speed
    return grid.training_config(cfg, grid.Cell(model, "alpaca", 8, bits))


def free_memory(device: str) -> None:
    gc.collect()
    if device == "cuda":
        import torch

        torch.cuda.empty_cache()


def build_tokenizer(text_roots: list[str], vocab_size: int):
    """No hub: a byte-level BPE trained on the repo's text. The models keep the 32k vocabulary;
    ids the tokenizer lacks are simply never fed in (and decode to nothing)."""
    from maple.data.tiny_model import bundled_texts, train_tokenizer

    return train_tokenizer(bundled_texts(text_roots), vocab_size)


def build_base(out_dir: Path, shape: dict, layers: int, tokenizer, device: str, seed: int) -> dict:
    """Random weights initialised on the target device (no CPU init of 7B-wide matrices), saved in
    the HF layout so the workflow loads it with from_pretrained as it would a hub model."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from maple.models import compute_dtype

    kwargs = dict(shape)
    config = AutoConfig.for_model(
        kwargs.pop("model_type"),
        num_hidden_layers=layers,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
        **kwargs,
    )
    torch.manual_seed(seed)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=compute_dtype(device))
    params = sum(p.numel() for p in model.parameters())
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    del model
    free_memory(device)
    return {"parameters": params, "layers": layers, **shape}


def layer_and_head_params(shape: dict) -> tuple[int, int]:
    """Parameters of one decoder layer and of embedding + LM head (for scaling to 32 layers)."""
    h, i = shape["hidden_size"], shape["intermediate_size"]
    heads, kv = shape["num_attention_heads"], shape["num_key_value_heads"]
    head_dim = h // heads
    layer = h * h * 2 + 2 * h * kv * head_dim + 3 * h * i
    return layer, 2 * shape["vocab_size"] * h


def step_timer(device: str):
    import torch
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        """Wall time of each optimizer step, synchronised so that GPU work is inside it."""

        def __init__(self):
            self.seconds = []

        def _sync(self):
            if device == "cuda":
                torch.cuda.synchronize()

        def on_step_begin(self, args, state, control, **kwargs):
            self._sync()
            self._t0 = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            self._sync()
            self.seconds.append(time.perf_counter() - self._t0)

    return StepTimer()


def fixed_batch(tokenised_dir: str, tokenizer):
    from maple.train.trainer import data_collator, load_tokenised

    rows = [dict(r) for r in load_tokenised(tokenised_dir)]
    return rows, data_collator(tokenizer, packing=False)(rows), data_collator(tokenizer, packing=True)(rows)


def per_example_losses(logits, rows: list[dict], packed: bool) -> list[float]:
    """Mean next-token loss over each example's own labelled positions."""
    import torch
    import torch.nn.functional as F

    losses, offset = [], 0
    for i, row in enumerate(rows):
        n = len(row["input_ids"])
        seq = logits[0, offset : offset + n] if packed else logits[i, :n]
        labels = torch.tensor(row["labels"], device=seq.device)
        losses.append(F.cross_entropy(seq[:-1].float(), labels[1:], ignore_index=-100).item())
        offset += n
    return losses


def _forward(model, batch: dict, device: str, autocast: bool = False):
    """Logits; autocast: under bf16 autocast as the Trainer runs the training forward on CUDA."""
    import contextlib

    import torch

    batch = {k: v.to(device) for k, v in batch.items() if k != "labels"}
    ctx = torch.autocast("cuda", dtype=torch.bfloat16) if autocast and device == "cuda" else contextlib.nullcontext()
    with torch.no_grad(), ctx:
        return model(**batch, use_cache=False).logits.float()


def check_merge_and_packing(base_dir: str, adapter_dir: str, bits: int, device: str, rows, padded, packed,
                            train_cfg: dict) -> dict:
    """Merged (merge.merged_model, what vLLM serves) against: the forward the adapter was trained in
    (lora.trained_model), and peft's forward on the bitsandbytes base (base + adapter). Diagnostics
    that split the difference: the bitsandbytes base alone against its de-quantised copy (the
    kernels / LLM.int8 activation rounding), and the merge done in fp32 (the bf16 rounding of W + BA).
    Packed against padded per-example losses."""
    import torch
    from peft import PeftModel

    from maple.models import load_base_model
    from maple.train.lora import trained_model
    from maple.train.merge import load_for_merge, merged_model

    mask = padded["attention_mask"].bool().to(device)
    ref = PeftModel.from_pretrained(load_base_model(base_dir, bits, device), adapter_dir).eval()
    attn = ref.base_model.model.config._attn_implementation
    ref_logits = _forward(ref, padded, device)
    with ref.disable_adapter():
        base_logits = _forward(ref, padded, device)
    padded_losses = per_example_losses(ref_logits, rows, packed=False)
    packed_losses = per_example_losses(_forward(ref, packed, device), rows, packed=True)
    del ref
    free_memory(device)
    trained = trained_model(base_dir, adapter_dir, train_cfg, device)
    trained_logits = _forward(trained, padded, device, autocast=True)
    del trained
    free_memory(device)
    dequantised_logits = base_logits  # 16-bit: the base is its own de-quantised copy
    if bits in (4, 8):
        dequantised = load_for_merge(base_dir, bits, device).eval()
        dequantised_logits = _forward(dequantised, padded, device)
        del dequantised
        free_memory(device)
    merged = merged_model(base_dir, adapter_dir, bits, device).eval()
    merged_logits = _forward(merged, padded, device)
    del merged
    free_memory(device)
    merged32 = None
    if device == "cuda" and bits == 4:  # the same merge in fp32 (on CPU it already is)
        from peft import PeftModel as _P

        base32 = load_for_merge(base_dir, bits, device).to(torch.float32)
        merged32 = _forward(_P.from_pretrained(base32, adapter_dir).merge_and_unload().eval(), padded, device)
        del base32
        free_memory(device)
    m = lambda a, b: (a[mask] - b[mask]).abs().max().item()  # noqa: E731
    out = {
        "merge_max_abs_dlogit": m(merged_logits, ref_logits),
        "merge_vs_trained_max_abs_dlogit": m(merged_logits, trained_logits),
        "trained_vs_peft_bnb_max_abs_dlogit": m(trained_logits, ref_logits),
        "base_bnb_vs_dequantised_max_abs_dlogit": m(base_logits, dequantised_logits),
        "reference_max_abs_logit": ref_logits[mask].abs().max().item(),
        "trained_max_abs_logit": trained_logits[mask].abs().max().item(),
        "adapter_max_abs_dlogit": m(ref_logits, base_logits),
        "packing_max_abs_dloss": max(abs(a - b) for a, b in zip(padded_losses, packed_losses)),
        "padded_losses": padded_losses,
        "attn_implementation": attn,
    }
    if merged32 is not None:
        out["merge_fp32_vs_peft_bnb_max_abs_dlogit"] = m(merged32, ref_logits)
        out["merge_fp32_vs_trained_max_abs_dlogit"] = m(merged32, trained_logits)
    return out


def run_cell(model: str, bits: int, base: dict, paper: dict, work: Path, device: str, steps: int, batch,
             compile_blocks: bool = True) -> dict:
    import torch

    from maple.train.trainer import train_adapter

    rows, padded, packed = batch
    cell = f"{model}/alpaca/r8-b{bits}"
    cfg = cell_training_config(paper, model, bits, steps, device, compile_blocks)
    adapter_dir = work / "adapters" / model / f"b{bits}"
    timer = step_timer(device)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    record = train_adapter(cell, {"path": base["dir"]}, cfg, base["tokenised"], str(adapter_dir),
                           str(work / "checkpoints" / model / f"b{bits}"), device=device, callbacks=[timer])
    free_memory(device)
    losses = [h["loss"] for h in record["loss_curve"]]
    tokens_per_step = sum(len(r["input_ids"]) for r in rows)  # real tokens, padding not counted
    steady = timer.seconds[WARMUP_STEPS:] or timer.seconds
    step_s = statistics.median(steady)
    checks = check_merge_and_packing(base["dir"], str(adapter_dir), bits, device, rows, padded, packed, cfg)
    layer_p, head_p = layer_and_head_params(base["shape"])
    layers = base["layers"]
    # per-token cost taken as proportional to the parameters a token passes through
    scale_32 = (layers * layer_p + head_p) / (32 * layer_p + head_p)
    row = {
        "model": model,
        "bits": bits,
        "steps": record["steps"],
        "loss_first": losses[0],
        "loss_last": losses[-1],
        "merge_max_abs_dlogit": checks["merge_max_abs_dlogit"],
        "merge_vs_trained_max_abs_dlogit": checks["merge_vs_trained_max_abs_dlogit"],
        "merge_vs_trained_tolerance": TRAINED_REL_TOL[device] * checks["trained_max_abs_logit"],
        "packing_max_abs_dloss": checks["packing_max_abs_dloss"],
        "tokens_per_s": tokens_per_step / step_s,
        "peak_gib": record["peak_memory_gib"],
    }
    detail = {
        "model": model,
        "bits": bits,
        "loss_curve": losses,
        "step_seconds": timer.seconds,
        "tokens_per_step": tokens_per_step,
        "padded_tokens_per_step": int(padded["input_ids"].numel()),
        "tokens_per_s_32_layers_est": tokens_per_step / step_s * scale_32,
        # + (32 - layers) x (one layer's stored weights + its checkpointed bf16 input): an estimate
        "peak_gib_32_layers_est": (record["peak_memory_gib"] + (32 - layers) * (
            layer_p * BYTES_PER_PARAM[bits] + padded["input_ids"].numel() * base["shape"]["hidden_size"] * 2) / 2**30)
        if device == "cuda" else None,
        "train_record_tokens_per_s": record["tokens_per_s"],
        "trainable_parameters": record["parameters"]["trainable"],
        "merge_tolerance": MERGE_REL_TOL[device][bits] * checks["reference_max_abs_logit"],
        "packing_tolerance": PACKING_TOL[device],
        **{k: v for k, v in checks.items() if k not in ("padded_losses", "packing_max_abs_dloss", "merge_max_abs_dlogit")},
        "levers": record["speed"],
        "training_config": {k: cfg[k] for k in ("optim", "gradient_checkpointing", "learning_rate", "max_grad_norm",
                                                "lora_alpha", "lora_dropout", "target_modules", "rank")},
    }
    return {"row": row, "detail": detail}


def eval_settings(paper: dict, device: str, max_examples: int) -> dict:
    """One task's real prompts from the bundled eval data (the paper's hub sources are unreachable)."""
    tasks = embedded_config()["evaluation"]["tasks"]
    local = {t: {**tasks[t], "source": str(ROOT / tasks[t]["source"])} for t in ("xquad", "xnli")}
    return {
        "seed": paper["seed"],
        "device": device,
        "prompt": paper["prompt"],
        "evaluation": {"backend": "hf", "protocols": ["megaverse"], "max_examples": max_examples,
                       "loglikelihood": True, "tasks": local},
    }


def run_generation(merged_dir: str, paper: dict, device: str, max_examples: int) -> dict:
    import torch

    from maple.generate.backends import make_backend
    from maple.generate.run import cell_requests, choice_extras, generate_unique

    settings = eval_settings(paper, device, max_examples)
    requests = cell_requests(settings)
    gen_requests = [r for r in requests if r["task"] == "xquad"]
    ll_requests = [r for r in requests if r["task"] == "xnli"]
    backend = make_backend("hf", merged_dir, device=device, seed=paper["seed"])
    prompt_tokens = [len(backend.tokenizer(r["prompt"])["input_ids"]) for r in gen_requests]
    if device == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    outputs = generate_unique(backend, gen_requests)
    gen_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    extras = choice_extras(backend, ll_requests, settings)
    ll_s = time.perf_counter() - t0
    scores = [x for e in extras for x in e.get("choice_logprobs", [])]
    result = {
        "backend": "hf",
        "model": "merged 4-bit cell (de-quantised base + adapter), written by merge_adapter",
        "task": "xquad (megaverse, 8-shot, bundled resources/eval)",
        "requests": len(gen_requests),
        "outputs": len(outputs),
        "outputs_are_strings": all(isinstance(o, str) for o in outputs),
        "prompt_tokens_mean": statistics.mean(prompt_tokens),
        "prompt_tokens_max": max(prompt_tokens),
        "max_new_tokens": gen_requests[0]["max_new_tokens"],
        "generate_seconds": gen_s,
        "loglikelihood": {
            "task": "xnli (megaverse prompts, 3 choices)",
            "requests": len(ll_requests),
            "scores": len(scores),
            "all_finite_nonpositive": all(math.isfinite(s) and s <= 0 for s in scores),
            "seconds": ll_s,
        },
    }
    del backend
    free_memory(device)
    return result


def device_name(device: str) -> str:
    import platform

    import torch

    if device == "cuda":
        return torch.cuda.get_device_name(0)
    return f"cpu ({platform.processor() or platform.machine()}, {os.cpu_count()} cores); not a GPU result"


def data_source(data: str | None) -> dict:
    """Real instruction rows (Alpaca-GPT4, en + zh) when present, else the bundled multilingual set."""
    for candidate in [data] if data else [CARRIED_REAL_DATA, SHARED_REAL_DATA]:
        if candidate and Path(candidate, "train.en.jsonl").exists():
            return {"source": {"path": str(candidate), "data_files": "train.{lang}.jsonl", "split": "train"},
                    "languages": ["en", "zh"], "size": BATCH}
    return {"source": {"path": str(ROOT / "resources/data/multialpaca"), "data_files": "{lang}.jsonl",
                       "split": "train"}, "languages": ["ar", "de", "es", "fr", "ja", "ru", "th", "vi"], "size": BATCH}


def run(shapes: str = "7b", device: str = "cuda", out: str | None = None, layers: int | None = None,
        steps: int | None = None, models: list[str] | None = None, bits: list[int] | None = None,
        data: str | None = None, workdir: str | None = None, max_examples: int = 4,
        compile_blocks: bool = True) -> dict:
    """Run every check, write the JSON to `out` after every cell (a cut run keeps what it measured:
    `complete` stays false) and return it."""
    import torch

    from maple.data.prepare import download_dataset, tokenise_raw
    from maple.io import atomic_file, versions
    from maple.models import load_tokenizer
    from maple.train.merge import merge_adapter

    if device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("gpu_smoke: --device cuda but no CUDA device is visible")
    if device == "cuda" and shapes != "7b":
        raise SystemExit("gpu_smoke: on CUDA only --gpu-shapes 7b is a GPU proof")
    started = time.time()
    paper = paper_config()
    layers = layers or LAYERS[shapes]
    steps = steps or STEPS[shapes]
    models = models or list(SHAPES[shapes])
    bits = bits or [16, 8, 4]
    out = Path(out) if out else OUT_FILES[device]
    tmp = tempfile.TemporaryDirectory(prefix="gpu_smoke_", dir=workdir)
    work = Path(tmp.name)
    ds_cfg = data_source(data)
    tokenizer = build_tokenizer([str(ROOT / "resources" / "data"), ds_cfg["source"]["path"]], TOKENIZER_VOCAB[shapes])
    prompt = {**paper["prompt"]}
    if MAX_LENGTH[shapes]:
        prompt["max_length"] = MAX_LENGTH[shapes]
    phases = {}

    rows, details, bases = [], [], {}
    generation = None

    def payload(complete: bool) -> dict:
        return {
            "device": device_name(device),
            "versions": versions(),
            "complete": complete,
            "rows": rows,
            "device_kind": device,
            "shapes": shapes,
            "models": models,
            "layers": layers,
            "note": ("random-weight models with the real models' widths, heads, KV heads and vocabulary; "
                     f"{layers} of 32 layers; tokens_per_s = real (non-padding) tokens per optimizer step / median "
                     f"step time after {WARMUP_STEPS} warm-up steps; peak_gib = "
                     + ("torch.cuda.max_memory_allocated per run" if device == "cuda" else
                        "process max RSS (cumulative, CPU)")),
            "training": {"batch": BATCH, "learning_rate": LEARNING_RATE, "steps": steps,
                         "per_block_compile": compile_blocks,
                         "paper_settings_kept": "bits/quantisation, bf16 on CUDA, LoRA r8 alpha 16 dropout 0.1 all-linear, "
                                                "max_grad_norm 0.3, the paper config's speed levers"
                                                + ("" if compile_blocks else " except per-block compile (off: the proof "
                                                   "checks function; benchmarks/train_throughput.py measures speed)")
                                                + ", optim " + ("paged_adamw_32bit" if device == "cuda"
                                                                else "adamw_torch (paged is CUDA-only)"),
                         "data": {**ds_cfg, "source": {**ds_cfg["source"],
                                                       "path": os.path.relpath(ds_cfg["source"]["path"], ROOT)}},
                         "max_length": prompt["max_length"]},
            "tolerances": {"merge_relative_to_max_abs_logit": MERGE_REL_TOL[device],
                           "merge_vs_trained_relative": TRAINED_REL_TOL[device],
                           "packing_abs_nats": PACKING_TOL[device]},
            "bases": bases,
            "details": details,
            "generation": generation,
            "vllm": "not run: the CUDA vllm wheel and its pinned torch are far over the 64 MiB a lent machine takes; "
                    "its CUDA engine settings (bf16, CUDA graphs, prefix caching, LoRA ranks) are pinned by "
                    "tests/gpu/test_vllm_cuda_settings.py",
            "phases": phases,
            "wall_seconds": time.time() - started,
        }

    def flush(complete: bool) -> dict:
        result = payload(complete)
        out.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(out) as fh:
            json.dump(result, fh, indent=1)
            fh.write("\n")
        return result

    for model in models:
        t0 = time.time()
        base_dir = work / "bases" / model
        built = build_base(base_dir, SHAPES[shapes][model], layers, tokenizer, device, paper["seed"])
        raw, tok_dir = work / "raw", work / "tokenised" / model
        if not raw.exists():
            download_dataset("alpaca", ds_cfg, paper["seed"], str(raw))
        tokenise_raw(str(raw), {"path": str(base_dir)}, prompt, str(tok_dir))
        base = {"dir": str(base_dir), "tokenised": str(tok_dir), "shape": SHAPES[shapes][model], "layers": layers}
        bases[model] = {**built, "build_seconds": time.time() - t0}
        batch = fixed_batch(str(tok_dir), load_tokenizer(str(base_dir)))
        for b in bits:
            t0 = time.time()
            result = run_cell(model, b, base, paper, work, device, steps, batch, compile_blocks)
            rows.append(result["row"])
            details.append({**result["detail"], "seconds": time.time() - t0})
            print(json.dumps(result["row"]), flush=True)
            flush(False)
        if model == models[0]:
            # one cell through merge_adapter (written to disk) and the hf backend, as the rules run it
            t0 = time.time()
            b = 4 if 4 in bits else bits[-1]
            merged_dir = work / "merged" / model
            merge_adapter(f"{model}/alpaca/r8-b{b}", {"path": str(base_dir)}, str(work / "adapters" / model / f"b{b}"),
                          str(merged_dir), b, device=device)
            phases["merge_adapter_seconds"] = time.time() - t0
            t0 = time.time()
            generation = run_generation(str(merged_dir), paper, device, max_examples)
            phases["generation_seconds"] = time.time() - t0
            generation["model"] = f"{model} r8-b{b} merged (de-quantised base + adapter), written by merge_adapter"
            shutil.rmtree(merged_dir, ignore_errors=True)
            flush(False)
        shutil.rmtree(base_dir, ignore_errors=True)  # 2+ GB each at 7B width: keep the disk free

    result = flush(True)
    tmp.cleanup()
    return result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gpu-shapes", choices=sorted(SHAPES), default="7b",
                    help="7b: the real widths (CUDA); tiny: the same code at toy widths (CPU proof of the command)")
    ap.add_argument("--device", choices=["cuda", "cpu"], default=None, help="default: cuda for 7b, cpu for tiny")
    ap.add_argument("--layers", type=int, default=None)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--data", default=None,
                    help="hub-layout dir with train.{en,zh}.jsonl (default: real Alpaca-GPT4 rows if present)")
    ap.add_argument("--out", default=None)
    ap.add_argument("--models", default=None, help="comma-separated, in order (default: both shapes)")
    ap.add_argument("--no-compile", action="store_true", help="per-block compile off in the proof's training")
    args = ap.parse_args(argv)
    device = args.device or ("cuda" if args.gpu_shapes == "7b" else "cpu")
    if device == "cpu" and args.out is None and args.gpu_shapes != "tiny":
        raise SystemExit("gpu_smoke: a CPU run at 7B shapes needs an explicit --out")
    run(args.gpu_shapes, device, args.out, args.layers, args.steps, data=args.data,
        models=args.models.split(",") if args.models else None, compile_blocks=not args.no_compile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
