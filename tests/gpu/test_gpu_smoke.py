"""The GPU proof (benchmarks/gpu_smoke.py): every stage of a cell through the workflow's own functions.

`cuda`: 7B shapes on a CUDA device (marked gpu: `make test-gpu`; skipped without CUDA); it writes
benchmarks/results/gpu_smoke.json. `cpu-tiny`: the same command at toy widths on CPU, in the
normal suite, so that the GPU command is known to run end to end before anyone spends GPU time.
"""

import importlib.util
import math
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("gpu_smoke", ROOT / "benchmarks" / "gpu_smoke.py")
smoke = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(smoke)

ROW_KEYS = {"model", "bits", "steps", "loss_first", "loss_last", "merge_max_abs_dlogit", "packing_max_abs_dloss",
            "tokens_per_s", "peak_gib", "merge_vs_trained_max_abs_dlogit", "merge_vs_trained_tolerance"}


@pytest.fixture(scope="module", params=[pytest.param("cuda", marks=pytest.mark.gpu), "cpu-tiny"])
def result(request, tmp_path_factory):
    import torch

    if request.param == "cuda":
        if not torch.cuda.is_available():
            pytest.skip("needs a CUDA device")
        return smoke.run("7b", "cuda", out=str(smoke.OUT_FILES["cuda"]))
    # fewer steps than the CLI: the normal suite must stay fast; the shapes and code paths are the same
    out = tmp_path_factory.mktemp("smoke") / "gpu_smoke_cpu_tiny.json"
    return smoke.run("tiny", "cpu", out=str(out), steps=3, max_examples=1)


def test_rows_cover_both_models_and_all_bit_widths_in_the_issue_schema(result):
    assert {"device", "versions", "rows"} <= set(result)
    assert {(r["model"], r["bits"]) for r in result["rows"]} == {
        (m, b) for m in ("llama-2-7b", "mistral-7b") for b in (16, 8, 4)
    }
    for row in result["rows"]:
        assert set(row) == ROW_KEYS
    if result["device_kind"] == "cuda":
        for model, built in result["bases"].items():
            assert (built["hidden_size"], built["vocab_size"]) == (4096, 32000), model
            assert built["num_attention_heads"] == 32


def test_training_loss_is_finite_and_falls(result):
    for row, detail in zip(result["rows"], result["details"]):
        assert row["steps"] == result["training"]["steps"]
        assert all(math.isfinite(x) for x in detail["loss_curve"]), row
        assert row["loss_last"] < row["loss_first"], row


def test_merged_logits_equal_base_plus_adapter_within_the_stated_tolerance(result):
    for row, detail in zip(result["rows"], result["details"]):
        assert row["merge_max_abs_dlogit"] <= detail["merge_tolerance"], (row, detail["merge_tolerance"])
        # the check has teeth only if the adapter moved the logits
        assert detail["adapter_max_abs_dlogit"] > 0, row


def test_merged_model_equals_the_trained_forward_4_bit_within_the_16_bit_tolerance(result):
    """What vLLM serves against the forward the adapter was trained in (lora.trained_model)."""
    tol16 = {r["model"]: r["merge_vs_trained_tolerance"] for r in result["rows"] if r["bits"] == 16}
    for row in result["rows"]:
        assert row["merge_vs_trained_max_abs_dlogit"] <= row["merge_vs_trained_tolerance"], row
        assert row["merge_vs_trained_max_abs_dlogit"] <= tol16[row["model"]], row


def test_packed_batch_gives_the_padded_per_example_loss(result):
    for row in result["rows"]:
        assert row["packing_max_abs_dloss"] <= result["tolerances"]["packing_abs_nats"], row


def test_throughput_and_memory_are_recorded(result):
    for row in result["rows"]:
        assert row["tokens_per_s"] > 0 and row["peak_gib"] > 0, row


def test_hf_generation_and_loglikelihood_ran_on_real_prompts(result):
    gen = result["generation"]
    assert gen["requests"] > 0 and gen["outputs"] == gen["requests"] and gen["outputs_are_strings"]
    assert gen["prompt_tokens_max"] > 300  # 8-shot XQuAD prompts, not toy strings
    ll = gen["loglikelihood"]
    assert ll["requests"] > 0 and ll["scores"] == 3 * ll["requests"] and ll["all_finite_nonpositive"]
