"""A model's tokenizer from a SentencePiece model file or a Hugging Face tokenizer directory."""

from __future__ import annotations

import os
import shutil
import tempfile


class TokenizerError(ValueError):
    """A tokenizer path that is neither a SentencePiece model nor a tokenizer directory."""


def mistral_v1_model() -> str | None:
    """Mistral-7B-v0.1's SentencePiece model as shipped in mistral-common's package data, if installed."""
    try:
        import mistral_common
    except ImportError:
        return None
    path = os.path.join(os.path.dirname(mistral_common.__file__), "data", "tokenizer.model.v1")
    return path if os.path.isfile(path) else None


def load_tokenizer(path: str):
    """A transformers tokenizer that adds BOS as the model's own config does (Llama-style for a
    bare SentencePiece model: Llama-2 and Mistral-7B-v0.1 both ship one with byte fallback)."""
    if os.path.isdir(path):
        from transformers import AutoTokenizer

        try:
            return AutoTokenizer.from_pretrained(path, trust_remote_code=False)
        except (OSError, ValueError) as err:
            raise TokenizerError(f"--tokenizer: {path} is not a tokenizer directory: {str(err).splitlines()[0]}") from None
    if not os.path.isfile(path):
        raise TokenizerError(f"--tokenizer: {path} does not exist; allowed: a SentencePiece .model file or a tokenizer directory")
    with open(path, "rb") as fh:
        head = fh.read(2)
    if head[:1] != b"\n":  # a SentencePiece ModelProto starts with field 1 (pieces), wire type 2
        raise TokenizerError(f"--tokenizer: {path} is not a SentencePiece model file")
    from maple.deps import require

    require("sentencepiece", "sentencepiece", "train")  # transformers converts the model with it
    from transformers import LlamaTokenizer

    # transformers reads a SentencePiece model from a directory under the name tokenizer.model
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(path, os.path.join(tmp, "tokenizer.model"))
        try:
            return LlamaTokenizer.from_pretrained(tmp, add_bos_token=True, add_eos_token=False)
        except Exception as err:  # a corrupt model raises from deep inside the converter
            raise TokenizerError(f"--tokenizer: cannot read {path}: {str(err).splitlines()[0] if str(err) else type(err).__name__}") from None
