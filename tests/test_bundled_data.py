"""The bundled finetuning data (resources/data/): each dataset loads through `datasets.load_dataset`
exactly as its hub repo does, with the hub schema, the documented sizes and text in each language's
own script."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import unicodedata  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import yaml  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "resources" / "data"
MA_LANGS = ["ar", "de", "es", "fr", "id", "ja", "ko", "pt", "ru", "th", "vi"]
BX_LANGS = MA_LANGS + ["zh", "hi", "tr", "sw", "ur", "ta", "bn", "it", "nl", "pl", "he"]

ALPACA_PROMPT = "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n"
ALPACA_PROMPT_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.\n\n"
)


def _ranges(*spans):
    return lambda c: any(lo <= ord(c) <= hi for lo, hi in spans)


LATIN = _ranges((0x41, 0x5A), (0x61, 0x7A), (0xC0, 0x24F), (0x1E00, 0x1EFF))
KANA = _ranges((0x3040, 0x30FF))
HAN = _ranges((0x4E00, 0x9FFF), (0x3400, 0x4DBF))
ARABIC = _ranges((0x0600, 0x06FF))
SCRIPT = {
    "ar": ARABIC, "ur": ARABIC,
    "he": _ranges((0x0590, 0x05FF)),
    "hi": _ranges((0x0900, 0x097F)),
    "bn": _ranges((0x0980, 0x09FF)),
    "ta": _ranges((0x0B80, 0x0BFF)),
    "th": _ranges((0x0E00, 0x0E7F)),
    "ru": _ranges((0x0400, 0x04FF)),
    "ko": _ranges((0xAC00, 0xD7AF), (0x1100, 0x11FF), (0x3130, 0x318F)),
    "ja": lambda c: KANA(c) or HAN(c),
    "zh": HAN,
}
# Letters that must appear in (some share of) a language's rows, to tell apart languages of one script.
MARKERS = {
    "ja": ("".join(chr(i) for i in range(0x3041, 0x30FF)), 0.8),  # kana: Japanese, not Chinese
    "ur": ("ٹڈڑںھہۓےکگی", 0.8),  # Urdu letters absent from Arabic
    "vi": ("ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹàáèéìíòóùúý", 0.8),
    "pl": ("ąćęłńóśźż", 0.8),
    "tr": ("çğıöşü", 0.8),
    "de": ("äöüß", 0.4),
    "es": ("áéíóúñ¿¡", 0.4),
    "fr": ("àâçéèêëîïôûùœ", 0.4),
    "pt": ("ãõçáéíóúâêô", 0.4),
    "it": ("àèéìòù", 0.4),
}


def load(name, *args, **kwargs):
    import datasets

    return datasets.load_dataset(str(DATA / name), *args, **kwargs)


def _in_script(lang, row):
    """The share of a row's letters in the language's script (Latin for Latin-script languages)."""
    letters = [c for c in row["instruction"] + row["input"] + row["output"] if c.isalpha()]
    test = SCRIPT.get(lang, LATIN)
    return sum(map(test, letters)) / max(len(letters), 1)


def check_language(lang, rows):
    assert rows, lang
    mostly = [r for r in rows if _in_script(lang, r) >= 0.5]
    assert len(mostly) >= 0.8 * len(rows), (lang, [r["instruction"] for r in rows if r not in mostly])
    # every row has at least some text in the script (instructions are always in the language)
    assert all(_in_script(lang, {"instruction": r["instruction"], "input": "", "output": ""}) >= 0.5 for r in rows), lang
    text = "".join(r["instruction"] + r["input"] + r["output"] for r in rows)
    if lang == "zh":
        assert not any(KANA(c) for c in text)
    if lang == "ar":
        assert not set(text) & set(MARKERS["ur"][0])  # Arabic letters only, not Urdu/Persian forms
    if lang == "ur":
        assert not set(text) & set("يكة")  # Urdu yeh/keheh, not the Arabic forms
    if lang in MARKERS:
        chars, share = MARKERS[lang]
        marked = [r for r in rows if any(c in chars for c in (r["instruction"] + r["input"] + r["output"]).lower())]
        assert len(marked) >= share * len(rows), (lang, len(marked), len(rows))


def check_rows(rows, fields):
    for row in rows:
        assert list(row) == fields
        assert all(isinstance(row[f], str) for f in fields)
        assert row["instruction"].strip() and row["output"].strip()
        assert row["input"] == row["input"].strip() and row["output"] == row["output"].strip()
        assert all(unicodedata.is_normalized("NFC", row[f]) for f in fields)
        assert len(row["instruction"]) < 250 and len(row["output"]) < 400


def test_alpaca_loads_like_tatsu_lab_alpaca():
    ds = load("alpaca", split="train")
    assert ds.column_names == ["instruction", "input", "output", "text"]
    assert {f: v.dtype for f, v in ds.features.items()} == dict.fromkeys(ds.column_names, "string")
    assert len(ds) == 120
    rows = list(ds)
    check_rows(rows, ["instruction", "input", "output", "text"])
    check_language("en", rows)
    for r in rows:
        if r["input"]:
            expected = f"{ALPACA_PROMPT_INPUT}### Instruction:\n{r['instruction']}\n\n### Input:\n{r['input']}\n\n### Response:\n{r['output']}"
        else:
            expected = f"{ALPACA_PROMPT}### Instruction:\n{r['instruction']}\n\n### Response:\n{r['output']}"
        assert r["text"] == expected
    assert len({r["instruction"] for r in rows}) == len(rows)
    assert 0.2 <= sum(bool(r["input"]) for r in rows) / len(rows) <= 0.5
    # the hub layout: one default config with a train split, declared in the card
    import datasets

    assert datasets.get_dataset_config_names(str(DATA / "alpaca")) == ["default"]
    assert set(load("alpaca")) == {"train"}


@pytest.mark.parametrize("lang", MA_LANGS)
def test_multialpaca_loads_by_data_files(lang):
    ds = load("multialpaca", data_files=f"{lang}.jsonl", split="train")
    assert ds.column_names == ["instruction", "input", "output"]
    assert {f: v.dtype for f, v in ds.features.items()} == dict.fromkeys(ds.column_names, "string")
    assert len(ds) == 14
    rows = list(ds)
    check_rows(rows, ["instruction", "input", "output"])
    check_language(lang, rows)
    assert 2 <= sum(bool(r["input"]) for r in rows) <= 8


def test_multialpaca_files_are_the_documented_languages():
    assert sorted(p.stem for p in (DATA / "multialpaca").glob("*.jsonl")) == sorted(MA_LANGS)
    assert "DAMO-NLP-MT/multialpaca" in (DATA / "multialpaca" / "README.md").read_text(encoding="utf-8")


def test_bactrian_x_configs_are_the_22_languages():
    import datasets

    assert datasets.get_dataset_config_names(str(DATA / "bactrian-x")) == BX_LANGS
    assert "MBZUAI/Bactrian-X" in (DATA / "bactrian-x" / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("lang", BX_LANGS)
def test_bactrian_x_loads_by_config(lang):
    ds = load("bactrian-x", lang, split="train")
    assert ds.column_names == ["instruction", "input", "id", "output"]
    assert {f: v.dtype for f, v in ds.features.items()} == dict.fromkeys(ds.column_names, "string")
    assert len(ds) == 12
    rows = list(ds)
    check_rows(rows, ["instruction", "input", "id", "output"])
    check_language(lang, rows)
    assert [r["id"] for r in rows] == [f"{lang}-{i}" for i in range(1, 13)]
    assert 2 <= sum(bool(r["input"]) for r in rows) <= 7


def test_ids_and_instructions_unique_across_datasets():
    bx = [r for lang in BX_LANGS for r in load("bactrian-x", lang, split="train")]
    assert len({r["id"] for r in bx}) == len(bx) == 22 * 12
    ma = [r for lang in MA_LANGS for r in load("multialpaca", data_files=f"{lang}.jsonl", split="train")]
    assert len(ma) == 11 * 14
    # MultiAlpaca and Bactrian-X are different data: no instruction repeats within or across them
    instructions = [r["instruction"] for r in bx + ma]
    assert len(set(instructions)) == len(instructions)


def test_cards_state_provenance_and_licence():
    for name in ("alpaca", "multialpaca", "bactrian-x"):
        card = (DATA / name / "README.md").read_text(encoding="utf-8")
        meta = yaml.safe_load(card.split("---")[1])
        assert meta["license"] == "apache-2.0"
        assert "written for the maple project" in card and "Apache-2.0" in card


def test_default_config_selects_full_size_from_bundled_data():
    """The workflow's own loader fills every dataset of the embedded default from these files."""
    from maple.data.sources import select_examples

    config = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    for name, ds_cfg in config["datasets"].items():
        if not ds_cfg["source"]["path"].startswith("resources/data/"):
            continue
        ds_cfg = dict(ds_cfg, source=dict(ds_cfg["source"], path=str(ROOT / ds_cfg["source"]["path"])))
        ds = select_examples(ds_cfg, seed=0)
        assert len(ds) == ds_cfg["size"], name
        assert sorted(set(ds["language"])) == sorted(ds_cfg["languages"]), name
