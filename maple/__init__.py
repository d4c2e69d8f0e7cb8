"""maple: a workflow reproducing MAPLE (arXiv 2401.07598), multilingual evaluation of PEFT LLMs."""

__version__ = "0.1.0"
