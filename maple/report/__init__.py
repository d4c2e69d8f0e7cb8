"""The last stage: tidy table, MAPLE Tables 1-2, figures, compute cost, the HTML report.

    aggregate.aggregate_scores  score JSONs + published.csv -> results/scores.parquet / .csv
    tables.table1 / table2      CSV + Markdown, measured beside published
    figures.fig1..fig6          PNG + PDF from the tidy table alone
    cost.cost_tables            Snakemake benchmark TSVs -> per job / stage / cell
    html.render_report          one self-contained HTML file
    pipeline.*                  one call per report rule
"""
