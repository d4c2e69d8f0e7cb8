"""The study's figures, each drawn from the tidy table alone (PNG + PDF per output stem).

Every function takes the tidy DataFrame (`pd.read_parquet("results/scores.parquet")`), an output
stem (`figures/fig1_rank_bits_heatmap_megaverse` -> `.png` and `.pdf`) and a protocol, draws what
exists (missing cells/tasks leave gaps or "no data" panels, never an error) and returns the paths
written. Measured numbers are solid; published ones (MAPLE / MEGAVERSE) are hatched and labelled
"published". Figures are `matplotlib.figure.Figure`s on the Agg canvas (no pyplot state); PNG and PDF
carry no timestamps, so the same table gives the same files.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

from maple.report import languages as L
from maple.report.figure_names import STEMS
from maple.report.common import (
    AVG_LANGUAGE,
    BASELINES,
    NO_DATASET,
    TABLE1_TASKS,
    TASK_LABELS,
    config_averages,
    dataset_label,
    dataset_sort_key,
    headline_rows,
    measured,
    model_label,
    paper_model,
    pick_best,
    published,
    task_scores,
)

DPI = 150
RC = {
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "figure.titlesize": 11,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "hatch.linewidth": 0.8,
    "svg.hashsalt": "maple",
    "pdf.fonttype": 42,
}
FAMILY_COLOURS = {"llama": "#0072B2", "mistral": "#E69F00"}  # Okabe-Ito blue / orange
EXTRA_COLOURS = ["#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000"]
BASELINE_COLOURS = {
    "GPT-4": "#000000", "PaLM2": "#D55E00", "Llama-2-70B-chat": "#009E73", "Mistral-7B-Instruct": "#CC79A7",
}
DATASET_COLOURS = {
    "alpaca": "#009E73", "multialpaca": "#0072B2", "bactrian-x-11": "#CC79A7", "bactrian-x-22": "#E69F00",
}
BASE_COLOUR = "#999999"
FIG1_EXTRA_DATASETS = ("alpaca",)  # the paper's Figure 1 shows MultiAlpaca, BX-22, BX-11; Alpaca is extra
LEVEL_COLOURS = {"high": "#0072B2", "mid": "#009E73", "low": "#D55E00", "unknown": "#999999"}
LEVEL_MARKERS = {"high": "o", "mid": "s", "low": "^", "unknown": "x"}
PUBLISHED_HATCH = "////"
NO_DATA_TEXT = "no data"

CAPTIONS = {
    "fig1": "Average score over the six tasks (XNLI, XCOPA, XQuAD, Belebele, MLQA, XL-Sum; headline metric "
            "averaged over languages, 0..1) of every LoRA rank x base-model bits configuration, one panel per "
            "model x finetuning dataset. The boxed cell is the best configuration (the one Table 1 reports); "
            "panel titles give MAPLE's published best average for the model family and dataset. Grey cells: "
            "not in the grid or no scores; * marks cells with fewer tasks than the others. The paper's Figure 1 "
            "shows the three multilingual datasets; the Alpaca panel is extra.",
    "fig1b": "Belebele alone: accuracy (averaged over every evaluated Belebele language) of every LoRA rank x "
             "base-model bits configuration, one panel per model x finetuning dataset; boxed: the best.",
    "fig2": "Task-wise best finetuned model (best over datasets, ranks and bits for each task) and the "
            "un-finetuned base model, measured (solid), against MAPLE's published best finetunes and the "
            "published off-the-shelf baselines from MEGAVERSE (hatched). Right: AlpacaEval win rate (%).",
    "fig3": "Belebele accuracy by language group for models finetuned on MultiAlpaca and on Bactrian-X-22: "
            "Group 1 = MultiAlpaca languages, Group 2 = Bactrian-X-22 languages not in MultiAlpaca, Group 3 = "
            "the rest. Bars: mean over rank x bits configurations, whiskers: their range; grey: base model. "
            "'All languages' adds MAPLE's published Belebele average (hatched).",
    "fig4": "Language-wise XQuAD F1 on the paper's 11 languages (ar, de, el, en, es, hi, ro, ru, th, tr, vi) "
            "of the best finetuned configuration (by XQuAD average over them) and of the base model. The "
            "right-hand panel compares averages over languages with published numbers (hatched; MAPLE and the "
            "MEGAVERSE baselines in MAPLE's Table 1 are averages: no per-language numbers are drawn).",
    "fig5": "English degradation: score on the English rows of each task minus the base model's, averaged "
            "over tasks, as a function of LoRA rank (left) and bits (right). Points: single cells; lines: "
            "their mean per model. Below zero, finetuning hurt English. No published counterpart.",
    "fig6": "Finetuned minus base score per language, grouped by resource level (Joshi et al. 2020 classes: "
            "high 4-5, mid 3, low 0-2), as a function of LoRA rank (left) and bits (right); mean over tasks, "
            "languages, datasets and the other axis. No published counterpart.",
}



# ------------------------------------------------------------------------------------------ helpers
def _figure(width: float, height: float) -> Figure:
    """A figure on the Agg canvas, outside pyplot: no global backend switch, no figure registry."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save(fig: Figure, out_stem: str) -> list[str]:
    """Write `<out_stem>.png` (150 dpi) and `<out_stem>.pdf` without timestamps."""
    stem = str(out_stem)
    for ext in (".png", ".pdf"):
        if stem.endswith(ext):
            stem = stem[: -len(ext)]
    Path(stem).parent.mkdir(parents=True, exist_ok=True)
    png, pdf = stem + ".png", stem + ".pdf"
    fig.savefig(png, dpi=DPI, metadata={"Software": None})
    fig.savefig(pdf, metadata={"CreationDate": None, "Creator": None, "Producer": None})
    return [png, pdf]


def _no_data(ax, text: str = NO_DATA_TEXT) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=10, color="#555555",
            style="italic")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(True)
        spine.set_color("#cccccc")


def _title(fig: Figure, text: str, protocol: str) -> None:
    """Suptitle naming the protocol, wrapped to the figure's width (11 pt: ~11 characters per inch)."""
    import textwrap

    width = max(30, int(fig.get_figwidth() * 11))
    fig.suptitle(textwrap.fill(f"{text} (protocol: {protocol})", width))


def _model_colour(model: str, families: dict | None, models: list[str]) -> str:
    family = str((families or {}).get(model, "")).lower()
    if family in FAMILY_COLOURS and sum(str((families or {}).get(m, "")).lower() == family for m in models) == 1:
        return FAMILY_COLOURS[family]
    idx = sorted(models).index(model) if model in models else 0
    return (list(FAMILY_COLOURS.values()) + EXTRA_COLOURS)[idx % (len(FAMILY_COLOURS) + len(EXTRA_COLOURS))]


def _paper_colour(pm: str) -> str:
    for family, name in (("llama", "llama-2-7b"), ("mistral", "mistral-7b")):
        if pm == name:
            return FAMILY_COLOURS[family]
    return BASELINE_COLOURS.get(pm, "#777777")


def _bar(ax, x, height, width, colour, kind: str, **kw):
    """A measured (solid) or published (hatched, pale) bar."""
    if kind == "published":
        return ax.bar(x, height, width, facecolor=_pale(colour), edgecolor=colour, hatch=PUBLISHED_HATCH,
                      linewidth=0.8, **kw)
    if kind == "base":
        return ax.bar(x, height, width, facecolor=colour, edgecolor="#333333", linewidth=0.6, alpha=0.55, **kw)
    return ax.bar(x, height, width, facecolor=colour, edgecolor="#333333", linewidth=0.6, **kw)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _barh(ax, y, width, height, colour, kind: str):
    if kind == "published":
        return ax.barh(y, width, height, facecolor=_pale(colour), edgecolor=colour, hatch=PUBLISHED_HATCH,
                       linewidth=0.8)
    if kind == "base":
        return ax.barh(y, width, height, facecolor=colour, edgecolor="#333333", linewidth=0.6, alpha=0.55)
    return ax.barh(y, width, height, facecolor=colour, edgecolor="#333333", linewidth=0.6)


def _pale(colour: str, amount: float = 0.7) -> tuple:
    rgb = np.array(matplotlib.colors.to_rgb(colour))
    return tuple(rgb + (1 - rgb) * amount)


def _legend_patch(colour: str, kind: str, label: str) -> Patch:
    if kind == "published":
        return Patch(facecolor=_pale(colour), edgecolor=colour, hatch=PUBLISHED_HATCH, label=label)
    if kind == "base":
        return Patch(facecolor=colour, edgecolor="#333333", alpha=0.55, label=label)
    return Patch(facecolor=colour, edgecolor="#333333", label=label)


def _cfg_label(rank, bits) -> str:
    if pd.isna(rank) or pd.isna(bits):
        return "base"
    return f"r{int(rank)}/{int(bits)}-bit"


def _published_avg(tidy: pd.DataFrame) -> pd.DataFrame:
    pub = published(tidy)
    return pub[(pub["language"] == AVG_LANGUAGE) & pub["value"].notna()]


def _paper_models(tidy: pd.DataFrame, families: dict | None) -> list[str]:
    """The paper's finetuned rows to show: those of the measured models' families (else all)."""
    ms = measured(tidy)["model"].dropna().unique()
    pms = sorted({pm for m in ms if (pm := paper_model(m, families))})
    if pms:
        return pms
    pub = _published_avg(tidy)
    return sorted(set(pub[pub["dataset"] != NO_DATASET]["model"].dropna()))


def _log2_axis(ax, values, label: str) -> None:
    values = sorted({int(v) for v in values})
    ax.set_xscale("log", base=2)
    ax.set_xticks(values)
    ax.set_xticklabels([str(v) for v in values])
    ax.minorticks_off()
    if values:
        ax.set_xlim(values[0] / 1.4, values[-1] * 1.4)
    ax.set_xlabel(label)


# ------------------------------------------------------------------------------------ figure 1
def fig1_heatmaps(tidy: pd.DataFrame, out_stem: str, protocol: str = "megaverse",
                  families: dict | None = None, tasks: list | None = None) -> list[str]:
    """Rank x bits heatmaps of the average over the six tasks (or `tasks`, e.g. Belebele alone), one
    panel per model x dataset: the paper's three datasets, then Alpaca as an extra panel."""
    tasks = list(tasks or TABLE1_TASKS)
    with matplotlib.rc_context(RC):
        scores = task_scores(tidy, protocol=protocol, tasks=tasks)
        ft = scores[scores["dataset"] != NO_DATASET] if not scores.empty else scores
        avg = config_averages(ft, tasks=tasks)
        title = ("Fig. 1 - Average of the six task scores per LoRA rank x bits (box: best)" if len(tasks) > 1
                 else f"Fig. 1 ({TASK_LABELS.get(tasks[0], tasks[0])} only) - score per LoRA rank x bits (box: best)")
        if avg.empty:
            fig = _figure(6, 3.5)
            _no_data(fig.subplots(), "no data: no measured finetuned cells with scores")
            _title(fig, title, protocol)
            return save(fig, out_stem)
        models = sorted(avg["model"].unique())
        datasets = sorted(avg["dataset"].unique(), key=dataset_sort_key)
        ranks = sorted(int(r) for r in avg["rank"].dropna().unique())
        bits = sorted(int(b) for b in avg["bits"].dropna().unique())
        vmin, vmax = float(avg["average"].min()), float(avg["average"].max())
        if vmax - vmin < 1e-6:
            vmin, vmax = vmin - 0.05, vmax + 0.05
        max_tasks = int(avg["n_tasks"].max())
        pub = _published_avg(tidy)
        pub = pub[pub["task"] == "average"]
        cmap = matplotlib.colormaps["viridis"].with_extremes(bad="#e0e0e0")
        norm = matplotlib.colors.Normalize(vmin, vmax)
        nrows, ncols = len(models), len(datasets)
        fig = _figure(max(5.5, 2.7 * ncols + 1.6), max(3.2, 0.32 * len(ranks) * nrows + 1.2 * nrows + 1.0))
        axes = fig.subplots(nrows, ncols, squeeze=False)
        image = None
        for i, model in enumerate(models):
            for j, dataset in enumerate(datasets):
                ax = axes[i][j]
                sub = avg[(avg["model"] == model) & (avg["dataset"] == dataset)]
                pm = paper_model(model, families)
                p = pub[(pub["model"] == pm) & (pub["dataset"] == dataset)]["value"]
                pub_text = f"published best avg: {p.iloc[0]:.2f}" if len(p) and len(tasks) > 1 else "published: -"
                extra = " (extra panel)" if dataset in FIG1_EXTRA_DATASETS else ""
                ax.set_title(f"{model} - {dataset_label(dataset)}{extra}\n{pub_text}")
                if sub.empty:
                    _no_data(ax)
                    continue
                grid = np.full((len(ranks), len(bits)), np.nan)
                ntask = np.zeros((len(ranks), len(bits)), dtype=int)
                for row in sub.itertuples(index=False):
                    r, b = ranks.index(int(row.rank)), bits.index(int(row.bits))
                    grid[r, b], ntask[r, b] = row.average, row.n_tasks
                image = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, norm=norm, aspect="auto", origin="lower")
                best = pick_best(sub, "average", ["model", "dataset"], prefer_complete="n_tasks").iloc[0]
                rb = (ranks.index(int(best["rank"])), bits.index(int(best["bits"])))
                ax.add_patch(Rectangle((rb[1] - 0.5, rb[0] - 0.5), 1, 1, fill=False, edgecolor="#D55E00", lw=2.2))
                for r in range(len(ranks)):
                    for b in range(len(bits)):
                        v = grid[r, b]
                        if np.isnan(v):
                            ax.text(b, r, "-", ha="center", va="center", color="#666666", fontsize=8)
                            continue
                        mark = "*" if ntask[r, b] < max_tasks else ""
                        colour = "white" if norm(v) < 0.55 else "black"
                        ax.text(b, r, f"{v:.2f}{mark}", ha="center", va="center", color=colour, fontsize=8)
                ax.set_xticks(range(len(bits)))
                ax.set_xticklabels([str(b) for b in bits])
                ax.set_yticks(range(len(ranks)))
                ax.set_yticklabels([str(r) for r in ranks])
                for spine in ax.spines.values():
                    spine.set_visible(False)
        fig.supxlabel("bits of the base model during finetuning (4 = QLoRA nf4, 8 = LLM.int8, 16 = bf16)")
        fig.supylabel("LoRA rank")
        if image is not None:
            fig.colorbar(image, ax=axes, shrink=0.85, label="average of the task scores (0..1)")
        _title(fig, title, protocol)
        return save(fig, out_stem)


# ------------------------------------------------------------------------------------ figure 2
def _series_fig2(tidy, protocol, families):
    """[(label, kind, colour, {task: value})] of measured finetunes/bases and published rows."""
    tasks = TABLE1_TASKS + ["alpaca_eval"]
    scores = task_scores(tidy, protocol=protocol, tasks=tasks)
    series = []
    models = sorted(scores["model"].unique()) if not scores.empty else []
    for model in models:
        colour = _model_colour(model, families, models)
        sm = scores[scores["model"] == model]
        ft = sm[sm["dataset"] != NO_DATASET]
        if not ft.empty:
            series.append((f"{model}: best finetune (measured)", "measured", colour,
                           ft.groupby("task")["value"].max().to_dict()))
        base = sm[sm["dataset"] == NO_DATASET]
        if not base.empty:
            series.append((f"{model}: base, not finetuned (measured)", "base", colour,
                           base.groupby("task")["value"].max().to_dict()))
    pub = published(tidy)
    pub = pub[pub["value"].notna() & pub["task"].isin(tasks)]
    pub = pub[(pub["language"] == AVG_LANGUAGE) | (pub["task"] == "alpaca_eval")]
    for pm in _paper_models(tidy, families):
        sub = pub[(pub["model"] == pm) & (pub["dataset"] != NO_DATASET)]
        if not sub.empty:
            series.append((f"{model_label(pm)}: best finetune (published, MAPLE)", "published", _paper_colour(pm),
                           sub.groupby("task")["value"].max().to_dict()))
    for name in BASELINES:
        sub = pub[pub["model"] == name]
        if not sub.empty:
            series.append((f"{name} (published baseline)", "published", BASELINE_COLOURS[name],
                           sub.groupby("task")["value"].max().to_dict()))
    return series


def _grouped_bars(ax, groups: list, series, ylabel: str, percent: bool = False):
    n = max(len(series), 1)
    width = 0.84 / n
    measured_any = {g for g in groups
                    if any(values.get(g) is not None for _, k, _, values in series if k != "published")}
    for i, (_, kind, colour, values) in enumerate(series):
        for j, g in enumerate(groups):
            v = values.get(g)
            if v is None or (isinstance(v, float) and np.isnan(v)):
                if kind != "published" and g in measured_any:
                    ax.text(j - 0.42 + width * (i + 0.5), 0.01 * (100 if percent else 1), "n/a", ha="center",
                            va="bottom", fontsize=6, color="#555555", rotation=90)
                continue
            _bar(ax, j - 0.42 + width * (i + 0.5), v, width, colour, kind)
    for j, g in enumerate(groups):
        if not any(values.get(g) is not None for _, kind, _, values in series if kind != "published"):
            ax.text(j, 0.985, "no measured data", ha="center", va="top", fontsize=7, color="#555555", style="italic",
                    transform=ax.get_xaxis_transform(),
                    bbox={"facecolor": "white", "edgecolor": "#bbbbbb", "alpha": 0.85, "pad": 1.5})
    ax.set_xticks(range(len(groups)))
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", color="#e5e5e5", linewidth=0.6)
    ax.set_axisbelow(True)


def fig2_taskwise(tidy: pd.DataFrame, out_stem: str, protocol: str = "megaverse",
                  families: dict | None = None) -> list[str]:
    """Grouped bars per task: best finetune and base model (measured) vs published finetunes and baselines."""
    with matplotlib.rc_context(RC):
        series = _series_fig2(tidy, protocol, families)
        fig = _figure(12, 5.4)
        ax, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [6, 1.5]})
        if not series:
            _no_data(ax)
            _no_data(ax2)
        else:
            _grouped_bars(ax, TABLE1_TASKS, series, "score, headline metric (0..1)")
            ax.set_xticklabels([f"{TASK_LABELS[t]}\n({_metric_name(t)})" for t in TABLE1_TASKS])
            ax.set_ylim(0, 1.1)  # room above 1.0 for the "no measured data" notes
            ax.set_yticks(np.linspace(0, 1, 6))
            ax.set_xlabel("task (headline metric averaged over languages)")
            _grouped_bars(ax2, ["alpaca_eval"], series, "AlpacaEval win rate (%)", percent=True)
            ax2.set_xticklabels(["AlpacaEval\n(win rate %)"])
            ax2.set_ylim(0, 110)
            ax2.set_yticks(np.arange(0, 101, 20))
            ax2.set_xlabel("instruction following")
            handles = [_legend_patch(c, k, label) for label, k, c, _ in series]
            fig.legend(handles=handles, loc="outside lower center", ncols=min(3, len(handles)), frameon=False)
        _title(fig, "Fig. 2 - Task-wise best finetuned model vs off-the-shelf baselines", protocol)
        return save(fig, out_stem)


def _metric_name(task: str) -> str:
    from maple.report.common import HEADLINE, METRIC_LABELS

    return METRIC_LABELS.get(HEADLINE[task], HEADLINE[task])


# ------------------------------------------------------------------------------------ figure 3
def fig3_belebele_groups(tidy: pd.DataFrame, out_stem: str, groups: dict, protocol: str = "megaverse",
                         families: dict | None = None,
                         datasets: tuple = ("multialpaca", "bactrian-x-22")) -> list[str]:
    """Belebele accuracy per language group (config `report.belebele_groups`; with two listed the rest
    is the third group, see languages.belebele_group) for the models finetuned on MultiAlpaca vs
    Bactrian-X-22 (one panel per model); each group's label gives n, its languages with scores."""
    with matplotlib.rc_context(RC):
        groups = dict(groups or {})
        rest = L.rest_group_name(groups)
        group_names = list(groups) + ([rest] if rest else [])  # three listed: the rest shows under "all" only
        rows = headline_rows(measured(tidy), ["belebele"], protocol)
        rows = rows[rows["value"].notna() & (rows["language"] != AVG_LANGUAGE)].copy()
        rows["group"] = [L.belebele_group(lang, groups) for lang in rows["language"]]
        rows = rows[rows["dataset"].isin(list(datasets) + [NO_DATASET])]
        models = sorted(rows["model"].unique())
        pub = _published_avg(tidy)
        pub = pub[pub["task"] == "belebele"]
        slots = group_names + ["all"]
        fig = _figure(max(6.5, 4.8 * max(1, len(models)) + 0.5), 4.8)
        axes = fig.subplots(1, max(1, len(models)), squeeze=False)[0]
        handles = {}
        if not models:
            _no_data(axes[0], "no data: no Belebele scores for these datasets")
        for ax, model in zip(axes, models):
            sub = rows[rows["model"] == model]
            pm = paper_model(model, families)
            bars = [(d, "measured", DATASET_COLOURS.get(d, "#777777")) for d in datasets]
            bars += [(NO_DATASET, "base", BASE_COLOUR)]
            bars += [(d, "published", DATASET_COLOURS.get(d, "#777777")) for d in datasets]
            width = 0.84 / len(bars)
            n_langs = {}
            for j, slot in enumerate(slots):
                in_slot = sub if slot == "all" else sub[sub["group"] == slot]
                n_langs[slot] = in_slot["language"].nunique()
                for i, (d, kind, colour) in enumerate(bars):
                    x = j - 0.42 + width * (i + 0.5)
                    if kind == "published":
                        if slot != "all":
                            continue
                        p = pub[(pub["model"] == pm) & (pub["dataset"] == d)]["value"]
                        if len(p):
                            _bar(ax, x, float(p.iloc[0]), width, colour, kind)
                            label = f"{dataset_label(d)} (published, MAPLE, all languages)"
                            handles[label] = _legend_patch(colour, kind, label)
                        continue
                    cfg = in_slot[in_slot["dataset"] == d]
                    if cfg.empty:
                        if n_langs[slot]:
                            ax.text(x, 0.01, "n/a", ha="center", va="bottom", fontsize=6, color="#555555", rotation=90)
                        continue
                    per_cfg = cfg.groupby(["rank", "bits"], dropna=False)["value"].mean()
                    mean, lo, hi = per_cfg.mean(), per_cfg.min(), per_cfg.max()
                    _bar(ax, x, mean, width, colour, kind,
                         yerr=[[mean - lo], [hi - mean]] if len(per_cfg) > 1 else None,
                         error_kw={"elinewidth": 0.8, "capsize": 2, "ecolor": "#333333"})
                    label = (f"{dataset_label(d)} (measured)" if kind == "measured"
                             else "base model, not finetuned (measured)")
                    handles[label] = _legend_patch(colour, kind, label)
                if n_langs[slot] == 0:
                    ax.text(j, 0.02, NO_DATA_TEXT, ha="center", va="bottom", fontsize=7, color="#555555",
                            style="italic", rotation=90)
            labels = []
            for slot in slots:
                if slot == "all":
                    labels.append(f"all languages\n(n={n_langs[slot]})")
                else:
                    labels.append(f"{_group_label(slot, group_names)}\n(n={n_langs[slot]})")
            ax.set_xticks(range(len(slots)))
            ax.set_xticklabels(labels)
            ax.set_ylim(0, 1)
            ax.set_ylabel("Belebele accuracy (0..1)")
            ax.set_xlabel("language group (n = languages with scores)")
            ax.set_title(f"{model}" + (f" (paper row: {model_label(pm)})" if pm else ""))
            ax.grid(axis="y", color="#e5e5e5", linewidth=0.6)
            ax.set_axisbelow(True)
        if handles:
            fig.legend(handles=list(handles.values()), loc="outside lower center", ncols=3, frameon=False)
        _title(fig, "Fig. 3 - Belebele by language group, MultiAlpaca vs Bactrian-X-22", protocol)
        return save(fig, out_stem)


def _group_label(slot: str, group_names: list[str]) -> str:
    idx = group_names.index(slot) + 1
    desc = {1: "(MultiAlpaca)", 2: "(BX-22 only)"}.get(idx) if len(group_names) == 3 else None
    if idx == len(group_names):
        desc = "(neither)"
    return f"Group {idx}" + (f"\n{desc}" if desc else "")


# ------------------------------------------------------------------------------------ figure 4
# the paper's Figure 4 languages (MAPLE shows 11; zh, which MEGAVERSE also ran, is not among them)
XQUAD_ORDER = ["ar", "de", "el", "en", "es", "hi", "ro", "ru", "th", "tr", "vi"]


def fig4_xquad_languages(tidy: pd.DataFrame, out_stem: str, protocol: str = "megaverse",
                         families: dict | None = None) -> list[str]:
    """Per-language XQuAD F1 of each model's best finetune and base model, plus averages vs published."""
    with matplotlib.rc_context(RC):
        rows = headline_rows(measured(tidy), ["xquad"], protocol)
        rows = rows[rows["value"].notna() & rows["language"].isin(XQUAD_ORDER)]
        models = sorted(rows["model"].unique())
        pub = _published_avg(tidy)
        pub = pub[pub["task"] == "xquad"]
        nrows = max(1, len(models))
        fig = _figure(12, 3.1 * nrows + 1.0)
        axes = fig.subplots(nrows, 2, squeeze=False, gridspec_kw={"width_ratios": [4.2, 1.6]})
        if not models:
            _no_data(axes[0][0], "no data: no XQuAD scores")
            _no_data(axes[0][1])
        for (ax, axa), model in zip(axes, models):
            sub = rows[rows["model"] == model]
            colour = _model_colour(model, families, models)
            series = []
            ft = sub[sub["dataset"] != NO_DATASET]
            if not ft.empty:
                cfg = ft.groupby(["dataset", "rank", "bits"], dropna=False)["value"].agg(value="mean").reset_index()
                best = pick_best(cfg.assign(model=model), "value", ["model"]).iloc[0]
                sel = ft[(ft["dataset"] == best["dataset"]) & (ft["rank"] == best["rank"])
                         & (ft["bits"] == best["bits"])]
                config_text = f"{dataset_label(best['dataset'])} {_cfg_label(best['rank'], best['bits'])}"
                series.append((f"best finetune: {config_text}",
                               "measured", colour, sel.groupby("language")["value"].mean().to_dict()))
            base = sub[sub["dataset"] == NO_DATASET]
            if not base.empty:
                series.append(("base, not finetuned", "base", colour,
                               base.groupby("language")["value"].mean().to_dict()))
            langs = sorted({lang for *_, v in series for lang in v},
                           key=lambda x: (XQUAD_ORDER.index(x) if x in XQUAD_ORDER else 99, x))
            _grouped_bars(ax, langs, series, "XQuAD F1 (0..1)")
            ax.set_xticklabels(langs)
            ax.set_ylim(0, 1)
            ax.set_xlabel("language (ISO 639-1)")
            ax.set_title(f"{model}: per language (measured)")
            ax.legend(handles=[_legend_patch(c, k, f"{label} (measured)") for label, k, c, _ in series],
                      loc="upper right", frameon=False)
            # averages: measured vs published
            names, values, kinds, colours = [], [], [], []
            for label, kind, c, v in series:
                names.append(f"{model} best finetune" if kind == "measured" else f"{model} base")
                values.append(float(np.mean(list(v.values()))))
                kinds.append(kind)
                colours.append(c)
            pm = paper_model(model, families)
            p_ft = pub[(pub["model"] == pm) & (pub["dataset"] != NO_DATASET)]["value"]
            if len(p_ft):
                names.append(f"{model_label(pm)}\nbest finetune")
                values.append(float(p_ft.max()))
                kinds.append("published")
                colours.append(_paper_colour(pm))
            for name in BASELINES:
                p = pub[pub["model"] == name]["value"]
                if len(p):
                    names.append(name)
                    values.append(float(p.iloc[0]))
                    kinds.append("published")
                    colours.append(BASELINE_COLOURS[name])
            if not names:
                _no_data(axa)
                continue
            ys = list(range(len(names)))[::-1]  # first entry on top
            for y, v, kind, c in zip(ys, values, kinds, colours):
                _barh(axa, y, v, 0.7, c, kind)
                axa.text(v + 0.01, y, f"{v:.2f}", ha="left", va="center", fontsize=7)
            axa.set_yticks(ys)
            axa.set_yticklabels([n.replace("\n", " ") for n in names])
            axa.set_xlim(0, 1.1)
            axa.set_xlabel("XQuAD F1, average over languages")
            axa.set_title("average over languages: measured (solid) vs published (hatched)", loc="right")
            axa.grid(axis="x", color="#e5e5e5", linewidth=0.6)
            axa.set_axisbelow(True)
        if models:
            fig.legend(handles=[_legend_patch("#777777", "measured", "solid = measured (this workflow)"),
                                _legend_patch("#777777", "published",
                                              "hatched = published (MAPLE Table 1; baselines from MEGAVERSE)")],
                       loc="outside lower center", ncols=2, frameon=False)
        _title(fig, "Fig. 4 - Language-wise XQuAD F1 of finetuned models vs baselines", protocol)
        return save(fig, out_stem)


# ------------------------------------------------------------------------------- figures 5 and 6
def _deltas_vs_base(tidy: pd.DataFrame, protocol: str, english_only: bool) -> pd.DataFrame:
    """Finetuned minus base headline score per cell x task x language (same model and protocol)."""
    rows = headline_rows(measured(tidy), TABLE1_TASKS, protocol)
    rows = rows[rows["value"].notna() & (rows["language"] != AVG_LANGUAGE)]
    if english_only:
        rows = rows[[L.is_english(x) for x in rows["language"]]]
    cols = ["model", "dataset", "rank", "bits", "task", "language", "delta"]
    if rows.empty:
        return pd.DataFrame(columns=cols)
    keys = ["model", "task", "language"]
    base = rows[rows["dataset"] == NO_DATASET].groupby(keys)["value"].mean().rename("base").reset_index()
    ft = (rows[rows["dataset"] != NO_DATASET]
          .groupby(["model", "dataset", "rank", "bits", "task", "language"])["value"].mean().reset_index())
    merged = ft.merge(base, on=keys, how="inner")
    merged["delta"] = merged["value"] - merged["base"]
    return merged[cols]


def fig5_english(tidy: pd.DataFrame, out_stem: str, protocol: str = "megaverse",
                 families: dict | None = None) -> list[str]:
    """English degradation: finetuned minus base on the English rows, by rank and by bits."""
    with matplotlib.rc_context(RC):
        d = _deltas_vs_base(tidy, protocol, english_only=True)
        fig = _figure(10, 4.4)
        axes = fig.subplots(1, 2, sharey=True)
        if d.empty:
            for ax in axes:
                _no_data(ax, "no data: needs English scores of finetuned and base models")
        else:
            cell = d.groupby(["model", "dataset", "rank", "bits"])["delta"].mean().reset_index()
            models = sorted(cell["model"].unique())
            for ax, axis, other, label in ((axes[0], "rank", "bits", "LoRA rank"),
                                           (axes[1], "bits", "rank", "bits of the base model during finetuning")):
                for k, model in enumerate(models):
                    sub = cell[cell["model"] == model]
                    colour = _model_colour(model, families, models)
                    offsets = 1 + 0.06 * (k - (len(models) - 1) / 2)
                    ax.scatter(sub[axis].astype(float) * offsets, sub["delta"], s=14, color=colour, alpha=0.45,
                               edgecolors="none")
                    line = sub.groupby(axis)["delta"].mean()
                    ax.plot(line.index.astype(float), line.values, marker="o", color=colour, linewidth=1.6,
                            label=f"{model} (measured; mean over datasets and {other})")
                ax.axhline(0, color="#555555", linewidth=0.8, linestyle="--")
                _log2_axis(ax, cell[axis].dropna().unique(), label)
                ax.grid(axis="y", color="#e5e5e5", linewidth=0.6)
            axes[0].set_ylabel("English score, finetuned minus base\n(headline metric, 0..1; <0 = degradation)")
            handles = [Line2D([], [], color=_model_colour(m, families, models), marker="o", label=f"{m} (measured)")
                       for m in models]
            handles.append(Line2D([], [], color="#777777", marker="o", linestyle="none", alpha=0.45,
                                  label="single finetuned cell"))
            fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), frameon=False)
        _title(fig, "Fig. 5 - English degradation after finetuning", protocol)
        return save(fig, out_stem)


def fig6_resource(tidy: pd.DataFrame, out_stem: str, protocol: str = "megaverse",
                  families: dict | None = None, classes: dict | None = None) -> list[str]:
    """Low- vs high-resource languages: finetuned minus base, by rank and by bits, per model."""
    with matplotlib.rc_context(RC):
        d = _deltas_vs_base(tidy, protocol, english_only=False)
        models = sorted(d["model"].unique()) if not d.empty else []
        nrows = max(1, len(models))
        fig = _figure(10, 3.2 * nrows + 1.0)
        axes = fig.subplots(nrows, 2, squeeze=False, sharey=True)
        if d.empty:
            for ax in axes[0]:
                _no_data(ax, "no data: needs scores of finetuned and base models")
        else:
            d = d.copy()
            d["level"] = [L.resource_level(x, classes) for x in d["language"]]
            levels = [lv for lv in L.RESOURCE_LEVELS + ("unknown",) if lv in set(d["level"])]
            for (ax_r, ax_b), model in zip(axes, models):
                sub = d[d["model"] == model]
                for ax, axis, label in ((ax_r, "rank", "LoRA rank (share of trainable parameters)"),
                                        (ax_b, "bits", "bits of the base model during finetuning")):
                    for k, level in enumerate(levels):
                        lv = sub[sub["level"] == level]
                        if lv.empty:
                            continue
                        line = lv.groupby(axis)["delta"].agg(["mean", "sem", "count"])
                        x = line.index.astype(float) * (1 + 0.04 * (k - (len(levels) - 1) / 2))
                        ax.errorbar(x, line["mean"], yerr=line["sem"].fillna(0), color=LEVEL_COLOURS[level],
                                    marker=LEVEL_MARKERS[level], linewidth=1.5, capsize=2, markersize=5)
                    ax.axhline(0, color="#555555", linewidth=0.8, linestyle="--")
                    _log2_axis(ax, d[axis].dropna().unique(), label)
                    ax.grid(axis="y", color="#e5e5e5", linewidth=0.6)
                    ax.set_title(f"{model}: effect of {'rank' if axis == 'rank' else 'bits'}")
                ax_r.set_ylabel("finetuned minus base\n(headline metric, 0..1)")
            d["iso"] = [L.to_iso(x) for x in d["language"]]
            n_lang = d.groupby("level")["iso"].nunique()
            handles = [Line2D([], [], color=LEVEL_COLOURS[lv], marker=LEVEL_MARKERS[lv],
                              label=(f"{L.RESOURCE_LEVEL_LABELS[lv]}: "
                                     f"{_plural(int(n_lang.get(lv, 0)), 'language')} (measured)"))
                       for lv in levels]
            fig.legend(handles=handles, loc="outside lower center", ncols=min(2, len(handles)), frameon=False)
        _title(fig, "Fig. 6 - Low- vs high-resource languages: effect of rank and bits (mean +- s.e.)", protocol)
        return save(fig, out_stem)


# ------------------------------------------------------------------------------------------- all
def plot_figure(key: str, tidy: pd.DataFrame, out_stem: str, protocol: str, config: dict) -> list[str]:
    """One figure (`fig1`..`fig6`) for one protocol; returns [png, pdf]."""
    from maple.report.tables import families_from_config

    families = families_from_config(config)
    report = config.get("report") or {}
    if key == "fig1":
        return fig1_heatmaps(tidy, out_stem, protocol, families)
    if key == "fig1b":
        return fig1_heatmaps(tidy, out_stem, protocol, families, tasks=["belebele"])
    if key == "fig2":
        return fig2_taskwise(tidy, out_stem, protocol, families)
    if key == "fig3":
        return fig3_belebele_groups(tidy, out_stem, report.get("belebele_groups") or {}, protocol, families)
    if key == "fig4":
        return fig4_xquad_languages(tidy, out_stem, protocol, families)
    if key == "fig5":
        return fig5_english(tidy, out_stem, protocol, families)
    if key == "fig6":
        return fig6_resource(tidy, out_stem, protocol, families, report.get("resource_classes"))
    raise ValueError(f"figure {key!r} is not one of {', '.join(STEMS)}")


def make_figures(tidy: pd.DataFrame, out_dir: str, config: dict, protocols: list[str] | None = None) -> list[str]:
    """All six figures for each protocol: `<out_dir>/<stem>_<protocol>.png/.pdf`; returns the PNG paths."""
    from maple.report.tables import protocols_of

    protocols = protocols or config.get("evaluation", {}).get("protocols") or protocols_of(tidy)
    return [
        plot_figure(key, tidy, str(Path(out_dir) / f"{STEMS[key]}_{protocol}"), protocol, config)[0]
        for protocol in protocols
        for key in STEMS
    ]


def caption_for(path: str) -> str:
    """The caption of a figure file (by its `figN_` prefix), with the protocol named."""
    name = Path(path).stem
    key = name.split("_", 1)[0]
    text = CAPTIONS.get(key, "")
    for full in STEMS.values():
        if name.startswith(full + "_"):
            return f"{text} Protocol: {name[len(full) + 1:]}."
    return text
