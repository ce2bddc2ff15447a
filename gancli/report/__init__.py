"""Reports for people: a run folder read back as one self-contained HTML page."""

from gancli.report.page import write_report

__all__ = ["write_report"]
