"""Language codes of the tasks, normalised to ISO 639-1, and their resource classes.

The tasks name languages three ways: ISO 639-1 (xnli, xcopa, xquad, mlqa, alpaca_eval), FLORES-200
codes (belebele: `deu_Latn`) and XL-Sum's lowercase names (`chinese_simplified`). The report
compares them on one axis, so every code goes through `to_iso`.

Resource classes: Joshi et al. 2020, "The State and Fate of Linguistic Diversity and Inclusion in
the NLP World" (ACL 2020), classes 0 (left-behinds) .. 5 (winners), from the paper's language
taxonomy file https://microsoft.github.io/linguisticdiversity/assets/lang2tax.txt, transcribed here
for the languages of the MAPLE tasks and training sets. Levels used in the report:
high = class 4-5, mid = class 3, low = class 0-2 (a language not listed is `unknown`).
"""

from __future__ import annotations

# ISO 639-3 (as used in FLORES-200 codes) -> ISO 639-1. Macrolanguage members map to the macrolanguage.
ISO3_TO_ISO1 = {
    "afr": "af", "amh": "am", "arb": "ar", "ara": "ar", "arz": "ar", "asm": "as", "azj": "az", "aze": "az",
    "bam": "bm", "bel": "be", "ben": "bn", "bod": "bo", "bos": "bs", "bul": "bg", "cat": "ca", "ces": "cs",
    "cym": "cy", "dan": "da", "deu": "de", "ell": "el", "eng": "en", "epo": "eo", "est": "et", "ekk": "et",
    "eus": "eu", "fin": "fi", "fra": "fr", "gaz": "om", "gla": "gd", "gle": "ga", "glg": "gl", "guj": "gu",
    "hat": "ht", "hau": "ha", "heb": "he", "hin": "hi", "hrv": "hr", "hun": "hu", "hye": "hy", "ibo": "ig",
    "ind": "id", "isl": "is", "ita": "it", "jav": "jv", "jpn": "ja", "kan": "kn", "kat": "ka", "kaz": "kk",
    "khk": "mn", "khm": "km", "kin": "rw", "kir": "ky", "kor": "ko", "lao": "lo", "lit": "lt", "lvs": "lv",
    "lav": "lv", "mal": "ml", "mar": "mr", "mkd": "mk", "mlt": "mt", "mri": "mi", "mya": "my", "nld": "nl",
    "nob": "nb", "nno": "nn", "nor": "no", "npi": "ne", "nep": "ne", "ory": "or", "pan": "pa", "pbt": "ps",
    "pes": "fa", "fas": "fa", "plt": "mg", "pol": "pl", "por": "pt", "quy": "qu", "que": "qu", "ron": "ro",
    "run": "rn", "rus": "ru", "sin": "si", "slk": "sk", "slv": "sl", "sna": "sn", "snd": "sd", "som": "so",
    "spa": "es", "als": "sq", "sqi": "sq", "srp": "sr", "ssw": "ss", "sun": "su", "swe": "sv", "swh": "sw",
    "swa": "sw", "tam": "ta", "tel": "te", "tgk": "tg", "tgl": "tl", "fil": "tl", "tha": "th", "tir": "ti",
    "tsn": "tn", "tso": "ts", "tur": "tr", "ukr": "uk", "urd": "ur", "uzn": "uz", "uzb": "uz", "vie": "vi",
    "wol": "wo", "xho": "xh", "yor": "yo", "zho": "zh", "cmn": "zh", "zsm": "ms", "msa": "ms", "zul": "zu",
    "lin": "ln", "lug": "lg", "nya": "ny", "orm": "om",
}

# XL-Sum configuration names -> ISO 639-1 (pcm, Nigerian Pidgin, has no 639-1 code).
XLSUM_TO_ISO1 = {
    "amharic": "am", "arabic": "ar", "azerbaijani": "az", "bengali": "bn", "burmese": "my",
    "chinese_simplified": "zh", "chinese_traditional": "zh", "english": "en", "french": "fr",
    "gujarati": "gu", "hausa": "ha", "hindi": "hi", "igbo": "ig", "indonesian": "id", "japanese": "ja",
    "kirundi": "rn", "korean": "ko", "kyrgyz": "ky", "marathi": "mr", "nepali": "ne", "oromo": "om",
    "pashto": "ps", "persian": "fa", "pidgin": "pcm", "portuguese": "pt", "punjabi": "pa", "russian": "ru",
    "scottish_gaelic": "gd", "serbian_cyrillic": "sr", "serbian_latin": "sr", "sinhala": "si",
    "somali": "so", "spanish": "es", "swahili": "sw", "tamil": "ta", "telugu": "te", "thai": "th",
    "tigrinya": "ti", "turkish": "tr", "ukrainian": "uk", "urdu": "ur", "uzbek": "uz",
    "vietnamese": "vi", "welsh": "cy", "yoruba": "yo",
}

# The FLORES-200 code Belebele uses for an ISO 639-1 language (first = the default variant).
ISO1_TO_FLORES = {
    "ar": ["arb_Arab"], "bn": ["ben_Beng"], "bg": ["bul_Cyrl"], "cs": ["ces_Latn"], "da": ["dan_Latn"],
    "de": ["deu_Latn"], "el": ["ell_Grek"], "en": ["eng_Latn"], "es": ["spa_Latn"], "et": ["est_Latn"],
    "fa": ["pes_Arab"], "fi": ["fin_Latn"], "fr": ["fra_Latn"], "he": ["heb_Hebr"], "hi": ["hin_Deva", "hin_Latn"],
    "hu": ["hun_Latn"], "id": ["ind_Latn"], "it": ["ita_Latn"], "ja": ["jpn_Jpan"], "ko": ["kor_Hang"],
    "nb": ["nob_Latn"], "nl": ["nld_Latn"], "pl": ["pol_Latn"], "pt": ["por_Latn"], "ro": ["ron_Latn"],
    "ru": ["rus_Cyrl"], "sv": ["swe_Latn"], "sw": ["swh_Latn"], "ta": ["tam_Taml"], "th": ["tha_Thai"],
    "tr": ["tur_Latn"], "uk": ["ukr_Cyrl"], "ur": ["urd_Arab", "urd_Latn"], "vi": ["vie_Latn"],
    "zh": ["zho_Hans", "zho_Hant"],
}

ENGLISH = frozenset({"en", "eng_Latn", "english"})

# Joshi et al. 2020 class per ISO 639-1 code (see the module docstring for the source).
JOSHI_CLASS = {
    # 5: the winners
    "ar": 5, "de": 5, "en": 5, "es": 5, "fr": 5, "ja": 5, "zh": 5,
    # 4: the underdogs
    "ca": 4, "cs": 4, "eu": 4, "fa": 4, "fi": 4, "hi": 4, "hr": 4, "hu": 4, "it": 4, "ko": 4, "nl": 4,
    "pl": 4, "pt": 4, "ru": 4, "sr": 4, "sv": 4, "tr": 4, "vi": 4,
    # 3: the rising stars
    "af": 3, "be": 3, "bg": 3, "bn": 3, "bs": 3, "da": 3, "el": 3, "et": 3, "gl": 3, "he": 3, "id": 3,
    "ka": 3, "kk": 3, "la": 3, "lt": 3, "lv": 3, "ms": 3, "ro": 3, "sk": 3, "sl": 3, "ta": 3, "th": 3,
    "tl": 3, "uk": 3, "ur": 3, "uz": 3,
    # 2: the hopefuls
    "am": 2, "ga": 2, "ha": 2, "ht": 2, "is": 2, "lo": 2, "mr": 2, "mt": 2, "pa": 2, "sa": 2, "sw": 2,
    "ti": 2, "tn": 2, "wo": 2, "xh": 2, "yo": 2, "zu": 2,
    # 1: the scraping-bys
    "as": 1, "az": 1, "bm": 1, "bo": 1, "cy": 1, "eo": 1, "gd": 1, "gu": 1, "hy": 1, "ig": 1, "jv": 1,
    "km": 1, "kn": 1, "ky": 1, "lb": 1, "ln": 1, "mg": 1, "mi": 1, "mk": 1, "ml": 1, "mn": 1, "my": 1,
    "nb": 1, "ne": 1, "nn": 1, "no": 1, "oc": 1, "om": 1, "ps": 1, "qu": 1, "rn": 1, "rw": 1, "sd": 1,
    "si": 1, "so": 1, "sq": 1, "ss": 1, "te": 1, "tg": 1, "ts": 1,
}

RESOURCE_LEVELS = ("high", "mid", "low")
RESOURCE_LEVEL_LABELS = {
    "high": "high-resource (Joshi class 4-5)",
    "mid": "mid-resource (Joshi class 3)",
    "low": "low-resource (Joshi class 0-2)",
    "unknown": "unclassified",
}


def to_iso(lang: str) -> str:
    """ISO 639-1 code of a task language (FLORES code, XL-Sum name or ISO code); unknown ones pass through."""
    if lang is None:
        return lang
    text = str(lang)
    if text in XLSUM_TO_ISO1:
        return XLSUM_TO_ISO1[text]
    if "_" in text:
        head = text.split("_", 1)[0]
        if head in ISO3_TO_ISO1:
            return ISO3_TO_ISO1[head]
    if text in ISO3_TO_ISO1:
        return ISO3_TO_ISO1[text]
    return text


def is_english(lang: str) -> bool:
    return str(lang) in ENGLISH or to_iso(lang) == "en"


def resource_class(lang: str, classes: dict | None = None) -> int | None:
    """Joshi et al. 2020 class of a task language; `classes` (ISO 639-1 -> class) overrides the table."""
    iso = to_iso(lang)
    table = {**JOSHI_CLASS, **(classes or {})}
    return table.get(iso)


def resource_level(lang: str, classes: dict | None = None) -> str:
    """'high' (class 4-5), 'mid' (3), 'low' (0-2) or 'unknown'."""
    cls = resource_class(lang, classes)
    if cls is None:
        return "unknown"
    if cls >= 4:
        return "high"
    if cls == 3:
        return "mid"
    return "low"


def flores_codes(iso_codes) -> list[str]:
    """FLORES-200 codes of ISO 639-1 codes (the Belebele variants); unknown codes are left out."""
    out = []
    for code in iso_codes:
        out += ISO1_TO_FLORES.get(code, [])
    return out


def belebele_group(lang: str, groups: dict) -> str | None:
    """Name of the group (config `report.belebele_groups`: ISO 639-1 or FLORES codes) a Belebele language is in.

    The paper's groups are three: MultiAlpaca's languages, Bactrian-X-22's others, and languages in
    neither. With two groups listed, a language in neither is in the third ('group3'); with all three
    listed (the paper config names its 13 group-3 languages), a language in none of them (English,
    zho_Hant) is outside the groups: None, counted in 'all languages' only. A FLORES code listed in a
    group matches only itself, so `zho_Hans` in group 2 leaves `zho_Hant` out.
    """
    iso = to_iso(lang)
    for name, members in (groups or {}).items():
        members = {str(m) for m in members or []}
        if str(lang) in members or (iso in members and not _lists_variants(members, iso)):
            return name
    return rest_group_name(groups)


def _lists_variants(members: set, iso: str) -> bool:
    """Whether a group names FLORES codes of `iso` itself (then the ISO code alone does not match)."""
    return any("_" in m and to_iso(m) == iso for m in members)


def rest_group_name(groups: dict) -> str | None:
    """The implicit 'neither' group when fewer than three groups are listed, else None."""
    n = len(groups or {})
    return f"group{n + 1}" if n < 3 else None
