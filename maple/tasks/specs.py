"""The seven MAPLE evaluation tasks. Splits, shots and quirks follow shared/PROTOCOL.md:
`megaverse` reproduces how MEGAVERSE scored the paper's baselines, `reference` uses proper splits
and official metrics. Every deliberate deviation from proper practice is marked `# quirk:`.

Scorer names (implemented by maple.metrics):
  label_match             prediction == gold (int labels, or the normalised label text)
  label_containment       quirk: MEGAVERSE's eval_cls.py rule: the prediction's first line and the label
                          contain one another (SQuAD-normalised), the label's first text form only
  parse_pred_exact        quirk: MEGAVERSE's eval_belebele.py rule: parse_pred's letter == the gold letter,
                          case-sensitive
  squad_whitespace        MEGAVERSE SQuAD EM/F1 on whitespace tokens (zh/th F1 degenerates to EM)
  squad_v1                official SQuAD v1.1 EM/F1, max over gold answers
  mlqa_prediction_normalised  MEGAVERSE MLQA: the MLQA normaliser on the prediction only, then squad_whitespace
  mlqa_official           official MLQA normalisation per language (zh mixed segmentation)
  rougeL_mean_prf         the XL-Sum fork of rouge_score without lang=, stemming on, mean of P, R and F
  multilingual_rougeL_f1  XL-Sum authors' multilingual ROUGE-L F1 (lang set from the config name)
  alpaca_eval_v1          judge vs text-davinci-003 outputs, win rate %
  alpaca_eval_v2_lc       weighted judge vs gpt4_1106_preview, length-controlled win rate %
"""

from __future__ import annotations

from maple.tasks import extract as ex
from maple.tasks import prompts as p
from maple.tasks.spec import (
    EXTRACTIVE_QA,
    INSTRUCTION,
    MULTIPLE_CHOICE,
    SUMMARISATION,
    DataRef,
    ProtocolSpec,
    TaskSpec,
)

ACCURACY = ("accuracy",)
QA_METRICS = ("f1", "exact_match")
SHORT_STOP = ("\n\n",)  # reference protocol: a few-shot continuation starts the next example after a blank line
# megaverse protocol: MEGAVERSE's HF path (mega/models/hf_completion_models.py, hf_model_completion)
# passes no stop strings to model.generate, so a stop is kept only where its rule provably cannot read
# past it. XQuAD/MLQA (evaluate_qa_chatgpt: normalize_fn on the whole output), XL-Sum (ROUGE on all of
# it) and Belebele (parse_pred searches all of it) read everything: no stop. XNLI/XCOPA read only the
# first line after strip() (eval_cls.run_seq_eval: `.split("\n")[0]`): stop at "\n", and an output cut
# there before any content (a leading "\n") is generated again without stops
# (extract.megaverse_first_line_settled). tests/test_megaverse_fidelity.py checks both on rambling outputs.
MEGAVERSE_STOP: tuple[str, ...] = ()
MEGAVERSE_FIRST_LINE_STOP = ("\n",)
# MEGAVERSE's shots: np.random.seed(args.seed) (mega/utils/parser.py: --seed default 42; XL-Sum's
# parameters.yaml random_seed: 42), then choose_few_shot_examples(..., "random"). eval_xnli.py draws once
# (line 64) and eval_cls.evaluate_model draws again: XNLI uses the second draw; the others the first
MEGAVERSE_SEED = 42
# new tokens: hf_model_completion's default max_new_tokens=100 for XNLI and XCOPA (eval_cls.run_seq_eval
# -> get_hf_model_pred passes none), 100 for XQuAD/MLQA (mega/eval_qa_gptturbo.py, evaluate_qa_chatgpt:
# hf_model_completion(..., max_new_tokens=100))
MEGAVERSE_NEW_TOKENS = 100

XNLI = TaskSpec(
    name="xnli",
    label="XNLI",
    label_words=(("true", "entailment"), ("neither", "neutral"), ("false", "contradiction")),  # the text forms of each label index when a record brings no choices
    kind=MULTIPLE_CHOICE,
    data=DataRef("facebook/xnli", "{lang}", "xnli"),
    query=p.xnli_query,
    instruction=p.MEGAVERSE_INSTRUCTIONS["xnli"],
    target=p.xnli_target,
    gold=lambda r: int(r["label"]),
    choices=lambda r: list(p.XNLI_VERBALIZER),
    label_field="label",
    protocols={
        "megaverse": ProtocolSpec(
            "test", "train", 8, ex.xnli_megaverse, ACCURACY, "label_containment",
            stop=MEGAVERSE_FIRST_LINE_STOP, stop_settles=ex.megaverse_first_line_settled,
            shot_draw=(MEGAVERSE_SEED, 2),
        ),
        # reference-protocol choice: megaverse's prompt (the same shots, so the same requests, generated
        # once) and the first non-empty line (str.splitlines) of the full greedy continuation, scored by
        # exact verbaliser match. The "\n" stop is exact for xnli_reference with megaverse's stop_settles:
        # a settled cut (a character other than whitespace and ".") holds a non-empty line, and the full
        # output is cut + "\n" + rest, whose splitlines starts with splitlines(cut) (a "\r" ending the cut
        # joins "\n" as one break), so extract.first_line reads the same line from both; an unsettled cut
        # is generated again without stops, i.e. is the full output. Unlike a "\n\n" stop, an answer after
        # a leading blank line ("\n\nTrue") is read. tests/test_stop_derivation.py checks both.
        "reference": ProtocolSpec(
            "test", "train", 8, ex.xnli_reference, ACCURACY, "label_match",
            stop=MEGAVERSE_FIRST_LINE_STOP, stop_settles=ex.megaverse_first_line_settled,
            shot_draw=(MEGAVERSE_SEED, 2),
        ),
    },
    max_new_tokens=MEGAVERSE_NEW_TOKENS,
    stop=SHORT_STOP,
    languages=("ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh"),
)

XCOPA = TaskSpec(
    name="xcopa",
    label="XCOPA",
    label_words=(("choice1", "1"), ("choice2", "2")),  # the text forms of each label index when a record brings no choices
    kind=MULTIPLE_CHOICE,
    data=DataRef("cambridgeltl/xcopa", "{lang}", "xcopa"),
    # XCOPA has no English config: English is COPA from SuperGLUE (hub: aps/super_glue, config copa)
    lang_data={"en": DataRef("aps/super_glue", "copa", "copa")},
    query=p.xcopa_query,
    instruction=p.MEGAVERSE_INSTRUCTIONS["xcopa"],
    target=p.xcopa_target,
    target_delimiter="\n",  # the options end the prompt; the answer goes on its own line
    gold=lambda r: int(r["label"]),
    choices=lambda r: list(p.XCOPA_VERBALIZER),
    label_field="label",
    protocols={
        # quirk: MEGAVERSE scored XCOPA on the 100 validation items (run_xcopa_all.sh: --eval_on_val), with
        # shots from the same split (mega/data/load_datasets.py, load_xcopa_dataset: XCOPA has no train);
        # English is COPA (super_glue), whose shots come from its train split
        "megaverse": ProtocolSpec(
            "validation", "validation", 8, ex.xcopa_megaverse, ACCURACY, "label_containment",
            lang_splits={"en": ("validation", "train")},
            stop=MEGAVERSE_FIRST_LINE_STOP, stop_settles=ex.megaverse_first_line_settled,
            shot_draw=(MEGAVERSE_SEED, 1),
        ),
        "reference": ProtocolSpec(
            "test", "validation", 8, ex.xcopa_reference, ACCURACY, "label_match",
            # COPA's test labels are hidden on the hub (-1): English is scored on validation, shots from train
            lang_splits={"en": ("validation", "train")},
        ),
    },
    max_new_tokens=MEGAVERSE_NEW_TOKENS,
    stop=SHORT_STOP,
    languages=("et", "ht", "id", "it", "qu", "sw", "ta", "th", "tr", "vi", "zh", "en"),
)

SQUAD_TRAIN = DataRef("rajpurkar/squad", "plain_text", "squad")

XQUAD = TaskSpec(
    name="xquad",
    label="XQuAD",
    kind=EXTRACTIVE_QA,
    data=DataRef("google/xquad", "xquad.{lang}", "xquad"),
    query=p.qa_query,
    instruction=p.MEGAVERSE_INSTRUCTIONS["xquad"],
    target=p.qa_target,
    gold=lambda r: list(r["answers"]["text"]),
    id_field="id",
    truncatable="context",
    protocols={
        # XQuAD has only a validation split; shots for every language come from English SQuAD train
        # quirk: MEGAVERSE's F1 tokenises on whitespace, so zh/th F1 collapses to exact match
        # megaverse: the whole post-processed output is normalised and scored, not its first line
        "megaverse": ProtocolSpec(
            "validation", "train", 8, ex.megaverse_answer, QA_METRICS, "squad_whitespace", shot_data=SQUAD_TRAIN,
            stop=MEGAVERSE_STOP, query=p.megaverse_qa_query, shot_draw=(MEGAVERSE_SEED, 1),
        ),
        # a reference-protocol choice: megaverse's prompt (MEGAVERSE's indented QA template and its shot
        # draw: the same rows and shots), one stop "\n\n" (no template header), official SQuAD v1.1 on the
        # first non-empty line. A single stop on an identical prompt makes this output megaverse's no-stop
        # output cut at the first "\n\n", so a vLLM job derives it instead of generating it again
        # (maple.generate.order.stop_derivations). first_line reads the same line from the cut as from the
        # full output unless the text before the first "\n\n" is only whitespace ("\n\nParis" scores "");
        # docs/protocols.md
        "reference": ProtocolSpec(
            "validation", "train", 8, ex.span_answer, QA_METRICS, "squad_v1", shot_data=SQUAD_TRAIN,
            stop=SHORT_STOP, query=p.megaverse_qa_query, shot_draw=(MEGAVERSE_SEED, 1),
        ),
    },
    max_new_tokens=MEGAVERSE_NEW_TOKENS,
    stop=SHORT_STOP,
    languages=("ar", "de", "el", "en", "es", "hi", "ro", "ru", "th", "tr", "vi", "zh"),
)

MLQA = TaskSpec(
    name="mlqa",
    label="MLQA",
    kind=EXTRACTIVE_QA,
    data=DataRef("facebook/mlqa", "mlqa.{lang}.{lang}", "mlqa"),
    query=p.qa_query,
    instruction=p.MEGAVERSE_INSTRUCTIONS["xquad"],
    target=p.qa_target,
    gold=lambda r: list(r["answers"]["text"]),
    id_field="id",
    truncatable="context",
    protocols={
        # quirk: MEGAVERSE scored MLQA on validation with its 8 shots (run_mlqa_all.sh: -k 8 --eval_on_val)
        # drawn from validation too (mega/eval_qa_gptturbo.py, load_qa_dataset: MLQA "train" -> validation)
        # quirk: and with the same whitespace-token SQuAD F1 as XQuAD
        "megaverse": ProtocolSpec(
            "validation", "validation", 8, ex.megaverse_answer, QA_METRICS, "mlqa_prediction_normalised",
            stop=MEGAVERSE_STOP, query=p.megaverse_qa_query, shot_draw=(MEGAVERSE_SEED, 1),
        ),
        # unlike XQuAD, not megaverse's generation: reference scores the test rows, megaverse validation
        "reference": ProtocolSpec("test", "validation", 8, ex.span_answer, QA_METRICS, "mlqa_official"),
    },
    max_new_tokens=MEGAVERSE_NEW_TOKENS,
    stop=SHORT_STOP,
    languages=("ar", "de", "en", "es", "hi", "vi", "zh"),
)

BELEBELE = TaskSpec(
    name="belebele",
    label="Belebele",
    label_words=(("a", "1"), ("b", "2"), ("c", "3"), ("d", "4")),  # the text forms of each label index when a record brings no choices
    kind=MULTIPLE_CHOICE,
    data=DataRef("facebook/belebele", "{lang}", "belebele"),
    query=p.belebele_query,
    instruction=p.MEGAVERSE_INSTRUCTIONS["belebele"],
    target=p.belebele_target,
    gold=lambda r: int(r["correct_answer_num"]) - 1,  # "1".."4" on the hub -> 0..3
    choices=lambda r: [f"({letter})" for letter in p.BELEBELE_LETTERS],
    truncatable="flores_passage",
    protocols={
        # Belebele has only a test split: both protocols are zero-shot on it
        # quirk: mega/eval_belebele.py parse_pred: the first of A/1, B/2, C/3, D/4 found anywhere in the
        # output, case-sensitive ("Answer: (C)" is A); see extract.megaverse_parse_pred
        "megaverse": ProtocolSpec(
            "test", None, 0, ex.belebele_megaverse, ACCURACY, "parse_pred_exact", stop=MEGAVERSE_STOP,
            query=p.megaverse_belebele_query,
        ),
        # a reference-protocol choice: megaverse's prompt (MEGAVERSE's template, the instruction heading the
        # user turn too) and one stop "\n\n" (no template header): the first option parsed before the first
        # blank line, as under the old stops. A single stop on an identical prompt makes this output
        # megaverse's no-stop output (25 new tokens) cut at the first "\n\n", so a vLLM job derives it
        # (maple.generate.order.stop_derivations); choices, hence the log-likelihood option, are unchanged
        "reference": ProtocolSpec(
            "test", None, 0, ex.belebele_reference, ACCURACY, "label_match",
            stop=SHORT_STOP, query=p.megaverse_belebele_query,
        ),
    },
    max_new_tokens=25,  # mega/eval_belebele.py, evaluate: hf_model_completion(..., max_new_tokens=25)
    stop=SHORT_STOP,
    # MEGAVERSE's 23 FLORES codes; the paper config may list more (e.g. for the Group 1/2/3 analysis)
    languages=(
        "eng_Latn", "spa_Latn", "deu_Latn", "jpn_Jpan", "fra_Latn", "por_Latn", "ita_Latn", "zho_Hans",
        "nld_Latn", "swe_Latn", "tur_Latn", "dan_Latn", "fin_Latn", "rus_Cyrl", "nob_Latn", "kor_Hang",
        "zho_Hant", "pol_Latn", "heb_Hebr", "arb_Arab", "ces_Latn", "hun_Latn", "tha_Thai",
    ),
    gold_is_label_word=True,  # MEGAVERSE verbalised the gold as its letter; the hub gives 1-based numbers
    language_pattern=r"[a-z]{3}_[A-Z][a-z]{3}",  # any of Belebele's 122 FLORES-200 configs: eng_Latn, zho_Hans, ...
)

XLSUM = TaskSpec(
    name="xlsum",
    label="XL-Sum",
    kind=SUMMARISATION,
    data=DataRef("csebuetnlp/xlsum", "{lang}", "xlsum"),
    query=p.xlsum_query,
    instruction=p.MEGAVERSE_INSTRUCTIONS["xlsum"],
    target=p.xlsum_target,
    gold=lambda r: [r["summary"]],
    id_field="id",
    truncatable="text",
    protocols={
        # quirk: MEGAVERSE scored only the first 1,000 test articles
        # quirk: and reported the mean of ROUGE-L P, R and F from the XL-Sum rouge fork called without lang= (unspaced Thai scores 0)
        "megaverse": ProtocolSpec(
            "test", "train", 4, ex.megaverse_answer, ("rougeL",), "rougeL_mean_prf", eval_limit=1000,
            stop=MEGAVERSE_STOP, shot_draw=(MEGAVERSE_SEED, 1),
        ),
        # a reference-protocol choice: the same rows and the same prompt as megaverse (the first 1,000 test
        # articles, MEGAVERSE's shot draw); only the stop (one string, "\n\n", no template header) and the
        # metric differ. A single stop on an identical prompt makes this protocol's output exactly megaverse's
        # no-stop output cut at the first "\n\n" (vLLM's rule), so a vLLM job derives it instead of generating
        # it again (maple.generate.order.stop_derivations; docs/protocols.md)
        "reference": ProtocolSpec(
            "test", "train", 4, ex.full_text, ("rougeL",), "multilingual_rougeL_f1", eval_limit=1000,
            stop=SHORT_STOP, shot_draw=(MEGAVERSE_SEED, 1),
        ),
    },
    # hf_scripts/mistral_2_scripts/parameters.yaml: max_new_tokens: 400 (the HF XL-Sum entry point)
    max_new_tokens=400,
    stop=SHORT_STOP,
    # all 45 XL-Sum configs; MEGAVERSE used 35 of them, the config names which
    languages=(
        "amharic", "arabic", "azerbaijani", "bengali", "burmese", "chinese_simplified", "chinese_traditional",
        "english", "french", "gujarati", "hausa", "hindi", "igbo", "indonesian", "japanese", "kirundi", "korean",
        "kyrgyz", "marathi", "nepali", "oromo", "pashto", "persian", "pidgin", "portuguese", "punjabi", "russian",
        "scottish_gaelic", "serbian_cyrillic", "serbian_latin", "sinhala", "somali", "spanish", "swahili", "tamil",
        "telugu", "thai", "tigrinya", "turkish", "ukrainian", "urdu", "uzbek", "vietnamese", "welsh", "yoruba",
    ),
)

ALPACA_EVAL = TaskSpec(
    name="alpaca_eval",
    label="AlpacaEval",
    kind=INSTRUCTION,
    data=DataRef("tatsu-lab/alpaca_eval", "alpaca_eval", "alpaca_eval"),
    query=p.alpaca_query,
    target=None,
    gold=lambda r: [r["output"]],
    protocols={
        # v1: reference outputs from text-davinci-003; v2: from gpt4_1106_preview
        "megaverse": ProtocolSpec("eval", None, 0, ex.full_text, ("win_rate",), "alpaca_eval_v1", config="alpaca_eval"),
        "reference": ProtocolSpec(
            "eval", None, 0, ex.full_text, ("lc_win_rate", "win_rate"), "alpaca_eval_v2_lc",
            config="alpaca_eval_gpt4_baseline",
        ),
    },
    max_new_tokens=2048,  # AlpacaEval's reference generators answer at length; 512 cut long answers short
    stop=(),  # long free-form answers: only the end of sequence (and the template header) end them
    languages=("en",),
)

TASKS: dict[str, TaskSpec] = {
    spec.name: spec for spec in (XNLI, XCOPA, XQUAD, MLQA, BELEBELE, XLSUM, ALPACA_EVAL)
}
