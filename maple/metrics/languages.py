"""Which language codes each task takes (the dataset's own config codes), checked before scoring."""

from __future__ import annotations

import re

from maple.metrics.errors import ScoringInputError

XQUAD = ("ar", "de", "el", "en", "es", "hi", "ro", "ru", "th", "tr", "vi", "zh")
MLQA = ("ar", "de", "en", "es", "hi", "vi", "zh")  # the languages the official MLQA script normalises
XNLI = ("ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh")
XCOPA = ("en", "et", "ht", "id", "it", "qu", "sw", "ta", "th", "tr", "vi", "zh")
XLSUM = (
    "amharic", "arabic", "azerbaijani", "bengali", "burmese", "chinese_simplified", "chinese_traditional",
    "english", "french", "gujarati", "hausa", "hindi", "igbo", "indonesian", "japanese", "kirundi", "korean",
    "kyrgyz", "marathi", "nepali", "oromo", "pashto", "persian", "pidgin", "portuguese", "punjabi", "russian",
    "scottish_gaelic", "serbian_cyrillic", "serbian_latin", "sinhala", "somali", "spanish", "swahili", "tamil",
    "telugu", "thai", "tigrinya", "turkish", "ukrainian", "urdu", "uzbek", "vietnamese", "welsh", "yoruba",
)
ALPACA_EVAL = ("en",)
FLORES_CODE = re.compile(r"^[a-z]{3}_[A-Z][a-z]{3}$")  # Belebele configs: eng_Latn, zho_Hans, ...

LANGUAGES = {
    "xquad": XQUAD,
    "mlqa": MLQA,
    "xnli": XNLI,
    "xcopa": XCOPA,
    "xlsum": XLSUM,
    "alpaca_eval": ALPACA_EVAL,
    "belebele": None,  # 122 FLORES-200 codes: checked by pattern
}
TASKS = tuple(LANGUAGES)
PROTOCOLS = ("megaverse", "reference")


def check(task: str, lang: str, protocol: str) -> None:
    """Raise ScoringInputError (one line) for an unknown task, protocol or language of the task."""
    if task not in LANGUAGES:
        raise ScoringInputError(f"unknown task {task!r}; known: {', '.join(TASKS)}")
    if protocol not in PROTOCOLS:
        raise ScoringInputError(f"unknown protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")
    allowed = LANGUAGES[task]
    if allowed is None:
        if not isinstance(lang, str) or not FLORES_CODE.match(lang):
            raise ScoringInputError(f"unknown language {lang!r} for belebele: expected a FLORES code such as eng_Latn")
    elif lang not in allowed:
        raise ScoringInputError(f"unknown language {lang!r} for {task}; known: {', '.join(allowed)}")
