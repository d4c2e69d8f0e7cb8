"""AlpacaEval win rates (%) from pairwise judgements (maple.judge writes them).

A judgement record: {"id", "order": "ab" | "ba", "preference": 1 | 2 | 0 | None, "output_length",
"reference_length"}. "ab" shows the model's output first; preference 1 = the first shown output wins,
2 = the second, 0 = a tie (1.5 and weighted preferences in [1, 2] are read as alpaca_eval does),
None = the judge gave no usable answer (dropped, as alpaca_eval drops non-preferences).

win_rate     each instruction's model share (win 1, tie 1/2, loss 0) averaged over its two orders,
             which cancels the judge's position bias; then the mean over instructions, x100.
lc_win_rate  alpaca_eval's own `get_length_controlled_winrate` (the AlpacaEval 2.0 GLM), only when the
             `alpaca_eval` package is installed and its regularisation data (`df_gamed.csv` of the hub
             dataset tatsu-lab/alpaca_eval) is already in the local Hugging Face cache: it is fetched
             from the hub, which scoring never contacts. Otherwise null.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re

from maple.metrics.errors import ScoringInputError

LOG = logging.getLogger(__name__)
ORDERS = ("ab", "ba")
LC_REPO, LC_FILE = "tatsu-lab/alpaca_eval", "df_gamed.csv"


def model_share(order: str, preference) -> float | None:
    """The model's share of one judgement: 1 win, 0.5 tie, 0 loss; None when unparsed."""
    if preference is None:
        return None
    pref = 1.5 if preference == 0 else float(preference)
    first_share = 2.0 - pref  # how much the output shown first won
    return first_share if order == "ab" else 1.0 - first_share


def _check(record, i: int) -> None:
    if not isinstance(record, dict):
        raise ScoringInputError(f"record {i + 1}: not a JSON object", i)
    for field in ("id", "order", "preference"):
        if field not in record:
            raise ScoringInputError(f"record {i + 1}: missing field {field!r} (AlpacaEval judgements)", i)
    if record["order"] not in ORDERS:
        raise ScoringInputError(f"record {i + 1}: order {record['order']!r} is not 'ab' or 'ba'", i)
    pref = record["preference"]
    if pref is not None and (isinstance(pref, bool) or not isinstance(pref, (int, float))
                             or math.isnan(pref) or not (pref == 0 or 1 <= pref <= 2)):
        raise ScoringInputError(f"record {i + 1}: preference {pref!r} is not 1, 2, 0 (tie) or null", i)


def score(protocol: str, records: list[dict], options: dict) -> tuple[dict, list[dict]]:
    by_id: dict = {}
    for i, record in enumerate(records):
        _check(record, i)
        entry = by_id.setdefault(record["id"], {"shares": [], "unparsed": 0, "lengths": None})
        share = model_share(record["order"], record["preference"])
        if share is None:
            entry["unparsed"] += 1
        else:
            entry["shares"].append(share)
        if record.get("output_length") is not None and record.get("reference_length") is not None:
            entry["lengths"] = (int(record["output_length"]), int(record["reference_length"]))
    per_example = []
    for ident, entry in by_id.items():
        shares = entry["shares"]
        win = sum(shares) / len(shares) if shares else None
        per_example.append({
            "id": ident, "prediction": None,
            "score": {"win": win, "judgements": len(shares), "unparsed": entry["unparsed"]},
        })
    wins = [e["score"]["win"] for e in per_example if e["score"]["win"] is not None]
    summary = {"n": len(wins), "win_rate": 100.0 * sum(wins) / len(wins) if wins else None}
    if protocol == "reference":
        lc = None
        if wins and options.get("length_controlled", True):
            lc = length_controlled_win_rate(by_id)
        summary["lc_win_rate"] = lc
    return summary, per_example


def _instruction_index(ident) -> int | None:
    """Row of the 805 AlpacaEval instructions: an int id, or the row number ending an id like 'eval-12'."""
    if isinstance(ident, int) and not isinstance(ident, bool):
        return ident
    match = re.search(r"(\d+)$", str(ident))
    return int(match.group(1)) if match else None


@contextlib.contextmanager
def _hub_offline():
    from huggingface_hub import constants

    before = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = before


def lc_unavailable_reason() -> str | None:
    """Why the installed environment cannot compute the length-controlled win rate; None when it can."""
    try:
        from alpaca_eval import constants as ae_constants
        from alpaca_eval.metrics.glm_winrate import get_length_controlled_winrate  # noqa: F401
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return "the alpaca_eval package is not installed (pip install alpaca-eval)"
    cached = try_to_load_from_cache(LC_REPO, LC_FILE, cache_dir=ae_constants.DEFAULT_CACHE_DIR, repo_type="dataset")
    if not isinstance(cached, str):
        return f"{LC_FILE} of the hub dataset {LC_REPO} is not in the local cache (scoring never fetches it)"
    return None


def length_controlled_win_rate(by_id: dict) -> float | None:
    """alpaca_eval's length-controlled win rate, or None (with the reason logged) when it cannot run offline."""
    reason = lc_unavailable_reason()
    if reason:
        LOG.info("lc_win_rate: %s", reason)
        return None
    from alpaca_eval.metrics.glm_winrate import get_length_controlled_winrate
    import pandas as pd

    rows = []
    for ident, entry in by_id.items():
        index = _instruction_index(ident)
        if not entry["shares"] or entry["lengths"] is None or index is None:
            continue
        out_len, ref_len = entry["lengths"]
        rows.append({
            "index": index,
            "preference": 1.0 + sum(entry["shares"]) / len(entry["shares"]),  # alpaca_eval: 2 = the model wins
            # the GLM reads only the outputs' lengths
            "output_1": "x" * ref_len, "output_2": "x" * out_len,
            "generator_1": "reference", "generator_2": "model", "annotator": "maple",
        })
    if not rows:
        LOG.info("lc_win_rate: no judgement carries output lengths and an instruction index")
        return None
    with _hub_offline():
        result = get_length_controlled_winrate(
            pd.DataFrame(rows), save_weights_dir=None, is_add_glm_preference_inplace=False
        )
    return float(result["length_controlled_winrate"])
