"""A Prometheus gate's measurements as a small block chart with its threshold drawn.

Pure rendering (rich Text), no widget state: the run screen calls `gate_lines` with a
`GateView` on each refresh. Each column is one measurement, coloured by its verdict
(pass / fail / inconclusive; ``⚠`` where the query could not be taken); the threshold
the condition compares with is a dotted line across the columns it does not cover,
so "how close to the line" reads at a glance, also without colour.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from rich.text import Text

from console.runbook.run_view import GateView
from widgets.safe_text import safe_text

BLOCKS = " ▁▂▃▄▅▆▇█"
VERDICT_STYLES = {"pass": "$success", "fail": "bold $error", "inconclusive": "$warning", "error": "$warning"}  # nosec B105 # style names


def _scale(values: list[float], threshold: float | None) -> tuple[float, float]:
    finite = [v for v in values if math.isfinite(v)]
    if threshold is not None and math.isfinite(threshold):
        finite.append(threshold)
    if not finite:
        return 0.0, 1.0
    low, high = min(finite + [0.0]), max(finite)
    if high - low < 1e-12:
        high = low + (abs(low) or 1.0)
    return low, high


def _number(value: float, unit: str) -> str:
    if math.isnan(value):
        return "—"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = f"{value:.3g}"
    return f"{text} {unit}" if unit else text


def gate_lines(gate: GateView, width: int, styles: Mapping[str, str], *, height: int = 3) -> list[Text]:
    """One line of counts, threshold, last value and phase, then the chart rows (top first),
    then the last measurement's sentence.

    Args:
        gate: What to draw.
        width: Cells available; the newest measurements that fit are drawn.
        styles: Resolved colours for ``VERDICT_STYLES`` keys' values (theme variables).
        height: Rows of chart.
    """
    axis = 9
    columns = max(4, width - axis)
    values = list(gate.values[-columns:])
    verdicts = list(gate.verdicts[-columns:]) or ["pass"] * len(values)
    low, high = _scale(values, gate.threshold)
    levels = height * 8

    def level(value: float) -> int:
        return max(0, min(levels, round((value - low) / (high - low) * levels)))

    threshold_level = level(gate.threshold) if gate.threshold is not None and math.isfinite(gate.threshold) else None
    rows: list[Text] = []
    for row in range(height - 1, -1, -1):
        line = Text()
        if row == height - 1:
            line.append(f"{_number(high, ''):>8} ", style="dim")
        elif row == 0:
            line.append(f"{_number(low, ''):>8} ", style="dim")
        else:
            line.append(" " * axis)
        base = row * 8
        for value, verdict in zip(values, verdicts):
            style = styles.get(VERDICT_STYLES.get(verdict, ""), "")
            if verdict == "error" or not math.isfinite(value):
                line.append("⚠" if row == 0 else " ", style=style)
                continue
            filled = level(value) - base
            if threshold_level is not None and base <= threshold_level < base + 8 and filled <= threshold_level - base:
                line.append("┈", style="dim")
            elif filled >= 8:
                line.append("█", style=style)
            elif filled > 0:
                line.append(BLOCKS[filled], style=style)
            else:
                line.append(" ")
        rows.append(line)
    summary = Text()
    summary.append(f"✔{gate.passed} ✖{gate.failed} ?{gate.inconclusive} ⚠{gate.errors}")
    if gate.threshold is not None:
        summary.append(f" ┈{_number(gate.threshold, '')}", style="dim")
    finite = [v for v in gate.values if math.isfinite(v)]
    if finite:
        summary.append(f" last {_number(finite[-1], gate.unit)}")
    summary.append(f" {gate.phase}", style="bold")
    rows.insert(0, summary)  # first: in a short pane the counts matter more than the bars
    if gate.message:
        rows.append(safe_text(gate.message, style="dim"))
    return rows


__all__ = ["gate_lines"]
