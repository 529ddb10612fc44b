"""The audit trail: who wrote, confirmed, broke a lock or was refused, from the journals.

``watchfloor history --audit [--json] [--env NAME] [--since 24h]`` prints one record
per audited event, oldest first, read from every run's journal (verified hash
chain; a damaged journal becomes one ``journal.unreadable`` record rather than
hiding the others). Audited events:

===================  ===========================================================
event                what the record says
===================  ===========================================================
run.started          who started which runbook (``verb`` = runbook name)
write                one adapter write: ``verb``; outcome ``succeeded``,
                     ``failed: …`` or ``unanswered`` (the process died mid-call:
                     the write may or may not have happened)
confirm              a confirm step's answer (``answer`` yes/no); a protected
                     environment's confirm without the typed name is ``refused``
manual.done          a manual step's checklist ticked (``answer`` = items)
lock.acquired/       the lock and its ``holder``; ``lock.broken`` also says why
released/broken
operator.<verb>      every other operator verb (abort, undo, promote, pause,
                     resume, skip, note …); ``refused`` when the executor refused it
run.refused          a run that never got its lock (held by someone else), or
                     was refused before it could start (read-only environment,
                     unknown workload, bad params, backend unreachable: such a
                     run's journal holds only run.started and run.finished):
                     ``outcome`` is the reason
policy.<rule>        any policy decision the executor journals; ``policy.refused``
                     is an image the image policy refused: ``verb`` = the rule,
                     ``answer`` = the image, ``outcome`` = ``refused: <why>``
run.finished         the run's outcome
===================  ===========================================================

Actors are the journal's ``actor`` (``user@host``, plus SSH client and tty), or
the ``by`` an operator verb names when someone else's command was handed in.
Records are built from journal entries, which are redacted when written.

No Textual here: a headless command.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from console.runbook.actor import Actor
from console.runbook.journal import JournalCorrupt, list_runs, read_journal

__all__ = ["AuditRecord", "audit_records", "audit_table"]


@dataclass(frozen=True)
class AuditRecord:
    """One audited event.

    Attributes:
        ts: When (RFC 3339 UTC, as journaled).
        run_id, environment, workload: Which run, where.
        actor: ``user@host`` who caused it.
        ssh_client, tty: Where the actor was connected from, when known.
        event: See the module docstring.
        verb: The write's verb, the runbook's name, or the operator verb.
        answer: A confirm's yes/no, a checklist, a reason.
        lock_holder: ``user@host (run …)`` for lock events.
        outcome: What came of it.
        step: The step id, when the event belongs to a step.
        seq: The entry's line in the journal.
    """

    ts: str
    run_id: str
    environment: str
    workload: str
    actor: str
    ssh_client: str | None
    tty: str | None
    event: str
    verb: str | None
    answer: str | None
    lock_holder: str | None
    outcome: str
    step: str | None
    seq: int | None

    def to_json(self) -> dict[str, Any]:
        """The record as ``history --audit --json`` prints it."""
        return asdict(self)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _holder(data: dict) -> str | None:
    holder = data.get("holder")
    if not isinstance(holder, dict):
        return None
    who = _text(holder.get("holder")) or "?"
    run = _text(holder.get("run_id"))
    return f"{who} (run {run})" if run else who


def _records_of(entries: list[dict[str, Any]]) -> list[AuditRecord]:
    records: list[AuditRecord] = []
    pending_writes: dict[tuple[str, str], dict] = {}
    lock_taken = False
    first = entries[0]

    def add(entry: dict, event: str, outcome: str, *, verb=None, answer=None, holder=None, by=None) -> None:
        actor = Actor.from_json(entry.get("actor"))
        data = entry.get("data") if isinstance(entry.get("data"), dict) else {}
        named = by if by is not None else data.get("by")
        if not (isinstance(named, str) and "@" in named):
            named = None  # "--yes" says how, not who: the journal's actor is who
        records.append(
            AuditRecord(
                ts=_text(entry.get("ts")),
                run_id=_text(entry.get("run_id")),
                environment=_text(entry.get("environment_name")) or _text(first.get("environment_name")),
                workload=_text(entry.get("workload")) or _text(first.get("workload")),
                actor=_text(named) or actor.label,
                ssh_client=actor.ssh_client,
                tty=actor.tty,
                event=event,
                verb=verb,
                answer=answer,
                lock_holder=holder,
                outcome=outcome,
                step=entry.get("step") if isinstance(entry.get("step"), str) else None,
                seq=entry.get("seq") if isinstance(entry.get("seq"), int) else None,
            )
        )

    for entry in entries:
        event = _text(entry.get("event"))
        data = entry.get("data") if isinstance(entry.get("data"), dict) else {}
        step = _text(entry.get("step"))
        if event == "run.started":
            runbook = _text(entry.get("runbook")).partition("@")[0]
            add(entry, event, "started", verb=runbook or None)
        elif event == "adapter.call":
            request = data.get("request") if isinstance(data.get("request"), dict) else {}
            verb = _text(request.get("verb")) or _text(data.get("verb"))
            if "result" in data or "error" in data:
                pending_writes.pop((step, verb), None)
                if "error" in data:
                    error = data.get("error")
                    summary = _text(error.get("summary")) if isinstance(error, dict) else _text(error)
                    outcome = f"failed: {summary}" if summary else "failed"
                else:
                    outcome = "succeeded"
                add(entry, "write", outcome, verb=verb or None)
            else:
                pending_writes[(step, verb)] = entry
        elif event == "operator.confirm":
            if data.get("auto"):
                # Answered by `runbook run --yes`: the operator said yes up front.
                add(entry, "confirm", "confirmed", answer="yes (--yes)")
                continue
            yes = bool(data.get("yes"))
            why = _text(data.get("why"))
            outcome = f"refused: {why}" if why else ("confirmed" if yes else "declined")
            add(entry, "confirm", outcome, answer="yes" if yes else "no")
        elif event == "operator.done":
            checked = data.get("checked") if isinstance(data.get("checked"), list) else []
            answer = ", ".join(str(item) for item in checked) or ("all (--yes)" if data.get("auto") else None)
            add(entry, "manual.done", "done", answer=answer)
        elif event.startswith("lock."):
            lock_taken = lock_taken or event == "lock.acquired"
            reason = _text(data.get("why")) or _text(data.get("reason"))
            outcome = event.partition(".")[2] + (f": {reason}" if reason else "")
            add(entry, event, outcome, holder=_holder(data), by=_text(data.get("by")) or None)
        elif event.startswith("operator."):
            refused = _text(data.get("refused"))
            answer = _text(data.get("reason")) or _text(data.get("text")) or _text(data.get("why")) or _text(data.get("answer")) or None
            add(entry, event, f"refused: {refused}" if refused else "recorded", verb=event.partition(".")[2], answer=answer)
        elif event.startswith("policy."):
            outcome = _text(data.get("outcome")) or _text(data.get("decision")) or _text(data.get("reason")) or "recorded"
            add(entry, event, outcome, verb=_text(data.get("rule")) or None, answer=_text(data.get("image")) or None)
        elif event == "run.finished":
            message = _text(data.get("message"))
            if not lock_taken and _text(data.get("phase")) == "Aborted":
                # The run ended before it held the lock: it was refused (lock held,
                # read-only environment, a policy) before any write.
                add(entry, "run.refused", f"refused: {message}" if message else "refused")
            add(entry, event, _text(data.get("outcome")) or _text(data.get("phase")) or "finished")
    for entry in pending_writes.values():
        request = entry["data"].get("request") if isinstance(entry["data"].get("request"), dict) else {}
        add(entry, "write", "unanswered", verb=_text(request.get("verb")) or None)
    records.sort(key=lambda r: r.seq or 0)
    return records


def audit_records(
    directory: Path | None = None, *, environment: str | None = None, since: datetime | None = None
) -> list[AuditRecord]:
    """Every audited event in the journals, oldest first.

    Args:
        directory: The runs directory; the default state dir's when None.
        environment: Only this environment's runs.
        since: Only events at or after this moment (timezone-aware).

    Returns:
        The records.
    """
    records: list[AuditRecord] = []
    for run in list_runs(directory):
        if environment and run.environment_name != environment and not run.problem:
            continue
        try:
            entries = read_journal(run.path).entries
        except (OSError, JournalCorrupt) as error:
            entries = []
            problem = str(error)
        else:
            problem = run.problem
        if not entries:
            if environment:
                continue  # an unreadable journal cannot say which environment it was
            records.append(
                AuditRecord(
                    ts=run.started.isoformat() if run.started else "",
                    run_id=run.run_id,
                    environment="",
                    workload="",
                    actor="",
                    ssh_client=None,
                    tty=None,
                    event="journal.unreadable",
                    verb=None,
                    answer=None,
                    lock_holder=None,
                    outcome=problem or "no entries",
                    step=None,
                    seq=None,
                )
            )
            continue
        records.extend(_records_of(entries))
    if since is not None:
        records = [r for r in records if (moment := _moment(r.ts)) is None or moment >= since]
    records.sort(key=lambda r: (r.ts, r.run_id, r.seq or 0))
    return records


def _moment(ts: str) -> datetime | None:
    try:
        return datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return None


def audit_table(records: list[AuditRecord]) -> str:
    """The records as aligned text lines (untrusted text neutralised by the caller)."""
    if not records:
        return "no audited events recorded"
    rows = [("TIME", "ENVIRONMENT/WORKLOAD", "ACTOR", "EVENT", "WHAT", "OUTCOME", "RUN")]
    for record in records:
        what = " ".join(
            part
            for part in (
                record.verb or "",
                f"answer={record.answer}" if record.answer else "",
                f"holder={record.lock_holder}" if record.lock_holder else "",
            )
            if part
        )
        where = f"{record.environment}/{record.workload}" if record.environment else "?"
        rows.append((record.ts, where, record.actor, record.event, what or "-", record.outcome, record.run_id))
    widths = [min(max(len(row[i]) for row in rows), 40) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=False)) + "  " + row[-1]
        for row in rows
    )
