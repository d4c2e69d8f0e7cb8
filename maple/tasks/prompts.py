"""Prompt templates, one query/target pair per task (wording from shared PROTOCOL.md / MEGAVERSE).

Every protocol uses the same prompt: the protocols differ in splits and scoring only, so the two
columns of a results table differ by the quirks alone.
"""

from __future__ import annotations

# Verbatim from MEGAVERSE mega/prompting/instructions.py, INSTRUCTIONS (the system turn of each prompt).
# mega/eval_qa_gptturbo.py main() uses INSTRUCTIONS["xquad"] for every QA set, MLQA included.
MEGAVERSE_INSTRUCTIONS = {
    "xnli": "You are an NLP assistant whose purpose is to solve Natural Language Inference (NLI) problems. NLI is the task of determining the inference relation between two (short, ordered) texts: entailment, contradiction, or neutral. Answer as concisely as possible in the same format as the examples below:",  # noqa: E501
    "xquad": "You are an NLP assistant whose purpose is to solve reading comprehension problems. You will be provided questions on a set of passages and you will need to provide the answer as it appears in the passage. The answer should be in the same language as the question and the passage.",  # noqa: E501
    "xcopa": "You are an AI assistant whose purpose is to perform open-domain commonsense causal reasoning. You will be provided a premise and two alternatives, where the task is to select the alternative that more plausibly has a causal relation with the premise. Answer as concisely as possible in the same format as the examples below:",  # noqa: E501
    "xlsum": "You are an NLP assistant whose purpose is to summarize any given article. You should summarize all important information concisely in the same language in which you have been provided the document. Following the examples provided below:",  # noqa: E501
    "belebele": "You are an AI assistant whose purpose is to perform reading comprehension task. Given the following passage, query, and answer choices, output the letter corresponding to the correct answer.",  # noqa: E501
}

XNLI_VERBALIZER = ("True", "Neither", "False")  # label 0 entailment, 1 neutral, 2 contradiction
XCOPA_VERBALIZER = ("choice1", "choice2")
BELEBELE_LETTERS = ("A", "B", "C", "D")
QA_INSTRUCTION = "Referring to the passage above, the correct answer to the given question is:"
XLSUM_INSTRUCTION = "Write a summary of the text above :"  # sic: MEGAVERSE's space before the colon


def xnli_query(ex: dict) -> str:
    # MEGAVERSE "GPT-3 style" promptsource template
    return f"{ex['premise']}\nQuestion: {ex['hypothesis']} True, False, or Neither?"


def xnli_target(ex: dict) -> str:
    return XNLI_VERBALIZER[ex["label"]]


def xcopa_query(ex: dict) -> str:
    # MEGAVERSE "plausible_alternatives_discrete": English wording for every language, and the
    # model answers with the option's name (choice1/choice2), not its text
    connective = "This happened because..." if ex["question"] == "cause" else "As a consequence..."
    return (
        f"{ex['premise']} {connective}\nHelp me pick the more plausible option:\n"
        f"- choice1: {ex['choice1']}\n- choice2: {ex['choice2']}"
    )


def xcopa_target(ex: dict) -> str:
    return XCOPA_VERBALIZER[ex["label"]]


def qa_query(ex: dict) -> str:
    return f"{ex['context']}\nQ: {ex['question']}\n\n{QA_INSTRUCTION}"


def qa_target(ex: dict) -> str:
    return ex["answers"]["text"][0]


# Verbatim from MEGAVERSE mega/eval_qa_gptturbo.py PROMPTS_DICT["answer_given_context_and_question"]
# (lines 71-75: a triple-quoted string, so every line after the first opens with four spaces)
MEGAVERSE_QA_TEMPLATE = """{context}
    Q: {question}

    Referring to the passage above, the correct answer to the given question is:
    {answer}"""
# Verbatim from MEGAVERSE mega/eval_belebele.py PROMPT_TEMPLATES["Choose the correct answer"] (line 29)
MEGAVERSE_BELEBELE_TEMPLATE = "{instruction}\n###\nPassage:\n{passage}\n###\nQuery:\n{query}\n###\nChoices:\n(A) {A}\n(B) {B}\n(C) {C}\n(D) {D}\n###\nAnswer:\n"  # noqa: E501


def megaverse_qa_query(ex: dict) -> str:
    """mega/prompting/prompting_utils.py construct_qa_prompt, fill_template(..., fill_answer=False): the
    user turn of the chat prompt (--chat_prompt on every HF run), indentation and all."""
    return (
        MEGAVERSE_QA_TEMPLATE.replace("{context}", ex["context"])
        .replace("{question}", ex["question"])
        .replace("{answer}", "")
        .strip()
    )


def megaverse_belebele_query(ex: dict) -> str:
    """mega/prompting/prompting_utils.py construct_belebele_prompt, fill_belebele_template, as the HF
    runs (--chat_prompt) called it."""
    # quirk: the chat branch calls fill_belebele_template without chat_prompt, whose own default
    # (False) fills {instruction}: the instruction heads the user turn as well as the system turn
    return (
        MEGAVERSE_BELEBELE_TEMPLATE.replace("{instruction}", MEGAVERSE_INSTRUCTIONS["belebele"])
        .replace("{passage}", ex["flores_passage"])
        .replace("{query}", ex["question"])
        .replace("{A}", ex["mc_answer1"])
        .replace("{B}", ex["mc_answer2"])
        .replace("{C}", ex["mc_answer3"])
        .replace("{D}", ex["mc_answer4"])
    )


def belebele_options(ex: dict) -> list[str]:
    return [ex[f"mc_answer{i}"] for i in range(1, 5)]


def belebele_query(ex: dict) -> str:
    # the Belebele paper's Passage / Query / Choices / Answer layout with ### separators
    options = "\n".join(f"({letter}) {text}" for letter, text in zip(BELEBELE_LETTERS, belebele_options(ex)))
    return (
        f"###\nPassage:\n{ex['flores_passage']}\n###\nQuery:\n{ex['question']}\n"
        f"###\nChoices:\n{options}\n###\nAnswer:"
    )


def belebele_target(ex: dict) -> str:
    return f"({BELEBELE_LETTERS[int(ex['correct_answer_num']) - 1]})"


def xlsum_query(ex: dict) -> str:
    return f"{ex['title']}\n{ex['text']}\n\n===\n\n{XLSUM_INSTRUCTION}"


def xlsum_target(ex: dict) -> str:
    return ex["summary"]


def alpaca_query(ex: dict) -> str:
    return ex["instruction"]
