"""LoRA/QLoRA training step: plain HF+peft (as ../shared/ANCHORS.md measures it) against maple's own.

impl plain: from_pretrained(quantization_config), prepare_model_for_kbit_training (gradient
checkpointing on), get_peft_model (all 7 projections, alpha = 2r), AdamW, model(...).loss.backward().
impl maple: maple.train.trainer.build_trainer, the function the train rule runs, on the paper
config's training settings for the cell (config/paper.yaml, its `training.speed` levers), trainer.train().
Both see the same 8 rows of 512 tokens per optimizer step (maple may split them into micro-batches),
on the same random-weight Llama-2-7B-width model (--layers of its 32 layers).

  GPU:  python benchmarks/train_throughput.py            -> benchmarks/results/train_throughput_gpu.json
  CPU:  python benchmarks/train_throughput.py --tiny     -> benchmarks/results/train_throughput_cpu_tiny.json
        (a 2-layer toy model: proves the path end to end; its numbers are not the goal metric)

--real-lengths adds item 3 of issue 15: micro-batches of 8 examples drawn from the token lengths
of real instruction data (prepare them with --prepare-lengths), plain padded to the longest
against maple packed; written beside the main file as *_real_lengths.json.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LLAMA2_7B = dict(hidden_size=4096, intermediate_size=11008, num_attention_heads=32, num_key_value_heads=32,
                 vocab_size=32000, max_position_embeddings=4096, rms_norm_eps=1e-5)
MISTRAL_7B = dict(hidden_size=4096, intermediate_size=14336, num_attention_heads=32, num_key_value_heads=8,
                  vocab_size=32000, max_position_embeddings=32768, rms_norm_eps=1e-5)
SHAPES = {"llama-2-7b": LLAMA2_7B, "mistral-7b": MISTRAL_7B}
TINY = dict(hidden_size=128, intermediate_size=256, num_attention_heads=4, num_key_value_heads=4,
            vocab_size=1000, max_position_embeddings=512, rms_norm_eps=1e-5)
CELL_MODEL, CELL_DATASET = "llama-2-7b", "alpaca"
LENGTHS_FILE = ROOT / ".bench" / "real_lengths.json"  # git-ignored; carried to the GPU run


def _sync(device):
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def _peak_gib(device):
    import torch

    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**30
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _reset(device):
    import torch

    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    torch._dynamo.reset()


def build_model_dir(out: Path, shape: dict, layers: int, device: str, seed: int = 0, arch: str = "llama") -> str:
    """A random-weight Llama (or Mistral) checkpoint in the HF layout (speed does not depend on weight values)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    cfg = AutoConfig.for_model(arch, num_hidden_layers=layers, use_cache=False, tie_word_embeddings=False, **shape)
    torch.manual_seed(seed)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(cfg, dtype=torch.bfloat16 if device == "cuda" else torch.float32)
    model.save_pretrained(out, safe_serialization=True)
    del model
    # the Trainer's collator needs a tokenizer only for its pad id: a minimal one
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    tok = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel({"<unk>": 0, "<s>": 1, "</s>": 2}, unk_token="<unk>")),
                                  unk_token="<unk>", bos_token="<s>", eos_token="</s>", pad_token="<unk>")
    tok.save_pretrained(out)
    return str(out)


def fixed_rows(n: int, length: int, vocab: int, seed: int = 0) -> list[dict]:
    import torch

    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, vocab, (n, length), generator=g).tolist()
    return [{"input_ids": r, "attention_mask": [1] * length, "labels": list(r)} for r in ids]


def ragged_rows(lengths: list[int], n: int, vocab: int, seed: int = 0) -> list[dict]:
    import random

    import torch

    rnd = random.Random(seed)
    g = torch.Generator().manual_seed(seed)
    rows = []
    for _ in range(n):
        length = rnd.choice(lengths)
        ids = torch.randint(3, vocab, (length,), generator=g).tolist()
        rows.append({"input_ids": ids, "attention_mask": [1] * length, "labels": list(ids)})
    return rows


def _write_tokenised(rows: list[dict], out: Path) -> str:
    import datasets

    out.mkdir(parents=True, exist_ok=True)
    datasets.Dataset.from_list(rows).to_parquet(str(out / "train.parquet"))
    return str(out)


def _summary(step_times, tokens_per_step, losses, warmup, device):
    timed = step_times[warmup:]
    med = statistics.median(timed)
    return {
        "tokens_per_s": round(tokens_per_step / med, 1),
        "peak_gib": round(_peak_gib(device), 2),
        "loss_first": round(losses[0], 4),
        "loss_last": round(losses[-1], 4),
        "step_s_median": round(med, 4),
        "losses": [round(x, 4) for x in losses],
    }


def run_plain(model_dir, bits, rank, batches, device, warmup, lr, gradient_checkpointing=True, padded=False, seed=0):
    """ANCHORS.md's plain step: the way most users write it (seeded like maple's: same LoRA init)."""
    import torch
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, DataCollatorForSeq2Seq

    from maple.models import compute_dtype, quantization_config

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(
        model_dir, dtype=compute_dtype(device), quantization_config=quantization_config(bits, device),
        device_map={"": 0} if device == "cuda" else {"": "cpu"},
    )
    model.config.use_cache = False
    if bits in (4, 8):
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=gradient_checkpointing)
    elif gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.enable_input_require_grads()
    model = get_peft_model(model, LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.0, task_type="CAUSAL_LM",
                                             target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]))
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)  # as maple's config
    collate = DataCollatorForSeq2Seq(None, padding=True, label_pad_token_id=-100, pad_to_multiple_of=8) if padded else None
    times, losses, real_tokens = [], [], []
    for rows in batches:
        if collate is not None:
            # pad with id 0 (the batch's attention mask hides it); no tokenizer needed for ids
            longest = -(-max(len(r["input_ids"]) for r in rows) // 8) * 8
            batch = {
                "input_ids": torch.tensor([r["input_ids"] + [0] * (longest - len(r["input_ids"])) for r in rows]),
                "attention_mask": torch.tensor([[1] * len(r["input_ids"]) + [0] * (longest - len(r["input_ids"])) for r in rows]),
                "labels": torch.tensor([r["labels"] + [-100] * (longest - len(r["labels"])) for r in rows]),
            }
        else:
            batch = {k: torch.tensor([r[k] for r in rows]) for k in ("input_ids", "attention_mask", "labels")}
        batch = {k: v.to(model.device) for k, v in batch.items()}
        _sync(device)
        t0 = time.perf_counter()
        loss = model(**batch).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.item())
        _sync(device)
        times.append(time.perf_counter() - t0)
        real_tokens.append(sum(len(r["input_ids"]) for r in rows))
    del model, opt
    return times, losses, real_tokens


def maple_train_cfg(config_path, bits, rank, per_step, steps, lr, overrides=None):
    """The cell's training settings exactly as the train rule gets them, with the benchmark's
    step count, batch (same examples per step as plain), logging and learning-rate schedule."""
    from maple.config import load_yaml
    from maple.grid import Cell, training_config

    config = load_yaml(config_path)
    cfg = training_config(config, Cell(CELL_MODEL if CELL_MODEL in config["models"] else next(iter(config["models"])),
                                       CELL_DATASET if CELL_DATASET in config["datasets"] else next(iter(config["datasets"])),
                                       rank, bits))
    cfg.update(per_device_train_batch_size=per_step, gradient_accumulation_steps=1, max_steps=steps, num_train_epochs=1000,
               learning_rate=lr, lr_scheduler_type="constant", warmup_ratio=0.0, lora_alpha=2 * rank, lora_dropout=0.0,
               logging_steps=1, save_steps=10**6, max_grad_norm=0.0)
    cfg.update(overrides or {})
    return cfg


def run_maple(model_dir, train_cfg, rows, device, workdir):
    """maple's step: the Trainer the train rule builds (maple.train.trainer.build_trainer)."""
    import torch
    from transformers import TrainerCallback

    from maple.train.levers import LeverWatch, lever_status
    from maple.train.trainer import build_trainer

    times = []

    class Clock(TrainerCallback):
        def on_step_begin(self, args, state, control, **kw):
            _sync(device)
            self.t0 = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            _sync(device)
            times.append(time.perf_counter() - self.t0)

    data = _write_tokenised(rows, Path(workdir) / "tokenised")
    torch.manual_seed(train_cfg["seed"])
    trainer, levers, _ = build_trainer({"path": model_dir}, train_cfg, data, str(Path(workdir) / "ckpt"), device,
                                       callbacks=[Clock()])
    with LeverWatch() as watch:
        trainer.train()
    levers["status"] = lever_status(levers, watch)  # as train.json records it
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    del trainer
    return times, losses, levers


def measure_peak_tflops(device: str, n: int | None = None, reps: int = 20) -> float:
    """Dense matmul rate of this device (bf16 8192^3 on CUDA; fp32 512^3 on CPU): the MFU denominator."""
    import torch

    n = n or (8192 if device == "cuda" else 512)
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ b
    _sync(device)
    return 2 * n**3 * reps / (time.perf_counter() - t0) / 1e12


def flop_fields(shape, layers, bits, rank, seq, tokens_per_s, peak_tflops, levers=None) -> dict:
    """FLOPs per token (maple.train.memory.flops_per_token), MFU against the measured peak, and the
    memory model's predicted peak for the micro-batch and recomputation the row ran with."""
    from maple.train import memory

    fpt = memory.flops_per_token(shape, layers, rank, seq)
    out = {"flops_per_token": round(fpt), "model_tflops": round(tokens_per_s * fpt / 1e12, 1),
           "mfu": round(tokens_per_s * fpt / (peak_tflops * 1e12), 3)}
    if levers is not None:
        out["predicted_peak_gib"] = round(memory.predict(shape, layers, bits, rank, levers["micro_batch_size"] * seq,
                                                         levers["recompute"], bool(levers["compile"])), 2)
    return out


def _versions():
    from maple.io import versions

    v = versions()
    try:
        import liger_kernel  # noqa: F401
        from importlib.metadata import version

        v["liger_kernel"] = version("liger-kernel")
    except Exception:
        v["liger_kernel"] = None
    return v


def _device_name(device):
    import platform

    import torch

    return torch.cuda.get_device_name(0) if device == "cuda" else f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def _write(path: Path, payload: dict):
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, indent=1) + "\n")
    tmp.replace(path)


def prepare_lengths(out: Path = LENGTHS_FILE) -> dict:
    """Token lengths of real instruction data (../shared/data) under the paper's prompt template,
    tokenised with Mistral-7B v0.1's tokenizer (mistral_common ships it; the paper's second model)."""
    import sentencepiece as spm
    from mistral_common import __file__ as mc

    from maple.config import load_yaml
    from maple.data.tokenise import tokenise_example

    sp = spm.SentencePieceProcessor(model_file=str(Path(mc).parent / "data" / "tokenizer.model.v1"))

    class Tok:  # the two calls tokenise_example makes
        eos_token_id = sp.eos_id()

        def __call__(self, text, add_special_tokens=True):
            return {"input_ids": ([sp.bos_id()] if add_special_tokens else []) + sp.encode(text)}

    prompt = load_yaml(ROOT / "config" / "paper.yaml")["prompt"]
    shared = ROOT.parent / "shared" / "data"
    files = sorted((shared / "alpaca_gpt4_demo").glob("*.jsonl")) + [shared / "alpaca_eval" / "alpaca_eval_gpt4_baseline.eval.jsonl"]
    lengths, sources = [], {}
    for f in files:
        rows = [json.loads(line) for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]
        n = [len(tokenise_example({"instruction": r["instruction"], "input": r.get("input", ""), "output": r["output"]}, Tok(), prompt)["input_ids"]) for r in rows]
        lengths += n
        sources[str(f.relative_to(shared))] = len(n)
    payload = {"tokenizer": "mistral-7b v0.1 sentencepiece (32000)", "max_length": prompt["max_length"],
               "sources": sources, "lengths": lengths}
    _write(out, payload)
    return payload


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tiny", action="store_true", help="CPU, 2-layer toy model: proof of path, not the goal metric")
    ap.add_argument("--model", choices=sorted(SHAPES), default="llama-2-7b", help="widths of this model (random weights)")
    ap.add_argument("--peak-tflops", type=float, default=None, help="MFU denominator (default: measured here, bf16 8192^3)")
    ap.add_argument("--layers", type=int, default=None, help="decoder layers (GPU default 8 of Llama-2-7B's 32)")
    ap.add_argument("--bits", default="4,8,16")
    ap.add_argument("--ranks", default="8,128")
    ap.add_argument("--impls", default="plain,maple")
    ap.add_argument("--cells", default=None, help="bits:rank pairs in the order to run, e.g. 4:8,8:128 (overrides --bits/--ranks)")
    ap.add_argument("--warmup", type=int, default=None)
    ap.add_argument("--steps", type=int, default=None, help="timed steps after warm-up")
    ap.add_argument("--config", default=str(ROOT / "config" / "paper.yaml"), help="where maple's training settings come from")
    ap.add_argument("--no-compile", action="store_true", help="maple without per-block compile (fast CPU test)")
    ap.add_argument("--real-lengths", action="store_true", help="also item 3: ragged real lengths, padded plain vs packed maple")
    ap.add_argument("--prepare-lengths", action="store_true", help="write .bench/real_lengths.json from ../shared/data and exit")
    ap.add_argument("--out", default=None)
    ap.add_argument("--resume", action="store_true", help="keep the rows already in --out and measure only the missing ones")
    args = ap.parse_args(argv)
    if args.prepare_lengths:
        p = prepare_lengths()
        print(json.dumps({k: v for k, v in p.items() if k != "lengths"}), "n =", len(p["lengths"]))
        return

    import torch

    device = "cpu" if args.tiny or not torch.cuda.is_available() else "cuda"
    if device == "cpu" and not args.tiny:
        sys.exit("train_throughput: no CUDA device; use --tiny for the CPU proof of path")
    shape, seq, per_step = (TINY, 64, 4) if args.tiny else (SHAPES[args.model], 512, 8)
    arch = "mistral" if args.model == "mistral-7b" else "llama"
    layers = args.layers or (2 if args.tiny else 8)
    warmup = args.warmup if args.warmup is not None else (2 if args.tiny else 3)
    steps = args.steps or (4 if args.tiny else 8)
    lr = 1e-3
    out = Path(args.out or ROOT / "benchmarks" / "results" / f"train_throughput_{'cpu_tiny' if args.tiny else 'gpu'}.json")
    torch._dynamo.config.cache_size_limit = 64
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    peak = args.peak_tflops or float(f"{measure_peak_tflops(device):.4g}")
    payload = {"device": _device_name(device), "versions": _versions(), "layers": layers, "rows": [],
               "model_shape": "tiny" if args.tiny else args.model, "peak_tflops": peak,
               "peak_tflops_source": "given" if args.peak_tflops else "measured: dense matmul in this process",
               "setup": {"shape": shape, "seq_len": seq, "examples_per_step": per_step, "warmup": warmup,
                         "timed_steps": steps, "lr": lr, "config": os.path.relpath(args.config, ROOT),
                         "plain": "ANCHORS.md: kbit prep + gradient checkpointing, AdamW, loss.backward()",
                         "batches": "the same 8 (CPU: 4) random-token rows every optimizer step",
                         "not_goal_metric": device == "cpu"}}
    overrides = {"optim": "adamw_torch"} if device == "cpu" else {}  # paged optimizers need CUDA
    done = set()
    if args.resume and out.exists():
        payload["rows"] = json.loads(out.read_text())["rows"]
        done = {(r["impl"], r["bits"], r["rank"]) for r in payload["rows"]}
    rows = fixed_rows(per_step, seq, shape["vocab_size"])
    with tempfile.TemporaryDirectory(prefix="maple-bench-") as tmp:
        t0 = time.time()
        model_dir = build_model_dir(Path(tmp) / "model", shape, layers, device, arch=arch)
        payload["setup"]["model_build_s"] = round(time.time() - t0, 1)
        cells = [(b, r) for b in map(int, args.bits.split(",")) for r in map(int, args.ranks.split(","))]
        if args.cells:
            cells = [tuple(map(int, c.split(":"))) for c in args.cells.split(",")]
        impls = [i for i in ("plain", "maple") if i in args.impls.split(",")]
        # Liger without compile patches transformers' Llama module globally: then every plain row
        # first; with compile maple patches only its own instance, and cells run whole (plain, maple)
        # so that a run cut short keeps complete cells
        order = ([(i, c) for i in impls for c in cells] if args.no_compile else [(i, c) for c in cells for i in impls])
        for impl, (bits, rank) in order:
            if (impl, bits, rank) in done:
                continue
            _reset(device)
            t0 = time.time()
            if impl == "plain":
                seed = maple_train_cfg(args.config, bits, rank, per_step, 1, lr)["seed"]
                times, losses, _ = run_plain(model_dir, bits, rank, [rows] * (warmup + steps), device, warmup, lr, seed=seed)
                row = {"impl": "plain", "bits": bits, "rank": rank, **_summary(times, per_step * seq, losses, warmup, device)}
                row.update(flop_fields(shape, layers, bits, rank, seq, row["tokens_per_s"], peak))
            else:
                cfg = maple_train_cfg(args.config, bits, rank, per_step, warmup + steps, lr, overrides)
                if args.no_compile:
                    cfg["speed"] = _without_compile(cfg.get("speed"))
                times, losses, levers = run_maple(model_dir, cfg, rows, device, Path(tmp) / f"m{bits}-{rank}")
                row = {"impl": "maple", "bits": bits, "rank": rank, **_summary(times, per_step * seq, losses, warmup, device),
                       "levers": {k: v for k, v in levers.items()}, "packing": bool(cfg.get("packing"))}
                row.update(flop_fields(shape, layers, bits, rank, seq, row["tokens_per_s"], peak, levers))
                row["lever_status"] = {k: v["status"] for k, v in levers["status"].items() if isinstance(v, dict)}
            row["wall_s"] = round(time.time() - t0, 1)
            payload["rows"].append(row)
            print(json.dumps({k: v for k, v in row.items() if k not in ("losses", "levers")}), flush=True)
            _ratios(payload)
            _write(out, payload)  # after every row: a run cut short keeps what it measured
        _ratios(payload)
        _write(out, payload)
        if args.real_lengths:
            real_lengths(args, device, shape, layers, model_dir, tmp, overrides, warmup, steps, lr, out)
    print(f"wrote {out}")


def _without_compile(speed):
    speed = {k: dict(v or {}) for k, v in (speed or {}).items()}
    for block in [speed.setdefault("default", {}), *speed.values()]:
        block["compile"] = False
    return speed


def _ratios(payload):
    plain = {(r["bits"], r["rank"]): r for r in payload["rows"] if r["impl"] == "plain"}
    payload["maple_over_plain"] = {
        f"b{r['bits']}-r{r['rank']}": round(r["tokens_per_s"] / plain[(r["bits"], r["rank"])]["tokens_per_s"], 2)
        for r in payload["rows"] if r["impl"] == "maple" and (r["bits"], r["rank"]) in plain
    }


def real_lengths(args, device, shape, layers, model_dir, tmp, overrides, warmup, steps, lr, out):
    """Item 3: real-data token lengths; plain pads each micro-batch to its longest, maple packs."""
    if not LENGTHS_FILE.exists():
        sys.exit(f"train_throughput: {LENGTHS_FILE} missing; run with --prepare-lengths first (needs ../shared/data)")
    info = json.loads(LENGTHS_FILE.read_text())
    # GPU: Llama-2 lengths capped at 512 as in ANCHORS; CPU tiny: the same shape scaled to 64
    lengths = [min(n, 512) for n in info["lengths"]] if not args.tiny else [max(4, min(n, 512) // 8) for n in info["lengths"]]
    per_step = 8 if not args.tiny else 4
    batches = [ragged_rows(lengths, per_step, shape["vocab_size"], seed=s) for s in range(warmup + steps)]
    result = {"device": _device_name(device), "layers": layers, "lengths_from": info["sources"], "tokenizer": info["tokenizer"],
              "length_stats": {"n": len(lengths), "mean": round(statistics.mean(lengths), 1), "median": statistics.median(lengths),
                               "max": max(lengths), "min": min(lengths)},
              "not_goal_metric": device == "cpu", "rows": []}
    bits, rank = 16, 8
    _reset(device)
    seed = maple_train_cfg(args.config, bits, rank, per_step, 1, lr)["seed"]
    times, losses, real = run_plain(model_dir, bits, rank, batches, device, warmup, lr, padded=True, seed=seed)
    med = statistics.median(times[warmup:])
    result["rows"].append({"impl": "plain-padded", "bits": bits, "rank": rank, "real_tokens_per_s": round(statistics.mean(real[warmup:]) / med, 1),
                           "peak_gib": round(_peak_gib(device), 2), "loss_first": round(losses[0], 4), "loss_last": round(losses[-1], 4)})
    # maple: the rule's config with packing on; one dataset holding every step's examples in order
    _reset(device)
    cfg = maple_train_cfg(args.config, bits, rank, per_step, warmup + steps, lr, {**overrides, "packing": True})
    speed = {k: dict(v or {}) for k, v in (cfg.get("speed") or {}).items()}
    speed.setdefault("default", {})["attn_implementation"] = "maple_varlen"  # packed rows attended per example
    cfg["speed"] = _without_compile(speed) if args.no_compile else speed
    flat = [r for b in batches for r in b]
    cfg["num_train_epochs"] = 1
    import transformers

    # same examples per step as plain, in the same order: a sequential sampler for this measurement
    orig = transformers.Trainer._get_train_sampler
    transformers.Trainer._get_train_sampler = lambda self, *a, **k: __import__("torch").utils.data.SequentialSampler(self.train_dataset)
    try:
        times, losses, levers = run_maple(model_dir, cfg, flat, device, Path(tmp) / "real")
    finally:
        transformers.Trainer._get_train_sampler = orig
    med = statistics.median(times[warmup:])
    result["rows"].append({"impl": "maple-packed", "bits": bits, "rank": rank, "real_tokens_per_s": round(statistics.mean(real[warmup:]) / med, 1),
                           "peak_gib": round(_peak_gib(device), 2), "loss_first": round(losses[0], 4), "loss_last": round(losses[-1], 4),
                           "levers": levers})
    result["packed_over_padded"] = round(result["rows"][1]["real_tokens_per_s"] / result["rows"][0]["real_tokens_per_s"], 2)
    path = out.with_name(out.stem + "_real_lengths.json")
    _write(path, result)
    print(json.dumps({k: v for k, v in result.items() if k != "rows"}), flush=True)


if __name__ == "__main__":
    main()
