# Verbatim excerpts of MEGAVERSE's scoring code (test oracle for maple.metrics' megaverse protocol).
# Source: https://github.com/microsoft/MEGAVERSE at c7ffb70bf9333b0cd3422af464b20c7b92fb6576
#   mega/eval_qa_gptturbo.py lines 34-40 and 89-172: PUNCT, the language lists, mixed_segmentation,
#   normalize_answer_mlqa and normalize_answer (the QA normalisers; the prediction then goes to
#   evaluate.load("squad"), i.e. the official SQuAD v1.1 code);
#   mega/utils/misc_utils.py lines 12-33 as misc_normalize_answer (renamed: it clashes with the
#   above), used by mega/eval/eval_cls.py lines 160-170 (XNLI), reproduced in xnli_match below;
#   mega/hf_models/src/eval_xlsum.py lines 142-144, 182, 250-260 (compute_rouge, the scorer, np.average),
#   reproduced in xlsum_rouge_l below;
#   mega/eval_belebele.py lines 108-120: parse_pred (Belebele), and VERBALIZER (line 33), the gold
#   letter of correct_answer_num; mega/eval_belebele.py evaluate() compares `pred == label`,
#   reproduced in belebele_match below;
#   mega/eval/eval_cls.py run_seq_eval, the rule XNLI and XCOPA ran under (no --parallel_eval in
#   hf_scripts/*/run_xcopa_all.sh), is xnli_match below; run_parallel_eval's rule is
#   parallel_match (for the tests that show where the two disagree).
# Licence: MIT License, Copyright (c) 2024 Microsoft (the repository's LICENSE).
# Changes: the imports, the rename, the '\s' pattern as a raw string, and the two small wrappers
#   at the end that restate the calling code (marked).
import re
import string
import sys
import unicodedata

PUNCT = {
    chr(i)
    for i in range(sys.maxunicode)
    if unicodedata.category(chr(i)).startswith("P")
}.union(string.punctuation)
WHITESPACE_LANGS = ["en", "es", "hi", "vi", "de", "ar"]
MIXED_SEGMENTATION_LANGS = ["zh"]


def whitespace_tokenize(text):
    return text.split()


def mixed_segmentation(text):
    segs_out = []
    temp_str = ""
    for char in text:
        if re.search(r"[\u4e00-\u9fa5]", char) or char in PUNCT:
            if temp_str != "":
                ss = whitespace_tokenize(temp_str)
                segs_out.extend(ss)
                temp_str = ""
            segs_out.append(char)
        else:
            temp_str += char

    if temp_str != "":
        ss = whitespace_tokenize(temp_str)
        segs_out.extend(ss)

    return segs_out


def normalize_answer_mlqa(lang, s):
    """Lower text and remove punctuation, articles and extra whitespace."""

    def remove_articles(text, lang):
        if lang == "en":
            return re.sub(r"\b(a|an|the)\b", " ", text)
        elif lang == "es":
            return re.sub(r"\b(un|una|unos|unas|el|la|los|las)\b", " ", text)
        elif lang == "hi":
            return text  # Hindi does not have formal articles
        elif lang == "vi":
            return re.sub(r"\b(của|là|cái|chiếc|những)\b", " ", text)
        elif lang == "de":
            return re.sub(
                r"\b(ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des)\b",
                " ",
                text,
            )
        elif lang == "ar":
            return re.sub(r"\sال^|ال", " ", text)
        elif lang == "zh":
            return text  # Chinese does not have formal articles
        else:
            raise Exception("Unknown Language {}".format(lang))

    def white_space_fix(text, lang):
        if lang in WHITESPACE_LANGS:
            tokens = whitespace_tokenize(text)
        elif lang in MIXED_SEGMENTATION_LANGS:
            tokens = mixed_segmentation(text)
        else:
            raise Exception("Unknown Language {}".format(lang))
        return " ".join([t for t in tokens if t.strip() != ""])

    def remove_punc(text):
        return "".join(ch for ch in text if ch not in PUNCT)

    def lower(text):
        return text.lower()

    return white_space_fix(remove_articles(remove_punc(lower(s)), lang), lang)


def normalize_answer(s):
    """Lower text and remove punctuation, articles and extra whitespace."""

    def remove_articles(text):
        return re.sub(r"\b(a|an|the)\b", " ", text)

    def white_space_fix(text):
        return " ".join(text.split())

    def remove_punc(text):
        exclude = set(PUNCT)  # set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    def lower(text):
        return text.lower()

    return white_space_fix(remove_articles(remove_punc(lower(s))))


def misc_normalize_answer(s):
    """
    Taken from the official evaluation script for v1.1 of the SQuAD dataset.
    Lower text and remove punctuation, articles and extra whitespace.
    """
    s = s.replace("</s>", "")
    s = s.strip()

    def remove_articles(text):
        return re.sub(r"\b(a|an|the)\b", " ", text)

    def white_space_fix(text):
        return " ".join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    def lower(text):
        return text.lower()

    return white_space_fix(remove_articles(remove_punc(lower(s))))


VERBALIZER = {"default": {"1": "A", "2": "B", "3": "C", "4": "D"}}


def parse_pred(pred: str) -> str:
    pred = str(pred)
    # print(pred)
    if "A" in pred or "1" in pred:
        return "A"
    elif "B" in pred or "2" in pred:
        return "B"
    elif "C" in pred or "3" in pred:
        return "C"
    elif "D" in pred or "4" in pred:
        return "D"
    else:
        return pred


# --- restated calling code (not verbatim) -----------------------------------------------------

def xnli_match(pred, label):
    """mega/eval/eval_cls.py: first line, misc normalize_answer both, containment; "" never counts."""
    pred = misc_normalize_answer(pred.split("\n")[0])
    label = misc_normalize_answer(label)
    return float((pred in label) or (label in pred)) if pred != "" else 0.0


def xlsum_rouge_l(rouge_score_module, pred, label):
    """mega/hf_models/src/eval_xlsum.py: RougeScorer([...], use_stemmer=True).score(pred, label), np.average of rougeL."""
    import numpy as np

    scorer = rouge_score_module.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    return float(np.average([scorer.score(pred, label)["rougeL"]]))


def belebele_match(pred, correct_answer_num):
    """mega/eval_belebele.py evaluate(): label = VERBALIZER[correct_answer_num]; float(parse_pred(pred) == label)."""
    label = VERBALIZER["default"][str(correct_answer_num)]
    return float(parse_pred(pred) == label)


def parallel_match(pred, label):
    """mega/eval/eval_cls.py run_parallel_eval: float(pred.startswith(label)) (not what XCOPA ran)."""
    return float(pred.startswith(label))
