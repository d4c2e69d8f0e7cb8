"""Finetuning data: sources, prompt templates, tokenisation, and the tiny model builder."""
