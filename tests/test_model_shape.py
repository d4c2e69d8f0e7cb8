"""maple.plan.model_shape: the paper's families from anchors.yaml, any other model from its own
config.json, checked against the parameters transformers builds from that config."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from maple.plan import model_shape
from maple.plan.grid_cost import anchors
from maple.plan.tokenizer import mistral_v1_model

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
MISTRAL = mistral_v1_model()


def built_params(config) -> tuple[int, int]:
    """(all parameters, input embedding's) of the model transformers builds from `config` (meta device)."""
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    return sum(p.numel() for p in model.parameters()), model.get_input_embeddings().weight.numel()


@pytest.mark.parametrize("name", ["llama", "mistral", "qwen2"])
def test_the_formula_counts_what_transformers_builds(name):
    from transformers import AutoConfig

    # transformers' default LlamaConfig and MistralConfig are Llama-2-7B's and Mistral-7B-v0.1's shapes
    config = AutoConfig.for_model(name)
    shape = model_shape.from_config(config.to_dict())
    total, embedding = built_params(config)
    # Qwen2's query, key and value projections carry biases the formula leaves out: 3 in 100,000
    assert shape["params"] == pytest.approx(total, rel=1e-4 if name == "qwen2" else 0)
    assert shape["params_trained"] == pytest.approx(total - embedding, rel=1e-4 if name == "qwen2" else 0)


def test_the_paper_families_match_their_anchors():
    from transformers import AutoConfig

    a = anchors()
    for family in ("llama", "mistral"):
        read = model_shape.from_config(AutoConfig.for_model(family).to_dict())
        known = model_shape.shape("m", {"family": family}, a)
        assert read["params"] == pytest.approx(known["params"], rel=0.002)  # the model cards' rounded counts
        assert read["params_trained"] == pytest.approx(known["params_trained"], rel=0.002)
        assert read["arch"] == known["arch"]
        assert read["body_params"] == known["body_params"]
    # the layers a prompt token's matmuls pass through (2 x these FLOPs): 32 layers of 218.1e6 and 202.4e6
    assert model_shape.shape("m", {"family": "mistral"}, a)["body_params"] == 32 * 218_112_000
    assert model_shape.shape("m", {"family": "llama"}, a)["body_params"] == 32 * 202_383_360


def test_a_config_without_the_fields_is_one_line():
    with pytest.raises(model_shape.ModelShapeError, match="x/config.json: no hidden_size, intermediate_size"):
        model_shape.from_config({"num_hidden_layers": 2, "num_attention_heads": 2, "vocab_size": 10}, "x/config.json")


def test_an_unknown_family_reads_its_local_config(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({**_small(), "tie_word_embeddings": True}))
    shape = model_shape.shape("mine", {"path": str(tmp_path), "family": "qwen2"}, anchors())
    assert shape["source"] == str(tmp_path / "config.json")
    # 2 layers of 4 x 64 x 64 + 3 x 64 x 128 + 2 x 64, a tied 1,000 x 64 embedding, a final norm
    assert shape["params"] == 1000 * 64 + 2 * (4 * 64 * 64 + 3 * 64 * 128 + 128) + 64
    assert shape["arch"] == {"layers": 2, "kv_heads": 4, "head_dim": 16, "bytes_per_value": 2, "heads": 4,
                             "hidden": 64, "mlp": 128, "vocab": 1000}
    assert shape["body_params"] == 2 * (4 * 64 * 64 + 3 * 64 * 128 + 128)


def test_an_unknown_family_without_a_config_is_one_line(tmp_path):
    with pytest.raises(model_shape.ModelShapeError, match=r"models.mine.family: 'gpt' has no shape .*known: llama, mistral\)"):
        model_shape.shape("mine", {"path": str(tmp_path), "family": "gpt"}, anchors())


def _small() -> dict:
    return {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 128,
            "vocab_size": 1000}


@pytest.mark.skipif(MISTRAL is None or not SHARED.is_dir(), reason="mistral-common or ../shared/data is absent")
def test_the_plan_runs_for_a_model_of_another_family(tmp_path):
    cfg = yaml.safe_load((ROOT / "config" / "paper.yaml").read_text())
    folder = tmp_path / "my-model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({**_small(), "hidden_size": 2048, "intermediate_size": 5504,
                                                      "num_hidden_layers": 24, "num_attention_heads": 16,
                                                      "num_key_value_heads": 16, "vocab_size": 32000}))
    cfg["models"]["mine"] = {"path": str(folder), "family": "tinyllama-like", "max_model_len": 4096}
    cfg["grid"] = [{**cfg["grid"][0], "models": ["mine"]}]
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    env = {"PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "TOKENIZERS_PARALLELISM": "false"}
    out = subprocess.run([sys.executable, "-m", "maple.plan", "--configfile", str(tmp_path / "c.yaml"), "--model", "mine",
                          "--tokenizer", MISTRAL, "--data-dir", str(SHARED)], capture_output=True, text=True, env=env,
                         cwd=ROOT, timeout=600)
    assert out.returncode == 0, out.stderr
    plan = json.loads(out.stdout.strip().splitlines()[-1])
    assert plan["model_shape"]["source"] == str(folder / "config.json")
    assert plan["model_shape"]["kv_bytes_per_token"] == 2 * 24 * 16 * 128 * 2
    # the compute bound follows the model's own FLOPs per prompt token: its layers' 2 x 1.07e9 parameters
    # plus attention (24 x 16 x 128 heads, fewer than Mistral-7B's 32 x 32) and an lm_head per prompt
    prefill = plan["generation_per_cell"]["rates"]["prefill_tokens_per_s"]
    assert plan["model_shape"]["body_params"] == 24 * (4 * 2048 * 2048 + 3 * 2048 * 5504 + 2 * 2048)
    per_token, body = 796e12 / prefill["bound"], plan["model_shape"]["body_params"]
    assert 2 * body < per_token < 2 * body + 4 * 24 * 16 * 128 * 4096  # attention at most at the 4,096th position
    assert plan["model_shape"]["params"] < 7.24e9 / 3


def test_a_config_on_this_machine_wins_over_its_familys_anchors(tmp_path):
    # a 13B declared in the llama row is planned at its own size, not Llama-2-7B's
    from transformers import AutoConfig

    config = AutoConfig.for_model("llama", hidden_size=5120, intermediate_size=13824, num_hidden_layers=40,
                                  num_attention_heads=40, num_key_value_heads=40).to_dict()
    (tmp_path / "config.json").write_text(json.dumps(config))
    shape = model_shape.shape("llama-2-13b", {"path": str(tmp_path), "family": "llama"}, anchors())
    assert shape["source"] == str(tmp_path / "config.json")
    assert shape["params"] == pytest.approx(13.02e9, rel=0.001)  # Llama-2-13B's model card: 13B
    assert shape["arch"]["kv_heads"] == 40 and shape["arch"]["layers"] == 40
