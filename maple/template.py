"""The finetuning prompt template (config `prompt`): training examples (maple.data.tokenise) and
evaluation prompts (maple.tasks, the judge) are wrapped by this one function, so a finetuned model is
evaluated in the layout it was trained on. No imports: safe anywhere."""

from __future__ import annotations


def wrap_prompt(text: str, prompt_cfg: dict, input: str | None = None) -> str:
    """`text` as the template's instruction, `input` (if any) in its input block."""
    inp = (input or "").strip()
    input_block = prompt_cfg.get("input_block", "").format(input=inp) if inp else ""
    return prompt_cfg["template"].format(instruction=text.strip(), input_block=input_block)


def template_header(prompt_cfg: dict) -> str:
    """What precedes {instruction} ("### Instruction:"): a model that starts a new turn must stop."""
    return prompt_cfg["template"].split("{instruction}")[0].strip()
