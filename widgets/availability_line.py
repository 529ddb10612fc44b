"""One line of a workload's availability: 24 h / 7 d / 30 d, its SLO and the error budget left.

Hidden until there is something recorded to show (a console that records no
availability, or a workload never seen healthy or failed, shows nothing).
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from console.availability import Figures, summary_line


class AvailabilityLine(Static):
    """``availability 24h 99.95% · 7d 99.7% · 30d 99.8% · SLO 99.9% · budget left 31m (72%)``."""

    DEFAULT_CSS = """
    AvailabilityLine { height: auto; padding: 0 1; color: $text-muted; display: none; }
    AvailabilityLine.-overspent { color: $error; }
    """

    def show(self, figures: Figures | None) -> None:
        """Show ``figures`` (from ``AvailabilityRecorder.figures_of``), or hide the line for None."""
        self.display = figures is not None
        if figures is None:
            return
        budget = figures.budget
        self.set_class(budget is not None and budget.left < 0, "-overspent")
        # Every part is our own wording and numbers; the workload name is not in the line.
        self.update(Text(summary_line(figures)))
