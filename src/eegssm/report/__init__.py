"""Outputs people look at: the self-contained HTML detection report (``report.html``)."""
