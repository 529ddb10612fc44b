"""What a run looks like from outside: its phase, its steps and their states.

Pure, frozen data (no I/O, no Textual) so the executor thread can hand a ``RunView``
to the store, the UI and the headless CLI without sharing anything mutable.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

from console.model import WorkloadKey
from console.redact import redact_data


class StepState(str, enum.Enum):
    PENDING = "pending"
    RUNNING = "running"
    WAITING_INPUT = "waiting_input"
    WAITING_TIMER = "waiting_timer"
    PASSED = "passed"
    FAILED = "failed"
    INCONCLUSIVE = "inconclusive"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"

    @property
    def finished(self) -> bool:
        return self in FINISHED_STEP_STATES


FINISHED_STEP_STATES = frozenset(
    {StepState.PASSED, StepState.FAILED, StepState.INCONCLUSIVE, StepState.SKIPPED, StepState.CANCELLED}
)


class Phase(str, enum.Enum):
    """Run phases, Argo Rollouts style: Pending → Progressing ⇄ Paused → an end."""

    PENDING = "Pending"
    PROGRESSING = "Progressing"
    PAUSED = "Paused"
    HEALTHY = "Healthy"
    DEGRADED = "Degraded"
    ROLLED_BACK = "RolledBack"
    ABORTED = "Aborted"

    @property
    def finished(self) -> bool:
        return self in (Phase.HEALTHY, Phase.DEGRADED, Phase.ROLLED_BACK, Phase.ABORTED)


class Outcome(str, enum.Enum):
    """The headless result (DESIGN §6): what a pipeline branches on."""

    SUCCEEDED = "succeeded"
    ROLLED_BACK = "rolled_back"
    FAILED = "failed"
    ABORTED = "aborted"


OUTCOME_OF_PHASE = {
    Phase.HEALTHY: Outcome.SUCCEEDED,
    Phase.ROLLED_BACK: Outcome.ROLLED_BACK,
    Phase.DEGRADED: Outcome.FAILED,
    Phase.ABORTED: Outcome.ABORTED,
}


@dataclass(frozen=True, slots=True)
class GateView:
    """A Prometheus gate's measurements, as the run screen draws them."""

    query: str
    values: tuple[float, ...] = ()
    """The first value of each measurement, oldest first (NaN where there was none)."""
    verdicts: tuple[str, ...] = ()
    """Each measurement's verdict (pass/fail/inconclusive/error), beside ``values``."""
    threshold: float | None = None
    unit: str = ""
    passed: int = 0
    failed: int = 0
    inconclusive: int = 0
    errors: int = 0
    phase: str = "running"
    message: str = ""
    background: bool = False

    @property
    def counts(self) -> str:
        return f"✔ {self.passed}  ✖ {self.failed}  ? {self.inconclusive}  ⚠ {self.errors}"


@dataclass(frozen=True, slots=True)
class StepView:
    id: str
    title: str
    kind: str
    state: StepState = StepState.PENDING
    message: str = ""
    started: datetime | None = None
    finished: datetime | None = None
    detail: tuple[str, ...] = ()
    """Lines for the current-step pane: gate measurements, checklist, the command."""
    deadline: float | None = None
    """Epoch seconds when a wait or timeout ends, for a countdown."""
    gate: GateView | None = None
    """A Prometheus gate's measurements (None for other steps)."""

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "state": self.state.value,
            "started": self.started.isoformat() if self.started else None,
            "finished": self.finished.isoformat() if self.finished else None,
            "message": self.message,
        }


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    ts: datetime
    event: str
    step: str | None
    text: str


@dataclass(frozen=True, slots=True)
class RunView:
    run_id: str
    runbook: str
    title: str
    environment: str
    workload: WorkloadKey
    phase: Phase = Phase.PENDING
    message: str = ""
    steps: tuple[StepView, ...] = ()
    current: int | None = None
    """Index into ``steps`` of the step running or waiting, if any."""
    from_version: str = ""
    to_version: str = ""
    from_image: str = ""
    to_image: str = ""
    desired: int = 0
    updated: int = 0
    ready: int = 0
    journal: str = ""
    waiting_for: str | None = None
    """"confirm", "manual", "interrupted", "paused" — the input the run waits for."""
    protected: bool = False
    release: str = ""
    """The release the run has open: canary, bluegreen-idle, bluegreen-live, or ""."""
    timeline: tuple[TimelineEntry, ...] = field(default=())
    started: datetime | None = None
    finished: datetime | None = None

    @property
    def outcome(self) -> Outcome | None:
        return OUTCOME_OF_PHASE.get(self.phase)

    @property
    def current_step(self) -> StepView | None:
        return self.steps[self.current] if self.current is not None and 0 <= self.current < len(self.steps) else None

    @property
    def position(self) -> str:
        """"step 2/5" for the header."""
        if not self.steps:
            return "no steps"
        index = self.current if self.current is not None else sum(1 for s in self.steps if s.state.finished) - 1
        return f"step {max(index, 0) + 1}/{len(self.steps)}"

    def to_json(self) -> dict:
        """The ``runbook run --json`` document (DESIGN §6; keys are never renamed).

        Redacted: step and run messages quote backend errors, which can carry a
        URL with a password or a token.
        """
        outcome = self.outcome
        return redact_data({
            "run_id": self.run_id,
            "runbook": self.runbook,
            "environment": self.environment,
            "workload": self.workload.label,
            "outcome": outcome.value if outcome else None,
            "phase": self.phase.value,
            "message": self.message,
            "from_version": self.from_version,
            "to_version": self.to_version,
            "journal": self.journal,
            "steps": [step.to_json() for step in self.steps],
        })
