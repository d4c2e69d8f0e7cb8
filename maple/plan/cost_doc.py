"""docs/cost.md: the plan's own output for a config as Markdown (python -m maple.plan ... --markdown FILE).
Every figure comes from the plan's result; nothing here is a hand-written total."""

from __future__ import annotations


def _n(x) -> str:
    if x is None:
        return "-"
    if isinstance(x, float) and not x.is_integer():
        return f"{x:,.2f}"
    return f"{int(x):,}"


def _m(x) -> str:
    return "-" if x is None else f"{x / 1e6:,.1f} M"


def render(result: dict, command: str, date: str) -> str:
    cell, full, train = result["generation_per_cell"], result["generation_grid"], result["training_grid"]
    rates = cell["rates"]
    low, high = full["gpu_hours_range"]
    lines = [
        "# What the study costs: the plan's output",
        "",
        f"Produced by `{command}` on {date} (UTC). Regenerate it with the same command after any change to",
        "the config, the prompts or `maple/plan/anchors.yaml`; do not edit the figures by hand.",
        "",
        "## Summary",
        "",
        "| stage | jobs | GPU-hours |",
        "| --- | --- | --- |",
    ]
    lines += [f"| {s['stage']} | {s['jobs']} | {s['gpu_hours']} |" for s in result["stages"]]
    lines += [
        "",
        f"Generation for {full['model']}'s {full['cells']} evaluated cells: **{low}-{high} GPU-hours** "
        f"(expected {full['gpu_hours_expected']}), of which engine loads {full['engine_load_gpu_hours'][0]}-"
        f"{full['engine_load_gpu_hours'][1]}. Training its {train['cells']} cells: **{train['gpu_hours']} GPU-hours**."
        + (f" Judging AlpacaEval with the local judge ({result['judge_grid']['model']}, {result['judge_grid']['jobs']} "
           f"jobs): **{result['judge_grid']['gpu_hours_range'][0]}-{result['judge_grid']['gpu_hours_range'][1]} "
           f"GPU-hours** (expected {result['judge_grid']['gpu_hours_expected']})."
           if result.get("judge_grid") else ""),
        "",
        "## Generation, one cell",
        "",
        ("" if not cell.get("max_examples") else f"At most {_n(cell['max_examples'])} rows per task, language and "
         "protocol (evaluation.max_examples), as the workflow samples them. ")
        + f"{_n(cell['requests'])} requests scored, {_n(cell['requests_sent'])} of them sent to the engine (the "
        "others share a prompt and limits with another protocol's request, or are its no-stop output cut at "
        f"their one stop string); {_m(cell['prefill_tokens'])} prompt tokens, "
        f"{_m(cell['prefill_tokens_after_cache'])} after vLLM's prefix cache "
        f"({cell['prefill_tokens_after_cache'] / cell['prefill_tokens']:.2f} of them; "
        f"{cell['cache_block_size']}-token blocks, one engine per task (a task group's job empties the cache between tasks), prompts sent in maple's cache order); "
        f"at most {_m(cell['decode_tokens_max'])} new tokens, expected {_m(cell['decode_tokens_expected'])}.",
        "",
        "| task | requests | sent | prompt tokens | after cache | kept | new tokens (max) | new tokens (expected) "
        "| prefill tokens/s (high end .. low end) | decode tokens/s (high end .. low end) | GPU-hours (high end) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    decode_rates = rates["decode_tokens_per_s"]["per_task"]
    prefill_rates = rates["prefill_tokens_per_s"].get("per_task", {})
    for task, t in cell["per_task"].items():
        kept = t["prefill_tokens_after_cache"] / t["prefill_tokens"] if t["prefill_tokens"] else 0
        r, p = decode_rates.get(task, {}), prefill_rates.get(task, {})
        lines.append(f"| {task} | {_n(t['requests'])} | {_n(t['requests_sent'])} | {_m(t['prefill_tokens'])} | "
                     f"{_m(t['prefill_tokens_after_cache'])} "
                     f"| {kept:.2f} | {_m(t['decode_tokens_max'])} | {_m(t['decode_tokens_expected'])} "
                     f"| {_n(p.get('high'))} .. {_n(p.get('low'))} "
                     f"| {_n(r.get('high'))} .. {_n(r.get('low'))} | {cell['gpu_hours_high_by_task'].get(task, 0):.2f} |")
    ll = cell["loglikelihood"]
    lines += [
        "",
        "- The cache count is vLLM's own rule (full blocks chained by hash, the last prompt token always "
        "recomputed), simulated per job on the prompts maple sends; `tests/test_prefix_cache.py` checks it "
        "against vLLM's `prefix_cache_hits` counter on real prompts with Mistral-7B's tokenizer (CPU engine).",
        "- Each language's first prompt pays in full, every later one the median uncached rest measured on "
        "the rows given (contiguous rows share passages as their split does; rows drawn at random share "
        "fewer, which makes the figure an upper bound).",
        f"- Most new tokens: {cell['decode_max_basis']}.",
        f"- Expected new tokens: {cell['decode_expected_basis']}.",
        f"- Log-likelihood requests (`evaluation.loglikelihood`: {str(ll['enabled']).lower()}): {_n(ll['requests'])} "
        f"sequences, {_m(ll['prompt_tokens_uncached'])} tokens, planned uncached (vLLM reads no cache for prompt logprobs).",
        f"- GPU-hours per cell: {cell['gpu_hours_range'][0]}-{cell['gpu_hours_range'][1]} "
        f"(expected {cell['gpu_hours_expected']}). {cell['gpu_hours_basis']}.",
    ]
    judge = cell.get("judge")
    if judge:
        lines.append(
            f"- Judging AlpacaEval (not in the figures above; its own stage): {_n(judge['prompts'])} prompts to "
            f"{judge['model']}, {_m(judge['prefill_tokens_expected'])} prompt tokens expected, at most "
            f"{_m(judge['prefill_tokens_max'])}; {judge['gpu_hours_range'][0]}-{judge['gpu_hours_range'][1]} "
            f"GPU-hours per cell (expected {judge['gpu_hours_expected']}). {judge['basis']}.")
    lines += [
        f"- Before its engine steps, each job gets the ids of the prompts it sends (vLLM takes ids) while its GPU "
        f"waits, {rates['job_prompt_ids']['from']}: {cell['job_prompt_ids_seconds']:,} s a cell at "
        f"{rates['job_prompt_ids']['tokens_per_s']:,} tokens/s, maple's own rate measured on a 2-core machine "
        f"(anchors.yaml `{rates['job_prompt_ids']['anchor']}`), in the high and expected ends; with `device: cuda` "
        "the requests and their ids are built once per model on CPU (`build_requests`), else each job builds "
        "and tokenises its own.",
        f"- Rates (tokens/s): prefill {rates['prefill_tokens_per_s']['published']:,} at the cell's mix of contexts "
        f"(per task in the table): {rates['prefill_tokens_per_s']['published_flops_per_s'] / 1e12:.0f} TFLOP/s, the "
        "highest of the published vLLM runs' lower bounds on a prefill step's FLOP rate ("
        + ", ".join(f"{k.replace('_', ' ')} {v / 1e12:.0f}"
                    for k, v in rates["prefill_tokens_per_s"]["published_lower_bounds"].items())
        + "; an offline run's FLOPs, its decoding included, over its time), over the FLOPs of the uncached prompt "
        "tokens (2 x the model's layer parameters, plus attention over each token's context position after the "
        "cached prefix, plus one lm_head per prompt, every position's for log-likelihood requests: "
        "`maple/plan/prefill_flops.py`) .. "
        f"{rates['prefill_tokens_per_s']['bound']:,} (the same FLOPs at the "
        f"{rates['prefill_tokens_per_s']['bound_flops_per_s'] / 1e12:.0f} TFLOP/s matmul peak); decode "
        f"{rates['decode_tokens_per_s']['published']:,} (the serving run, short prompts: its output tokens over the "
        f"{rates['run_prefill_s']['decode_s']} s its decoding can have taken once its prefill took "
        f"{rates['run_prefill_s']['slowest_for_this_work']} s, of the {rates['run_prefill_s']['range'][0]}-"
        f"{rates['run_prefill_s']['range'][1]} s its figures allow: without chunked prefill a step prefilled or "
        "decoded, so the two share its duration, split as is slowest for this work; "
        "`maple/plan/published_rates.py`) where a task's context allows it, else the roofline step there plus the "
        f"run's {rates['decode_tokens_per_s']['step_overhead_ms']} ms per step beyond reading its weights and "
        f"KV cache (a measured mean step of {rates['decode_tokens_per_s']['run_mean_step_ms']} ms less the weights' "
        f"read and the {rates['decode_tokens_per_s']['run_kv_tokens_per_step']:,} KV tokens its decoding read per "
        "step), .. the "
        "roofline with the shared prefix read once (per task in the table; "
        "`maple/plan/decode_rate.py`: weights and KV cache read per step, the batch as vLLM's max_num_seqs or the KV "
        "memory allows, on an H100 80GB; at the slow end the KV cache leaves out the "
        f"{rates['decode_tokens_per_s']['non_kv_reserve_gib']} GiB vLLM keeps beside the weights for its activations, "
        "non-torch memory and CUDA graphs, as a logged H100 start shows: anchors.yaml `source_memory`).",
        f"- Protocols without rows of their own split here, and what stands in: "
        f"{', '.join(cell['unmeasured']) or 'none'}."
        + (f" **Left out of every figure (no rows given, unless a reason is named): {', '.join(cell['not_planned'])}.**"
           if cell.get("not_planned") else ""),
        "- Generation hours are H100 hours (anchors.yaml); training hours come from the measured rows "
        "named under Training (an H200 in maple's own measurements: the same dense bf16 peak as an H100 SXM).",
        "",
        "## The grid",
        "",
        "| | requests | sent | prompt tokens | after cache | new tokens (max) | new tokens (expected) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        f"| {full['cells']} cells | {_n(full['requests'])} | {_n(full['requests_sent'])} | {_m(full['prefill_tokens'])} | "
        f"{_m(full['prefill_tokens_after_cache'])} | {_m(full['decode_tokens_max'])} | {_m(full['decode_tokens_expected'])} |",
        "",
        f"Engine loads (one per generation job): {full['engine_loads']['merged']} in `merged` mode, "
        f"{full['engine_loads']['multi_lora']} in `multi_lora` (configured: `{full['engine_loads']['configured']}`)."
        + (f" Adapter merges (one per trained cell served merged; each reads the base and writes the merged "
           f"weights, counted as two engine loads' time): {result['merge_grid']['jobs']['merged']} in `merged` mode, "
           f"{result['merge_grid']['jobs']['multi_lora']} in `multi_lora`, "
           f"{result['merge_grid']['gpu_hours_range'][0]}-{result['merge_grid']['gpu_hours_range'][1]} GPU-hours as configured."
           if result.get("merge_grid") else ""),
        "",
        "## Training",
        "",
        f"{_n(train['train_tokens'])} training tokens over {train['cells']} cells, {train['gpu_hours']} GPU-hours. "
        f"Basis: {' '.join(train['basis'].split())}",
        "",
        "| cell | examples | tokens | tokens/s | GPU-hours |",
        "| --- | --- | --- | --- | --- |",
    ]
    lines += [f"| {c['cell']} | {_n(c['examples'])} | {_n(c['train_tokens'])} | {_n(c['train_tokens_per_s'])} | "
              f"{_n(c['train_gpu_hours'])} |" for c in result["cells"]]
    lines += ["", "## Sources", ""]
    lines += [f"- `{k}`: {v}" for k, v in result["sources"].items()]
    return "\n".join(lines) + "\n"


README_BEGIN = "<!-- maple.plan --markdown: begin (generated, do not edit) -->"
README_END = "<!-- maple.plan --markdown: end -->"


def readme_block(cost_md: str) -> str:
    """The README's cost section: docs/cost.md's command line and Summary, copied verbatim."""
    produced = next(line for line in cost_md.splitlines() if line.startswith("Produced by"))
    summary = cost_md.split("## Summary\n", 1)[1].split("\n## ", 1)[0].strip()
    return f"{README_BEGIN}\n{produced.split(' Regenerate')[0]}\n\n{summary}\n{README_END}"


def update_readme(readme: str, cost_md: str) -> str:
    """readme with its generated cost block replaced by docs/cost.md's (the markers must be there)."""
    head, rest = readme.split(README_BEGIN, 1)
    tail = rest.split(README_END, 1)[1]
    return head + readme_block(cost_md) + tail
