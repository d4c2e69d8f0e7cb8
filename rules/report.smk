# Tidy table, the study's tables and figures, the HTML report.


def report_targets():
    return []
