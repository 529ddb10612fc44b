"""A titled sparkline with current, min and max: CPU and memory of a workload."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label, Sparkline

from console.model import Sample


class SparklinePanel(Vertical):
    """Label line (``CPU 12% · min 1% · max 40%``) over a one-row sparkline."""

    DEFAULT_CSS = """
    SparklinePanel { height: 2; }
    SparklinePanel > Label { width: 1fr; color: $text-muted; }
    SparklinePanel > Sparkline { height: 1; }
    SparklinePanel > Sparkline > .sparkline--max-color { color: $accent; }
    SparklinePanel > Sparkline > .sparkline--min-color { color: $primary; }
    SparklinePanel.-compact { layout: horizontal; height: 1; }
    SparklinePanel.-compact > Label { width: 50%; height: 1; }
    SparklinePanel.-compact > Sparkline { width: 1fr; }
    """

    def __init__(self, title: str, formatter: Callable[[float | None], str], **kwargs) -> None:
        super().__init__(**kwargs)
        self.title = title
        self.formatter = formatter
        self._last: tuple[float, ...] | None = None
        self._note: str | None = None
        self._label_width = 0
        """Cells of the label's current text (it wraps when wider than the label)."""

    def compose(self) -> ComposeResult:
        yield Label(Text(f"{self.title} —"))
        yield Sparkline([], summary_function=max)

    def set_compact(self, compact: bool) -> None:
        """One row, the label (current value only) beside the sparkline: for a short pane."""
        if compact == self.has_class("-compact"):
            return
        self.set_class(compact, "-compact")
        last, self._last = self._last, None
        if last is not None:
            self.show([Sample(0.0, v) for v in last], note=self._note)

    def show(self, samples: Sequence[Sample], *, window: int = 300, note: str | None = None) -> None:
        """Show the last ``window`` samples (5 min at 1 s); skip if nothing changed.

        ``note`` says why there are no samples (e.g. the cluster has no metrics API).
        """
        values = tuple(s.value for s in samples[-window:])
        if values == self._last and note == self._note:
            return
        self._last = values
        self._note = note
        if not values:
            self._set_label(Text(f"{self.title} — {note or 'no samples yet'}"))
            self.query_one(Sparkline).data = []
            return
        current, low, high = values[-1], min(values), max(values)
        if self.has_class("-compact"):
            self._set_label(Text(f"{self.title} {self.formatter(current)}"))
        else:
            self._set_label(
                Text(f"{self.title} {self.formatter(current)} · min {self.formatter(low)} · max {self.formatter(high)}")
            )
        self.query_one(Sparkline).data = list(values)

    def _set_label(self, text: Text) -> None:
        label = self.query_one(Label)
        width = label.size.width
        # A label that stays on one line keeps its size: laying the whole screen out
        # again for it would cost more than the update (it changes with every sample).
        one_line = 0 < width and text.cell_len <= width and self._label_width <= width
        label.update(text, layout=not one_line)
        self._label_width = text.cell_len
