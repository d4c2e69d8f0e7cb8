"""MAPLE Tables 1 and 2 from the tidy table: measured numbers beside the published ones."""

from __future__ import annotations

import pandas as pd

from maple.grid import NO_DATASET, cell_of
from maple.report.common import (
    AVERAGE_TASK,
    BASELINES,
    HEADLINE,
    PAPER_MODEL,
    TABLE1_TASKS,
    TABLE2_DATASET_ORDER,
    TASK_LABELS,
    config_averages,
    dataset_label,
    dataset_sort_key,
    fmt_interval,
    fmt_number,
    measured,
    model_label,
    paper_model,
    pick_best,
    published,
    task_scores,
)

T1_TASKS = TABLE1_TASKS + [AVERAGE_TASK]
MEASURED, PUBLISHED = "measured", "published"
CI_LOW, CI_HIGH = "measured ci_low", "measured ci_high"


def _col(task: str, which: str) -> str:
    return f"{TASK_LABELS.get(task, task)} ({which})"


def _interval_lookup(averages: pd.DataFrame | None) -> dict:
    """(cell, protocol, task) -> (ci_low, ci_high) of the averages over languages (results/averages.csv;
    task "average": over Table 1's tasks)."""
    if averages is None or averages.empty:
        return {}
    avg = averages[averages["language"] == "avg"]
    return {(r.cell, r.protocol, r.task): (r.ci_low, r.ci_high) for r in avg.itertuples(index=False)}


def table1_languages() -> dict:
    """Task -> the languages Table 1 averages over, where that is not every language measured:
    Belebele over MEGAVERSE's 23 (the registry's list), so the row compares with the baselines while
    the paper config also evaluates Figure 3's other group languages."""
    from maple.tasks.specs import TASKS

    return {"belebele": set(TASKS["belebele"].languages)}


def _table1_rows(tidy: pd.DataFrame) -> pd.DataFrame:
    keep = pd.Series(True, index=tidy.index)
    for task, languages in table1_languages().items():
        keep &= ~((tidy["source"] == MEASURED) & (tidy["task"] == task) & ~tidy["language"].isin(list(languages)))
    return tidy[keep.fillna(True).astype(bool)]


def _rows_of_cell(frame: pd.DataFrame, b) -> pd.DataFrame:
    """The rows of `frame` for the cell of row tuple `b` (rank and bits are NA for base models)."""
    return frame[(frame["model"] == b.model) & (frame["dataset"] == b.dataset)
                 & (frame["rank"].fillna(-1) == (-1 if pd.isna(b.rank) else b.rank))
                 & (frame["bits"].fillna(-1) == (-1 if pd.isna(b.bits) else b.bits))]


def _served_label(tidy: pd.DataFrame, b, protocol: str) -> str | None:
    """How the measured config's outputs were produced (scores.csv `served_as`); flagged where a
    4/8-bit adapter ran on a base of another precision than it was trained on."""
    from maple.generate.served import differs_from_training

    if "served_as" not in tidy.columns:
        return None
    m = measured(tidy)
    sel = _rows_of_cell(m[m["protocol"] == protocol], b)
    values = sorted({str(v) for v in sel["served_as"].dropna()})
    if not values:
        return None
    flag = any(differs_from_training(b.bits, v) for v in values)
    return ", ".join(values) + (" (not the trained precision)" if flag else "")


def protocols_of(tidy: pd.DataFrame) -> list[str]:
    """Protocols of the measured rows (the published rows' protocol when nothing was measured)."""
    got = sorted({p for p in measured(tidy)["protocol"].dropna().unique()})
    return got or sorted({p for p in published(tidy)["protocol"].dropna().unique()}) or ["megaverse"]


def _published_t1(tidy: pd.DataFrame) -> dict:
    """(paper model, dataset) -> {task: value} of MAPLE Table 1 (task-level averages)."""
    pub = published(tidy)
    pub = pub[pub["language"] == "avg"]
    out = {}
    for row in pub.itertuples(index=False):
        if row.task in T1_TASKS and not pd.isna(row.value):
            out.setdefault((row.model, row.dataset), {})[row.task] = float(row.value)
    return out


def _order_key(row: dict, dataset_order=None) -> tuple:
    """Baselines first (paper order), then per paper model: base row, datasets in the table's order."""
    pm = row["_pm"]
    base = pm in BASELINES
    return (
        0 if base else 1,
        BASELINES.index(pm) if base else 0,
        str(pm or "~"),
        0 if row["dataset"] == NO_DATASET else 1,
        dataset_sort_key(row["dataset"], dataset_order),
        str(row["model"] or "~"),
    )


def table1(
    tidy: pd.DataFrame,
    families: dict,
    out_csv: str | None = None,
    out_md: str | None = None,
    protocols: list[str] | None = None,
    averages: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Table 1 per protocol: for each measured model x dataset, the rank x bits config with the best
    average across tasks (a config that lacks tasks only wins when no complete one exists), its
    per-task headline score averaged over languages, beside MAPLE's published row for the same
    family x dataset. Published baselines (GPT-4, PaLM2, ...) and published rows without a measured
    counterpart are listed with empty measured columns. With `averages` (results/averages.csv) every
    measured cell carries its stratified bootstrap interval (`... (measured ci_low)` / `ci_high`).
    """
    protocols = protocols or protocols_of(tidy)
    pub = _published_t1(tidy)
    ci = _interval_lookup(averages)
    records = []
    for protocol in protocols:
        scores = task_scores(_table1_rows(tidy), protocol=protocol, tasks=TABLE1_TASKS)
        averages = config_averages(scores)
        best = pick_best(averages, "average", ["model", "dataset", "protocol"], prefer_complete="n_tasks")
        seen = set()
        for b in best.itertuples(index=False):
            pm = paper_model(b.model, families)
            if b.dataset == NO_DATASET:
                published_row = {}  # MAPLE lists no un-finetuned Llama-2-7B / Mistral-7B row
            else:
                published_row = pub.get((pm, b.dataset), {})
                seen.add((pm, b.dataset))
            sel = _rows_of_cell(scores, b)
            values = dict(zip(sel["task"], sel["value"]))
            values[AVERAGE_TASK] = float(b.average)
            cell = cell_of(b.model, b.dataset, b.rank, b.bits)
            rec = {"protocol": protocol, "cell": cell, "model": b.model,
                   "paper model": model_label(pm) if pm else None,
                   "dataset": b.dataset, "rank": b.rank, "bits": b.bits, "tasks measured": int(b.n_tasks)}
            for task in T1_TASKS:
                rec[_col(task, MEASURED)] = values.get(task)
                low, high = ci.get((cell, protocol, task), (None, None)) if task in values else (None, None)
                rec[_col(task, CI_LOW)], rec[_col(task, CI_HIGH)] = low, high
                rec[_col(task, PUBLISHED)] = published_row.get(task)
            rec["served as"] = _served_label(tidy, b, protocol)
            rec["_pm"] = pm
            records.append(rec)
        for (pm, dataset), values in sorted(pub.items(), key=lambda kv: (str(kv[0][0]), str(kv[0][1]))):
            if (pm, dataset) in seen:
                continue
            rec = {"protocol": protocol, "model": None, "paper model": model_label(pm), "dataset": dataset,
                   "rank": None, "bits": None, "tasks measured": 0, "_pm": pm}
            for task in T1_TASKS:
                rec[_col(task, MEASURED)] = None
                rec[_col(task, PUBLISHED)] = values.get(task)
            records.append(rec)
    columns = ["protocol", "cell", "model", "paper model", "dataset", "rank", "bits", "tasks measured"]
    columns += [_col(t, w) for t in T1_TASKS for w in (MEASURED, CI_LOW, CI_HIGH, PUBLISHED)] + ["served as"]
    for rec in records:
        rec["_key"] = _order_key(rec)
    records.sort(key=lambda r: (protocols.index(r["protocol"]),) + r["_key"])
    df = pd.DataFrame([{c: r.get(c) for c in columns} for r in records], columns=columns)
    df["rank"] = pd.to_numeric(df["rank"], errors="coerce").astype("Int64")
    df["bits"] = pd.to_numeric(df["bits"], errors="coerce").astype("Int64")
    for c in columns[8:-1]:
        df[c] = pd.to_numeric(df[c], errors="coerce").astype("float64")
    _write(df, out_csv, out_md, "table1", digits=2)
    return df


# Assumption (the paper names no judge): MAPLE Table 2 reports AlpacaEval 1.0 win rates, GPT-4's row
# (93.78) is AlpacaEval 1.0's leaderboard value under its default annotator, alpaca_eval_gpt4 (GPT-4).
PAPER_JUDGE = "alpaca_eval_gpt4"


def judge_matches_paper(judge) -> bool:
    return isinstance(judge, str) and judge.split(":")[-1] == PAPER_JUDGE


def _judge_label(mp: pd.DataFrame, b) -> str | None:
    if "judge" not in mp.columns:
        return None
    sel = _rows_of_cell(mp, b)
    judges = sorted({str(j) for j in sel["judge"].dropna()})
    if not judges:
        return None
    flag = "" if all(judge_matches_paper(j) for j in judges) else " (not the paper's judge)"
    return ", ".join(judges) + flag


def _published_t2(tidy: pd.DataFrame) -> dict:
    pub = published(tidy)
    pub = pub[(pub["task"] == "alpaca_eval") & (pub["metric"] == "win_rate")]
    return {(r.model, r.dataset): (r.rank, r.bits, float(r.value)) for r in pub.itertuples(index=False)}


def table2(
    tidy: pd.DataFrame,
    families: dict,
    out_csv: str | None = None,
    out_md: str | None = None,
    protocols: list[str] | None = None,
    averages: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Table 2 per protocol: the best AlpacaEval win rate (%) of each measured model x dataset with the
    rank and bits that gave it (and its bootstrap interval over instructions, from `averages`), beside
    MAPLE's published win rate, rank and bits."""
    protocols = protocols or protocols_of(tidy)
    pub = _published_t2(tidy)
    ci = _interval_lookup(averages)
    m = measured(tidy)
    m = m[(m["task"] == "alpaca_eval") & m["value"].notna()]
    records = []
    for protocol in protocols:
        mp = m[m["protocol"] == protocol]
        keys = ["model", "dataset", "rank", "bits"]
        win = mp[mp["metric"] == HEADLINE["alpaca_eval"]].groupby(keys, dropna=False)["value"].mean().reset_index()
        lc = mp[mp["metric"] == "lc_win_rate"].groupby(keys, dropna=False)["value"].mean().reset_index()
        best = pick_best(win, "value", ["model", "dataset"])
        seen = set()
        for b in best.itertuples(index=False):
            pm = paper_model(b.model, families)
            p = pub.get((pm, b.dataset)) if b.dataset != NO_DATASET else None
            if b.dataset != NO_DATASET:
                seen.add((pm, b.dataset))
            lc_sel = _rows_of_cell(lc, b)
            cell = cell_of(b.model, b.dataset, b.rank, b.bits)
            low, high = ci.get((cell, protocol, "alpaca_eval"), (None, None))
            records.append({
                "protocol": protocol, "cell": cell, "model": b.model, "paper model": model_label(pm) if pm else None,
                "dataset": b.dataset, "_pm": pm,
                "rank (measured)": b.rank, "bits (measured)": b.bits, "win rate % (measured)": b.value,
                "win rate % (measured ci_low)": low, "win rate % (measured ci_high)": high,
                "LC win rate % (measured)": float(lc_sel["value"].iloc[0]) if len(lc_sel) else None,
                "judge (measured)": _judge_label(mp, b),
                "rank (published)": p[0] if p else None, "bits (published)": p[1] if p else None,
                "win rate % (published)": p[2] if p else None,
            })
        for (pm, dataset), (rank, bits, value) in sorted(pub.items(), key=lambda kv: (str(kv[0][0]), str(kv[0][1]))):
            if (pm, dataset) in seen:
                continue
            records.append({
                "protocol": protocol, "model": None, "paper model": model_label(pm), "dataset": dataset, "_pm": pm,
                "rank (measured)": None, "bits (measured)": None, "win rate % (measured)": None,
                "LC win rate % (measured)": None,
                "rank (published)": rank, "bits (published)": bits, "win rate % (published)": value,
            })
    columns = ["protocol", "cell", "model", "paper model", "dataset", "rank (measured)", "bits (measured)",
               "win rate % (measured)", "win rate % (measured ci_low)", "win rate % (measured ci_high)",
               "LC win rate % (measured)", "rank (published)", "bits (published)", "win rate % (published)",
               "judge (measured)"]
    for rec in records:
        rec["_key"] = _order_key(rec, TABLE2_DATASET_ORDER)  # the paper's Table 2: Alpaca, BX-22, BX-11, MultiAlpaca
    records.sort(key=lambda r: (protocols.index(r["protocol"]),) + r["_key"])
    df = pd.DataFrame([{c: r.get(c) for c in columns} for r in records], columns=columns)
    for c in ("rank (measured)", "bits (measured)", "rank (published)", "bits (published)"):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype("Int64")
    for c in ("win rate % (measured)", "win rate % (measured ci_low)", "win rate % (measured ci_high)",
              "LC win rate % (measured)", "win rate % (published)"):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype("float64")
    _write(df, out_csv, out_md, "table2", digits=2)
    return df


# ---------------------------------------------------------------------------------------- output
# Titles and notes as data: the Markdown files and the HTML report both render them.
TITLES = {
    "table1": ("Table 1: task scores of the best rank x bits per model and dataset",
               "Headline metric per task, averaged over languages (accuracy: XNLI, XCOPA, Belebele; F1: XQuAD, "
               "MLQA; ROUGE-L: XL-Sum), 0..1. measured: this workflow, at the rank/bits with the best average over "
               "tasks, with its 95% bootstrap interval [low, high] over the examples of every averaged language; "
               "published: MAPLE (arXiv 2401.07598) Table 1, baselines from MEGAVERSE (Ahuja et al. 2023), "
               "evaluated with MEGAVERSE's protocol. 'paper model' is the paper's row for the measured model's "
               "family. Belebele is averaged over MEGAVERSE's 23 languages only. 'served as': what produced the "
               "measured outputs (quantised base, dequantised merge, unquantised base, 16-bit merge, base model); "
               "a 4/8-bit cell served at another precision than it was trained at is flagged."),
    "table2": ("Table 2: best AlpacaEval win rate (%) per model and dataset",
               "measured: this workflow's best win rate over rank x bits, with the rank and bits that gave it and "
               "its 95% bootstrap interval over instructions; published: MAPLE (arXiv 2401.07598) Table 2. "
               f"'judge (measured)': the judge of the measured row, flagged where it is not the paper's ({PAPER_JUDGE}, "
               "GPT-4; an assumption, the paper names none): such rows do not compare like for like with the "
               "published column."),
    "reproduction": ("Did we reproduce it?",
                     "Each Table 1 and Table 2 cell that has both a measured and a published number: the measured "
                     "value with its 95% bootstrap interval and whether the published value falls inside it."),
}


def table_note(key: str, protocol: str) -> str:
    """The table's note; Table 2 under `reference` also says why no LC win rate was computed."""
    note = TITLES[key][1]
    if key == "table2" and protocol == "reference":
        from maple.metrics.alpaca_eval import lc_unavailable_reason

        reason = lc_unavailable_reason()
        note += f" LC win rate not computed: {reason}." if reason else ""
    return note


def display_frame(df: pd.DataFrame, digits: int = 2) -> pd.DataFrame:
    """What a reader sees: every measured column with its interval as '0.52 [0.41, 0.63]' text (the
    ci_low/ci_high columns folded in), datasets by their labels, numbers through fmt_number."""
    out = {}
    for col in df.columns:
        if col.endswith(f"({CI_LOW})") or col.endswith(f"({CI_HIGH})"):
            continue
        low_col = col.replace("(measured)", f"({CI_LOW})")
        high_col = col.replace("(measured)", f"({CI_HIGH})")
        if col.endswith("(measured)") and low_col in df.columns and high_col in df.columns:
            out[col] = [fmt_interval(v, lo, hi, digits) for v, lo, hi in zip(df[col], df[low_col], df[high_col])]
        elif col == "dataset":
            out[col] = [dataset_label(v) if isinstance(v, str) else fmt_number(v) for v in df[col]]
        else:
            out[col] = [fmt_number(v, digits) for v in df[col]]
    return pd.DataFrame(out, columns=list(out), index=df.index)


def to_markdown(df: pd.DataFrame, digits: int = 2) -> str:
    """A GitHub pipe table (no dependency on `tabulate`)."""
    shown = display_frame(df, digits)
    cols = list(shown.columns)
    lines = ["| " + " | ".join(cols) + " |", "| " + " | ".join("---" for _ in cols) + " |"]
    for row in shown.itertuples(index=False):
        lines.append("| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |")
    return "\n".join(lines) + "\n"


def protocol_blocks(df: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """(protocol, its rows without the protocol column) in table order."""
    protocols = list(dict.fromkeys(df["protocol"].tolist())) if len(df) else []
    return [(p, df[df["protocol"] == p].drop(columns=["protocol"])) for p in protocols]


def _write(df: pd.DataFrame, out_csv, out_md, key: str, digits: int) -> None:
    from maple.io import atomic_file

    if out_csv:
        with atomic_file(out_csv) as fh:
            df.to_csv(fh, index=False)
    if out_md:
        title, _ = TITLES[key]
        parts = [f"## {title} (protocol: {p})\n\n{table_note(key, p)}\n\n" + to_markdown(block, digits)
                 for p, block in protocol_blocks(df)] or [f"## {title}\n\nNo data.\n"]
        with atomic_file(out_md) as fh:
            fh.write("\n".join(parts))


def reproduction(t1: pd.DataFrame, t2: pd.DataFrame, out_csv: str | None = None) -> pd.DataFrame:
    """Table 1 and Table 2 cells with a measured value, its interval and a published value, and whether
    the published value lies inside the interval (`inside`; empty without an interval)."""
    rows = []
    for table, frame, tasks in (("Table 1", t1, T1_TASKS), ("Table 2", t2, None)):
        for r in frame.to_dict("records"):
            pairs = ([(TASK_LABELS.get(t, t), _col(t, MEASURED), _col(t, CI_LOW), _col(t, CI_HIGH), _col(t, PUBLISHED))
                      for t in tasks] if tasks else
                     [("AlpacaEval win rate %", "win rate % (measured)", "win rate % (measured ci_low)",
                       "win rate % (measured ci_high)", "win rate % (published)")])
            for label, m, lo, hi, p in pairs:
                value, published = r.get(m), r.get(p)
                if pd.isna(value) or pd.isna(published):
                    continue
                low, high = r.get(lo), r.get(hi)
                inside = None if pd.isna(low) or pd.isna(high) else bool(low <= published <= high)
                rows.append({"table": table, "protocol": r["protocol"], "cell": r.get("cell"),
                             "paper model": r.get("paper model"), "dataset": r["dataset"], "task": label,
                             "measured": value, "ci_low": low, "ci_high": high, "published": published,
                             "difference": value - published, "inside": inside})
    cols = ["table", "protocol", "cell", "paper model", "dataset", "task", "measured", "ci_low", "ci_high",
            "published", "difference", "inside"]
    df = pd.DataFrame(rows, columns=cols)
    df["inside"] = df["inside"].astype("boolean")
    if out_csv:
        from maple.io import atomic_file

        with atomic_file(out_csv) as fh:
            df.to_csv(fh, index=False)
    return df


def families_from_config(config: dict) -> dict:
    """model key -> family (config `models.<name>.family`)."""
    return {name: spec.get("family") for name, spec in (config.get("models") or {}).items()}


__all__ = ["table1", "table2", "reproduction", "to_markdown", "families_from_config", "PAPER_MODEL"]
