"""The study's figures: each is a data frame, then a drawing of that frame alone.

`figN_data(tidy, protocol, ..., averages, comparisons)` returns what figure N plots (one row per bar,
cell or point, with its interval); `draw_figN(data, protocol)` draws it; `plot_figure` writes
`<stem>.png`, `.pdf` and the frame as `<stem>.csv` (`figures/fig1_rank_bits_heatmap_megaverse.*`).
Inputs: the tidy table (`results/scores.parquet`), and for intervals and significance marks
`results/averages.csv` and `results/comparisons.csv`. What exists is drawn (missing cells/tasks
leave gaps or "no data" panels, never an error). Measured numbers are solid; published ones (MAPLE / MEGAVERSE) are hatched and labelled
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

from maple.grid import NO_DATASET, cell_of
from maple.report import languages as L
from maple.report.figure_names import STEMS
from maple.report.common import (
    AVG_LANGUAGE,
    BASELINES,
    TABLE1_TASKS,
    TASK_LABELS,
    config_averages,
    dataset_label,
    dataset_sort_key,
    fmt_number,
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
LEVEL_COLOURS = {"high": "#0072B2", "mid": "#009E73", "low": "#D55E00", "unknown": "#999999"}
LEVEL_MARKERS = {"high": "o", "mid": "s", "low": "^", "unknown": "x"}
PUBLISHED_HATCH = "////"
NO_DATA_TEXT = "no data"

CAPTIONS = {
    "fig1": "Average score over the six tasks (XNLI, XCOPA, XQuAD, Belebele, MLQA, XL-Sum; headline metric "
            "averaged over languages, 0..1) of every LoRA rank x base-model bits configuration, one panel per "
            "model x finetuning dataset. The boxed cell is the best configuration (the one Table 1 reports); "
            "panel titles give MAPLE's published best average for the model family and dataset. Below each value: "
            "its 95% bootstrap interval (examples of every language resampled); \u2020: the paired bootstrap "
            "difference from the best cell excludes zero (results/comparisons.csv). Grey cells: not in the grid "
            "or no scores; * marks cells with fewer tasks than the others. The paper's Figure 1 shows the three "
            "multilingual datasets; the Alpaca panel is extra.",
    "fig1b": "Belebele alone: accuracy (averaged over every evaluated Belebele language) of every LoRA rank x "
             "base-model bits configuration, one panel per model x finetuning dataset; boxed: the best. Below "
             "each value: its 95% bootstrap interval.",
    "fig2": "Task-wise best finetuned model (best over datasets, ranks and bits for each task) and the "
            "un-finetuned base model, measured (solid), against MAPLE's published best finetunes and the "
            "published off-the-shelf baselines from MEGAVERSE (hatched). Whiskers: 95% bootstrap intervals over "
            "the examples of every averaged language (instructions for AlpacaEval). Right: AlpacaEval win rate (%).",
    "fig3": "Belebele accuracy by language group for models finetuned on MultiAlpaca and on Bactrian-X-22: "
            "Group 1 = MultiAlpaca languages, Group 2 = Bactrian-X-22 languages not in MultiAlpaca, Group 3 = "
            "the rest. Bars: mean over rank x bits configurations, whiskers: their range (not an interval); grey: "
            "base model. 'All languages' adds MAPLE's published Belebele average (hatched); \u2020: the best "
            "Bactrian-X-22 cell's Belebele score differs from the best MultiAlpaca cell's (paired bootstrap "
            "interval excludes zero).",
    "fig4": "Language-wise XQuAD F1 on the paper's 11 languages (ar, de, el, en, es, hi, ro, ru, th, tr, vi) "
            "of the best finetuned configuration (by XQuAD average over them) and of the base model, with 95% "
            "bootstrap intervals over examples. The right-hand panel compares averages over "
            "languages (intervals: every language's examples resampled) with MAPLE's published numbers "
            "(hatched; the paper gives no per-language numbers for these rows).",
    "fig5": "English degradation: score on the English rows of each task minus the base model's, averaged "
            "over tasks, as a function of LoRA rank (left) and bits (right). Points: single cells with the 95% "
            "paired bootstrap interval of their difference from the base model (filled: it excludes zero); "
            "lines: their mean per model. Below zero, finetuning hurt English. No published counterpart.",
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
    from maple.io import atomic_file

    with atomic_file(png, "wb") as fh:
        fig.savefig(fh, format="png", dpi=DPI, metadata={"Software": None})
    with atomic_file(pdf, "wb") as fh:
        fig.savefig(fh, format="pdf", metadata={"CreationDate": None, "Creator": None, "Producer": None})
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


# ------------------------------------------------------------------------------ data and drawing
# Every figure is two functions: `figN_data(...)` returns the data frame it plots (one row per drawn
# mark, saved beside the figure as `<stem>.csv`) and `draw_figN(data, ...)` draws that frame alone.
# Intervals are 95% bootstrap intervals over examples (results/averages.csv, the score rows'
# ci_low/ci_high, results/comparisons.csv); a figure drawn without them shows the values alone.

def _interval_map(averages: pd.DataFrame | None) -> dict:
    """(cell, protocol, task, language) -> (ci_low, ci_high) from results/averages.csv."""
    if averages is None or len(averages) == 0:
        return {}
    return {(r.cell, r.protocol, r.task, r.language): (r.ci_low, r.ci_high) for r in averages.itertuples(index=False)}


def _comparisons_of(comparisons: pd.DataFrame | None, kind: str, protocol: str) -> pd.DataFrame:
    if comparisons is None or len(comparisons) == 0:
        return pd.DataFrame(columns=["cell_a", "cell_b", "task", "language", "difference", "ci_low", "ci_high",
                                     "p_value", "excludes_zero"])
    c = comparisons[(comparisons["comparison"] == kind) & (comparisons["protocol"] == protocol)]
    return c


def _yerr(values, lows, highs):
    """Asymmetric error bars (2 x n) from intervals; NaN where there is none (nothing drawn)."""
    v = np.asarray(values, dtype=float)
    lo = np.asarray(pd.to_numeric(pd.Series(list(lows)), errors="coerce"), dtype=float)
    hi = np.asarray(pd.to_numeric(pd.Series(list(highs)), errors="coerce"), dtype=float)
    return np.vstack([np.clip(v - lo, 0, None), np.clip(hi - v, 0, None)])


def _errorbars(ax, x, values, lows, highs, horizontal: bool = False) -> None:
    err = _yerr(values, lows, highs)
    keep = ~np.isnan(err).any(axis=0)
    if not keep.any():
        return
    x, values = np.asarray(x, dtype=float)[keep], np.asarray(values, dtype=float)[keep]
    kw = {"fmt": "none", "ecolor": "#222222", "elinewidth": 0.8, "capsize": 2, "zorder": 3}
    if horizontal:
        ax.errorbar(values, x, xerr=err[:, keep], **kw)
    else:
        ax.errorbar(x, values, yerr=err[:, keep], **kw)


# ------------------------------------------------------------------------------------ figure 1
FIG1_EXTRA_DATASETS = ("alpaca",)  # the paper's Figure 1 shows MultiAlpaca, BX-22, BX-11; Alpaca is extra
FIG1_COLUMNS = ["model", "dataset", "rank", "bits", "cell", "value", "ci_low", "ci_high", "n_tasks", "best",
                "differs_from_best", "p_value_vs_best", "published_best"]


def fig1_data(tidy: pd.DataFrame, protocol: str = "megaverse", families: dict | None = None,
              averages: pd.DataFrame | None = None, comparisons: pd.DataFrame | None = None,
              tasks: list | None = None) -> pd.DataFrame:
    """One row per finetuned cell: its average over the six tasks (or `tasks`, e.g. Belebele alone) with
    its interval, whether it is its panel's best, and whether its paired difference from the best
    excludes zero (comparisons and the published best exist for the six-task average only)."""
    tasks = list(tasks or TABLE1_TASKS)
    six = len(tasks) > 1
    scores = task_scores(tidy, protocol=protocol, tasks=tasks)
    ft = scores[scores["dataset"] != NO_DATASET] if not scores.empty else scores
    avg = config_averages(ft, tasks=tasks)
    if avg.empty:
        return pd.DataFrame(columns=FIG1_COLUMNS)
    ci = _interval_map(averages)
    comp = _comparisons_of(comparisons if six else None, "rank_bits_vs_best", protocol)
    comp = {r.cell_a: r for r in comp.itertuples(index=False)}
    ci_task = "average" if six else tasks[0]
    pub = _published_avg(tidy)
    pub = pub[pub["task"] == "average"]
    rows = []
    for (model, dataset), sub in avg.groupby(["model", "dataset"], sort=True):
        best = pick_best(sub, "average", ["model", "dataset"], prefer_complete="n_tasks").iloc[0]
        best_cell = cell_of(model, dataset, best["rank"], best["bits"])
        pm = paper_model(model, families)
        p = pub[(pub["model"] == pm) & (pub["dataset"] == dataset)]["value"]
        for r in sub.itertuples(index=False):
            cell = cell_of(model, dataset, r.rank, r.bits)
            low, high = ci.get((cell, protocol, ci_task, AVG_LANGUAGE), (np.nan, np.nan))
            c = comp.get(cell)
            rows.append({"model": model, "dataset": dataset, "rank": int(r.rank), "bits": int(r.bits), "cell": cell,
                         "value": float(r.average), "ci_low": low, "ci_high": high, "n_tasks": int(r.n_tasks),
                         "best": cell == best_cell,
                         "differs_from_best": bool(c.excludes_zero) if c is not None else None,
                         "p_value_vs_best": float(c.p_value) if c is not None else np.nan,
                         "published_best": float(p.iloc[0]) if len(p) and six else np.nan})
    return pd.DataFrame(rows, columns=FIG1_COLUMNS)


def draw_fig1b(data: pd.DataFrame, protocol: str = "megaverse") -> Figure:
    """Figure 1's heatmaps on Belebele alone."""
    return draw_fig1(data, protocol, "Fig. 1 (Belebele only) - accuracy per LoRA rank x bits (box: best)")


def draw_fig1(data: pd.DataFrame, protocol: str = "megaverse", title: str | None = None) -> Figure:
    """Rank x bits heatmaps of `fig1_data`, one panel per model x dataset: value and interval per cell,
    the best boxed, cells whose difference from the best excludes zero marked with a dagger."""
    title = title or "Fig. 1 - Average of the six task scores per LoRA rank x bits (box: best; \u2020: differs from it)"
    if data.empty:
        fig = _figure(6, 3.5)
        _no_data(fig.subplots(), "no data: no measured finetuned cells with scores")
        _title(fig, title, protocol)
        return fig
    models = sorted(data["model"].unique())
    datasets = sorted(data["dataset"].unique(), key=dataset_sort_key)
    ranks = sorted(int(r) for r in data["rank"].unique())
    bits = sorted(int(b) for b in data["bits"].unique())
    vmin, vmax = float(data["value"].min()), float(data["value"].max())
    if vmax - vmin < 1e-6:
        vmin, vmax = vmin - 0.05, vmax + 0.05
    max_tasks = int(data["n_tasks"].max())
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="#e0e0e0")
    norm = matplotlib.colors.Normalize(vmin, vmax)
    nrows, ncols = len(models), len(datasets)
    fig = _figure(max(5.5, 2.9 * ncols + 1.6), max(3.2, 0.42 * len(ranks) * nrows + 1.2 * nrows + 1.0))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    image = None
    for i, model in enumerate(models):
        for j, dataset in enumerate(datasets):
            ax = axes[i][j]
            sub = data[(data["model"] == model) & (data["dataset"] == dataset)]
            pub_best = sub["published_best"].dropna()
            pub_text = f"published best avg: {fmt_number(pub_best.iloc[0])}" if len(pub_best) else "published: -"
            extra = " (extra panel)" if dataset in FIG1_EXTRA_DATASETS else ""
            ax.set_title(f"{model} - {dataset_label(dataset)}{extra}\n{pub_text}")
            if sub.empty:
                _no_data(ax)
                continue
            grid = np.full((len(ranks), len(bits)), np.nan)
            for row in sub.itertuples(index=False):
                grid[ranks.index(row.rank), bits.index(row.bits)] = row.value
            image = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, norm=norm, aspect="auto", origin="lower")
            for row in sub.itertuples(index=False):
                r, b = ranks.index(row.rank), bits.index(row.bits)
                if row.best:
                    ax.add_patch(Rectangle((b - 0.5, r - 0.5), 1, 1, fill=False, edgecolor="#D55E00", lw=2.2))
                mark = ("*" if row.n_tasks < max_tasks else "") + ("\u2020" if row.differs_from_best is True else "")
                text = f"{fmt_number(row.value)}{mark}"
                if not (pd.isna(row.ci_low) or pd.isna(row.ci_high)):
                    text += f"\n[{fmt_number(row.ci_low)}, {fmt_number(row.ci_high)}]"
                colour = "white" if norm(row.value) < 0.55 else "black"
                ax.text(b, r, text, ha="center", va="center", color=colour, fontsize=7)
            for r in range(len(ranks)):
                for b in range(len(bits)):
                    if np.isnan(grid[r, b]):
                        ax.text(b, r, "-", ha="center", va="center", color="#666666", fontsize=8)
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
    return fig


# ------------------------------------------------------------------------------------ figure 2
FIG2_COLUMNS = ["series", "kind", "colour", "task", "cell", "value", "ci_low", "ci_high"]


def fig2_data(tidy: pd.DataFrame, protocol: str = "megaverse", families: dict | None = None,
              averages: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per bar: each model's best finetune per task and its base model (measured, with the
    interval of the task average over languages), MAPLE's published best finetunes and baselines."""
    tasks = TABLE1_TASKS + ["alpaca_eval"]
    scores = task_scores(tidy, protocol=protocol, tasks=tasks)
    ci = _interval_map(averages)
    rows = []
    models = sorted(scores["model"].unique()) if not scores.empty else []
    for model in models:
        colour = _model_colour(model, families, models)
        sm = scores[scores["model"] == model]
        for label, kind, part in ((f"{model}: best finetune (measured)", "measured", sm[sm["dataset"] != NO_DATASET]),
                                  (f"{model}: base, not finetuned (measured)", "base", sm[sm["dataset"] == NO_DATASET])):
            if part.empty:
                continue
            best = part.sort_values("value", ascending=False, kind="mergesort").groupby("task", sort=True).head(1)
            for r in best.itertuples(index=False):
                cell = cell_of(model, r.dataset, r.rank, r.bits)
                low, high = ci.get((cell, protocol, r.task, AVG_LANGUAGE), (np.nan, np.nan))
                rows.append({"series": label, "kind": kind, "colour": colour, "task": r.task, "cell": cell,
                             "value": float(r.value), "ci_low": low, "ci_high": high})
    pub = published(tidy)
    pub = pub[pub["value"].notna() & pub["task"].isin(tasks)]
    pub = pub[(pub["language"] == AVG_LANGUAGE) | (pub["task"] == "alpaca_eval")]
    published_series = [(f"{model_label(pm)}: best finetune (published, MAPLE)", _paper_colour(pm),
                         pub[(pub["model"] == pm) & (pub["dataset"] != NO_DATASET)])
                        for pm in _paper_models(tidy, families)]
    published_series += [(f"{name} (published baseline)", BASELINE_COLOURS[name], pub[pub["model"] == name])
                         for name in BASELINES]
    for label, colour, sub in published_series:
        for task, value in sub.groupby("task")["value"].max().items():
            rows.append({"series": label, "kind": "published", "colour": colour, "task": task, "cell": None,
                         "value": float(value), "ci_low": np.nan, "ci_high": np.nan})
    return pd.DataFrame(rows, columns=FIG2_COLUMNS)


def _grouped_bars(ax, groups: list, data: pd.DataFrame, key: str, ylabel: str, percent: bool = False):
    """Bars of `data` (columns series, kind, colour, value, ci_low, ci_high, and `key` naming the group),
    one cluster per group, one bar per series, error bars where there is an interval."""
    series = list(dict.fromkeys(data["series"]))
    n = max(len(series), 1)
    width = 0.84 / n
    measured_any = set(data[data["kind"] != "published"][key])
    for i, name in enumerate(series):
        s = data[data["series"] == name]
        kind, colour = s["kind"].iloc[0], s["colour"].iloc[0]
        values = {r[key]: r for r in s.to_dict("records")}
        xs, vs, los, his = [], [], [], []
        for j, g in enumerate(groups):
            x = j - 0.42 + width * (i + 0.5)
            r = values.get(g)
            if r is None or pd.isna(r["value"]):
                if kind != "published" and g in measured_any:
                    ax.text(x, 0.01 * (100 if percent else 1), "n/a", ha="center", va="bottom", fontsize=6,
                            color="#555555", rotation=90)
                continue
            _bar(ax, x, r["value"], width, colour, kind)
            xs.append(x), vs.append(r["value"]), los.append(r["ci_low"]), his.append(r["ci_high"])
        _errorbars(ax, xs, vs, los, his)
    for j, g in enumerate(groups):
        if g not in measured_any:
            ax.text(j, 0.985, "no measured data", ha="center", va="top", fontsize=7, color="#555555", style="italic",
                    transform=ax.get_xaxis_transform(),
                    bbox={"facecolor": "white", "edgecolor": "#bbbbbb", "alpha": 0.85, "pad": 1.5})
    ax.set_xticks(range(len(groups)))
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", color="#e5e5e5", linewidth=0.6)
    ax.set_axisbelow(True)


def draw_fig2(data: pd.DataFrame, protocol: str = "megaverse") -> Figure:
    fig = _figure(12, 5.4)
    ax, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [6, 1.5]})
    if data.empty:
        _no_data(ax)
        _no_data(ax2)
    else:
        _grouped_bars(ax, TABLE1_TASKS, data, "task", "score, headline metric (0..1)")
        ax.set_xticklabels([f"{TASK_LABELS[t]}\n({_metric_name(t)})" for t in TABLE1_TASKS])
        ax.set_ylim(0, 1.1)  # room above 1.0 for the "no measured data" notes
        ax.set_yticks(np.linspace(0, 1, 6))
        ax.set_xlabel("task (headline metric averaged over languages; whiskers: 95% bootstrap interval)")
        _grouped_bars(ax2, ["alpaca_eval"], data, "task", "AlpacaEval win rate (%)", percent=True)
        ax2.set_xticklabels(["AlpacaEval\n(win rate %)"])
        ax2.set_ylim(0, 110)
        ax2.set_yticks(np.arange(0, 101, 20))
        ax2.set_xlabel("instruction following")
        firsts = data.drop_duplicates("series")
        handles = [_legend_patch(r.colour, r.kind, r.series) for r in firsts.itertuples(index=False)]
        fig.legend(handles=handles, loc="outside lower center", ncols=min(3, len(handles)), frameon=False)
    _title(fig, "Fig. 2 - Task-wise best finetuned model vs off-the-shelf baselines", protocol)
    return fig


def _metric_name(task: str) -> str:
    from maple.report.common import HEADLINE, METRIC_LABELS

    return METRIC_LABELS.get(HEADLINE[task], HEADLINE[task])


# ------------------------------------------------------------------------------------ figure 3
FIG3_COLUMNS = ["model", "paper_model", "slot", "slot_label", "n_languages", "dataset", "kind", "colour", "value",
                "low", "high", "n_configs", "differs_from_multialpaca"]


def fig3_data(tidy: pd.DataFrame, groups: dict, protocol: str = "megaverse", families: dict | None = None,
              datasets: tuple = ("multialpaca", "bactrian-x-22"), comparisons: pd.DataFrame | None = None
              ) -> pd.DataFrame:
    """One row per bar: Belebele accuracy per language group (config `report.belebele_groups`, the rest
    is the last group) and over all languages, per model and dataset: the mean over rank x bits
    configurations with their range (low/high); the base model; MAPLE's published average."""
    groups = dict(groups or {})
    rest = L.rest_group_name(groups)
    group_names = list(groups) + ([rest] if rest else [])  # three listed: the rest shows under "all" only
    rows_t = headline_rows(measured(tidy), ["belebele"], protocol)
    rows_t = rows_t[rows_t["value"].notna() & (rows_t["language"] != AVG_LANGUAGE)].copy()
    rows_t["group"] = [L.belebele_group(lang, groups) for lang in rows_t["language"]]
    rows_t = rows_t[rows_t["dataset"].isin(list(datasets) + [NO_DATASET])]
    pub = _published_avg(tidy)
    pub = pub[pub["task"] == "belebele"]
    comp = _comparisons_of(comparisons, "dataset_vs_multialpaca", protocol)
    comp = comp[comp["task"] == "belebele"]
    differs = {grid_cell.split("/")[0] + "/" + grid_cell.split("/")[1]: bool(ex)
               for grid_cell, ex in zip(comp["cell_a"], comp["excludes_zero"])}
    out = []
    for model in sorted(rows_t["model"].unique()):
        sub = rows_t[rows_t["model"] == model]
        pm = paper_model(model, families)
        for slot in group_names + ["all"]:
            in_slot = sub if slot == "all" else sub[sub["group"] == slot]
            n_langs = int(in_slot["language"].nunique())
            label = "all languages" if slot == "all" else _group_label(slot, group_names)
            bars = [(d, "measured", DATASET_COLOURS.get(d, "#777777")) for d in datasets]
            bars += [(NO_DATASET, "base", BASE_COLOUR)]
            for d, kind, colour in bars:
                cfg = in_slot[in_slot["dataset"] == d]
                per_cfg = cfg.groupby(["rank", "bits"], dropna=False)["value"].mean()
                out.append({"model": model, "paper_model": pm, "slot": slot, "slot_label": label,
                            "n_languages": n_langs, "dataset": d, "kind": kind, "colour": colour,
                            "value": float(per_cfg.mean()) if len(per_cfg) else np.nan,
                            "low": float(per_cfg.min()) if len(per_cfg) > 1 else np.nan,
                            "high": float(per_cfg.max()) if len(per_cfg) > 1 else np.nan,
                            "n_configs": int(len(per_cfg)),
                            "differs_from_multialpaca": differs.get(f"{model}/{d}") if slot == "all" else None})
            if slot == "all":
                for d in datasets:
                    p = pub[(pub["model"] == pm) & (pub["dataset"] == d)]["value"]
                    if len(p):
                        out.append({"model": model, "paper_model": pm, "slot": slot, "slot_label": label,
                                    "n_languages": n_langs, "dataset": d, "kind": "published",
                                    "colour": DATASET_COLOURS.get(d, "#777777"), "value": float(p.iloc[0]),
                                    "low": np.nan, "high": np.nan, "n_configs": 0, "differs_from_multialpaca": None})
    return pd.DataFrame(out, columns=FIG3_COLUMNS)


def draw_fig3(data: pd.DataFrame, protocol: str = "megaverse") -> Figure:
    models = list(dict.fromkeys(data["model"])) if len(data) else []
    fig = _figure(max(6.5, 4.8 * max(1, len(models)) + 0.5), 4.8)
    axes = fig.subplots(1, max(1, len(models)), squeeze=False)[0]
    handles = {}
    if not models:
        _no_data(axes[0], "no data: no Belebele scores for these datasets")
    for ax, model in zip(axes, models):
        sub = data[data["model"] == model]
        slots = list(dict.fromkeys(sub["slot"]))
        bars = list(dict.fromkeys(zip(sub["dataset"], sub["kind"], sub["colour"])))
        bars = [b for b in bars if b[1] != "published"] + [b for b in bars if b[1] == "published"]
        width = 0.84 / max(1, len(bars))
        for j, slot in enumerate(slots):
            in_slot = sub[sub["slot"] == slot]
            n_langs = int(in_slot["n_languages"].iloc[0])
            for i, (d, kind, colour) in enumerate(bars):
                x = j - 0.42 + width * (i + 0.5)
                r = in_slot[(in_slot["dataset"] == d) & (in_slot["kind"] == kind)]
                if r.empty:
                    continue
                r = r.iloc[0]
                if pd.isna(r["value"]):
                    if n_langs and kind != "published":
                        ax.text(x, 0.01, "n/a", ha="center", va="bottom", fontsize=6, color="#555555", rotation=90)
                    continue
                _bar(ax, x, r["value"], width, colour, kind)
                _errorbars(ax, [x], [r["value"]], [r["low"]], [r["high"]])
                if r["differs_from_multialpaca"] is True:
                    ax.text(x, min(r["value"] if pd.isna(r["high"]) else r["high"], 0.95) + 0.02, "\u2020",
                            ha="center", va="bottom", fontsize=9)
                label = {"measured": f"{dataset_label(d)} (measured)",
                         "base": "base model, not finetuned (measured)",
                         "published": f"{dataset_label(d)} (published, MAPLE, all languages)"}[kind]
                handles[label] = _legend_patch(colour, kind, label)
            if n_langs == 0:
                ax.text(j, 0.02, NO_DATA_TEXT, ha="center", va="bottom", fontsize=7, color="#555555",
                        style="italic", rotation=90)
        labels = [f"{sub[sub['slot'] == s]['slot_label'].iloc[0]}\n(n={int(sub[sub['slot'] == s]['n_languages'].iloc[0])})"
                  for s in slots]
        ax.set_xticks(range(len(slots)))
        ax.set_xticklabels(labels)
        ax.set_ylim(0, 1)
        ax.set_ylabel("Belebele accuracy (0..1)")
        ax.set_xlabel("language group (n = languages with scores)")
        pm = sub["paper_model"].iloc[0]
        ax.set_title(f"{model}" + (f" (paper row: {model_label(pm)})" if isinstance(pm, str) else ""))
        ax.grid(axis="y", color="#e5e5e5", linewidth=0.6)
        ax.set_axisbelow(True)
    if handles:
        fig.legend(handles=list(handles.values()), loc="outside lower center", ncols=3, frameon=False)
    _title(fig, "Fig. 3 - Belebele by language group, MultiAlpaca vs Bactrian-X-22", protocol)
    return fig


def _group_label(slot: str, group_names: list[str]) -> str:
    idx = group_names.index(slot) + 1
    desc = {1: "(MultiAlpaca)", 2: "(BX-22 only)"}.get(idx) if len(group_names) == 3 else None
    if idx == len(group_names):
        desc = "(neither)"
    return f"Group {idx}" + (f"\n{desc}" if desc else "")


# ------------------------------------------------------------------------------------ figure 4
# the paper's Figure 4 languages (MAPLE shows 11; zh, which MEGAVERSE also ran, is not among them)
XQUAD_ORDER = ["ar", "de", "el", "en", "es", "hi", "ro", "ru", "th", "tr", "vi"]
FIG4_COLUMNS = ["model", "panel", "series", "kind", "colour", "label", "cell", "value", "ci_low", "ci_high"]


def fig4_data(tidy: pd.DataFrame, protocol: str = "megaverse", families: dict | None = None,
              averages: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per model: XQuAD F1 per language of the best finetune (by XQuAD average) and the base model, with
    each row's interval (panel 'languages'), and the averages over languages beside MAPLE's published
    numbers (panel 'average')."""
    rows_t = headline_rows(measured(tidy), ["xquad"], protocol)
    rows_t = rows_t[rows_t["value"].notna() & rows_t["language"].isin(XQUAD_ORDER)]
    pub = _published_avg(tidy)
    pub = pub[pub["task"] == "xquad"]
    ci = _interval_map(averages)
    models = sorted(rows_t["model"].unique())
    out = []
    for model in models:
        sub = rows_t[rows_t["model"] == model]
        colour = _model_colour(model, families, models)
        parts = []
        ft = sub[sub["dataset"] != NO_DATASET]
        if not ft.empty:
            cfg = ft.groupby(["dataset", "rank", "bits"], dropna=False)["value"].agg(value="mean").reset_index()
            best = pick_best(cfg.assign(model=model), "value", ["model"]).iloc[0]
            sel = ft[(ft["dataset"] == best["dataset"]) & (ft["rank"] == best["rank"]) & (ft["bits"] == best["bits"])]
            parts.append((f"best finetune: {dataset_label(best['dataset'])} {_cfg_label(best['rank'], best['bits'])}",
                          "measured", f"{model} best finetune", sel))
        base = sub[sub["dataset"] == NO_DATASET]
        if not base.empty:
            parts.append(("base, not finetuned", "base", f"{model} base", base))
        for series, kind, avg_label, sel in parts:
            r0 = sel.iloc[0]
            cell = cell_of(model, r0["dataset"], r0["rank"], r0["bits"])
            per_lang = sel.groupby("language").agg(value=("value", "mean"), ci_low=("ci_low", "first"),
                                                   ci_high=("ci_high", "first"))
            for lang in sorted(per_lang.index, key=lambda x: (XQUAD_ORDER.index(x) if x in XQUAD_ORDER else 99, x)):
                r = per_lang.loc[lang]
                out.append({"model": model, "panel": "languages", "series": series, "kind": kind, "colour": colour,
                            "label": lang, "cell": cell, "value": float(r["value"]), "ci_low": r["ci_low"],
                            "ci_high": r["ci_high"]})
            low, high = ci.get((cell, protocol, "xquad", AVG_LANGUAGE), (np.nan, np.nan))
            out.append({"model": model, "panel": "average", "series": series, "kind": kind, "colour": colour,
                        "label": avg_label, "cell": cell, "value": float(per_lang["value"].mean()),
                        "ci_low": low, "ci_high": high})
        pm = paper_model(model, families)
        p_ft = pub[(pub["model"] == pm) & (pub["dataset"] != NO_DATASET)]["value"]
        if len(p_ft):
            out.append({"model": model, "panel": "average", "series": "published", "kind": "published",
                        "colour": _paper_colour(pm), "label": f"{model_label(pm)} best finetune", "cell": None,
                        "value": float(p_ft.max()), "ci_low": np.nan, "ci_high": np.nan})
        for name in BASELINES:
            p = pub[pub["model"] == name]["value"]
            if len(p):
                out.append({"model": model, "panel": "average", "series": "published", "kind": "published",
                            "colour": BASELINE_COLOURS[name], "label": name, "cell": None,
                            "value": float(p.iloc[0]), "ci_low": np.nan, "ci_high": np.nan})
    return pd.DataFrame(out, columns=FIG4_COLUMNS)


def draw_fig4(data: pd.DataFrame, protocol: str = "megaverse") -> Figure:
    models = list(dict.fromkeys(data["model"])) if len(data) else []
    nrows = max(1, len(models))
    fig = _figure(12, 3.1 * nrows + 1.0)
    axes = fig.subplots(nrows, 2, squeeze=False, gridspec_kw={"width_ratios": [4.2, 1.6]})
    if not models:
        _no_data(axes[0][0], "no data: no XQuAD scores")
        _no_data(axes[0][1])
    for (ax, axa), model in zip(axes, models):
        langs_df = data[(data["model"] == model) & (data["panel"] == "languages")]
        langs = list(dict.fromkeys(langs_df["label"]))
        _grouped_bars(ax, langs, langs_df, "label", "XQuAD F1 (0..1)")
        ax.set_xticklabels(langs)
        ax.set_ylim(0, 1)
        ax.set_xlabel("language (ISO 639-1; whiskers: 95% bootstrap interval)")
        ax.set_title(f"{model}: per language (measured)")
        firsts = langs_df.drop_duplicates("series")
        ax.legend(handles=[_legend_patch(r.colour, r.kind, f"{r.series} (measured)")
                           for r in firsts.itertuples(index=False)], loc="upper right", frameon=False)
        avg = data[(data["model"] == model) & (data["panel"] == "average")]
        if avg.empty:
            _no_data(axa)
            continue
        ys = list(range(len(avg)))[::-1]  # first entry on top
        for y, r in zip(ys, avg.itertuples(index=False)):
            _barh(axa, y, r.value, 0.7, r.colour, r.kind)
            axa.text(r.value + 0.01, y, fmt_number(r.value), ha="left", va="center", fontsize=7)
        _errorbars(axa, ys, avg["value"], avg["ci_low"], avg["ci_high"], horizontal=True)
        axa.set_yticks(ys)
        axa.set_yticklabels(list(avg["label"]))
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
    return fig


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


FIG5_COLUMNS = ["model", "dataset", "rank", "bits", "cell", "colour", "delta", "ci_low", "ci_high", "p_value",
                "excludes_zero"]


def fig5_data(tidy: pd.DataFrame, protocol: str = "megaverse", families: dict | None = None,
              comparisons: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per finetuned cell: English score minus the base model's (mean over tasks), with the
    paired bootstrap interval and p-value of that difference (results/comparisons.csv)."""
    d = _deltas_vs_base(tidy, protocol, english_only=True)
    if d.empty:
        return pd.DataFrame(columns=FIG5_COLUMNS)
    cell = d.groupby(["model", "dataset", "rank", "bits"])["delta"].mean().reset_index()
    comp = _comparisons_of(comparisons, "finetuned_vs_base", protocol)
    comp = {r.cell_a: r for r in comp[comp["language"] == "en"].itertuples(index=False)}
    models = sorted(cell["model"].unique())
    rows = []
    for r in cell.itertuples(index=False):
        cid = cell_of(r.model, r.dataset, r.rank, r.bits)
        c = comp.get(cid)
        rows.append({"model": r.model, "dataset": r.dataset, "rank": int(r.rank), "bits": int(r.bits), "cell": cid,
                     "colour": _model_colour(r.model, families, models), "delta": float(r.delta),
                     "ci_low": c.ci_low if c is not None else np.nan, "ci_high": c.ci_high if c is not None else np.nan,
                     "p_value": c.p_value if c is not None else np.nan,
                     "excludes_zero": bool(c.excludes_zero) if c is not None else None})
    return pd.DataFrame(rows, columns=FIG5_COLUMNS)


def draw_fig5(data: pd.DataFrame, protocol: str = "megaverse") -> Figure:
    """Points: single cells with their paired interval (filled: the interval excludes zero); lines: the
    mean per model over datasets and the other axis."""
    fig = _figure(10, 4.4)
    axes = fig.subplots(1, 2, sharey=True)
    if data.empty:
        for ax in axes:
            _no_data(ax, "no data: needs English scores of finetuned and base models")
    else:
        models = list(dict.fromkeys(sorted(data["model"])))
        for ax, axis, other, label in ((axes[0], "rank", "bits", "LoRA rank"),
                                       (axes[1], "bits", "rank", "bits of the base model during finetuning")):
            for k, model in enumerate(models):
                sub = data[data["model"] == model]
                colour = sub["colour"].iloc[0]
                x = sub[axis].astype(float) * (1 + 0.06 * (k - (len(models) - 1) / 2))
                sig = sub["excludes_zero"].fillna(False).astype(bool).to_numpy()
                _errorbars(ax, x, sub["delta"], sub["ci_low"], sub["ci_high"])
                ax.scatter(x[sig], sub["delta"][sig], s=18, color=colour, edgecolors=colour, zorder=4)
                ax.scatter(x[~sig], sub["delta"][~sig], s=18, facecolors="white", edgecolors=colour, zorder=4)
                line = sub.groupby(axis)["delta"].mean()
                ax.plot(line.index.astype(float), line.values, marker="o", color=colour, linewidth=1.6,
                        label=f"{model} (measured; mean over datasets and {other})")
            ax.axhline(0, color="#555555", linewidth=0.8, linestyle="--")
            _log2_axis(ax, data[axis].dropna().unique(), label)
            ax.grid(axis="y", color="#e5e5e5", linewidth=0.6)
        axes[0].set_ylabel("English score, finetuned minus base\n(headline metric, 0..1; <0 = degradation)")
        handles = [Line2D([], [], color=data[data["model"] == m]["colour"].iloc[0], marker="o", label=f"{m} (measured)")
                   for m in models]
        handles.append(Line2D([], [], color="#777777", marker="o", linestyle="none",
                              label="cell: 95% paired interval excludes 0"))
        handles.append(Line2D([], [], color="#777777", marker="o", markerfacecolor="white", linestyle="none",
                              label="cell: interval includes 0 (or none)"))
        fig.legend(handles=handles, loc="outside lower center", ncols=min(4, len(handles)), frameon=False)
    _title(fig, "Fig. 5 - English degradation after finetuning", protocol)
    return fig


FIG6_COLUMNS = ["model", "axis", "level", "x", "mean", "sem", "count", "n_languages"]


def fig6_data(tidy: pd.DataFrame, protocol: str = "megaverse", classes: dict | None = None) -> pd.DataFrame:
    """Per model, axis (rank or bits), resource level and axis value: mean, standard error and count of
    the finetuned-minus-base deltas over tasks, languages, datasets and the other axis."""
    d = _deltas_vs_base(tidy, protocol, english_only=False)
    if d.empty:
        return pd.DataFrame(columns=FIG6_COLUMNS)
    d = d.copy()
    d["level"] = [L.resource_level(x, classes) for x in d["language"]]
    d["iso"] = [L.to_iso(x) for x in d["language"]]
    n_lang = d.groupby("level")["iso"].nunique()
    rows = []
    for model in sorted(d["model"].unique()):
        sub = d[d["model"] == model]
        for axis in ("rank", "bits"):
            for level in [lv for lv in L.RESOURCE_LEVELS + ("unknown",) if lv in set(d["level"])]:
                lv = sub[sub["level"] == level]
                for x, g in lv.groupby(axis):
                    rows.append({"model": model, "axis": axis, "level": level, "x": int(x),
                                 "mean": float(g["delta"].mean()), "sem": float(g["delta"].sem()) if len(g) > 1 else 0.0,
                                 "count": int(len(g)), "n_languages": int(n_lang.get(level, 0))})
    return pd.DataFrame(rows, columns=FIG6_COLUMNS)


def draw_fig6(data: pd.DataFrame, protocol: str = "megaverse") -> Figure:
    models = list(dict.fromkeys(data["model"])) if len(data) else []
    nrows = max(1, len(models))
    fig = _figure(10, 3.2 * nrows + 1.0)
    axes = fig.subplots(nrows, 2, squeeze=False, sharey=True)
    if data.empty:
        for ax in axes[0]:
            _no_data(ax, "no data: needs scores of finetuned and base models")
    else:
        levels = [lv for lv in L.RESOURCE_LEVELS + ("unknown",) if lv in set(data["level"])]
        for (ax_r, ax_b), model in zip(axes, models):
            sub = data[data["model"] == model]
            for ax, axis, label in ((ax_r, "rank", "LoRA rank (share of trainable parameters)"),
                                    (ax_b, "bits", "bits of the base model during finetuning")):
                for k, level in enumerate(levels):
                    line = sub[(sub["axis"] == axis) & (sub["level"] == level)].sort_values("x")
                    if line.empty:
                        continue
                    x = line["x"].astype(float) * (1 + 0.04 * (k - (len(levels) - 1) / 2))
                    ax.errorbar(x, line["mean"], yerr=line["sem"], color=LEVEL_COLOURS[level],
                                marker=LEVEL_MARKERS[level], linewidth=1.5, capsize=2, markersize=5)
                ax.axhline(0, color="#555555", linewidth=0.8, linestyle="--")
                _log2_axis(ax, data[data["axis"] == axis]["x"].unique(), label)
                ax.grid(axis="y", color="#e5e5e5", linewidth=0.6)
                ax.set_title(f"{model}: effect of {axis}")
            ax_r.set_ylabel("finetuned minus base\n(headline metric, 0..1)")
        n_lang = data.drop_duplicates("level").set_index("level")["n_languages"]
        handles = [Line2D([], [], color=LEVEL_COLOURS[lv], marker=LEVEL_MARKERS[lv],
                          label=(f"{L.RESOURCE_LEVEL_LABELS[lv]}: "
                                 f"{_plural(int(n_lang.get(lv, 0)), 'language')} (measured)"))
                   for lv in levels]
        fig.legend(handles=handles, loc="outside lower center", ncols=min(2, len(handles)), frameon=False)
    _title(fig, "Fig. 6 - Low- vs high-resource languages: effect of rank and bits (mean +- s.e.)", protocol)
    return fig


# ------------------------------------------------------------------------------------------- all
def figure_data(key: str, tidy: pd.DataFrame, protocol: str, config: dict, averages: pd.DataFrame | None = None,
                comparisons: pd.DataFrame | None = None) -> pd.DataFrame:
    """The data frame figure `key` plots, for one protocol."""
    from maple.report.tables import families_from_config

    families = families_from_config(config)
    report = config.get("report") or {}
    if key == "fig1":
        return fig1_data(tidy, protocol, families, averages, comparisons)
    if key == "fig1b":
        return fig1_data(tidy, protocol, families, averages, comparisons, tasks=["belebele"])
    if key == "fig2":
        return fig2_data(tidy, protocol, families, averages)
    if key == "fig3":
        return fig3_data(tidy, report.get("belebele_groups") or {}, protocol, families, comparisons=comparisons)
    if key == "fig4":
        return fig4_data(tidy, protocol, families, averages)
    if key == "fig5":
        return fig5_data(tidy, protocol, families, comparisons)
    if key == "fig6":
        return fig6_data(tidy, protocol, report.get("resource_classes"))
    raise ValueError(f"figure {key!r} is not one of {', '.join(STEMS)}")


DRAW = {"fig1": draw_fig1, "fig1b": draw_fig1b, "fig2": draw_fig2, "fig3": draw_fig3, "fig4": draw_fig4, "fig5": draw_fig5,
        "fig6": draw_fig6}


def draw_figure(key: str, data: pd.DataFrame, out_stem: str, protocol: str) -> list[str]:
    """Draw `data` as figure `key` and write `<out_stem>.png`, `.pdf` and the data as `.csv`."""
    from maple.io import atomic_file

    with matplotlib.rc_context(RC):
        paths_written = save(DRAW[key](data, protocol), out_stem)
    with atomic_file(str(out_stem) + ".csv") as fh:
        data.to_csv(fh, index=False)
    return paths_written


def plot_figure(key: str, tidy: pd.DataFrame, out_stem: str, protocol: str, config: dict,
                averages: pd.DataFrame | None = None, comparisons: pd.DataFrame | None = None) -> list[str]:
    """One figure (`fig1`..`fig6`) for one protocol: its data, then its drawing; returns [png, pdf]."""
    if key not in DRAW:
        raise ValueError(f"figure {key!r} is not one of {', '.join(STEMS)}")
    return draw_figure(key, figure_data(key, tidy, protocol, config, averages, comparisons), out_stem, protocol)


def make_figures(tidy: pd.DataFrame, out_dir: str, config: dict, protocols: list[str] | None = None,
                 averages: pd.DataFrame | None = None, comparisons: pd.DataFrame | None = None) -> list[str]:
    """All six figures for each protocol: `<out_dir>/<stem>_<protocol>.png/.pdf/.csv`; returns the PNG paths."""
    from maple.report.tables import protocols_of

    protocols = protocols or config.get("evaluation", {}).get("protocols") or protocols_of(tidy)
    return [
        plot_figure(key, tidy, str(Path(out_dir) / f"{STEMS[key]}_{protocol}"), protocol, config, averages,
                    comparisons)[0]
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
