"""XL-Sum: ROUGE-L (0..1) with the XL-Sum authors' multilingual ROUGE (PyPI `multilingual-rouge`,
module `multilingual_rouge`, a packaging of csebuetnlp/xl-sum multilingual_rouge_scoring; it does
not shadow Google's `rouge_score`).

reference  F1, `lang` set from the XL-Sum config name (jieba for Chinese, pythainlp for Thai, MeCab
           for Japanese, the Burmese syllable splitter; Unicode punctuation removed), stemming off
           unless asked for (then the language's own stemmer, as XL-Sum's `--rouge_lang`).
megaverse  what MEGAVERSE's XLSUM.py did: `RougeScorer([...], use_stemmer=True)` with no `lang`
           and `np.average` over the (P, R, F) tuples. Their published per-language scores (non-zero
           for hi/zh/am/my) show the multilingual fork was the `rouge_score` they imported, since
           Google's stock one keeps only [a-z0-9].
"""

from __future__ import annotations

import functools
import logging
import os
import warnings

from maple.metrics.errors import MetricUnavailableError

# XL-Sum config names the fork knows under another name (it maps these itself too; explicit here)
ROUGE_LANG_ALIASES = {"chinese_simplified": "chinese", "chinese_traditional": "chinese"}


def rouge_lang(config: str) -> str:
    """The multilingual-rouge `lang` for an XL-Sum config name (the name itself, as XL-Sum passed it)."""
    return ROUGE_LANG_ALIASES.get(config, config)


def _japanese_tokenizer():
    """The fork's JapaneseTokenizer; with UniDic not downloaded, the same call on unidic-lite's dictionary."""
    from multilingual_rouge.tokenizers import JapaneseTokenizer, whitespace_tokenize

    try:
        return JapaneseTokenizer()  # fugashi + full UniDic (`python -m unidic download`), as XL-Sum used
    except RuntimeError:
        pass
    try:
        import fugashi
        import unidic_lite
    except ImportError:
        raise MetricUnavailableError(
            "Japanese ROUGE needs a MeCab dictionary: `pip install unidic-lite` or `python -m unidic download`"
        ) from None
    mecabrc = os.path.join(unidic_lite.DICDIR, "mecabrc")
    tagger = fugashi.Tagger(f'-O wakati -b 50000 -d "{unidic_lite.DICDIR}" -r "{mecabrc}"')
    return lambda text: whitespace_tokenize(tagger.parse(text))


def _bengali_stemmer():
    """The fork's Bengali stemmer with the rule file its wheel forgot to ship (vendored)."""
    import io

    from multilingual_rouge.bengali_stemmer import RafiStemmer

    from maple.metrics._vendor.bengali_rules import COMMON_RULES

    return RafiStemmer(io.StringIO(COMMON_RULES)).stem_word


def _require_stopwords(lang: str) -> None:
    """The fork stems with NLTK's SnowballStemmer(lang, ignore_stopwords=True), which loads NLTK's
    stopwords corpus: a separate download that no pip package installs."""
    import nltk

    try:
        nltk.data.find("corpora/stopwords")
    except LookupError:
        raise MetricUnavailableError(
            f"ROUGE stemming for {lang} uses NLTK's Snowball stemmer with NLTK's stopword list, which is not "
            "installed: run `python -m nltk.downloader stopwords`, or score without stemming"
        ) from None


@functools.lru_cache(maxsize=None)
def scorer(lang: str | None, stem: bool):
    """A cached multilingual-rouge RougeScorer for ROUGE-L (lang None: the fork's default behaviour)."""
    from maple.deps import require

    require("multilingual_rouge", "multilingual-rouge", "report")
    from multilingual_rouge import rouge_scorer

    kwargs = {}
    if lang == "chinese":
        import jieba

        jieba.setLogLevel(logging.WARNING)  # its dictionary-loading chatter on stderr
    if lang == "japanese":
        kwargs["callable_tokenizer"] = _japanese_tokenizer()
    if stem and lang == "bengali":
        kwargs["callable_stemmer"] = _bengali_stemmer()
    if stem and lang is not None:
        from nltk.stem import SnowballStemmer

        if lang in SnowballStemmer.languages and lang != "porter":
            _require_stopwords(lang)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "unknown stemmer language": no stemmer, as in XL-Sum
        return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=stem, lang=lang, **kwargs)


def _rouge_l(rouge, reference: str, prediction: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "no tokens found ... switching to default tokenizer"
        return rouge.score(reference, prediction)["rougeL"]


def score(protocol: str, lang: str, prediction: str, references: list[str], stem: bool = False) -> dict:
    """ROUGE-L of one summary, best over the references (XL-Sum has one)."""
    if protocol == "megaverse":
        # quirk: MEGAVERSE's RougeScorer gets no lang (default tokeniser: CJK split into characters, no
        # Thai/Burmese/Japanese segmentation) and always stems (Porter, English rules for every language)
        rouge = scorer(None, True)
        best = max((_rouge_l(rouge, ref, prediction) for ref in references), key=lambda s: sum(s))
        # quirk: MEGAVERSE reports np.average over the Score tuples, the mean of P, R and F (they also
        # passed (prediction, label) for (target, prediction), swapping P and R: the mean is unchanged)
        return {"rougeL": sum(best) / 3.0, "precision": best.precision, "recall": best.recall, "fmeasure": best.fmeasure}
    rouge = scorer(rouge_lang(lang), bool(stem))
    best = max((_rouge_l(rouge, ref, prediction) for ref in references), key=lambda s: s.fmeasure)
    return {"rougeL": best.fmeasure, "precision": best.precision, "recall": best.recall}
