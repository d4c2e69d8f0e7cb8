"""The report stage on synthetic score rows: tidy table, Tables 1-2, figures, cost, HTML."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

import pandas as pd
import pytest

from maple.report import languages as L
from maple.report.aggregate import aggregate_scores, load_published
from maple.report.common import TIDY_COLUMNS, empty_tidy
from maple.report.cost import cost_tables, gpus_from_config
from maple.report.figures import STEMS, make_figures, plot_figure
from maple.report.html import redact, render_report
from maple import paths
from maple.report.pipeline import write_report, write_tables
from maple.report.tables import families_from_config, table1, table2

DATA = Path(__file__).parent / "data" / "report"


def _synthetic():
    spec = importlib.util.spec_from_file_location("report_synthetic", DATA / "synthetic.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


S = _synthetic()
PARTIAL_SKIP = (
    {"tiny-llama/multialpaca/r16-b16", "tiny-mistral/none/base", ("tiny-llama/none/base", "belebele"),
     ("tiny-mistral/bactrian-x-22/r8-b4", "xquad")}
    | {(f"tiny-mistral/bactrian-x-22/r{r}-b{b}", "belebele") for r in S.RANKS for b in S.BITS}
)


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    return S.build_report(tmp_path_factory.mktemp("full"))


@pytest.fixture(scope="module")
def partial(tmp_path_factory):
    root = tmp_path_factory.mktemp("partial")
    out = S.build_report(root, skip=PARTIAL_SKIP)
    # a corrupt score file counts as missing, with the reason
    bad = root / "results" / "scores" / "tiny-llama" / "bactrian-x-22" / "r8-b4" / "mlqa.json"
    bad.write_text("{not json", encoding="utf-8")
    files, expected = S.score_paths(root)
    out["corrupt"] = aggregate_scores(files, expected, str(root / "c.parquet"), str(root / "c.csv"),
                                      str(root / "c_missing.json"))
    out["corrupt_missing"] = json.loads((root / "c_missing.json").read_text())
    out["root"] = root
    return out


def n_measured_rows(skip=()) -> int:
    n = 0
    for model, dataset, rank, bits in S.cells():
        cid = S.cell_id(model, dataset, rank, bits)
        for task in S.TASKS:
            if cid in skip or (cid, task) in skip:
                continue
            n += len(S.rows_for(model, dataset, rank, bits, task))
    return n


# -------------------------------------------------------------------------------- languages
def test_language_codes_and_groups():
    groups = S.CONFIG["report"]["belebele_groups"]
    assert L.to_iso("deu_Latn") == "de" and L.to_iso("zho_Hant") == "zh" and L.to_iso("arb_Arab") == "ar"
    assert L.to_iso("chinese_simplified") == "zh" and L.to_iso("english") == "en" and L.to_iso("sw") == "sw"
    assert L.belebele_group("tha_Thai", groups) == "group1"
    assert L.belebele_group("ita_Latn", groups) == "group2"
    assert L.belebele_group("fin_Latn", groups) == "group3"
    assert set(L.flores_codes(groups["group1"])) >= {"arb_Arab", "deu_Latn", "vie_Latn"}
    assert L.resource_level("en") == "high" and L.resource_level("tha_Thai") == "mid"
    assert L.resource_level("swahili") == "low" and L.resource_level("xx") == "unknown"
    assert L.resource_level("sw", classes={"sw": 5}) == "high"
    assert all(L.is_english(x) for x in ("en", "eng_Latn", "english"))


# --------------------------------------------------------------------------------- published
def test_published_rows_cover_tables_1_and_2():
    pub = load_published()
    assert list(pub.columns) == TIDY_COLUMNS
    assert (pub["source"] == "published").all() and pub["reference"].notna().all()
    t1 = pub[pub["language"] == "avg"]
    assert len(t1) == 12 * 7 - 1  # Mistral-7B-Instruct has no XL-Sum number
    row = t1[(t1["model"] == "mistral-7b") & (t1["dataset"] == "multialpaca") & (t1["task"] == "mlqa")]
    assert row["value"].item() == pytest.approx(0.70) and row["metric"].item() == "f1"
    assert set(t1[t1["dataset"] == "none"]["model"]) == {"GPT-4", "PaLM2", "Llama-2-70B-chat", "Mistral-7B-Instruct"}
    t2 = pub[pub["task"] == "alpaca_eval"]
    assert len(t2) == 12
    row = t2[(t2["model"] == "llama-2-7b") & (t2["dataset"] == "alpaca")]
    assert (row["rank"].item(), row["bits"].item(), row["value"].item()) == (128, 16, pytest.approx(13.28))


# --------------------------------------------------------------------------------- aggregate
def test_aggregate_full_grid(full, tmp_path):
    root = Path(full["html"]).parent
    tidy = pd.read_parquet(root / "scores.parquet")  # one line for a pandas user
    assert list(tidy.columns) == TIDY_COLUMNS
    assert list(pd.read_csv(root / "scores.csv").columns) == TIDY_COLUMNS
    m = tidy[tidy["source"] == "measured"]
    assert len(m) == n_measured_rows()
    assert len(tidy) - len(m) == len(load_published())
    base = m[m["dataset"] == "none"]
    assert len(base) and base["rank"].isna().all() and base["bits"].isna().all()
    assert m["rank"].dropna().astype(int).isin(S.RANKS).all()
    assert set(m["protocol"]) == set(S.PROTOCOLS)
    assert full["missing"]["n_missing"] == 0 and full["missing"]["missing_cells"] == []


def test_aggregate_partial_grid_lists_missing(partial):
    missing = partial["missing"]
    assert set(missing["missing_cells"]) == {"tiny-llama/multialpaca/r16-b16", "tiny-mistral/none/base"}
    assert missing["partial_cells"]["tiny-llama/none/base"] == ["belebele"]
    assert missing["partial_cells"]["tiny-mistral/bactrian-x-22/r8-b4"] == ["belebele", "xquad"]
    assert missing["n_missing"] == 2 * 7 + 1 + 6 + 1
    assert len(partial["tidy"][partial["tidy"]["source"] == "measured"]) == n_measured_rows(PARTIAL_SKIP)
    reasons = {(e["cell"], e["task"]): e["reason"] for e in partial["corrupt_missing"]["missing"]}
    assert reasons[("tiny-llama/bactrian-x-22/r8-b4", "mlqa")].startswith("unreadable")


def test_aggregate_with_nothing(tmp_path):
    tidy = aggregate_scores([str(tmp_path / "nope.json")], [{"model": "m", "dataset": "none", "task": "xnli",
                                                             "path": str(tmp_path / "nope.json")}],
                            str(tmp_path / "s.parquet"), str(tmp_path / "s.csv"), str(tmp_path / "m.json"))
    assert (tidy["source"] == "published").all()
    assert json.loads((tmp_path / "m.json").read_text())["missing_cells"] == ["m/none/base"]
    assert len(pd.read_parquet(tmp_path / "s.parquet")) == len(tidy)


# ------------------------------------------------------------------------------------ tables
def test_table1_best_config_beside_published(full):
    t1 = pd.read_csv(full["tables"]["table1.csv"])
    assert set(t1["protocol"]) == set(S.PROTOCOLS)
    for protocol in S.PROTOCOLS:
        rows = t1[(t1["protocol"] == protocol) & t1["model"].notna() & (t1["dataset"] != "none")]
        assert len(rows) == len(S.MODELS) * len(S.DATASETS)
        assert (rows["rank"] == 16).all() and (rows["bits"] == 16).all()  # the synthetic grid's best
        assert (rows["tasks measured"] == 6).all()
    row = t1[(t1["protocol"] == "megaverse") & (t1["model"] == "tiny-llama") & (t1["dataset"] == "multialpaca")]
    assert row["XQuAD (published)"].item() == pytest.approx(0.64)
    assert row["paper model"].item() == "Llama-2-7B"
    measured = row["XQuAD (measured)"].item()
    expected = pd.Series([S.value("tiny-llama", "multialpaca", 16, 16, "xquad", lang, "megaverse", "f1")
                          for lang in S.LANGS["xquad"]]).mean()
    assert measured == pytest.approx(expected)
    gpt4 = t1[(t1["protocol"] == "megaverse") & (t1["paper model"] == "GPT-4")]
    assert gpt4["average (published)"].item() == pytest.approx(0.69) and gpt4["model"].isna().all()
    md = Path(full["tables"]["table1.md"]).read_text()
    assert "XQuAD (published)" in md and "XQuAD (measured)" in md and "0.64" in md and "protocol: reference" in md


def test_table1_partial_prefers_complete_configs(partial):
    t1 = pd.read_csv(partial["tables"]["table1.csv"])
    t1 = t1[t1["protocol"] == "megaverse"]
    llama_ma = t1[(t1["model"] == "tiny-llama") & (t1["dataset"] == "multialpaca")]
    assert (llama_ma["rank"].item(), llama_ma["bits"].item()) == (16, 8)  # r16-b16 is missing
    mistral_bx = t1[(t1["model"] == "tiny-mistral") & (t1["dataset"] == "bactrian-x-22")]
    assert (mistral_bx["rank"].item(), mistral_bx["bits"].item()) == (16, 16)
    assert mistral_bx["tasks measured"].item() == 5 and pd.isna(mistral_bx["Belebele (measured)"].item())
    assert mistral_bx["Belebele (published)"].item() == pytest.approx(0.42)
    assert t1[(t1["model"] == "tiny-mistral") & (t1["dataset"] == "none")].empty


def test_table2_best_win_rate(full):
    t2 = pd.read_csv(full["tables"]["table2.csv"])
    row = t2[(t2["protocol"] == "megaverse") & (t2["model"] == "tiny-llama") & (t2["dataset"] == "multialpaca")]
    assert (row["rank (measured)"].item(), row["bits (measured)"].item()) == (16, 16)
    assert row["win rate % (published)"].item() == pytest.approx(13.73)
    assert (row["rank (published)"].item(), row["bits (published)"].item()) == (128, 16)
    ref = t2[(t2["protocol"] == "reference") & (t2["model"] == "tiny-llama") & (t2["dataset"] == "multialpaca")]
    assert ref["LC win rate % (measured)"].notna().all()
    assert "93.78" in Path(full["tables"]["table2.md"]).read_text()


def test_tables_from_published_only(tmp_path):
    pub = load_published()
    t1 = table1(pub, {}, str(tmp_path / "t1.csv"), str(tmp_path / "t1.md"))
    t2 = table2(pub, {}, str(tmp_path / "t2.csv"), str(tmp_path / "t2.md"))
    assert len(t1) == 12 and t1.filter(like="(measured)").isna().all().all()
    assert len(t2) == 12
    # what the tables rule declares as its outputs is what write_tables writes
    pub.to_parquet(tmp_path / "published.parquet")
    written = write_tables(str(tmp_path / "published.parquet"), {}, str(tmp_path / "tables")).values()
    assert sorted(paths.table_files(str(tmp_path / "tables"))) == sorted(written)
    assert all(Path(p).stat().st_size > 0 for p in written)


def test_families_from_config():
    assert families_from_config(S.CONFIG) == {"tiny-llama": "llama", "tiny-mistral": "mistral"}


# ----------------------------------------------------------------------------------- figures
def _check_pngs(pngs, n):
    assert len(pngs) == n
    for png in pngs:
        data = Path(png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000, png
        pdf = Path(png).with_suffix(".pdf").read_bytes()
        assert pdf[:5] == b"%PDF-" and len(pdf) > 1_000


def test_figures_full_grid(full):
    _check_pngs(full["pngs"], len(STEMS) * len(S.PROTOCOLS))
    # the PNGs the rules declare (rules/common.smk FIGURE_PNGS) are the ones make_figures writes
    assert sorted(full["pngs"]) == sorted(paths.figure_pngs(S.PROTOCOLS, str(Path(full["pngs"][0]).parent)))


def test_figures_partial_grid(partial):
    _check_pngs(partial["pngs"], len(STEMS) * len(S.PROTOCOLS))


@pytest.mark.parametrize("which", ["published-only", "empty", "one-cell"])
def test_figures_never_crash(tmp_path, which):
    if which == "published-only":
        tidy = load_published()
    elif which == "empty":
        tidy = empty_tidy()
    else:
        rows = S.rows_for("tiny-llama", "multialpaca", 8, 16, "xnli")
        tidy = pd.concat([pd.DataFrame(rows).assign(source="measured", reference=None), load_published()])
    _check_pngs(make_figures(tidy, str(tmp_path), S.CONFIG, protocols=["megaverse"]), len(STEMS))


def test_figures_are_deterministic(full, tmp_path):
    a = plot_figure("fig1", full["tidy"], str(tmp_path / "a"), "megaverse", S.CONFIG)
    b = plot_figure("fig1", full["tidy"], str(tmp_path / "b"), "megaverse", S.CONFIG)
    for x, y in zip(a, b):
        assert hashlib.sha256(Path(x).read_bytes()).digest() == hashlib.sha256(Path(y).read_bytes()).digest()


# -------------------------------------------------------------------------------------- cost
def test_cost_tables(tmp_path):
    bench = S.write_benchmarks(tmp_path)
    tables = cost_tables(str(bench), gpus_from_config(S.CONFIG), out_dir=str(tmp_path / "cost"))
    stage = tables["per_stage"].set_index("stage")
    assert stage.loc["train_adapter", "gpu_h"] == pytest.approx(3.0)
    assert stage.loc["train_adapter", "cpu_h"] == pytest.approx(2.5)
    assert stage.loc["train_adapter", "max_rss_gb"] == pytest.approx(4.0)
    assert stage.loc["generate_outputs", "gpu_h"] == pytest.approx(0.5)
    # group jobs hold the GPUs of the rule whose config entry they read (maple.resources)
    assert stage.loc["generate_group_outputs", "gpu_h"] == pytest.approx(0.5)
    assert stage.loc["judge_group_alpaca_eval", "gpu_h"] == 0  # the synthetic config gives the judge none
    assert stage.loc["merge_adapter", "gpu_h"] == 0
    assert stage.loc["total", "jobs"] == 10 and "broken" not in stage.index
    cell = tables["per_cell"].set_index("cell")
    # training, merging and each task's generation of the cell, under the cell's key
    assert cell.loc["tiny-llama/multialpaca/r8-b4", "wall_h"] == pytest.approx(1 + 1 / 60 + 0.5)
    assert cell.loc["tiny-llama/multialpaca/r8-b4", "stages"] == "generate_outputs, merge_adapter, train_adapter"
    assert cell.loc["tiny-llama/lora-r16", "jobs"] == 2  # a group's generation and judging, under the group
    assert cell.loc["tiny-llama/none/base", "jobs"] == 1
    assert sorted(c for c in cell.index if ":" in c) == ["aggregate_scores:all"]  # no stray per-task rows
    assert (tmp_path / "cost" / "cost_per_stage.csv").exists()
    assert cost_tables(str(tmp_path / "none"), {})["per_stage"].empty


# -------------------------------------------------------------------------------------- html
def test_html_is_self_contained(full):
    html = Path(full["html"]).read_text(encoding="utf-8")
    assert html.count("<img ") == len(full["pngs"]) and html.count("src='data:image/png;base64,") == len(full["pngs"])
    for banned in ("<script", "<link", "src='http", 'src="http', "url(http", "@import"):
        assert banned not in html
    for secret in ("hf_SECRET", "sk-SECRET", "hf_token", "api_key"):
        assert secret not in html
    assert "Table 1" in html and "XQuAD (published)" in html and "0.64" in html and "93.78" in html
    assert "Missing cells" in html and "Every expected cell and task has scores" in html
    assert "Compute cost" in html and "train_adapter" in html
    assert html.count("<figcaption>") == len(full["pngs"]) and "Protocol: reference" in html
    assert "belebele_groups" in html  # the config


def test_html_partial_lists_missing(partial):
    html = Path(partial["html"]).read_text(encoding="utf-8")
    assert "tiny-llama/multialpaca/r16-b16" in html and "Cells with some tasks missing" in html


def test_html_missing_figure_and_tables(tmp_path):
    out = render_report(str(tmp_path / "r.html"), {"Table 1": str(tmp_path / "absent.md"), "frame": pd.DataFrame()},
                        [str(tmp_path / "fig1_absent_megaverse.png")], None, {"token": "x"}, None)
    html = Path(out).read_text()
    assert "figure not produced" in html and "table not produced" in html and "token" not in html.split("<pre>")[-1]


def test_redact_drops_secret_keys():
    cfg = {"a": 1, "HF_TOKEN": "t", "judge": {"api_key": "k", "model": "m", "nested": [{"secret_x": 1, "y": 2}]}}
    assert redact(cfg) == {"a": 1, "judge": {"model": "m", "nested": [{"y": 2}]}}


def test_write_report_pipeline(full, tmp_path):
    root = Path(full["html"]).parent
    bench = S.write_benchmarks(tmp_path)
    out = write_report(str(tmp_path / "report.html"), str(root / "tables"), full["pngs"][:2], str(bench),
                       str(root / "missing_cells.json"), S.CONFIG, cost_dir=str(tmp_path / "cost"),
                       comparisons_csv=str(root / "comparisons.csv"))
    html = Path(out).read_text()
    assert html.count("<img ") == 2 and "Table 2" in html and (tmp_path / "cost" / "cost_per_cell.csv").exists()
    assert "Differences tested (paired bootstrap)" in html and "finetuned_vs_base" in html
    assert "Did we reproduce it?" in html and "only proves the path" not in html  # no tiny models built here
    tiny = {**S.CONFIG, "models": {"tiny-llama": {"path": "x", "family": "llama", "build": {"layers": 2}}}}
    html = Path(write_report(str(tmp_path / "r2.html"), str(root / "tables"), [], str(bench),
                             str(root / "missing_cells.json"), tiny)).read_text()
    assert "only proves the path" in html


# ------------------------------------------------------------------------- data behind figures
def _avg_over_langs(model, dataset, rank, bits, task, protocol="megaverse"):
    metric = {"xquad": "f1", "mlqa": "f1", "xlsum": "rougeL"}.get(task, "accuracy")
    return sum(S.value(model, dataset, rank, bits, task, lang, protocol, metric)
               for lang in S.LANGS[task]) / len(S.LANGS[task])


def test_fig1_data_is_what_is_plotted(full):
    from maple.report.common import TABLE1_TASKS

    csv = Path(full["pngs"][0]).with_suffix(".csv")  # fig1, megaverse
    data = pd.read_csv(csv)
    assert len(data) == len(S.MODELS) * len(S.DATASETS) * len(S.RANKS) * len(S.BITS)
    row = data[(data["model"] == "tiny-llama") & (data["dataset"] == "multialpaca") & (data["rank"] == 8)
               & (data["bits"] == 4)].iloc[0]
    expected = sum(_avg_over_langs("tiny-llama", "multialpaca", 8, 4, t) for t in TABLE1_TASKS) / len(TABLE1_TASKS)
    assert row["value"] == pytest.approx(expected, abs=1e-9)
    assert row["ci_low"] <= row["value"] <= row["ci_high"] and row["ci_low"] < row["ci_high"]
    best = data[data["best"]]
    assert set(zip(best["rank"], best["bits"])) == {(16, 16)}
    # the dagger marks exactly the cells whose paired difference from the best excludes zero
    comp = full["comparisons"]
    comp = comp[(comp["comparison"] == "rank_bits_vs_best") & (comp["protocol"] == "megaverse")]
    assert dict(zip(data[~data["best"]]["cell"], data[~data["best"]]["differs_from_best"])) == \
        dict(zip(comp["cell_a"], comp["excludes_zero"]))


def test_fig2_fig4_fig5_data_carry_intervals(full):
    from maple.report.figures import fig2_data, fig4_data, fig5_data

    tidy, avg, comp = full["tidy"], full["averages"], full["comparisons"]
    d2 = fig2_data(tidy, "megaverse", S.FAMILIES, avg)
    bar = d2[(d2["series"] == "tiny-mistral: best finetune (measured)") & (d2["task"] == "xquad")].iloc[0]
    best = max(_avg_over_langs("tiny-mistral", d, r, b, "xquad") for d in S.DATASETS for r in S.RANKS for b in S.BITS)
    assert bar["value"] == pytest.approx(best) and bar["ci_low"] <= bar["value"] <= bar["ci_high"]
    assert d2[d2["kind"] == "published"]["ci_low"].isna().all()
    d4 = fig4_data(tidy, "megaverse", S.FAMILIES, avg)
    de = d4[(d4["model"] == "tiny-llama") & (d4["panel"] == "languages") & (d4["kind"] == "base")
            & (d4["label"] == "de")].iloc[0]
    assert de["value"] == pytest.approx(S.value("tiny-llama", None, None, None, "xquad", "de", "megaverse", "f1"))
    d5 = fig5_data(tidy, "megaverse", S.FAMILIES, comp)
    cell = d5[d5["cell"] == "tiny-mistral/multialpaca/r8-b4"].iloc[0]
    english = {"xnli": "en", "xquad": "en", "mlqa": "en", "belebele": "eng_Latn", "xlsum": "english"}
    metric = {"xquad": "f1", "mlqa": "f1", "xlsum": "rougeL"}
    deltas = [S.value("tiny-mistral", "multialpaca", 8, 4, t, lang, "megaverse", metric.get(t, "accuracy"))
              - S.value("tiny-mistral", None, None, None, t, lang, "megaverse", metric.get(t, "accuracy"))
              for t, lang in english.items()]
    assert cell["delta"] == pytest.approx(sum(deltas) / len(deltas))
    assert cell["ci_low"] <= cell["delta"] <= cell["ci_high"]
    assert cell["excludes_zero"] == (cell["ci_low"] > 0 or cell["ci_high"] < 0)


def test_tables_carry_intervals_and_the_reproduction_check(full):
    t1 = pd.read_csv(full["tables"]["table1.csv"])
    row = t1[(t1["protocol"] == "megaverse") & (t1["model"] == "tiny-llama") & (t1["dataset"] == "multialpaca")]
    row = row.iloc[0]
    assert row["cell"] == "tiny-llama/multialpaca/r16-b16"
    for task in ("XQuAD", "average"):
        assert row[f"{task} (measured ci_low)"] <= row[f"{task} (measured)"] <= row[f"{task} (measured ci_high)"]
    rep = pd.read_csv(full["tables"]["reproduction.csv"])
    assert set(rep["table"]) == {"Table 1", "Table 2"}
    inside = (rep["ci_low"] <= rep["published"]) & (rep["published"] <= rep["ci_high"])
    assert (rep["inside"] == inside).all()
    md = Path(full["tables"]["table1.md"]).read_text()
    assert f"{row['XQuAD (measured)']:.2f} [{row['XQuAD (measured ci_low)']:.2f}, " in md
    html = Path(full["html"]).read_text(encoding="utf-8")
    assert "Did we reproduce it?" in html and "measured ci_low" not in html  # folded into '0.52 [0.41, 0.63]'


def test_tidy_table_columns_load_cleanly(full):
    tidy = pd.read_csv(Path(full["html"]).parent / "scores.csv")
    assert tidy["published"].dtype == bool
    assert set(tidy["unit"]) == {"fraction", "percent"}
    assert (tidy[tidy["metric"].isin(["win_rate", "lc_win_rate"])]["unit"] == "percent").all()
    assert tidy[~tidy["published"]]["cell"].notna().all()
    assert tidy[tidy["published"]][["stderr", "ci_low", "ci_high"]].isna().all().all()
    parquet = pd.read_parquet(Path(full["html"]).parent / "scores.parquet")
    assert str(parquet["rank"].dtype) == "Int64" and str(parquet["bits"].dtype) == "Int64"


def test_fig3_fig6_data_are_the_plotted_values(full):
    from maple.report import languages as L
    from maple.report.figures import fig3_data, fig6_data

    tidy = full["tidy"]
    d3 = fig3_data(tidy, S.CONFIG["report"]["belebele_groups"], "megaverse", S.FAMILIES)
    bar = d3[(d3["model"] == "tiny-llama") & (d3["slot"] == "all") & (d3["dataset"] == "multialpaca")
             & (d3["kind"] == "measured")].iloc[0]
    per_cfg = [sum(S.value("tiny-llama", "multialpaca", r, b, "belebele", lang, "megaverse", "accuracy")
                   for lang in S.LANGS["belebele"]) / len(S.LANGS["belebele"]) for r in S.RANKS for b in S.BITS]
    assert bar["value"] == pytest.approx(sum(per_cfg) / len(per_cfg))
    assert (bar["low"], bar["high"]) == (pytest.approx(min(per_cfg)), pytest.approx(max(per_cfg)))
    assert bar["n_configs"] == len(S.RANKS) * len(S.BITS) and bar["n_languages"] == len(S.LANGS["belebele"])
    d6 = fig6_data(tidy, "megaverse")
    assert set(d6["axis"]) == {"rank", "bits"} and set(d6["x"]) == set(S.RANKS) | set(S.BITS)
    high = d6[(d6["model"] == "tiny-llama") & (d6["axis"] == "rank") & (d6["x"] == 16) & (d6["level"] == "high")]
    assert len(high) == 1 and high["count"].item() > 0
    assert {L.resource_level(lang) for t in S.LANGS for lang in S.LANGS[t]} >= set(d6["level"])


def test_served_model_check_flags_a_failing_cell_first_and_keeps_it(tmp_path):
    """maple.generate.check's records: a cell whose served outputs equal its base model's is named at
    the top of the report; both cells stay listed."""
    import json

    from maple.report.pipeline import write_report
    from maple.report.served import TITLE, served_check_frame

    files = []
    # a cell checked in its own job writes a file; a multi_lora group's job, a directory of its cells' records
    for cell, passed, reason in (("m/alpaca/r8-b16", True, "ok"),
                                 ("m/alpaca/r16-b16", False, "served outputs equal the base model's on all 8 sampled prompts")):
        f = tmp_path / "checks" / f"{cell.replace('/', '_')}.json" if passed else tmp_path / "m" / "lora-r16" / "alpaca" / "r16-b16.json"
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(json.dumps({"cell": cell, "mode": "multi_lora", "served_as": "unquantised base",
                                 "task": "alpaca_eval", "sample": 8, "differs_from_base": 0 if not passed else 5,
                                 "equals_merged": 8 if passed else 1, "base_recorded": 8, "passed": passed,
                                 "reason": reason}))
        files.append(str(f) if passed else str(tmp_path / "m" / "lora-r16"))
    frame = served_check_frame(files)
    assert list(frame["cell"]) == ["m/alpaca/r16-b16", "m/alpaca/r8-b16"]
    assert frame.loc[0, "check"].startswith("FAILED: served outputs equal the base")
    html = Path(write_report(str(tmp_path / "r.html"), str(tmp_path / "tables"), [], str(tmp_path / "bench"),
                             str(tmp_path / "missing.json"), {}, served_checks=files)).read_text()
    assert "1 of 2 cells FAILED: m/alpaca/r16-b16" in html and "m/alpaca/r8-b16" in html
    assert html.index(TITLE.split(":")[0]) < html.index("Table 1")  # a failure comes first
