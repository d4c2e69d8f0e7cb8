"""MEGAVERSE's chat turns on a completion-style prompt: the one place that maps them.

MEGAVERSE prompted chat models (mega/prompting/prompting_utils.py, construct_prompt and friends;
mega/prompting/hf_prompting_utils.py, convert_to_hf_chat_prompt) with

    system:    the task instruction (mega/prompting/instructions.py, INSTRUCTIONS)
    user:      shot 1 query          assistant: shot 1 answer      (... one pair per shot)
    user:      the test query        assistant: <generated>

The models maple evaluates are completion models finetuned on the Alpaca template, so the turns map
onto it as follows (with a `prompt` config):

    ### Instruction:\n<system>\n\n### Input:\n<shot 1 query><d><shot 1 answer><D>...<test query>\n\n### Response:\n

i.e. system -> the Instruction block, every user/assistant pair -> one few-shot example in the Input
block (query, the task's target delimiter <d>, answer; examples joined by its few-shot delimiter
<D>), the last user turn -> the end of the Input block, the assistant's turn -> the Response.
Without a `prompt` config (base models, bare completion) the same text reads
`<system>\n\n<shots and test query><d>`, MEGAVERSE's non-chat layout (instruction first, examples
after it).
"""

from __future__ import annotations

from maple.template import wrap_prompt


def messages(system: str, shots: list[tuple[str, str]], query: str) -> list[dict]:
    """The turns MEGAVERSE sent: system, (user, assistant) per shot, then the test query as user."""
    turns = [{"role": "system", "content": system}] if system else []
    for shot_query, shot_answer in shots:
        turns += [{"role": "user", "content": shot_query}, {"role": "assistant", "content": shot_answer}]
    return turns + [{"role": "user", "content": query}]


def render(turns: list[dict], prompt_cfg: dict | None, target_delimiter: str = " ",
           fewshot_delimiter: str = "\n\n") -> str:
    """The completion prompt for `turns` (see the module docstring for the mapping)."""
    system = "".join(t["content"] for t in turns if t["role"] == "system")
    body, examples = [t for t in turns if t["role"] != "system"], []
    for i in range(0, len(body) - 1, 2):
        user, assistant = body[i], body[i + 1]
        examples.append(user["content"] + target_delimiter + assistant["content"])
    text = fewshot_delimiter.join(examples + [body[-1]["content"]])
    if prompt_cfg:
        # an empty system turn (AlpacaEval: the instruction is the task) puts the text in the Instruction block
        if system and "{input}" in prompt_cfg.get("input_block", ""):
            return wrap_prompt(system, prompt_cfg, input=text)
        # no Input block in the template: instruction and examples share the Instruction block
        return wrap_prompt(f"{system.strip()}\n\n{text}" if system else text, prompt_cfg)
    bare = text + target_delimiter.rstrip(" ")  # " True" is the answer's own token: no trailing space
    return f"{system.strip()}\n\n{bare}" if system else bare
