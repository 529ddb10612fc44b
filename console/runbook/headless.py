"""``watchfloor runbook …`` and ``watchfloor history`` without the UI (DESIGN §6).

Progress lines go to stderr, the result document to stdout; exit codes are the
contract pipelines depend on (issue C): 0 succeeded, 1 failed (rolled back or not),
2 bad input, 3 aborted or lock held, 4 backend unreachable.
"""

from __future__ import annotations

import json
import math
import sys
from datetime import UTC, datetime

from adapters.base import AdapterError, ErrorKind
from console.runbook.run_view import Outcome, RunView
from console.runbook.session import RunSetupError, prepare_resume, prepare_run

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_ABORTED = 3
EXIT_UNREACHABLE = 4

EXIT_OF_OUTCOME = {
    Outcome.SUCCEEDED: EXIT_OK,
    Outcome.ROLLED_BACK: EXIT_FAILED,
    Outcome.FAILED: EXIT_FAILED,
    Outcome.ABORTED: EXIT_ABORTED,
}


class _Progress:
    """Prints one stderr line whenever a step's state or the phase changes."""

    def __init__(self, stream=None) -> None:
        self._stream = stream or sys.stderr
        self._seen: dict[str, tuple] = {}
        self._phase: tuple | None = None

    def __call__(self, view: RunView) -> None:
        phase = (view.phase, view.message)
        if phase != self._phase and view.message:
            self._phase = phase
            self._print(f"[{view.phase.value}] {view.message}")
        for step in view.steps:
            seen = (step.state, step.message, step.detail[-1:] if step.detail else ())
            if step.id not in self._seen and step.state.value == "pending":
                self._seen[step.id] = seen
                continue
            if self._seen.get(step.id) != seen:
                self._seen[step.id] = seen
                line = f"  {step.id}: {step.state.value}"
                if step.message:
                    line += f" — {step.message}"
                elif step.detail:
                    line += f" — {step.detail[-1]}"
                self._print(line)

    def _print(self, text: str) -> None:
        from console.terminal_text import neutralise

        self._stream.write(neutralise(text) + "\n")
        self._stream.flush()


def run_runbook(args, config) -> int:
    """``watchfloor runbook run NAME --env E --workload W [--set k=v]… [--yes] [--json]``."""
    try:
        session = prepare_run(
            config,
            runbook_name=args.name,
            env_name=args.env,
            workload=args.workload,
            raw_params=_parse_sets(args.set or []),
            read_only=bool(args.read_only),
            auto_answer=bool(args.yes),
            interactive=False,
            on_update=_Progress(),
            break_stale_lock=bool(args.break_stale_lock),
        )
    except RunSetupError as error:
        print(f"watchfloor: {error}", file=sys.stderr)
        return error.exit_code
    return _finish(session.execute, args)


def resume_runbook(args, config) -> int:
    """``watchfloor runbook resume RUN_ID [--choice redo|done|skip|abort] [--yes] [--json]``."""
    try:
        session = prepare_resume(
            config,
            run_id=args.run_id,
            read_only=bool(args.read_only),
            auto_answer=bool(args.yes),
            interactive=False,
            resolution=args.choice or "recommended",
            on_update=_Progress(),
            break_stale_lock=bool(args.break_stale_lock),
        )
    except RunSetupError as error:
        print(f"watchfloor: {error}", file=sys.stderr)
        return error.exit_code
    return _finish(session.execute, args)


def _finish(execute, args) -> int:
    from console.runbook.executor import RunRefused

    try:
        view = execute()
    except RunRefused as refused:
        print(f"watchfloor: {refused}", file=sys.stderr)
        if refused.stale_reason:
            print("watchfloor: run again with --break-stale-lock to break it (journaled)", file=sys.stderr)
        return EXIT_BAD_INPUT if refused.kind in (ErrorKind.BAD_INPUT,) else EXIT_ABORTED
    except AdapterError as error:
        print(f"watchfloor: {error.summary}", file=sys.stderr)
        return EXIT_UNREACHABLE if error.kind == ErrorKind.UNREACHABLE else EXIT_FAILED
    document = view.to_json()
    if args.json:
        print(json.dumps(document, indent=2))
    else:
        print(f"{document['outcome']}: {view.message}")
        print(f"journal: {view.journal}")
    outcome = view.outcome
    return EXIT_OF_OUTCOME.get(outcome, EXIT_FAILED) if outcome else EXIT_FAILED


def _parse_sets(items: list[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"watchfloor: --set takes key=value, got {item!r}")
        values[key.strip()] = value
    return values


def list_runbooks(args, config) -> int:
    from console.runbook.session import runbook_set

    found = runbook_set(config)
    for problem in found.problems:
        print(str(problem), file=sys.stderr)
    if getattr(args, "json", False):
        print(json.dumps([_summary(loaded) for loaded in found.runbooks.values()], indent=2))
    else:
        width = max((len(name) for name in found.runbooks), default=4)
        for name, loaded in sorted(found.runbooks.items()):
            print(f"{name:<{width}}  {loaded.source:<7}  {loaded.runbook.title}")
    return EXIT_BAD_INPUT if found.problems else EXIT_OK


def show_runbook(args, config) -> int:
    from console.runbook.session import runbook_set

    found = runbook_set(config)
    loaded = found.runbooks.get(args.name)
    if loaded is None:
        known = ", ".join(sorted(found.runbooks)) or "none"
        print(f"watchfloor: no runbook named {args.name!r} (known: {known})", file=sys.stderr)
        return EXIT_BAD_INPUT
    if getattr(args, "json", False):
        print(json.dumps(_summary(loaded, steps=True), indent=2))
        return EXIT_OK
    runbook = loaded.runbook
    print(f"{runbook.name} — {runbook.title}  ({loaded.source}: {loaded.path})")
    if runbook.description:
        print(f"\n{runbook.description.strip()}\n")
    if runbook.params:
        print("params:")
        for name, param in runbook.params.items():
            default = f" (default {param.default})" if param.default is not None else " (required)"
            print(f"  {name}: {param.type}{default} — {param.help or ''}")
    print("steps:")
    for index, step in enumerate(runbook.steps, 1):
        print(f"  {index}. {step.id} [{step.kind}] {getattr(step, 'title', '') or ''}  on_fail={step.on_fail}")
    return EXIT_OK


def _summary(loaded, *, steps: bool = False) -> dict:
    runbook = loaded.runbook
    document = {
        "name": runbook.name,
        "title": runbook.title,
        "source": loaded.source,
        "path": str(loaded.path),
        "sha256": loaded.sha256,
        "params": list(runbook.params),
    }
    if steps:
        document["steps"] = [{"id": s.id, "kind": s.kind, "on_fail": str(s.on_fail)} for s in runbook.steps]
    return document


def print_history(args, config) -> int:
    """``watchfloor history [--env NAME] [--workload W] [--since D] [--json] [--figures] [--audit]``.

    Runs from the journals, newest first, then the delivery figures of the same
    runs (text); ``--json`` keeps the runs list as it was, ``--figures`` prints
    only the figures (a table, or with ``--json`` the document of
    docs/delivery-metrics.md). ``--since`` is also the figures' window (default 30d).
    """
    since = _since(args)
    if since is False:
        return EXIT_BAD_INPUT
    if getattr(args, "audit", False):
        return print_audit(args, since)
    from console.runbook.journal import list_runs

    every = [run for run in list_runs() if _in_scope(run, args)]
    runs = [run for run in every if since is None or run.started is None or run.started >= since]
    if getattr(args, "figures", False):
        report = _report(every, since)
        if args.json:
            print(json.dumps(report.to_json(), indent=2))
        else:
            print(figures_table(report))
        return EXIT_OK
    if args.json:
        print(json.dumps([history_json(run) for run in runs], indent=2))
        return EXIT_OK
    if not runs:
        print("no runs recorded yet")
        return EXIT_OK
    for run in runs:
        print(history_line(run))
    print()
    print(figures_table(_report(every, since)))
    return EXIT_OK


def _in_scope(run, args) -> bool:
    if args.env and run.environment_name != args.env:
        return False
    wanted = getattr(args, "workload", None)
    # NAME matches GROUP/NAME too, as elsewhere on the command line.
    return not wanted or run.workload == wanted or run.workload.rpartition("/")[2] == wanted


def _report(runs, since):
    from console.runbook.dora import DEFAULT_WINDOW_DAYS, delivery_report

    now = datetime.now(UTC)
    # --since was turned into a moment a little earlier: allow for the milliseconds since.
    days = DEFAULT_WINDOW_DAYS if since is None else max(1, math.ceil((now - since).total_seconds() / 86400 - 0.001))
    return delivery_report(runs, now=now, window_days=days)


def figures_table(report) -> str:
    """The delivery figures as a compact text table: overall, per environment, per workload."""
    from console.runbook.dora import percent, short, sparkline
    from console.terminal_text import neutralise

    overall = report.overall
    header = ("scope", "deploys", "/day", "/week", "success", "CFR", "recovery", "deploy", "rollback", "satisfied")
    rows = []
    for figures in (overall, *report.environments, *report.workloads):
        satisfied = percent(figures.satisfaction_rate) + (f" of {figures.answered}" if figures.answered else "")
        rows.append(
            (
                neutralise(figures.label, keep_sgr=False),
                str(figures.deployments),
                f"{figures.per_day:.1f}",
                f"{figures.per_week:.1f}",
                percent(figures.success_rate),
                percent(figures.change_failure_rate),
                short(figures.recovery_median),
                short(figures.deploy_median),
                short(figures.rollback_median),
                satisfied,
            )
        )
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    lines = [
        f"delivery figures, last {overall.window_days}d to {overall.until.astimezone(UTC):%Y-%m-%d %H:%M} UTC "
        "(definitions: docs/delivery-metrics.md)"
    ]
    for row in (header, *rows):
        cells = [row[0].ljust(widths[0])] + [cell.rjust(width) for cell, width in zip(row[1:], widths[1:])]
        lines.append("  ".join(cells).rstrip())
    lines.append(f"deployments/day {sparkline([day.deployments for day in overall.days])}  (oldest → today)")
    return "\n".join(lines)


def _since(args):
    """The ``--since`` moment, None without it, False (said on stderr) when it is not a duration."""
    from console.durations import parse_duration

    if not getattr(args, "since", None):
        return None
    try:
        return datetime.now(UTC) - parse_duration(args.since)
    except ValueError as error:
        print(f"watchfloor: --since: {error}", file=sys.stderr)
        return False


def print_audit(args, since=None) -> int:
    """``watchfloor history --audit [--env NAME] [--since D] [--json]``: audited events, oldest first."""
    from console.runbook.audit import audit_records, audit_table
    from console.terminal_text import neutralise

    records = audit_records(environment=args.env or None, since=since)
    if args.json:
        print(json.dumps([record.to_json() for record in records], indent=2))
    else:
        print(neutralise(audit_table(records), keep_sgr=False, keep_newlines=True))
    return EXIT_OK


def history_json(run) -> dict:
    return {
        "run_id": run.run_id,
        "runbook": run.runbook,
        "environment": run.environment_name,
        "workload": run.workload,
        "actor": run.actor,
        "status": run.status,
        "outcome": run.outcome,
        "phase": run.phase,
        "from_version": run.from_version,
        "to_version": run.to_version,
        "started": run.started.isoformat() if run.started else None,
        "finished": run.finished.isoformat() if run.finished else None,
        "duration_seconds": run.duration.total_seconds() if run.duration else None,
        "journal": str(run.path),
        "problem": run.problem,
    }


def history_line(run) -> str:
    from console.terminal_text import neutralise

    started = run.started.astimezone().strftime("%Y-%m-%d %H:%M") if run.started else "?"
    duration = f"{int(run.duration.total_seconds())}s" if run.duration else "-"
    versions = f"{run.from_version or '?'} → {run.to_version}" if run.to_version else (run.from_version or "")
    text = f"{started}  {run.status:<12} {run.runbook:<16} {run.environment_name}/{run.workload}  {versions}  {duration}  by {run.actor}  {run.run_id}"
    if run.problem:
        text += f"  ({run.problem})"
    return neutralise(text)


__all__ = ["list_runbooks", "print_history", "resume_runbook", "run_runbook", "show_runbook"]
