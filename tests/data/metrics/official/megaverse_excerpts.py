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
#   mega/models/hf_completion_models.py line 111: hf_model_completion's return (the post-processing of
#   every HF-path generation), as hf_postprocess below;
#   mega/eval/eval_cls.py lines 160-178 (run_seq_eval's scoring), as run_seq_eval_accuracy below;
#   mega/eval_belebele.py lines 172, 244-249 (evaluate's scoring), as belebele_evaluate_accuracy below;
#   mega/eval_qa_gptturbo.py lines 341-374 (evaluate_qa_chatgpt's scoring), as qa_evaluate_scores below,
#   with `squad_metric.compute` passed in (evaluate.load("squad"), the official SQuAD v1.1 code);
#   mega/hf_models/src/eval_xlsum.py lines 142-144 (compute_rouge) verbatim, and lines 182, 250-254,
#   265-266 (the scorer and np.average over the rougeL tuples) as xlsum_evaluate_rouge_l below.
#   mega/eval_qa_gptturbo.py lines 70-75 (PROMPTS_DICT, its first entry) and
#   mega/prompting/prompting_utils.py lines 79-150 (construct_qa_prompt, without its
#   substrate_prompt branch) and 403-471 (construct_belebele_prompt); mega/eval_belebele.py lines
#   28-30 (PROMPT_TEMPLATES); mega/prompting/instructions.py INSTRUCTIONS["xquad"] and ["belebele"];
#   mega/data/data_utils.py lines 8-29 and 91 (choose_few_shot_examples: its "first_k" and "random"
#   branches, the ones MEGAVERSE's runs took).
# Licence: MIT License, Copyright (c) 2024 Microsoft (the repository's LICENSE).
# Changes: the imports, the rename, the '\s' pattern as a raw string, and the two small wrappers
#   at the end that restate the calling code (marked).
import re
import string
import sys
import unicodedata
from typing import Any, Dict, List, Tuple, Union

import numpy as np

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


# --- the HF path's scoring loops, their bodies verbatim (only the loop and its inputs restated) ---

def hf_postprocess(text):
    """mega/models/hf_completion_models.py hf_model_completion: `outputs` is the batch_decode list."""
    outputs = [text]
    return outputs[0].strip().strip("\n").strip("\r").strip("\t").strip(".")


def run_seq_eval_accuracy(predictions, ground_truths):
    """mega/eval/eval_cls.py run_seq_eval, lines 160-178: pred_dict per example, then the accuracy."""
    normalize_answer = misc_normalize_answer
    preds, labels, matches, num_matches = [], [], [], 0
    for prediction, ground_truth in zip(predictions, ground_truths):
        pred_dict = {"prediction": prediction, "ground_truth": ground_truth}
        pred = pred_dict["prediction"].split("\n")[0]
        label = pred_dict["ground_truth"]

        pred = normalize_answer(pred)
        label = normalize_answer(label)
        if pred != "":
            num_matches += float((pred in label) or (label in pred))

            matches.append(float((pred in label) or (label in pred)))
        preds.append(pred)
        labels.append(label)
    accuracy = num_matches / len(preds)
    return accuracy


def belebele_evaluate_accuracy(predictions, correct_answer_nums):
    """mega/eval_belebele.py evaluate, lines 172 and 244-249, with verbalizer = VERBALIZER["default"]."""
    import numpy as np

    verbalizer = VERBALIZER["default"]
    matches, num_matches = [], 0
    for pred, correct_answer_num in zip(predictions, correct_answer_nums):
        test_example = {"correct_answer_num": correct_answer_num}
        label = verbalizer[test_example["correct_answer_num"]]
        pred = parse_pred(pred)
        matches.append(float(pred == label))
        num_matches += float(pred == label)
    return float(np.mean(matches))


def qa_evaluate_scores(predictions, test_examples, normalize_fn, squad_compute):
    """mega/eval_qa_gptturbo.py evaluate_qa_chatgpt, lines 341-374 (metric == "squad"), then line 400:
    the final metrics over all predictions (EM and F1 in 0..100)."""
    preds, labels = [], []
    for pred, test_example in zip(predictions, test_examples):
        pred = normalize_fn(pred)

        prediction = {"prediction_text": pred, "id": test_example["id"]}

        reference = {}
        reference["answers"] = test_example["answers"]
        reference["id"] = test_example["id"]
        if reference["answers"]["text"][0] == "":
            reference["answers"]["text"] = []
            reference["answers"]["answer_start"] = []

        preds.append(prediction)
        labels.append(reference)
    metrics = squad_compute(predictions=preds, references=labels)
    return metrics


def compute_rouge(scorer, pred, label):
    score = scorer.score(pred, label)
    return score["rouge1"], score["rouge2"], score["rougeL"]


def xlsum_evaluate_rouge_l(rouge_scorer, predictions, labels):
    """mega/hf_models/src/eval_xlsum.py: line 182's scorer, compute_rouge per example (lines 250-254),
    np.average(rougeL) (line 266) over the list of Score tuples."""
    import numpy as np

    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    rouge1, rouge2, rougeL = [], [], []
    for pred, label in zip(predictions, labels):
        r1, r2, rL = compute_rouge(scorer, pred, label)
        rouge1.append(r1)
        rouge2.append(r2)
        rougeL.append(rL)
    return float(np.average(rougeL))


# --- prompt construction and shot sampling on the HF path (verbatim) ----------------------------

PROMPTS_DICT = {
    "answer_given_context_and_question": """{context}
    Q: {question}

    Referring to the passage above, the correct answer to the given question is:
    {answer}""",
}

PROMPT_TEMPLATES = {
    "Choose the correct answer": "{instruction}\n###\nPassage:\n{passage}\n###\nQuery:\n{query}\n###\nChoices:\n(A) {A}\n(B) {B}\n(C) {C}\n(D) {D}\n###\nAnswer:\n",
}

INSTRUCTIONS = {
    "xquad": "You are an NLP assistant whose purpose is to solve reading comprehension problems. You will be provided questions on a set of passages and you will need to provide the answer as it appears in the passage. The answer should be in the same language as the question and the passage.",
    "belebele": "You are an AI assistant whose purpose is to perform reading comprehension task. Given the following passage, query, and answer choices, output the letter corresponding to the correct answer.",
}


def construct_qa_prompt(
    train_examples: List[Dict[str, Union[str, int]]],
    test_example: Dict[str, Union[str, int]],
    train_prompt_template: str,
    test_prompt_template: str = None,
    chat_prompt: bool = False,
    instruction: str = "",
    substrate_prompt: bool = False,
):
    def fill_template(template, example, fill_answer=True):
        if fill_answer:
            answer = (
                "unanswerable"
                if example["answers"]["text"] == []
                else (
                    example["answers"]["text"][0]
                    if type(example["answers"]["text"]) == list
                    else example["answers"]["text"]
                )
            )
            return (
                template.replace("{context}", str(example["context"]))
                .replace("{question}", example["question"])
                .replace("{answer}", answer)
            )
        else:
            return (
                template.replace("{context}", example["context"])
                .replace("{question}", example["question"])
                .replace("{answer}", "")
                .strip()
            )

    if not chat_prompt:
        train_prompts = [
            fill_template(train_prompt_template, example) for example in train_examples
        ]
        test_prompt_input = fill_template(
            test_prompt_template, test_example, fill_answer=False
        )
        prompt_input = "\n\n".join(train_prompts + [test_prompt_input])
        test_prompt_label = test_example["answers"]["text"][0]

    else:
        messages = []
        if instruction != "":
            messages.append({"role": "system", "content": instruction})

        for example in train_examples:
            prompt_input = fill_template(
                train_prompt_template, example, fill_answer=False
            )
            prompt_label = (
                "unanswerable"
                if example["answers"]["text"] == []
                else example["answers"]["text"][0]
            )
            # prompt_label = example["answers"]["text"][0]
            messages.append({"role": "user", "content": prompt_input})
            messages.append({"role": "assistant", "content": prompt_label})

        test_prompt_input = fill_template(
            test_prompt_template, test_example, fill_answer=False
        )
        test_prompt_label = test_example["answers"]["text"][0]
        messages.append({"role": "user", "content": test_prompt_input})
        prompt_input = messages

    return prompt_input, test_prompt_label


def construct_belebele_prompt(
    train_examples: List[Dict[str, Union[str, int]]],
    test_example: Dict[str, Union[str, int]],
    train_prompt_template: str,
    test_prompt_template: str,
    verbalizer: Dict[Any, str],
    chat_prompt: bool = False,
    instruction: str = "",
) -> Tuple[str, str]:
    def fill_belebele_template(example, template, chat_prompt=False):
        passage = example["flores_passage"]
        question = example["question"]
        option1 = example["mc_answer1"]
        option2 = example["mc_answer2"]
        option3 = example["mc_answer3"]
        option4 = example["mc_answer4"]

        label = example["correct_answer_num"]

        if not chat_prompt:
            filled_template = (
                template.replace("{instruction}", instruction)
                .replace("{passage}", passage)
                .replace("{query}", question)
                .replace("{A}", option1)
                .replace("{B}", option2)
                .replace("{C}", option3)
                .replace("{D}", option4)
            )

        else:
            filled_template = (
                template.replace("{passage}", passage)
                .replace("{query}", question)
                .replace("{A}", option1)
                .replace("{B}", option2)
                .replace("{C}", option3)
                .replace("{D}", option4)
            )

        return filled_template, verbalizer[label]

    if not chat_prompt:
        train_prompts = [
            "\n".join(fill_belebele_template(train_example, train_prompt_template))
            for train_example in train_examples
        ]
        test_prompt_input, test_prompt_label = fill_belebele_template(
            test_example, test_prompt_template
        )
        prompt_input = "\n".join(train_prompts + [test_prompt_input]) + "\n"

    else:
        messages = []
        if instruction != "":
            messages.append({"role": "system", "content": instruction})
        for example in train_examples:
            prompt_input, prompt_label = fill_belebele_template(
                example, train_prompt_template
            )
            messages.append({"role": "user", "content": prompt_input})
            messages.append({"role": "assistant", "content": prompt_label})
        test_prompt_input, test_prompt_label = fill_belebele_template(
            test_example, test_prompt_template
        )
        messages.append({"role": "user", "content": test_prompt_input})
        prompt_input = messages

    return prompt_input, test_prompt_label


def choose_few_shot_examples(
    train_dataset, few_shot_size: int, selection_criteria: str
) -> List[Dict[str, Union[str, int]]]:
    example_idxs = []
    if selection_criteria == "first_k":
        example_idxs = list(range(few_shot_size))
    elif selection_criteria == "random":
        example_idxs = (
            np.random.choice(len(train_dataset), size=few_shot_size, replace=False)
            .astype(int)
            .tolist()
        )
    else:
        raise NotImplementedError()

    return [train_dataset[idx] for idx in example_idxs]
