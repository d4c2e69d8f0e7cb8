"""Build the embedded default's tiny base models from nothing: a byte-level BPE tokenizer trained on
the bundled text and a randomly initialised Llama- or Mistral-architecture causal LM, saved in the
Hugging Face layout (safetensors) so the rest of the workflow loads it with from_pretrained."""

from __future__ import annotations

import json
from pathlib import Path

from maple.io import atomic_dir, write_record

SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "<pad>"]


def bundled_files(roots: list[str], task_cfgs: dict | None = None) -> list[Path]:
    """The JSONL files under the roots that the tiny models may learn from: not a split any protocol
    evaluates, not AlpacaEval (maple.data.contamination derives the list from the task registry)."""
    from maple.data.contamination import evaluated_splits, is_evaluated

    excluded = evaluated_splits(task_cfgs)
    return [path for root in roots for path in sorted(Path(root).rglob("*.jsonl"))
            if not is_evaluated(path, root, excluded)]


def bundled_texts(roots: list[str], task_cfgs: dict | None = None):
    """Every string value of every JSONL row of `bundled_files`."""
    for path in bundled_files(roots, task_cfgs):
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                row = json.loads(line)
                yield from _strings(row)


def _strings(value):
    if isinstance(value, str):
        if value:
            yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def train_tokenizer(texts, vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", tok.token_to_id("<s>"))]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        model_max_length=2048,
    )


def build_model(architecture: str, tokenizer, hidden_size: int, layers: int, heads: int, kv_heads: int, seed: int):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, MistralConfig, MistralForCausalLM

    common = dict(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2 + hidden_size // 2,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=2048,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
        torch_dtype="float32",
    )
    torch.manual_seed(seed)
    if architecture == "llama":
        return LlamaForCausalLM(LlamaConfig(**common))
    if architecture == "mistral":
        return MistralForCausalLM(MistralConfig(sliding_window=None, **common))
    raise ValueError(f"build.architecture: {architecture!r} is not one of llama, mistral")


def module_names(build: dict) -> list[str]:
    """The module names of a model `build:` describes, before it is built (on the meta device: no
    weights); what LoRA's target_modules are matched against."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, MistralConfig, MistralForCausalLM

    cls, cfg_cls = {"llama": (LlamaForCausalLM, LlamaConfig), "mistral": (MistralForCausalLM, MistralConfig)}[
        build["architecture"]
    ]
    cfg = cfg_cls(vocab_size=build["vocab_size"], hidden_size=build["hidden_size"], num_hidden_layers=build["layers"],
                  num_attention_heads=build["heads"], num_key_value_heads=build["kv_heads"],
                  intermediate_size=build["hidden_size"] * 2 + build["hidden_size"] // 2)
    with torch.device("meta"):
        # modules holding weights, as a checkpoint's tensor names give them
        return [name for name, m in cls(cfg).named_modules() if next(m.parameters(recurse=False), None) is not None]


def pretrain(model, tokenizer, texts: list[str], steps: int, seed: int, seq_len: int = 128, batch: int = 8) -> list:
    """A short causal-LM warm-up on the bundled text, so the tiny model emits words, stops and
    answer formats instead of noise; the workflow's results then move with training."""
    import torch

    ids = []
    for text in texts:
        ids += tokenizer(text)["input_ids"] + [tokenizer.eos_token_id]
    data = torch.tensor(ids[: len(ids) // seq_len * seq_len]).view(-1, seq_len)
    gen = torch.Generator().manual_seed(seed)
    optim = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    losses = []
    model.train()
    for step in range(steps):
        rows = data[torch.randint(len(data), (batch,), generator=gen)]
        loss = model(input_ids=rows, labels=rows).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optim.step()
        optim.zero_grad()
        if step % 50 == 0 or step == steps - 1:
            losses.append({"step": step + 1, "loss": round(loss.item(), 4)})
    model.eval()
    return losses


def build_tiny_model(out_dir: str, build: dict, text_roots: list[str], seed: int,
                     task_cfgs: dict | None = None) -> dict:
    """Write tokenizer + model to out_dir atomically; returns the record written beside them."""
    import torch
    import transformers

    # neither the tokenizer nor the warm-up sees an evaluated split: the model must not have seen
    # what it is scored on (nor have a vocabulary fitted to it)
    tokenizer = train_tokenizer(bundled_texts(text_roots, task_cfgs), build["vocab_size"])
    model = build_model(
        build["architecture"], tokenizer, build["hidden_size"], build["layers"], build["heads"], build["kv_heads"], seed
    )
    n_params = sum(p.numel() for p in model.parameters())
    corpus = list(bundled_texts(text_roots, task_cfgs))
    losses = pretrain(model, tokenizer, corpus, build.get("pretrain_steps", 0), seed) if build.get("pretrain_steps") else []
    with atomic_dir(out_dir) as tmp:
        tokenizer.save_pretrained(tmp)
        model.save_pretrained(tmp, safe_serialization=True)
        record = {
            "build": build,
            "seed": seed,
            "parameters": n_params,
            "pretrain_loss": losses,
            "vocab_size": len(tokenizer),
            "text_roots": text_roots,
            "text_files": [str(p) for p in bundled_files(text_roots, task_cfgs)],
            "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
        }
        write_record(Path(tmp) / "maple_build.json", record)
    return record


def build_tokenizer_twin(out_dir: str, tokenizer, hidden_size: int = 256, layers: int = 2, max_positions: int = 4096,
                         seed: int = 0) -> None:
    """A random tiny Mistral-architecture model with `tokenizer` (e.g. Mistral-7B's 32k SentencePiece
    vocabulary) and a 7B's context: prompts tokenise, fit and share cache blocks exactly as the 7B's
    would, at a cost a CPU engine bears. Its outputs are noise; only their equality is tested."""
    model = build_model("mistral", tokenizer, hidden_size, layers, 4, 2, seed)  # head_dim 64: vLLM CPU kernels
    model.config.max_position_embeddings = max_positions
    tokenizer.model_max_length = max_positions
    with atomic_dir(out_dir) as tmp:
        tokenizer.save_pretrained(tmp)
        model.save_pretrained(tmp, safe_serialization=True)
