"""Moved to maple.models (model and tokenizer loading serve data, generation and the judge too).
Re-exported for code written against the old path; import maple.models."""

from maple.models import BITS, compute_dtype, load_base_model, load_tokenizer, quantization_config  # noqa: F401
