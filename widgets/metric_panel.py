"""Prometheus sparklines of the selected workload: one per named query, deploy markers on them.

Each named query gets a label line (``Request rate 12.3 req/s · min 1.20 · max 40.0``)
over a one-row sparkline of the window, drawn against time: column ``i`` holds the
points of its slice of the window (the highest, as the CPU sparkline does), a slice
without points stays blank, and a slice holding a deploy marker shows ``│`` instead
of its bar. The glyph, not only its colour, carries the marker, so it reads in the
high-contrast and colour-blind themes. In compact mode (a short pane) each query is
one row: label, current value and the sparkline beside them.

Above the sparklines one line says what the operator must know about the data: no
Prometheus configured, Prometheus unreachable (the last data stays drawn), simulated
data (the demo), and the deploy markers in the window.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from console.model import ConnectionState, DeployMarker, MetricSeries, NamedQuery
from widgets.safe_text import safe_text

BARS = "▁▂▃▄▅▆▇█"
MARKER = "│"
"""Drawn in the sparkline's column of a deploy, rollback or promote."""
MARKER_WORDS = {
    "deploy": "deploy",
    "rollback": "rollback",
    "canary.promote": "promote",
    "bluegreen.switch": "switch",
    "finished": "run end",
}


@dataclass(frozen=True)
class MetricPanelData:
    """Everything the panel draws; equal data draws the same frame."""

    has_prometheus: bool = False
    queries: tuple[NamedQuery, ...] = ()
    series: tuple[MetricSeries | None, ...] = ()
    """One per query, same order; None before the first answer."""
    markers: tuple[DeployMarker, ...] = ()
    connection: ConnectionState | None = None
    simulated: bool = False
    end: float = 0.0
    """The window's end (now), seconds since the epoch."""
    window: float = 1800.0


def format_value(value: float | None, unit: str = "") -> str:
    """A short reading of a value with its unit: ``12.3 req/s``, ``1.2k``, ``45%``, ``NaN``."""
    if value is None:
        return "-"
    if math.isnan(value):
        text = "NaN"
    elif math.isinf(value):
        text = "+Inf" if value > 0 else "-Inf"
    else:
        magnitude = abs(value)
        for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
            if magnitude >= limit:
                text = f"{value / limit:.3g}{suffix}"
                break
        else:
            text = "0" if value == 0 else f"{value:.3g}"
    if not unit:
        return text
    return f"{text}{unit}" if unit == "%" else f"{text} {unit}"


def sparkline_text(
    points: Sequence[tuple[float, float]],
    *,
    start: float,
    end: float,
    width: int,
    markers: Sequence[float] = (),
    bar_style: Style | str = "",
    marker_style: Style | str = "",
) -> Text:
    """One row of ``width`` cells for the points in ``[start, end)``, markers as ``│``.

    Args:
        points: ``(seconds since the epoch, value)``; NaN and infinities are not drawn.
        markers: Moments to mark (seconds since the epoch); outside the window, none.
    """
    width = max(0, width)
    text = Text(no_wrap=True, overflow="crop")
    if width == 0 or end <= start:
        return text
    slice_seconds = (end - start) / width
    columns: list[float | None] = [None] * width
    for ts, value in points:
        if not math.isfinite(value):
            continue
        index = int((ts - start) // slice_seconds)
        if 0 <= index < width:
            held = columns[index]
            columns[index] = value if held is None else max(held, value)
    marked = set()
    for ts in markers:
        index = int((ts - start) // slice_seconds)
        if 0 <= index < width:
            marked.add(index)
    present = [v for v in columns if v is not None]
    low, high = (min(present), max(present)) if present else (0.0, 0.0)
    span = high - low
    cells = []
    for index, value in enumerate(columns):
        if index in marked:
            cells.append((MARKER, marker_style))
        elif value is None:
            cells.append((" ", ""))
        else:
            level = 0 if span <= 0 else min(len(BARS) - 1, int((value - low) / span * (len(BARS) - 1) + 0.5))
            cells.append((BARS[level], bar_style))
    # Runs of one style become one span: a 36-cell line is a handful of spans.
    run_text, run_style = "", None
    for char, style in cells:
        if style != run_style and run_text:
            text.append(run_text, style=run_style or "")
            run_text = ""
        run_text += char
        run_style = style
    if run_text:
        text.append(run_text, style=run_style or "")
    return text


def _clock(ts: float) -> str:
    return datetime.fromtimestamp(ts).astimezone().strftime("%H:%M")


class MetricPanel(Widget):
    """The selected workload's Prometheus sparklines (a label line and a sparkline per query)."""

    DEFAULT_CSS = """
    MetricPanel { height: auto; width: 1fr; }
    MetricPanel > .metric-panel--label { color: $text-muted; }
    MetricPanel > .metric-panel--bar { color: $accent; }
    MetricPanel > .metric-panel--marker { color: $warning; text-style: bold; }
    MetricPanel > .metric-panel--problem { color: $error; text-style: bold; }
    MetricPanel > .metric-panel--note { color: $text-muted; text-style: italic; }
    """

    COMPONENT_CLASSES = {
        "metric-panel--label",
        "metric-panel--bar",
        "metric-panel--marker",
        "metric-panel--problem",
        "metric-panel--note",
    }
    """
    | Class | Description |
    | :- | :- |
    | `metric-panel--label` | A query's title, value, min and max. |
    | `metric-panel--bar` | The sparkline's bars. |
    | `metric-panel--marker` | A deploy marker (``│``) and the markers' legend. |
    | `metric-panel--problem` | Prometheus unreachable. |
    | `metric-panel--note` | Hints: no Prometheus, simulated data, no data. |
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.data = MetricPanelData()
        """What the panel shows now."""

    @property
    def compact(self) -> bool:
        return self.has_class("-compact")

    def show(self, data: MetricPanelData) -> None:
        """Draw ``data``; nothing happens when it equals what is drawn."""
        if data == self.data:
            return
        lines_before = self.line_count(self.data)
        self.data = data
        # Same number of lines: a repaint, no layout of the screen.
        self.refresh(layout=self.line_count(data) != lines_before)

    def set_compact(self, compact: bool) -> None:
        if compact != self.compact:
            self.set_class(compact, "-compact")
            self.refresh(layout=True)

    def line_count(self, data: MetricPanelData | None = None) -> int:
        data = data or self.data
        status = 1 if self._status(data) is not None else 0
        if not data.has_prometheus:
            return status
        return status + len(data.queries) * (1 if self.compact else 2)

    def _status(self, data: MetricPanelData) -> Text | None:
        if not data.has_prometheus:
            return Text("no Prometheus configured", style=self._style("note"))
        connection = data.connection
        if connection is not None and not connection.connected:
            text = Text("Prometheus unreachable", style=self._style("problem"))
            if connection.since is not None:
                text.append(f" since {connection.since.astimezone().strftime('%H:%M:%S')}", style=self._style("problem"))
            if connection.retry_at is not None:
                left = max(0, round(connection.retry_at - time.monotonic()))
                text.append(f", retrying in {left}s" if left else ", retrying now", style=self._style("problem"))
            if connection.error:
                text.append(" — ")
                text.append_text(safe_text(connection.error, style=self._style("note")))
            return text
        if not data.queries:
            return Text("Prometheus: no named queries (prometheus.queries)", style=self._style("note"))
        parts = Text()
        if data.simulated:
            parts.append("simulated data", style="bold reverse")
        start = data.end - data.window
        shown = [m for m in data.markers if start <= m.ts < data.end and m.verb != "finished"]
        if shown:
            if parts:
                parts.append(" ")
            parts.append(MARKER, style=self._style("marker"))
            for marker in shown[-3:]:
                parts.append(f" {_clock(marker.ts)} {MARKER_WORDS.get(marker.verb, marker.verb)}", style=self._style("marker"))
        return parts or None

    def _style(self, part: str) -> Style:
        return self.get_component_rich_style(f"metric-panel--{part}", partial=True)

    def get_content_height(self, container, viewport, width: int) -> int:
        return self.line_count()

    def render(self) -> Text:
        data = self.data
        width = self.size.width
        lines: list[Text] = []
        status = self._status(data)
        if status is not None:
            status.no_wrap = True
            status.overflow = "ellipsis"
            status.truncate(width, overflow="ellipsis")
            lines.append(status)
        if data.has_prometheus:
            markers = [m.ts for m in data.markers]
            label_width = 0
            if self.compact:
                # Every label as wide (the widest, up to 3/5 of the line): the sparklines line up.
                widest = max((self._label(q, s).cell_len for q, s in zip(data.queries, data.series)), default=0)
                label_width = min(widest, width * 3 // 5)
            for query, series in zip(data.queries, data.series):
                lines.extend(self._query_lines(query, series, data.end, data.window, markers, width, label_width))
        return Text("\n").join(lines)

    def _label(self, query: NamedQuery, series: MetricSeries | None) -> Text:
        """Title and current value: ``Requests 53 req/s``."""
        points = series.points if series is not None else ()
        label = Text(style=self._style("label"), no_wrap=True, overflow="ellipsis")
        label.append_text(safe_text(query.label))
        label.append(" ")
        label.append(format_value(points[-1].value if points else None, query.unit), style="bold")
        return label

    def _query_lines(
        self,
        query: NamedQuery,
        series: MetricSeries | None,
        end: float,
        window: float,
        markers: list[float],
        width: int,
        label_width: int,
    ) -> list[Text]:
        points = [(p.ts, p.value) for p in series.points] if series is not None else []
        finite = [value for _, value in points if math.isfinite(value)]
        label = self._label(query, series)
        if not self.compact:
            if finite:
                label.append(f" · min {format_value(min(finite))} · max {format_value(max(finite))}")
            note = series.note if series is not None else "no samples yet"
            if note:
                label.append(" · ")
                label.append_text(safe_text(note, style=self._style("note")))
        spark_width = width
        if self.compact:
            label.truncate(label_width, overflow="ellipsis", pad=True)
            label.append(" ")
            spark_width = max(0, width - label.cell_len)
        if spark_width > 0 and window > 0:
            # Slices on fixed boundaries: a bar moves one column per slice, not a little
            # every second.
            slice_seconds = window / spark_width
            end = math.ceil(end / slice_seconds) * slice_seconds
        spark = sparkline_text(
            points,
            start=end - window,
            end=end,
            width=spark_width,
            markers=markers,
            bar_style=self._style("bar"),
            marker_style=self._style("marker"),
        )
        if self.compact:
            return [label + spark]
        label.truncate(width, overflow="ellipsis")
        return [label, spark]
