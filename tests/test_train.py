"""Training one cell at 4, 8 and 16 bits; determinism; resume after a kill; merge equals base+adapter."""

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from conftest import train_cfg
from maple.train.trainer import InjectedFailure, train_adapter


def _train(tmp_path, tiny_model, tiny_tokenised, name, **cfg):
    out = tmp_path / name
    record = train_adapter(name, {"path": tiny_model}, train_cfg(**cfg), tiny_tokenised, str(out), str(tmp_path / f"ckpt-{name}"))
    return out, record


@pytest.mark.parametrize("bits", [16, 8, 4])
def test_adapter_holds_only_lora_weights_and_a_record(tmp_path, tiny_model, tiny_tokenised, bits):
    out, record = _train(tmp_path, tiny_model, tiny_tokenised, f"b{bits}", bits=bits)
    weights = load_file(out / "adapter_model.safetensors")
    assert weights and all("lora_A" in k or "lora_B" in k for k in weights)
    assert not any("embed" in k or "lm_head" in k for k in weights)
    config = json.loads((out / "adapter_config.json").read_text())
    suffixes = {m.rsplit(".", 1)[-1] for m in config["target_modules"]}
    assert config["r"] == 8 and suffixes == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    saved = json.loads((out / "train.json").read_text())
    assert saved["config"]["bits"] == bits and saved["steps"] == 4
    assert len(saved["loss_curve"]) == 4 and saved["tokens_per_s"] > 0 and saved["peak_memory_gib"] > 0
    assert {"torch", "transformers", "peft", "bitsandbytes"} <= set(saved["versions"])
    assert not (tmp_path / f"ckpt-b{bits}").exists()  # spent checkpoints are cleaned up
    # the base's parameters counted alike at every bit width (4-bit packs two per stored byte)
    base = sum(t.numel() for t in load_file(Path(tiny_model) / "model.safetensors").values())
    assert saved["parameters"]["total"] == base + saved["parameters"]["trainable"]


def test_training_is_deterministic(tmp_path, tiny_model, tiny_tokenised):
    a, rec_a = _train(tmp_path, tiny_model, tiny_tokenised, "a")
    b, rec_b = _train(tmp_path, tiny_model, tiny_tokenised, "b")
    wa, wb = load_file(a / "adapter_model.safetensors"), load_file(b / "adapter_model.safetensors")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert rec_a["loss_curve"] == rec_b["loss_curve"]


class _Killed(Exception):
    pass


def test_killed_job_resumes_from_checkpoint_and_matches(tmp_path, tiny_model, tiny_tokenised):
    from transformers import TrainerCallback

    class KillAfterFirstCheckpoint(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            raise _Killed(state.global_step)

    reference, _ = _train(tmp_path, tiny_model, tiny_tokenised, "ref")
    out, ckpt = tmp_path / "resumed", tmp_path / "ckpt-resumed"
    with pytest.raises(_Killed):
        train_adapter("x", {"path": tiny_model}, train_cfg(), tiny_tokenised, str(out), str(ckpt),
                      callbacks=[KillAfterFirstCheckpoint()])
    assert not out.exists()  # nothing half-written where the adapter belongs
    assert (ckpt / "checkpoint-2").is_dir()
    record = train_adapter("x", {"path": tiny_model}, train_cfg(), tiny_tokenised, str(out), str(ckpt))
    assert record["resumed_from"].endswith("checkpoint-2")
    w_ref, w_res = load_file(reference / "adapter_model.safetensors"), load_file(out / "adapter_model.safetensors")
    assert all(torch.allclose(w_ref[k], w_res[k], atol=1e-6) for k in w_ref)


def test_changed_settings_discard_old_checkpoints(tmp_path, tiny_model, tiny_tokenised):
    ckpt = tmp_path / "ckpt"
    (ckpt / "checkpoint-2").mkdir(parents=True)
    (ckpt / "maple_fingerprint").write_text("another run")
    record = train_adapter("x", {"path": tiny_model}, train_cfg(), tiny_tokenised, str(tmp_path / "o"), str(ckpt))
    assert record["resumed_from"] is None


def test_fail_switch_raises_a_clear_error(tmp_path, tiny_model, tiny_tokenised):
    with pytest.raises(InjectedFailure, match="training.fail is set for cell x"):
        train_adapter("x", {"path": tiny_model}, train_cfg(fail=True), tiny_tokenised, str(tmp_path / "o"), str(tmp_path / "c"))
    assert not (tmp_path / "o").exists()


# Merged logits against the PEFT model on the base exactly as trained. 8-bit: LLM.int8 also
# quantises activations (bitsandbytes casts them to fp16 and rounds to int8), which the
# de-quantised merged model does not, hence the looser bound.
MERGE_TOLERANCE = {16: 1e-4, 4: 1e-4, 8: 5e-2}


@pytest.mark.parametrize("bits", [16, 4, 8])
def test_merged_logits_equal_base_plus_adapter(tmp_path, tiny_model, tiny_tokenised, bits):
    from peft import PeftModel

    from maple.models import load_base_model, load_tokenizer
    from maple.train.merge import merge_adapter

    adapter, _ = _train(tmp_path, tiny_model, tiny_tokenised, f"m{bits}", bits=bits, learning_rate=2e-2)
    merged_dir = tmp_path / "merged"
    record = merge_adapter("x", {"path": tiny_model}, str(adapter), str(merged_dir), bits)
    assert record["dequantised"] == (bits in (4, 8))
    assert (merged_dir / "model.safetensors").exists() and not list(merged_dir.glob("*.bin"))

    tok = load_tokenizer(tiny_model)
    batch = tok(["### Instruction:\nบอกสีของท้องฟ้า\n\n### Response:\n", "Name a colour"], return_tensors="pt", padding=True)
    from transformers import AutoModelForCausalLM

    with torch.no_grad():
        peft_logits = PeftModel.from_pretrained(load_base_model(tiny_model, bits, "cpu"), str(adapter))(**batch).logits
        merged_logits = AutoModelForCausalLM.from_pretrained(merged_dir)(**batch).logits
        base_logits = load_base_model(tiny_model, bits, "cpu")(**batch).logits
    mask = batch["attention_mask"].bool()
    diff = (peft_logits - merged_logits)[mask].abs().max().item()
    adapter_effect = (peft_logits - base_logits)[mask].abs().max().item()
    assert diff < MERGE_TOLERANCE[bits]
    assert adapter_effect > 20 * diff  # the comparison is not vacuous: the adapter moved the logits


def test_checkpoint_cut_off_mid_save_is_not_resumed_from(tmp_path, tiny_model, tiny_tokenised):
    from transformers import TrainerCallback

    class KillAfterFirstCheckpoint(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            raise _Killed(state.global_step)

    out, ckpt = tmp_path / "o", tmp_path / "ckpt"
    with pytest.raises(_Killed):
        train_adapter("x", {"path": tiny_model}, train_cfg(), tiny_tokenised, str(out), str(ckpt),
                      callbacks=[KillAfterFirstCheckpoint()])
    (ckpt / "checkpoint-2" / "trainer_state.json").unlink()  # as if killed before the last file
    record = train_adapter("x", {"path": tiny_model}, train_cfg(), tiny_tokenised, str(out), str(ckpt))
    assert record["resumed_from"] is None and record["steps"] == 4
