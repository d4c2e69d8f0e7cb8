"""Official evaluation code carried verbatim (no PyPI package ships it); see each file's header."""
