"""The operator's one-key answer after a run: "Is the system reliable and available?".

The answer is appended to the finished run's own journal as ``operator.feedback``,
after ``run.finished``: the hash chain simply continues, `replay` keeps the outcome,
times and versions of ``run.finished`` (the answer changes none of them), ``runbook
resume`` still refuses the run as finished, and ``history --audit`` lists the
answer with who gave it. One answer per run; only runs that reached ``run.finished``
take one (an unfinished run is resumable, and its journal belongs to the resume).

Headless runs never ask; the run screen does (screens/run.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from console.runbook.actor import Actor
from console.runbook.journal import FEEDBACK_ANSWERS, Journal, JournalBusy, read_journal, replay

QUESTION = "Is the system reliable and available?"
"""The question, word for word as journaled and shown."""

KEYS = {"+": "up", "-": "down"}
"""The keys that answer (ASCII, so every terminal has them); any other key skips."""

GLYPHS = {"up": "👍", "down": "👎"}


class FeedbackRefused(Exception):
    """The answer was not journaled; the message says why (for a notice)."""


def record_feedback(
    path: Path | str,
    answer: str,
    *,
    by: Actor | None = None,
    busy_wait: float = 5.0,
    clock: Callable[[], datetime] | None = None,
) -> dict:
    """Append the operator's answer to a finished run's journal.

    Args:
        path: The run's journal.
        answer: ``up`` or ``down``.
        by: Who answered; the current process's identity when None.
        busy_wait: Seconds to wait while the run's executor still holds the journal
            (the run screen shows the end a moment before ``run.finished`` is synced).
        clock: Time for the entry (tests).

    Returns:
        The entry as written.

    Raises:
        FeedbackRefused: For an unknown answer, a run that did not finish, one that
            was answered already, or a journal still busy after ``busy_wait``.
        JournalCorrupt: When the journal is damaged (nothing is appended to it).
    """
    if answer not in FEEDBACK_ANSWERS:
        raise FeedbackRefused(f"unknown answer {answer!r} (expected {' or '.join(FEEDBACK_ANSWERS)})")
    deadline = time.monotonic() + busy_wait
    while True:
        try:
            journal = Journal.open_existing(path, as_actor=by, clock=clock)
            break
        except JournalBusy:
            if time.monotonic() >= deadline:
                raise FeedbackRefused("the run still holds its journal: the answer was not recorded") from None
            time.sleep(0.05)
    with journal:
        record = replay(read_journal(journal.path).entries)
        if not record.is_finished:
            raise FeedbackRefused("the run has not finished (it can be resumed): the answer was not recorded")
        if record.feedback is not None:
            raise FeedbackRefused(f"this run was answered already ({GLYPHS[record.feedback]} by {record.feedback_by})")
        return journal.append("operator.feedback", data={"answer": answer, "question": QUESTION})
