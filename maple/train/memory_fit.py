"""Refit memory_fit.yaml's coefficients from its rows: python -m maple.train.memory_fit"""

from __future__ import annotations

import yaml

from maple.train import memory


def rows_of(fit: dict) -> list[dict]:
    return [{**r, "shape": fit["shapes"][r["shape"]]} for r in fit["rows"]]


def main() -> None:
    fit = memory.load_fit()
    coef = memory.fit_coefficients(rows_of(fit))
    text = memory.FIT_FILE.read_text()
    head = text[: text.index("coefficients:")]
    body = yaml.safe_dump({"coefficients": {k: round(v, 4) for k, v in coef.items()}}, sort_keys=False)
    memory.FIT_FILE.write_text(head + body.replace("coefficients:\n", "coefficients:  # fit_coefficients(rows)\n", 1))
    for r in rows_of(fit):
        p = memory.predict(r["shape"], r["layers"], r["bits"], r["rank"], r["tokens"], r["recompute"], r["compiled"], coef)
        print(f"b{r['bits']}-r{r['rank']} x{r['tokens']}: measured {r['peak_gib']} GiB, predicted {p:.2f} ({p / r['peak_gib'] - 1:+.1%})")


if __name__ == "__main__":
    main()
