"""Load a base model at 16, 8 (LLM.int8) or 4 bits (nf4 + double quantisation, QLoRA), and its
tokenizer: shared by data preparation, training, merging, generation and the judge."""

from __future__ import annotations

BITS = (4, 8, 16)


def compute_dtype(device: str):
    import torch

    # bf16 on GPU as in QLoRA; CPU kernels are fastest and exact in fp32
    return torch.bfloat16 if device == "cuda" else torch.float32


def quantization_config(bits: int, device: str):
    from transformers import BitsAndBytesConfig

    if bits == 16:
        return None
    if bits == 8:
        return BitsAndBytesConfig(load_in_8bit=True)
    if bits == 4:
        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=compute_dtype(device),
        )
    raise ValueError(f"bits: {bits!r} is not allowed; allowed values: {', '.join(map(str, BITS))}")


def load_base_model(
    path: str, bits: int, device: str, revision=None, trust_remote_code: bool = False, attn_implementation=None
):
    """from_pretrained exactly as for a hub model; weights only from safetensors."""
    from transformers import AutoModelForCausalLM

    if attn_implementation == "maple_varlen":
        from maple.train.varlen import register

        register()
    model = AutoModelForCausalLM.from_pretrained(
        path,
        revision=revision,
        dtype=compute_dtype(device),
        quantization_config=quantization_config(bits, device),
        device_map={"": 0} if device == "cuda" else {"": "cpu"},
        use_safetensors=True,
        trust_remote_code=trust_remote_code,
        **({"attn_implementation": attn_implementation} if attn_implementation else {}),
    )
    model.config.use_cache = False
    if bits == 4 and device != "cuda":
        _generic_cpu_4bit_kernel(model)
    return model


def _generic_cpu_4bit_kernel(model) -> None:
    """bitsandbytes 0.50 repacks 4-bit weights for its AVX512-BF16 CPU inference kernel in blocks of
    32 output rows and raises on other shapes (tiny models), only on CPUs with that extension; the
    generic kernel computes the same product on every CPU."""
    import bitsandbytes as bnb

    for module in model.modules():
        if isinstance(module, bnb.nn.Linear4bit):
            module.support_avx512bf16_for_cpu = False


def load_tokenizer(path: str, revision=None, trust_remote_code: bool = False):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path, revision=revision, trust_remote_code=trust_remote_code)
    if tok.pad_token is None:
        # Llama-2 and Mistral ship no pad token; padding positions are masked out anyway
        tok.pad_token = tok.unk_token or tok.eos_token
    return tok
