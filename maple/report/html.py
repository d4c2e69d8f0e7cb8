"""One self-contained HTML report: tables, figures (base64 data URIs), cost, missing cells, config.

The file opens from disk with no network: no scripts, fonts or stylesheets are fetched.
"""

from __future__ import annotations

import base64
import html as _html
import re
from pathlib import Path

import pandas as pd

from maple.report.common import fmt_number

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:2rem auto;
max-width:1200px;padding:0 1rem;color:#1a1a1a;line-height:1.45}
h1{font-size:1.6rem}h2{font-size:1.25rem;border-bottom:1px solid #ddd;padding-bottom:.2rem;margin-top:2.2rem}
h3{font-size:1.05rem}
.scroll{overflow-x:auto;margin:.6rem 0 1rem}
table.data{border-collapse:collapse;font-size:.8rem;white-space:nowrap}
table.data th,table.data td{border:1px solid #d0d0d0;padding:.2rem .45rem;text-align:right}
table.data th{background:#f2f2f2;position:sticky;top:0}
table.data td.text{text-align:left}
table.data th.pub,table.data td.pub{background:#fff7e6}
table.data th.meas,table.data td.meas{background:#eef5fb}
figure{margin:1.2rem 0 2rem}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.85rem;color:#333;margin-top:.3rem}
pre{background:#f7f7f7;border:1px solid #e2e2e2;padding:.7rem;overflow-x:auto;font-size:.8rem}
.note{font-size:.85rem;color:#444}.missing{color:#a33}
nav ul{columns:2;font-size:.9rem}
"""


# ------------------------------------------------------------------------------------- config
def redact(obj):
    """A copy without keys naming a token, key, secret or password (maple.config.public_view)."""
    from maple.config import public_view

    return public_view(obj)


def config_yaml(config: dict) -> str:
    import yaml

    return yaml.safe_dump(redact(_plain(config or {})), sort_keys=False, allow_unicode=True, default_flow_style=None)


def _plain(obj):
    """Snakemake's config is a dict subclass; YAML wants plain containers."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if hasattr(obj, "item") and not isinstance(obj, (str, bytes)):
        try:
            return obj.item()
        except (TypeError, ValueError):
            pass
    return obj


# ------------------------------------------------------------------------------------- tables
def _esc(text) -> str:
    return _html.escape(str(text), quote=True)


def _is_text(value) -> bool:
    return isinstance(value, str) and not _NUMBER.fullmatch(value.strip())


_NUMBER = re.compile(r"[-+]?\d+(\.\d+)?( \[[-+]?\d+(\.\d+)?, [-+]?\d+(\.\d+)?\])?|–")


def _col_class(name: str) -> str:
    low = str(name).lower()
    if "published" in low:
        return "pub"
    if "measured" in low:
        return "meas"
    return ""


def df_to_html(df: pd.DataFrame, digits: int = 3) -> str:
    """A plain HTML table (numbers through fmt_number); columns named '... (published)' / '(measured)'
    are tinted."""
    if df is None or len(df.columns) == 0:
        return "<p class='note'>No data.</p>"
    cols = list(df.columns)
    classes = [_col_class(c) for c in cols]
    head = "".join(f"<th class='{k}'>{_esc(c)}</th>" if k else f"<th>{_esc(c)}</th>" for c, k in zip(cols, classes))
    body = []
    for row in df.itertuples(index=False):
        cells = []
        for value, k in zip(row, classes):
            text = fmt_number(value, digits)
            cls = " ".join(x for x in (k, "text" if _is_text(text) else "") if x)
            cells.append(f"<td class='{cls}'>{_esc(text)}</td>" if cls else f"<td>{_esc(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    if not body:
        body.append(f"<tr><td colspan='{len(cols)}' class='text'>no rows</td></tr>")
    return ("<div class='scroll'><table class='data'><thead><tr>" + head + "</tr></thead><tbody>"
            + "".join(body) + "</tbody></table></div>")


def table_html(obj) -> str:
    """A DataFrame, a list of (heading, note, DataFrame) blocks, or a path to .csv / .parquet, as HTML."""
    if isinstance(obj, pd.DataFrame):
        return df_to_html(obj)
    if isinstance(obj, list):
        parts = []
        for heading, note, frame in obj:
            parts.append(f"<h3>{_esc(heading)}</h3>" if heading else "")
            parts.append(f"<p class='note'>{_esc(note)}</p>" if note else "")
            parts.append(df_to_html(frame) if len(frame) else "<p class='note'>No data.</p>")
        return "\n".join(parts) or "<p class='note'>No data.</p>"
    path = Path(str(obj))
    if not path.exists():
        return f"<p class='missing'>table not produced: {_esc(path)}</p>"
    if path.suffix == ".csv":
        return df_to_html(pd.read_csv(path))
    if path.suffix == ".parquet":
        return df_to_html(pd.read_parquet(path))
    return "<pre>" + _esc(path.read_text(encoding="utf-8")) + "</pre>"


# ------------------------------------------------------------------------------------ figures
def image_data_uri(path: str) -> str:
    data = Path(path).read_bytes()
    mime = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".svg": "image/svg+xml"}.get(
        Path(path).suffix.lower(), "application/octet-stream")
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")


def _caption(path: str, captions: dict | None) -> str:
    captions = captions or {}
    for key in (str(path), Path(path).name, Path(path).stem):
        if key in captions:
            return captions[key]
    from maple.report.figures import caption_for

    return caption_for(path)


# ------------------------------------------------------------------------------------ missing
def missing_html(missing: dict | None) -> str:
    if not missing:
        return "<p>No information on missing cells was given.</p>"
    parts = [
        f"<p>{int(missing.get('n_present', 0))} of {int(missing.get('n_expected', 0))} expected score files have "
        f"scores; {int(missing.get('n_missing', 0))} are missing.</p>"
    ]
    cells = missing.get("missing_cells") or []
    if cells:
        parts.append("<h3>Cells without any scores</h3><ul>" + "".join(f"<li>{_esc(c)}</li>" for c in cells) + "</ul>")
    partial = missing.get("partial_cells") or {}
    if partial:
        parts.append("<h3>Cells with some tasks missing</h3><ul>"
                     + "".join(f"<li>{_esc(c)}: {_esc(', '.join(map(str, t)))}</li>" for c, t in partial.items())
                     + "</ul>")
    entries = missing.get("missing") or []
    if entries:
        frame = pd.DataFrame(entries)
        cols = [c for c in ("cell", "task", "reason", "path") if c in frame.columns]
        parts.append(f"<details><summary>All {len(entries)} missing score files</summary>"
                     + df_to_html(frame[cols]) + "</details>")
    if not cells and not partial and not entries:
        parts.append("<p>Every expected cell and task has scores.</p>")
    extra = missing.get("unexpected_files") or []
    if extra:
        parts.append("<p class='note'>Also included, though not in this config's grid: "
                     + ", ".join(_esc(e) for e in extra) + "</p>")
    return "\n".join(parts)


# ------------------------------------------------------------------------------------- report
def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-") or "section"


def render_report(
    out_html: str,
    tables: dict,
    figures: list[str],
    cost,
    config: dict,
    missing: dict | None,
    captions: dict | None = None,
    title: str = "MAPLE reproduction report",
) -> str:
    """Write one self-contained HTML file and return its path.

    tables    name -> DataFrame, [(heading, note, DataFrame)] or path (.csv / .parquet), in order
    figures   PNG paths (embedded as data URIs; a missing file is reported, not an error)
    cost      a DataFrame, a dict name -> DataFrame (see cost.cost_tables), or None
    config    the config that produced the results (keys naming token/key/secret are dropped)
    missing   the JSON written by aggregate_scores (or None)
    captions  optional caption per figure path / file name / stem (default: figures.CAPTIONS)
    """
    sections = []
    toc = []

    def section(name: str, body: str):
        anchor = _slug(name)
        toc.append(f"<li><a href='#{anchor}'>{_esc(name)}</a></li>")
        sections.append(f"<section id='{anchor}'><h2>{_esc(name)}</h2>\n{body}\n</section>")

    for name, obj in (tables or {}).items():
        section(str(name), table_html(obj))

    fig_parts = []
    for k, path in enumerate(figures or [], start=1):
        cap = _esc(_caption(path, captions))
        label = _esc(Path(path).stem)
        if Path(path).exists():
            fig_parts.append(f"<figure id='{_slug(Path(path).stem)}'><img src='{image_data_uri(path)}' alt='{label}'>"
                             f"<figcaption><strong>{label}.</strong> {cap}</figcaption></figure>")
        else:
            fig_parts.append(f"<figure><p class='missing'>figure not produced: {_esc(path)}</p>"
                             f"<figcaption><strong>{label}.</strong> {cap}</figcaption></figure>")
    section("Figures", "\n".join(fig_parts) if fig_parts else "<p>No figures.</p>")

    if isinstance(cost, dict):
        body = "".join(f"<h3>{_esc(n)}</h3>" + df_to_html(df, digits=3) for n, df in cost.items() if df is not None)
    elif isinstance(cost, pd.DataFrame):
        body = df_to_html(cost, digits=3)
    else:
        body = "<p>No benchmark records.</p>"
    section("Compute cost", "<p class='note'>From Snakemake benchmark files: wall and CPU hours, GPU hours = wall "
            "hours x GPUs the rule declares, peak resident memory (GB).</p>" + (body or "<p>No benchmark records.</p>"))
    section("Missing cells", missing_html(missing))
    section("Configuration", "<p class='note'>The config that produced these results (keys naming a token, key or "
            "secret are left out).</p><pre>" + _esc(config_yaml(config)) + "</pre>")

    doc = (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{_esc(title)}</title><style>{CSS}</style></head><body>\n"
        f"<h1>{_esc(title)}</h1>\n<p class='note'>MAPLE: Multilingual Evaluation of Parameter Efficient Finetuning "
        "of Large Language Models (Aggarwal et al., arXiv 2401.07598), reproduced by the maple workflow. "
        "Measured numbers come from this run; published ones from the paper (and MEGAVERSE for the "
        "off-the-shelf baselines). Tinted columns: <span style='background:#eef5fb'>measured</span>, "
        "<span style='background:#fff7e6'>published</span>.</p>\n"
        "<nav><ul>" + "".join(toc) + "</ul></nav>\n" + "\n".join(sections) + "\n</body></html>\n"
    )
    from maple.io import atomic_file

    with atomic_file(out_html) as fh:
        fh.write(doc)
    return str(out_html)
