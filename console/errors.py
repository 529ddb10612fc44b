"""One error model for everything that can go wrong in front of an operator (DESIGN §7).

Backends, runs, gates, config and runbook files fail in their own words; this module
turns each into an `ErrorReport` that discloses progressively:

1. a one-sentence operator summary saying what happened and what the console already
   did ("… — rolled back to 1.4.1");
2. admin detail: replica states, events, gate measurements, located file problems;
3. developer detail: request, response, traceback, journal entries;

plus a class (`ErrorClass`) that picks the section of ``docs/troubleshooting.md`` to
read, and the context an incident channel needs. `incident_snippet` renders a report
as the plain text the console copies ("copy status"), redacted through
`console.redact` like every other view.

Pure Python, no Textual: the error panel shows these, headless commands may print them.
"""

from __future__ import annotations

import enum
import json
import re
import traceback
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC
from typing import Any

from adapters.base import AdapterError, ErrorKind
from console.model import ConnectionState, Environment, EnvironmentKind
from console.redact import redact_data, redact_text
from console.runbook.run_view import Phase, RunView, StepState, StepView
from console.terminal_text import neutralise
from console.yaml_source import ConfigError, ConfigProblem

__all__ = [
    "DOC_PATH",
    "ErrorClass",
    "ErrorContext",
    "ErrorReport",
    "TOPICS",
    "class_of_kind",
    "from_adapter_error",
    "from_config_error",
    "from_connection",
    "from_exception",
    "from_gate",
    "from_messages",
    "from_prometheus_connection",
    "from_prometheus_error",
    "from_refusal",
    "from_run",
    "from_runbook_problems",
    "incident_snippet",
]

DOC_PATH = "docs/troubleshooting.md"
"""Where every error class and common error has a section; links are relative to the repository."""


class ErrorClass(str, enum.Enum):
    """What sort of trouble, as an operator triages it: whose move is it?"""

    DEPLOYMENT = "deployment"
    """A change to a workload did not work out (the new version, its rollout, its gates)."""
    ENVIRONMENT = "environment"
    """The platform under the console: an engine or API that does not answer, a full disk."""
    MONITORING = "monitoring"
    """Prometheus, which sparklines and gates depend on, is down or answers nonsense."""
    POLICY = "policy"
    """A guard said no: credentials, RBAC, read-only, protected, a lock, a secret in the config."""
    BAD_INPUT = "bad_input"
    """What was asked for cannot be done as written: a config or runbook file, a parameter."""

    @property
    def title(self) -> str:
        """The heading of the class's section in the troubleshooting guide."""
        return _CLASS_TITLES[self]

    @property
    def anchor(self) -> str:
        """The section's anchor in ``docs/troubleshooting.md`` (GitHub's heading slug)."""
        return slug(self.title)


_CLASS_TITLES = {
    ErrorClass.DEPLOYMENT: "Deployment failure",
    ErrorClass.ENVIRONMENT: "Environment problem",
    ErrorClass.MONITORING: "Monitoring problem",
    ErrorClass.POLICY: "Security or policy refusal",
    ErrorClass.BAD_INPUT: "Bad input",
}

TOPICS = {
    "docker-unreachable": "Docker engine unreachable",
    "kubernetes-unreachable": "Kubernetes API unreachable",
    "kubernetes-denied": "Kubernetes API 401 or 403",
    "lock": "Lock held or stale",
    "prometheus-down": "Prometheus down or gate error",
    "health-gate": "Health gate failed and the run rolled back",
    "journal": "Journal write failed",
    "config-secret": "Literal secret in the config refused",
    "config-file": "Config file errors",
    "runbook-file": "Runbook file errors",
    "image-policy": "Image refused by policy",
    "read-only": "Read-only environment",
    "internal": "Internal error",
}
"""Concrete errors with their own section, by topic: the section's heading."""


def slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading: lower case, punctuation dropped, spaces to ``-``."""
    kept = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return kept.replace(" ", "-")


@dataclass(frozen=True, slots=True)
class ErrorContext:
    """Where the error happened, as an incident channel wants it. Every field may be empty."""

    environment: str = ""
    workload: str = ""
    from_version: str = ""
    to_version: str = ""
    run_id: str = ""
    phase: str = ""
    last_steps: tuple[str, ...] = ()
    """The last few steps of a run, oldest first: ``"healthy: failed — 1/3 ready"``."""

    @property
    def versions(self) -> str:
        """``"1.4.2 → 1.5.0"``, one version, or ""."""
        if self.from_version and self.to_version:
            return f"{self.from_version} → {self.to_version}"
        return self.from_version or self.to_version


@dataclass(frozen=True, slots=True)
class ErrorReport:
    """One error, told for the operator, the admin and the developer."""

    error_class: ErrorClass
    summary: str
    """One sentence: what happened and what the console already did."""
    admin_detail: str = ""
    """Replica states, events, gate measurements, located problems — several lines."""
    developer_detail: str = ""
    """Request, response, traceback, journal entries."""
    context: ErrorContext = field(default_factory=ErrorContext)
    topic: str = ""
    """A key of `TOPICS` when a section covers this very error; "" for the class's section."""

    @property
    def anchor(self) -> str:
        """The troubleshooting section to read: the topic's, else the class's."""
        return slug(TOPICS[self.topic]) if self.topic in TOPICS else self.error_class.anchor

    @property
    def doc_link(self) -> str:
        """``docs/troubleshooting.md#<anchor>``."""
        return f"{DOC_PATH}#{self.anchor}"

    def details(self) -> tuple[tuple[str, str], ...]:
        """The levels beyond the summary that have something to say: (title, text)."""
        levels = (("Details (admin)", self.admin_detail), ("Developer details", self.developer_detail))
        return tuple((title, text) for title, text in levels if text.strip())

    def redacted(self, extra_values: Iterable[str] = ()) -> ErrorReport:
        """A copy with secrets hidden in every text and context field (`console.redact`)."""
        extra = tuple(extra_values)
        context = self.context
        return replace(
            self,
            summary=redact_text(self.summary, extra),
            admin_detail=redact_text(self.admin_detail, extra),
            developer_detail=redact_text(self.developer_detail, extra),
            context=ErrorContext(
                environment=redact_text(context.environment, extra),
                workload=redact_text(context.workload, extra),
                from_version=redact_text(context.from_version, extra),
                to_version=redact_text(context.to_version, extra),
                run_id=redact_text(context.run_id, extra),
                phase=redact_text(context.phase, extra),
                last_steps=tuple(redact_text(step, extra) for step in context.last_steps),
            ),
        )


# --- classification ---------------------------------------------------------------------

_CLASS_OF_KIND = {
    ErrorKind.UNREACHABLE: ErrorClass.ENVIRONMENT,
    ErrorKind.BACKEND: ErrorClass.ENVIRONMENT,
    ErrorKind.NOT_FOUND: ErrorClass.BAD_INPUT,
    ErrorKind.BAD_INPUT: ErrorClass.BAD_INPUT,
    ErrorKind.FORBIDDEN: ErrorClass.POLICY,
    ErrorKind.READ_ONLY: ErrorClass.POLICY,
    # Adapters raise CONFLICT for a workload lock someone else holds: a guard saying no.
    ErrorKind.CONFLICT: ErrorClass.POLICY,
}

# The console's own image policy says "refused by image policy: RULE: REASON"
# (console.image_policy.refusal); admission webhooks (Kyverno, Gatekeeper, Pod Security)
# answer a write with a 403 or 400 whose message names the webhook or the policy.
_IMAGE_POLICY = re.compile(
    r"refused by image policy|admission webhook|denied the request|violates podsecurity", re.IGNORECASE
)
_LITERAL_SECRET = re.compile(
    r"is written in the config|not the token itself|secrets may not be stored|carries credentials|rotate the secret",
    re.IGNORECASE,
)
_JOURNAL = re.compile(r"journal could not be written|journal.*(?:write|fsync|no space)|No space left", re.IGNORECASE)


def class_of_kind(kind: ErrorKind | str) -> ErrorClass:
    """The class of an adapter's `ErrorKind` (or its value, as a `ConnectionState` keeps it)."""
    try:
        return _CLASS_OF_KIND[ErrorKind(kind)]
    except ValueError:
        return ErrorClass.ENVIRONMENT


def _kind_topic(kind: ErrorKind | str, environment_kind: EnvironmentKind | None, text: str) -> str:
    try:
        kind = ErrorKind(kind)
    except ValueError:
        return ""
    if _IMAGE_POLICY.search(text):
        return "image-policy"
    if kind is ErrorKind.CONFLICT and "lock" in text.lower():
        return "lock"
    if kind is ErrorKind.READ_ONLY:
        return "read-only"
    if kind is ErrorKind.FORBIDDEN and environment_kind is EnvironmentKind.KUBERNETES:
        return "kubernetes-denied"
    if kind is ErrorKind.UNREACHABLE:
        if environment_kind is EnvironmentKind.DOCKER:
            return "docker-unreachable"
        if environment_kind is EnvironmentKind.KUBERNETES:
            return "kubernetes-unreachable"
    return ""


def _sentence(*parts: str) -> str:
    """Join clauses into one sentence: ``"a: b — c"``; empty parts are left out."""
    text = " — ".join(part.strip().rstrip(".") for part in parts if part and part.strip())
    return _one_line(text)


def _one_line(text: str) -> str:
    return " ".join(text.split())


# --- constructors -------------------------------------------------------------------------


def from_adapter_error(
    error: AdapterError,
    *,
    context: ErrorContext | None = None,
    done: str = "nothing was changed",
    environment_kind: EnvironmentKind | None = None,
) -> ErrorReport:
    """A backend call that failed (a write, a history read, a connect).

    Args:
        error: The adapter's typed error.
        context: Where it happened.
        done: What the console did about it, for the summary.
        environment_kind: The backend, to pick the concrete troubleshooting section.
    """
    text = f"{error.summary}\n{error.admin_detail}"
    topic = _kind_topic(error.kind, environment_kind, text)
    return ErrorReport(
        ErrorClass.POLICY if topic == "image-policy" else class_of_kind(error.kind),
        _sentence(error.summary, done),
        admin_detail=_join(f"kind: {error.kind.value}", error.admin_detail),
        developer_detail=error.developer_detail,
        context=context or ErrorContext(),
        topic=topic,
    )


def from_connection(environment: Environment, state: ConnectionState) -> ErrorReport:
    """An environment whose backend does not answer (the main screen's banner)."""
    backend = "the Docker engine" if environment.kind is EnvironmentKind.DOCKER else "the Kubernetes API"
    kind = state.kind or ErrorKind.UNREACHABLE.value
    error = state.error or "the backend closed the connection"
    admin = [f"target: {environment.target}", f"kind: {kind}"]
    if state.since is not None:
        admin.append(f"disconnected since {state.since.astimezone(UTC).strftime('%Y-%m-%d %H:%M:%S UTC')}")
    return ErrorReport(
        class_of_kind(kind),
        _sentence(
            f"{environment.name}: {backend} does not answer: {error}",
            "the console keeps retrying with backoff and shows the environment again when it answers; nothing was changed",
        ),
        admin_detail=_join("\n".join(admin), state.detail),
        developer_detail=state.developer_detail,
        context=ErrorContext(environment=environment.name),
        topic=_kind_topic(kind, environment.kind, f"{error}\n{state.detail}"),
    )


def from_prometheus_connection(environment: Environment, state: ConnectionState) -> ErrorReport:
    """An environment's Prometheus that does not answer (sparklines and gates depend on it)."""
    kind = state.kind or ErrorKind.UNREACHABLE.value
    return ErrorReport(
        ErrorClass.BAD_INPUT if kind == ErrorKind.BAD_INPUT.value else ErrorClass.MONITORING,
        _sentence(
            f"{environment.name}: Prometheus does not answer: {state.error or 'no answer'}",
            "metric sparklines stop, gates count errors (a run pauses or rolls back at their limit); the console retries",
        ),
        admin_detail=_join(f"prometheus: {environment.prometheus or '?'}", f"kind: {kind}", state.detail),
        developer_detail=state.developer_detail,
        context=ErrorContext(environment=environment.name),
        topic="prometheus-down",
    )


def from_prometheus_error(error: AdapterError, *, context: ErrorContext | None = None, done: str = "") -> ErrorReport:
    """A Prometheus query or alert read that failed (a gate measurement, a sparkline)."""
    bad_query = error.kind is ErrorKind.BAD_INPUT
    return ErrorReport(
        ErrorClass.BAD_INPUT if bad_query else ErrorClass.MONITORING,
        _sentence(
            f"Prometheus: {error.summary}",
            done or ("the query was not sent; fix it in the config or runbook" if bad_query else "the measurement counts as an error; the console retries"),
        ),
        admin_detail=_join(f"kind: {error.kind.value}", error.admin_detail),
        developer_detail=error.developer_detail,
        context=context or ErrorContext(),
        topic="" if bad_query else "prometheus-down",
    )


def from_config_error(error: ConfigError, *, done: str = "the console did not start") -> ErrorReport:
    """A config file that could not be used: every located problem, the first in the summary."""
    problems = list(error.problems)
    refused = [p for p in problems if _LITERAL_SECRET.search(f"{p.message} {p.hint}")]
    first = (refused or problems)[0] if problems else None
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    summary = _sentence(f"{first}{more}" if first else "the config could not be read", done)
    return ErrorReport(
        ErrorClass.POLICY if refused else ErrorClass.BAD_INPUT,
        summary,
        admin_detail=_problems_text(problems),
        developer_detail="",
        topic="config-secret" if refused else "config-file",
    )


def from_runbook_problems(problems: Sequence[ConfigProblem]) -> ErrorReport | None:
    """Runbook files that did not load (the loader skips them); None when every file loaded."""
    if not problems:
        return None
    files = sorted({p.file for p in problems})
    summary = _sentence(
        f"{len(files)} runbook file(s) could not be loaded, first {problems[0]}",
        "they are left out of the runbook list; the other runbooks work",
    )
    return ErrorReport(ErrorClass.BAD_INPUT, summary, admin_detail=_problems_text(problems), topic="runbook-file")


def from_refusal(error: Exception, *, context: ErrorContext | None = None) -> ErrorReport:
    """A run that did not start or resume (``RunRefused``, ``RunSetupError``): nothing was changed."""
    message = str(error)
    kind = getattr(error, "kind", None)
    exit_code = getattr(error, "exit_code", None)
    holder = getattr(error, "holder", None)
    stale = getattr(error, "stale_reason", None)
    if _JOURNAL.search(message):
        error_class, topic = ErrorClass.ENVIRONMENT, "journal"
    elif _IMAGE_POLICY.search(message):
        error_class, topic = ErrorClass.POLICY, "image-policy"
    elif isinstance(kind, ErrorKind):
        error_class = class_of_kind(kind)
        topic = "lock" if holder is not None or kind is ErrorKind.CONFLICT else _kind_topic(kind, None, message)
    elif exit_code == 4:
        error_class, topic = ErrorClass.ENVIRONMENT, ""
    elif exit_code == 3:
        error_class, topic = ErrorClass.POLICY, "lock"
    else:
        error_class, topic = ErrorClass.BAD_INPUT, ""
    admin = []
    if holder is not None:
        to_json = getattr(holder, "to_json", None)
        admin.append("lock holder: " + (json.dumps(to_json(), sort_keys=True) if to_json else str(holder)))
    if stale:
        admin.append(f"the lock looks stale: {stale} (the console offers to break it)")
    if kind is not None:
        admin.append(f"kind: {getattr(kind, 'value', kind)}")
    return ErrorReport(
        error_class,
        _sentence(f"the run was refused: {message}", "nothing was changed"),
        admin_detail="\n".join(admin),
        developer_detail=_traceback(error),
        context=context or ErrorContext(),
        topic=topic,
    )


def from_gate(step: StepView, *, context: ErrorContext | None = None) -> ErrorReport:
    """A gate step that failed, was inconclusive or could not measure."""
    gate = step.gate
    monitoring = gate is not None and (gate.phase == "error" or (gate.errors and not gate.failed))
    what = step.message or (gate.message if gate else "") or step.state.value
    return ErrorReport(
        ErrorClass.MONITORING if monitoring else ErrorClass.DEPLOYMENT,
        _sentence(f"gate '{step.title}' {step.state.value}: {what}"),
        admin_detail=_step_detail(step),
        context=context or ErrorContext(),
        topic="prometheus-down" if monitoring else ("health-gate" if gate is None else ""),
    )


def run_context(view: RunView, last: int = 4) -> ErrorContext:
    """The context of a run: environment, workload, versions, run id, phase, last steps."""
    started = [s for s in view.steps if s.state is not StepState.PENDING]
    return ErrorContext(
        environment=view.environment,
        workload=view.workload.label,
        from_version=view.from_version or view.from_image,
        to_version=view.to_version or view.to_image,
        run_id=view.run_id,
        phase=view.phase.value,
        last_steps=tuple(_step_line(s) for s in started[-last:]),
    )


def from_run(view: RunView, journal_entries: Sequence[Mapping[str, Any]] = ()) -> ErrorReport | None:
    """A run that ended badly (Degraded, RolledBack, Aborted) or is paused on a failed step.

    Args:
        view: The run as the executor last published it.
        journal_entries: The run's journal, when the caller has read it: its failed
            ``adapter.call`` entries and ``error_context`` go into developer detail.

    Returns:
        The report, or None for a run that is healthy or still going well.
    """
    cause = _cause(view)
    if view.phase is Phase.HEALTHY or (not view.phase.finished and cause is None):
        return None
    text = f"{view.message}\n{cause.message if cause else ''}"
    error_class, topic = _run_class(view, cause, text)
    verb = {
        Phase.ROLLED_BACK: "failed",
        Phase.DEGRADED: "failed",
        Phase.ABORTED: "was aborted",
        Phase.PAUSED: "is paused",
    }.get(view.phase, view.phase.value)
    done = ""
    if view.phase is Phase.DEGRADED and "rollback" not in view.message.lower():
        done = "the workload was left as the run left it (on_fail: abort)"
    elif view.phase is Phase.PAUSED:
        done = "the run waits for you: resume, retry, skip or abort"
    what = view.title or view.runbook
    summary = _sentence(f"{what} of {view.workload.label} in {view.environment} {verb}: {view.message}", done)
    return ErrorReport(
        error_class,
        summary,
        admin_detail=_run_admin(view, cause),
        developer_detail=_run_developer(view, journal_entries),
        context=run_context(view),
        topic=topic,
    )


def from_messages(
    messages: Sequence[str],
    *,
    what: str,
    error_class: ErrorClass = ErrorClass.ENVIRONMENT,
    context: ErrorContext | None = None,
    done: str = "nothing was changed",
) -> ErrorReport | None:
    """Errors a screen collected as text (log streams that broke, a history that could
    not be read): the last one is the summary, all of them the admin detail."""
    if not messages:
        return None
    last = messages[-1]
    return ErrorReport(
        error_class,
        _sentence(f"{what}: {last}", done),
        admin_detail="\n".join(messages[-20:]),
        context=context or ErrorContext(),
    )


def from_exception(
    error: BaseException,
    *,
    context: ErrorContext | None = None,
    done: str = "the console kept running",
) -> ErrorReport:
    """Any exception: typed ones keep their class, the rest are internal errors with a traceback."""
    if isinstance(error, AdapterError):
        report = from_adapter_error(error, context=context, done=done)
    elif isinstance(error, ConfigError):
        report = from_config_error(error, done=done)
    elif type(error).__name__ in ("RunRefused", "RunSetupError"):
        report = from_refusal(error, context=context)
    else:
        journal = _JOURNAL.search(str(error)) is not None
        report = ErrorReport(
            ErrorClass.ENVIRONMENT,
            _sentence(f"{'' if journal or isinstance(error, OSError) else 'internal error: '}{type(error).__name__}: {error}", done),
            admin_detail="",
            context=context or ErrorContext(),
            topic="journal" if journal else ("" if isinstance(error, OSError) else "internal"),
        )
    trace = _traceback(error)
    if trace and trace not in report.developer_detail:
        report = replace(report, developer_detail=_join(report.developer_detail, trace))
    return report


# --- the incident snippet -------------------------------------------------------------------

SNIPPET_DETAIL_LINES = 40
"""At most this many lines of each detail level go into a copied snippet (chat windows)."""


def incident_snippet(report: ErrorReport, *, level: int = 1, extra_values: Iterable[str] = ()) -> str:
    """The plain text "copy status" puts on the clipboard, secrets redacted.

    Environment, workload, versions, run id, phase, last steps, the error, the detail
    levels up to ``level`` (1: admin, 2: developer too), and the troubleshooting link.
    No markup, no control characters: it is pasted into chats and tickets.

    Args:
        report: The error.
        level: How many detail levels to include beyond the summary.
        extra_values: Values declared secret in configuration.

    Returns:
        Text ending with ``troubleshooting: docs/troubleshooting.md#<anchor>``.
    """
    # Redact each field whole before it is cut to lines or length: a secret cut in half
    # loses the name that marks it as one.
    shown = report.redacted(extra_values)
    context = shown.context
    lines = [f"watchfloor incident — {report.error_class.title.lower()}"]
    for name, value in (
        ("environment", context.environment),
        ("workload", context.workload),
        ("versions", context.versions),
        ("run", context.run_id),
        ("phase", context.phase),
    ):
        if value:
            lines.append(f"{name}: {_one_line(value)}")
    if context.last_steps:
        lines.append("last steps:")
        lines.extend(f"  {_one_line(step)}" for step in context.last_steps)
    lines.append(f"error: {_one_line(shown.summary)}")
    for title, text in shown.details()[: max(0, level)]:
        detail = text.strip().splitlines()
        lines.append(f"{title.lower()}:")
        lines.extend(f"  {line}" for line in detail[:SNIPPET_DETAIL_LINES])
        if len(detail) > SNIPPET_DETAIL_LINES:
            lines.append(f"  … {len(detail) - SNIPPET_DETAIL_LINES} more lines")
    lines.append(f"troubleshooting: {report.doc_link}")
    text = "\n".join(neutralise(line, keep_sgr=False) for line in lines)
    # Joining lines can put a secret's name and value side by side again; once more whole.
    return redact_text(text, tuple(extra_values))


# --- helpers ------------------------------------------------------------------------------


def _join(*parts: str) -> str:
    return "\n".join(part.strip("\n") for part in parts if part and part.strip())


def _traceback(error: BaseException) -> str:
    if error.__traceback__ is None:
        return ""
    return "".join(traceback.format_exception(type(error), error, error.__traceback__)).rstrip()


def _problems_text(problems: Iterable[ConfigProblem]) -> str:
    return "\n".join(str(p) for p in problems)


def _step_line(step: StepView) -> str:
    line = f"{step.id}: {step.state.value}"
    if step.message:
        line += f" — {step.message}"
    return _one_line(line)


def _cause(view: RunView) -> StepView | None:
    """The step that made the run go wrong: the first failed, inconclusive or interrupted one."""
    for state in (StepState.FAILED, StepState.INCONCLUSIVE, StepState.INTERRUPTED):
        for step in view.steps:
            if step.state is state and step.id != "rollback":
                return step
    return None


def _run_class(view: RunView, cause: StepView | None, text: str) -> tuple[ErrorClass, str]:
    if _JOURNAL.search(text):
        return ErrorClass.ENVIRONMENT, "journal"
    lowered = text.lower()
    if "locked by" in lowered or ("lock" in lowered and "held" in lowered):
        return ErrorClass.POLICY, "lock"
    if "read-only" in lowered:
        return ErrorClass.POLICY, "read-only"
    if _IMAGE_POLICY.search(text):
        return ErrorClass.POLICY, "image-policy"
    if "could not reach" in lowered or "unreachable" in lowered or "does not answer" in lowered:
        return ErrorClass.ENVIRONMENT, ""
    if cause is not None and cause.gate is not None and (cause.gate.phase == "error" or (cause.gate.errors and not cause.gate.failed)):
        return ErrorClass.MONITORING, "prometheus-down"
    if view.phase is Phase.ROLLED_BACK and cause is not None and cause.gate is None:
        # A rollout fails fast on CrashLoopBackOff or ImagePullBackOff, a health gate on
        # time: either way the new version never became healthy.
        return ErrorClass.DEPLOYMENT, "health-gate"
    return ErrorClass.DEPLOYMENT, ""


def _step_detail(step: StepView) -> str:
    lines = [f"step {step.id} ({step.kind}): {step.state.value}" + (f" — {step.message}" if step.message else "")]
    lines.extend(f"  {line}" for line in step.detail)
    gate = step.gate
    if gate is not None:
        lines.append(f"  query: {gate.query}")
        lines.append(f"  measurements: {gate.counts}" + (f" (threshold {gate.threshold:g}{' ' + gate.unit if gate.unit else ''})" if gate.threshold is not None else ""))
        pairs = [f"{value:g} {verdict}" for value, verdict in zip(gate.values, gate.verdicts)]
        if pairs:
            lines.append("  values, oldest first: " + ", ".join(pairs))
        if gate.message:
            lines.append(f"  {gate.message}")
    return "\n".join(lines)


def _run_admin(view: RunView, cause: StepView | None) -> str:
    lines = [
        f"run {view.run_id}: {view.runbook} on {view.workload.label} in {view.environment}, phase {view.phase.value}",
        f"replicas: {view.desired} desired · {view.updated} updated · {view.ready} ready",
    ]
    if view.release:
        lines.append(f"release open: {view.release}")
    if cause is not None:
        lines.append(_step_detail(cause))
    lines.append("steps:")
    lines.extend(f"  {_step_line(step)}" for step in view.steps)
    return "\n".join(lines)


def _run_developer(view: RunView, journal_entries: Sequence[Mapping[str, Any]]) -> str:
    lines = []
    if view.journal:
        lines.append(f"journal: {view.journal}")
    for entry in view.timeline[-20:]:
        when = entry.ts.astimezone(UTC).strftime("%H:%M:%SZ")
        lines.append(f"{when} {entry.event}{' ' + entry.step if entry.step else ''}: {_one_line(entry.text)}")
    for entry in journal_entries:
        if entry.get("error_context") or (entry.get("event") == "adapter.call" and (entry.get("data") or {}).get("error")):
            shown = {key: entry.get(key) for key in ("seq", "event", "step", "data", "error_context") if key in entry}
            lines.append(json.dumps(redact_data(shown), sort_keys=True, default=str))
    return "\n".join(lines)
