"""Reports for people: a run folder read back as one self-contained HTML page, or several side by side."""

from gancli.report.compare import write_comparison
from gancli.report.page import write_report

__all__ = ["write_comparison", "write_report"]
