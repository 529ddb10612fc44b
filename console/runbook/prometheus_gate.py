"""One Prometheus gate of a run: its query filled in, its measurements and its phase.

The executor owns the timing (it sleeps between measurements and listens to the
operator meanwhile); this module takes one measurement when asked, folds it into an
`analysis.AnalysisState` and says what the run screen draws. No Textual; the only I/O
is the query, through the source the caller hands in.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from adapters.base import AdapterError
from console.model import NamedQuery, WorkloadKey
from console.runbook.analysis import AnalysisState, Measurement, Phase, Verdict, evaluate_measurement, parse_condition
from console.runbook.run_view import GateView

_NUMBER = re.compile(r"(?<![\w\]])-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_NAMED = re.compile(r"[a-z][a-z0-9_]{0,39}")


class GateUnavailable(Exception):
    """The gate cannot run at all: no Prometheus for the environment, a bad query template."""


def threshold_of(success: str | None, failure: str | None) -> float | None:
    """The number a condition compares with, to draw as the threshold line.

    The first number literal that is not an index (``result[0]``); None when there is
    none (``isNaN(result[0])``).
    """
    for text in (success, failure):
        if not text:
            continue
        for match in _NUMBER.finditer(text):
            before = text[: match.start()].rstrip()
            if before.endswith("["):
                continue
            try:
                return float(match.group())
            except ValueError:
                continue
    return None


def fill_query(step, key: WorkloadKey, *, version: str, queries: Sequence[NamedQuery]) -> tuple[str, str]:
    """The PromQL to send and its unit: a named query of the environment, or the text itself.

    Raises:
        GateUnavailable: A placeholder outside a label value (see `named_query`).
    """
    from adapters.prometheus import named_query

    template, unit = step.query.strip(), step.unit
    if _NAMED.fullmatch(template):
        named = {q.name: q for q in queries}
        if template in named:
            template, unit = named[template].query, unit or named[template].unit
        # A bare word that is not a named query is still PromQL (a metric name).
    try:
        query = named_query(
            template,
            workload=key.name,
            namespace=key.group,
            service=key.name,
            version=version,
            track="canary",
        )
    except ValueError as error:
        raise GateUnavailable(f"gate {step.id}: {error}") from None
    return query, unit


class PrometheusGate:
    """Measurements of one gate, taken one at a time.

    Args:
        step: The rendered `PrometheusGateStep`.
        query: The filled PromQL (`fill_query`).
        unit: The value's unit for display.
        source: Makes the Prometheus source (``Backend.make_prometheus``); None when
            the environment has no Prometheus — then every measurement is an error.
    """

    def __init__(self, step, query: str, unit: str, source: Callable[[], Any] | None) -> None:
        self.step = step
        self.query = query
        self.unit = unit
        self._make_source = source
        self._source: Any = None
        self._success = parse_condition(step.success) if step.success else None
        self._failure = parse_condition(step.failure) if step.failure else None
        self.threshold = threshold_of(step.success, step.failure)
        self.state = AnalysisState(
            count=step.count,
            interval=step.interval,
            initial_delay=step.initial_delay,
            failure_limit=step.failure_limit,
            inconclusive_limit=step.inconclusive_limit,
            consecutive_error_limit=step.consecutive_error_limit,
            consecutive_success=step.consecutive_success,
        )

    @property
    def done(self) -> bool:
        return self.state.done

    def measure(self) -> Measurement:
        """Ask Prometheus once and fold the answer in; never raises for a backend failure."""
        now = datetime.now(UTC)
        if self._make_source is None:
            measurement = Measurement.error(now, "this environment has no Prometheus (add prometheus: url: … to its config)")
        else:
            try:
                if self._source is None:
                    self._source = self._make_source()
                samples = self._source.instant(self.query)
            except AdapterError as error:
                measurement = Measurement.error(now, error.summary)
            else:
                values = [value for _labels, value in samples]
                measurement = evaluate_measurement(now, values, self._success, self._failure)
        self.state.record(measurement)
        return measurement

    def stop(self, reason: str) -> Phase:
        """End a gate that runs until stopped (the run ended, the operator promoted)."""
        return self.state.terminate(reason)

    def close(self) -> None:
        if self._source is not None:
            self._source.close()

    def view(self) -> GateView:
        """What the run screen draws: the first value of each measurement, the threshold, counts."""
        values, verdicts = [], []
        for measurement in self.state.measurements:
            verdicts.append(measurement.verdict.value)
            if measurement.verdict is Verdict.ERROR or not measurement.value:
                values.append(math.nan)
            else:
                values.append(measurement.value[0])
        counts = self.state.counts
        last = self.state.measurements[-1] if self.state.measurements else None
        return GateView(
            query=self.query,
            values=tuple(values[-120:]),
            verdicts=tuple(verdicts[-120:]),
            threshold=self.threshold,
            unit=self.unit,
            passed=counts.successful,
            failed=counts.failed,
            inconclusive=counts.inconclusive,
            errors=counts.error,
            phase=self.state.phase.value,
            message=self.state.message or (last.message if last else "waiting for the first measurement"),
            background=bool(self.step.background),
        )

    def describe(self, measurement: Measurement) -> str:
        """One line for the step's detail and the journal's text."""
        if measurement.value is None:
            shown = "no value"
        elif not measurement.value:
            shown = "empty result"
        else:
            shown = ", ".join(_number(v, self.unit) for v in measurement.value[:3])
        return f"{measurement.verdict.glyph} {shown} — {measurement.message}"


def _number(value: float, unit: str) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = f"{value:.4g}"
    return f"{text} {unit}".rstrip() if unit else text


__all__ = ["GateUnavailable", "PrometheusGate", "fill_query", "threshold_of"]
