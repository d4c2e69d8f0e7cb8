"""Speed levers of one cell's training step, chosen per bits and rank by `training.speed`.

None of them changes what is trained (same LoRA weights, same adapter files, same tokens per
optimizer step); each is tested on CPU against the plain path (tests/test_levers.py).
`training.speed` holds `default` plus overrides keyed `b{bits}`, `r{rank}` and `b{bits}-r{rank}`,
applied in that order."""

from __future__ import annotations

RECOMPUTE = ("full", "selective", "none", "auto")  # auto: the memory model (maple.train.memory) decides
LIGER = (True, False, "auto")
ATTENTION = ("sdpa", "eager", "flash_attention_2", "maple_varlen")  # maple_varlen: maple.train.varlen
DEFAULTS = {
    "recompute": None,  # None: follow training.gradient_checkpointing (full or none)
    "micro_batch_size": None,  # None: per_device_train_batch_size as given; auto: the memory model's; else at most this many
    "card_memory_gib": 80,  # the card the plan is sized for (paper grid: 80 GB); used by auto
    "compile": False,  # torch.compile each decoder layer
    "fused_lora": False,  # base + low-rank projection in one autograd function
    "int8_dequant": False,  # 8-bit: int8-stored weight run as a compute-dtype matmul (needs fused_lora)
    "liger": False,  # Liger Triton kernels (CUDA only); auto: use where importable on CUDA
    "attn_implementation": None,  # None: transformers' default (sdpa)
    "kbit_upcast": True,  # peft's prepare_model_for_kbit_training (casts norms/embeddings/lm_head to fp32)
}


class LeverError(ValueError):
    """A `training.speed` value that is not allowed (one line naming the key)."""


def _check(levers: dict, where: str) -> None:
    allowed = {
        "recompute": (None, *RECOMPUTE),
        "liger": LIGER,
        "attn_implementation": (None, *ATTENTION),
        "compile": (True, False),
        "fused_lora": (True, False),
        "int8_dequant": (True, False),
        "kbit_upcast": (True, False),
    }
    for key, value in levers.items():
        if key not in DEFAULTS:
            raise LeverError(f"{where}.{key}: unknown key; allowed keys: {', '.join(DEFAULTS)}")
        if key in allowed and value not in allowed[key]:
            raise LeverError(f"{where}.{key}: {value!r} is not allowed; allowed values: {', '.join(map(str, allowed[key]))}")
        if key == "micro_batch_size" and value not in (None, "auto") and (not isinstance(value, int) or value < 1):
            raise LeverError(f"{where}.micro_batch_size: {value!r} is not allowed; allowed values: null, auto or an integer >= 1")
        if key == "card_memory_gib" and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0):
            raise LeverError(f"{where}.card_memory_gib: {value!r} is not allowed; allowed values: a number > 0 (GiB)")


def resolve(train_cfg: dict) -> dict:
    """The levers of one cell: defaults < speed.default < b{bits} < r{rank} < b{bits}-r{rank}."""
    speed = train_cfg.get("speed") or {}
    bits, rank = train_cfg["bits"], train_cfg["rank"]
    levers = dict(DEFAULTS)
    for key in ("default", f"b{bits}", f"r{rank}", f"b{bits}-r{rank}"):
        block = speed.get(key) or {}
        _check(block, f"training.speed.{key}")
        levers.update(block)
    if levers["recompute"] is None:
        levers["recompute"] = "full" if train_cfg.get("gradient_checkpointing") else "none"
    if levers["int8_dequant"] and not levers["fused_lora"]:
        raise LeverError("training.speed.int8_dequant: true needs fused_lora: true (the dequantised matmul is the fused one)")
    if levers["attn_implementation"] == "maple_varlen" and not train_cfg.get("packing"):
        raise LeverError("training.speed.attn_implementation: maple_varlen needs training.packing: true (it attends packed rows)")
    if "auto" not in (levers["micro_batch_size"], levers["recompute"]):
        levers["micro_batch_size"], levers["gradient_accumulation_steps"] = batch_plan(train_cfg, levers["micro_batch_size"])
    return levers


def plan_memory(levers: dict, train_cfg: dict, model_config, seq_len: int | None = None) -> dict:
    """Resolve `auto` micro-batch / recomputation from the memory model once the base's shape is
    known (maple.train.memory.plan); the plan is recorded under levers['memory_plan']."""
    if "auto" not in (levers["micro_batch_size"], levers["recompute"]):
        return levers
    from maple.train import memory

    per_step = train_cfg.get("per_device_train_batch_size", 8) * train_cfg.get("gradient_accumulation_steps", 1)
    seq_len = seq_len or train_cfg.get("max_length") or 768
    plan = memory.plan(memory.model_shape(model_config), model_config.num_hidden_layers, train_cfg["bits"],
                       train_cfg["rank"], per_step, seq_len, levers["card_memory_gib"], compiled=bool(levers["compile"]))
    plan["tokens_per_micro_batch_bound"] = plan["micro_batch_size"] * seq_len
    if levers["recompute"] == "auto":
        levers["recompute"] = plan["recompute"]
    micro = plan["micro_batch_size"] if levers["micro_batch_size"] == "auto" else levers["micro_batch_size"]
    levers["micro_batch_size"], levers["gradient_accumulation_steps"] = batch_plan(train_cfg, micro)
    levers["memory_plan"] = plan
    return levers


def batch_plan(train_cfg: dict, micro: int | None) -> tuple[int, int]:
    """Micro-batch and accumulation with the same examples per optimizer step as configured."""
    per_step = train_cfg.get("per_device_train_batch_size", 8) * train_cfg.get("gradient_accumulation_steps", 1)
    micro = min(micro, per_step) if micro else train_cfg.get("per_device_train_batch_size", 8)  # at most one step
    if per_step % micro:
        raise LeverError(
            f"training.speed.micro_batch_size: {micro} does not divide the {per_step} examples per optimizer step "
            "(per_device_train_batch_size x gradient_accumulation_steps)"
        )
    return micro, per_step // micro


# Selective recomputation: keep what matrix products and attention produced (costly to redo),
# recompute norms, activations, rotary embeddings and casts (cheap, but memory-heavy to keep).
def _saved_ops():
    import torch

    aten = torch.ops.aten
    ops = [aten.mm.default, aten.addmm.default, aten.bmm.default, aten.linear.default]
    for name in ("_scaled_dot_product_efficient_attention", "_scaled_dot_product_flash_attention",
                 "_scaled_dot_product_cudnn_attention", "_scaled_dot_product_flash_attention_for_cpu",
                 "_flash_attention_forward", "_efficient_attention_forward"):
        if hasattr(aten, name):
            ops.append(getattr(aten, name).default)
    return ops


def _selective_policy(ctx, op, *args, **kwargs):
    from torch.utils.checkpoint import CheckpointPolicy

    return CheckpointPolicy.MUST_SAVE if op in _saved_ops() else CheckpointPolicy.PREFER_RECOMPUTE


def _selective_context():
    from torch.utils.checkpoint import create_selective_checkpoint_contexts

    return create_selective_checkpoint_contexts(_selective_policy)


def checkpointing_kwargs(recompute: str) -> dict | None:
    """gradient_checkpointing_kwargs for transformers (None: no recomputation)."""
    if recompute == "none":
        return None
    kwargs = {"use_reentrant": False}
    if recompute == "selective":
        kwargs["context_fn"] = _selective_context
    return kwargs


# ---- fused LoRA projection -------------------------------------------------------------------


def base_weight(base, dtype, int8_dequant: bool):
    """The frozen base weight as a dense [out, in] matrix in `dtype`, dequantised if stored quantised."""
    weight = base.weight
    if getattr(weight, "quant_state", None) is not None:  # bitsandbytes nf4 / fp4
        import bitsandbytes.functional as bnbf

        return bnbf.dequantize_4bit(weight.data, weight.quant_state).to(dtype)
    if getattr(weight, "SCB", None) is not None or getattr(getattr(base, "state", None), "SCB", None) is not None:
        if not int8_dequant:
            raise LeverError("fused LoRA on an LLM.int8 base needs training.speed.int8_dequant: true")
        import bitsandbytes.functional as bnbf

        scb = weight.SCB if getattr(weight, "SCB", None) is not None else base.state.SCB
        return bnbf.int8_vectorwise_dequant(weight.data, scb).to(dtype)
    return weight.to(dtype)


def _compute_dtype(x):
    import torch

    if torch.is_autocast_enabled(x.device.type):
        return torch.get_autocast_dtype(x.device.type)
    return x.dtype


def _make_fused():
    import torch

    class FusedLoRA(torch.autograd.Function):
        """y = x W^T + s * dropout(x) A^T B^T (+ bias) in one node. Saves x, the dropout mask and
        x A^T (r wide); the base weight is re-derived in backward, never kept."""

        @staticmethod
        def forward(ctx, x, a, b, bias, base, scaling, p, int8_dequant, training):
            dtype = _compute_dtype(x)
            xc = x.to(dtype)
            w = base_weight(base, dtype, int8_dequant)
            mask = None
            xl = xc
            if p > 0 and training:
                mask = torch.rand_like(xc) >= p
                xl = xc * mask / (1 - p)
            h = xl @ a.to(dtype).t()
            y = torch.nn.functional.linear(xc, w, bias.to(dtype) if bias is not None else None)
            y = y + (h @ b.to(dtype).t()) * scaling
            ctx.save_for_backward(xl if mask is not None else xc, a, b, h, mask)
            ctx.base, ctx.scaling, ctx.p, ctx.int8_dequant, ctx.dtype, ctx.x_dtype = base, scaling, p, int8_dequant, dtype, x.dtype
            return y

        @staticmethod
        def backward(ctx, g):
            xl, a, b, h, mask = ctx.saved_tensors
            dtype, s = ctx.dtype, ctx.scaling
            g = g.to(dtype)
            g2, h2, x2 = g.reshape(-1, g.shape[-1]), h.reshape(-1, h.shape[-1]), xl.reshape(-1, xl.shape[-1])
            gh = (g2 @ b.to(dtype)) * s  # [tokens, r]
            grad_b = (g2.t() @ h2 * s).to(b.dtype)
            grad_a = (gh.t() @ x2).to(a.dtype)
            grad_x = None
            if ctx.needs_input_grad[0]:
                w = base_weight(ctx.base, dtype, ctx.int8_dequant)
                lora_dx = gh @ a.to(dtype)
                if mask is not None:
                    lora_dx = lora_dx * mask.reshape(lora_dx.shape) / (1 - ctx.p)
                grad_x = torch.addmm(lora_dx, g2, w).view(*g.shape[:-1], w.shape[1]).to(ctx.x_dtype)
            return grad_x, grad_a, grad_b, None, None, None, None, None, None

    return FusedLoRA


_FUSED = []


def fused_function():
    """The autograd function, built on first use (torch imported lazily; no cache wrapper for dynamo)."""
    if not _FUSED:
        _FUSED.append(_make_fused())
    return _FUSED[0]


def _fused_forward(self, x, *args, **kwargs):
    """Replaces a peft LoRA Linear's forward; falls back to peft's own where it cannot apply."""
    if self.disable_adapters or self.merged or len(self.active_adapters) != 1 or args or kwargs:
        return self._peft_forward(x, *args, **kwargs)
    name = self.active_adapters[0]
    if name not in self.lora_A or self.use_dora.get(name, False):
        return self._peft_forward(x, *args, **kwargs)
    dropout = self.lora_dropout[name]
    p = float(getattr(dropout, "p", 0.0))
    base = self.base_layer
    return fused_function().apply(
        x, self.lora_A[name].weight, self.lora_B[name].weight, getattr(base, "bias", None), base,
        self.scaling[name], p, self._maple_int8_dequant, self.training,
    )


def fuse_lora(model, int8_dequant: bool = False) -> int:
    """Route every peft LoRA Linear (16-bit, 8-bit, 4-bit base) through the fused function."""
    import types

    from peft.tuners.lora import LoraLayer

    count = 0
    for module in model.modules():
        if isinstance(module, LoraLayer) and hasattr(module.get_base_layer(), "weight") and module.get_base_layer().weight.dim() == 2:
            base = module.get_base_layer()
            if getattr(base.weight, "SCB", None) is not None and not int8_dequant:
                continue  # LLM.int8 stays on bitsandbytes' own matmul unless asked
            if type(module).__name__ == "Embedding":
                continue
            module._peft_forward = module.forward
            module._maple_int8_dequant = int8_dequant
            module.forward = types.MethodType(_fused_forward, module)
            count += 1
    return count


# ---- kernels, compile ------------------------------------------------------------------------


def liger_available() -> tuple[bool, str]:
    try:
        import liger_kernel.transformers  # noqa: F401
    except Exception as exc:  # ImportError, or Triton failing without a GPU
        return False, f"liger_kernel not importable ({type(exc).__name__}: {str(exc)[:80]})"
    import torch

    if not torch.cuda.is_available():
        return False, "liger kernels need CUDA (Triton)"
    return True, "applied"


# Inside per-block compiled layers Inductor fuses RMSNorm, SwiGLU and RoPE itself, and Liger's
# RMSNorm backward kernel does not pass Inductor's kernel analysis on torch 2.11 / Triton 3.6
# (`offset.to(tl.float32)` on a float: it then assumes every input mutated). With compile, only the
# kernel outside the blocks is used: the fused lm_head + cross-entropy (no logits tensor).
LIGER_WITH_COMPILE = {"rope": False, "rms_norm": False, "swiglu": False, "fused_linear_cross_entropy": True}


def apply_liger(model, setting, device: str, compiled: bool = False) -> str:
    """Patch the base model's norms, SwiGLU, RoPE and loss with Liger's kernels; returns what was done."""
    if setting is False:
        return "off"
    ok, why = liger_available() if device == "cuda" else (False, "liger kernels need CUDA (Triton)")
    if not ok:
        if setting == "auto":
            return f"skipped: {why}"
        raise LeverError(f"training.speed.liger: true but {why}; set it to auto or false")
    from liger_kernel.transformers import _apply_liger_kernel_to_instance

    kwargs = LIGER_WITH_COMPILE if compiled else {}
    _apply_liger_kernel_to_instance(model=model, **kwargs)
    return "applied" + (": fused_linear_cross_entropy only (norm, SwiGLU, RoPE fused by Inductor)" if compiled else "")


# ---- what really happened to a lever --------------------------------------------------------

WATCHED_LOGGERS = ("torch._dynamo", "torch._inductor", "torch._higher_order_ops", "liger_kernel", "bitsandbytes")


class LeverWatch:
    """Collects the warnings torch.compile, Inductor, Triton kernel wrapping and Liger log while a
    step runs (they fall back silently otherwise) and dynamo's graph-break / recompile counters."""

    def __init__(self):
        import logging

        self.records: list[str] = []
        outer = self

        class _Handler(logging.Handler):
            def emit(self, record):
                try:
                    msg = record.getMessage()
                except Exception:  # a malformed record must not stop training
                    msg = str(record.msg)
                if record.exc_info:  # the reason (e.g. Triton's CompilationError) is in the traceback
                    import traceback

                    msg += "\n" + "".join(traceback.format_exception(*record.exc_info))[-2000:]
                outer.records.append(f"{record.name}: {msg}")

        self.handler = _Handler(level=logging.WARNING)

    def __enter__(self):
        import logging

        for name in WATCHED_LOGGERS:
            logging.getLogger(name).addHandler(self.handler)
        self._counters0 = self._counters()
        return self

    def __exit__(self, *exc):
        import logging

        for name in WATCHED_LOGGERS:
            logging.getLogger(name).removeHandler(self.handler)
        self.counters = {k: v - self._counters0.get(k, 0) for k, v in self._counters().items()}
        return False

    @staticmethod
    def _counters() -> dict:
        try:
            from torch._dynamo.utils import counters
        except Exception:
            return {}
        return {"graph_breaks": sum(counters["graph_break"].values()),
                "recompiles": sum(counters["recompiles"].values()) if "recompiles" in counters else 0,
                "unimplemented": sum(counters["unimplemented"].values())}


def _first_error_line(records: list[str], needles: tuple[str, ...]) -> str | None:
    for rec in records:
        if any(n in rec for n in needles):
            lines = [x.strip() for x in rec.splitlines() if x.strip()]
            err = [x for x in lines if "Error" in x] or lines
            return err[-1][:300]
    return None


def lever_status(levers: dict, watch: LeverWatch) -> dict:
    """Status and reason per lever that can fail silently: applied, degraded (ran, with a fallback)
    or skipped; written into train.json and the benchmark rows."""
    status = {}
    recs = watch.records
    liger = str(levers.get("liger_status", "off"))
    if liger.startswith("applied"):
        why = _first_error_line(recs, ("liger", "Liger", "identify_accessed_tensors", "identify_mutated_tensors",
                                       "CompilationError"))
        status["liger"] = {"status": "degraded", "reason": why} if why else {"status": "applied", "reason": liger}
    else:
        status["liger"] = {"status": "skipped" if liger.startswith("skipped") else "off", "reason": liger}
    if levers.get("compile"):
        counters = getattr(watch, "counters", {})
        why = _first_error_line(recs, ("torch._dynamo", "torch._inductor"))
        bad = counters.get("graph_breaks", 0) or counters.get("unimplemented", 0)
        status["compile"] = {"status": "degraded" if (why or bad) else "applied", "reason": why or
                             (f"graph breaks: {counters}" if bad else f"{levers.get('compiled_blocks', 0)} blocks"),
                             "counters": counters}
    if levers.get("fused_lora"):
        n = levers.get("fused_modules", 0)
        status["fused_lora"] = {"status": "applied" if n else "skipped", "reason": f"{n} projections"}
    status["warnings"] = len(recs)
    return status


def decoder_layers(model):
    import torch

    for module in model.modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) and type(module[0]).__name__.endswith("DecoderLayer"):
            return module
    return []


def compile_blocks(model, backend: str = "inductor") -> int:
    """torch.compile each decoder layer in place (the loss and embeddings stay eager)."""
    layers = decoder_layers(model)
    for layer in layers:
        layer.compile(backend=backend, dynamic=None)
    return len(layers)
