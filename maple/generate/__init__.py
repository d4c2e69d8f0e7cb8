"""Batched generation backends (vLLM, transformers) behind one interface."""
