"""The run screen: one runbook run, Argo Rollouts style.

Header (phase and its sentence, step n/m, stable → new version, replicas), the step
list with states and timings, the current step's detail (checklist, countdown, gate
measurements), the journal as a timeline, and the operator's verbs as keys. Leaving
the screen does not stop the run; the status bar keeps showing it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from rich.table import Table
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from console.log_feed import LogFeed, LogRequest
from console.runbook.feedback import GLYPHS, KEYS, QUESTION
from console.runbook.run_view import Phase, RunView, StepState, StepView
from screens.run_dialogs import ChecklistDialog, ConfirmDialog, ResolveDialog, TextDialog
from widgets.gate_chart import VERDICT_STYLES, gate_lines
from widgets.log_view import LogView
from widgets.safe_text import safe_text

STATE_GLYPHS = {
    StepState.PENDING: ("·", "dim"),
    StepState.RUNNING: ("▶", "bold $accent"),
    StepState.WAITING_INPUT: ("?", "bold $warning"),
    StepState.WAITING_TIMER: ("◷", "$warning"),
    StepState.PASSED: ("✔", "$success"),
    StepState.FAILED: ("✘", "bold $error"),
    StepState.INCONCLUSIVE: ("~", "$warning"),
    StepState.SKIPPED: ("↷", "dim"),
    StepState.CANCELLED: ("⊘", "dim"),
    StepState.INTERRUPTED: ("!", "bold $warning"),
}
PHASE_STYLES = {
    Phase.PENDING: "dim",
    Phase.PROGRESSING: "bold",
    Phase.PAUSED: "bold",
    Phase.HEALTHY: "bold",
    Phase.DEGRADED: "bold",
    Phase.ROLLED_BACK: "bold",
    Phase.ABORTED: "bold",
}


def _elapsed(step: StepView, now: datetime) -> str:
    if step.started is None:
        return ""
    end = step.finished or now
    seconds = max(0, int((end - step.started).total_seconds()))
    return f"{seconds // 60}:{seconds % 60:02d}"


def header_text(view: RunView) -> Text:
    text = Text()
    text.append(f" {view.phase.value} ", style="reverse bold")
    text.append(" ")
    text.append_text(safe_text(view.message))
    text.append(f"\n{view.position}", style="bold")
    text.append("  ·  ")
    text.append_text(safe_text(view.runbook))
    text.append(" on ")
    text.append_text(safe_text(view.workload.label, style="bold"))
    text.append(" in ")
    text.append_text(safe_text(view.environment, style="bold"))
    if view.protected:
        text.append(" (protected)", style="bold")
    text.append("\nstable ", style="dim")
    text.append_text(safe_text(view.from_version or view.from_image or "?"))
    if view.to_version or view.to_image:
        text.append("  →  new ", style="dim")
        text.append_text(safe_text(view.to_version or view.to_image, style="bold"))
    text.append(
        f"   replicas {view.desired} desired · {view.updated} updated · {view.ready} ready",
        style="dim",
    )
    return text


def visible_steps(count: int, current: int | None, rows: int) -> range:
    """Which steps fit in ``rows`` lines, keeping the current one in view (with one
    finished step above it for context)."""
    if rows <= 0 or count <= rows:
        return range(count)
    anchor = current if current is not None else count - 1
    first = max(0, min(anchor - 1, count - rows))
    return range(first, first + rows)


def steps_table(view: RunView, now: datetime, styles: dict[str, str], rows: int = 0) -> Table:
    table = Table.grid(padding=(0, 1), expand=True)
    table.add_column(width=1)
    table.add_column(no_wrap=True, max_width=22)
    table.add_column(width=13, no_wrap=True)
    table.add_column(width=5, justify="right")
    table.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
    shown = visible_steps(len(view.steps), view.current, rows)
    for index in shown:
        step = view.steps[index]
        glyph, style = STATE_GLYPHS[step.state]
        marker = "bold" if index == view.current else ""
        table.add_row(
            Text(glyph, style=styles.get(style, style)),
            safe_text(step.id, style=marker),
            Text(step.state.value, style=styles.get(style, style)),
            Text(_elapsed(step, now), style="dim"),
            safe_text(step.message or step.title),
        )
    return table


def steps_title(view: RunView, rows: int) -> str:
    shown = visible_steps(len(view.steps), view.current, rows)
    if len(shown) == len(view.steps):
        return "Steps"
    return f"Steps {shown.start + 1}–{shown.stop} of {len(view.steps)}"


def gate_text(view: RunView, width: int, styles: dict[str, str]) -> Text:
    """Every Prometheus gate still measuring in the background (other than the current step)."""
    text = Text()
    current = view.current_step
    for step in view.steps:
        gate = step.gate
        if gate is None or step is current or step.state is not StepState.RUNNING:
            continue
        if text:
            text.append("\n")
        text.append_text(safe_text(step.title, style="bold"))
        text.append("  (background)", style="dim")
        for line in gate_lines(gate, width, styles):
            text.append("\n")
            text.append_text(line)
    return text


def current_text(
    view: RunView, now: float, *, width: int = 60, styles: dict[str, str] | None = None, chart_rows: int = 3
) -> Text:
    step = view.current_step
    gates = gate_text(view, width, styles or {})
    if step is None:
        if view.phase.finished:
            return Text.assemble(("finished", "bold"), " — ", safe_text(view.message), "\njournal: ", safe_text(view.journal))
        return gates or Text("between steps", style="dim")
    text = Text()
    text.append_text(safe_text(step.title, style="bold"))
    text.append(f"  [{step.kind}]", style="dim")
    if step.deadline and not step.state.finished:
        left = max(0, int(step.deadline - now))
        text.append(f"  {left // 60}:{left % 60:02d} left", style="bold")
    if step.gate is not None:
        # The chart says what the detail lines (its measurements) would.
        for line in gate_lines(step.gate, width, styles or {}, height=chart_rows):
            text.append("\n")
            text.append_text(line)
    else:
        for line in step.detail:
            text.append("\n")
            text.append_text(safe_text(line))
    if gates:
        if text:
            text.append("\n")
        text.append_text(gates)
    hint = WAITING_HINTS.get(view.waiting_for or "")
    if hint:
        text.append("\n\n")
        text.append(hint, style="bold")
    return text


RELEASE_ABORT = {
    "canary": "The canary replicas are removed; stable is left untouched.",
    "bluegreen-idle": "The new colour is removed; the live one is left untouched.",
    "bluegreen-live": "Traffic is switched back to the old colour and the new one removed.",
}

WAITING_HINTS = {
    "confirm": "waiting for your answer — press Enter",
    "manual": "waiting for you to tick the checklist — press Enter",
    "interrupted": "this step was interrupted — press Enter to choose redo / done / skip / abort",
    "paused": "paused — space resumes, t retries the step, k skips it",
}


def timeline_text(view: RunView, limit: int = 40) -> Text:
    text = Text()
    for entry in view.timeline[-limit:][::-1]:
        if text:
            text.append("\n")
        text.append(entry.ts.astimezone().strftime("%H:%M:%S"), style="dim")
        text.append(" ")
        text.append_text(safe_text(entry.text))
    return text or Text("nothing yet", style="dim")


class RunScreen(Screen):
    """One run, live. Operator verbs are keys; the run goes on when the screen closes."""

    CSS_PATH = Path(__file__).with_name("run.tcss")

    BINDINGS = [
        Binding("enter", "answer", "Answer"),
        Binding("space", "pause_resume", "Pause/resume"),
        Binding("t", "retry", "Retry"),
        Binding("k", "skip", "Skip"),
        Binding("w", "skip_wait", "Skip wait", show=False),
        Binding("a", "abort", "Abort"),
        Binding("u", "undo", "Undo"),
        Binding("n", "note", "Note"),
        Binding("p", "promote", "Promote"),
        Binding("P", "promote_full", "Promote fully", show=False),
        Binding("l", "logs", "Logs", show=False),
        Binding("escape", "app.pop_screen", "Back"),
        Binding("q", "app.pop_screen", "Back", show=False),
    ]

    def __init__(self, run_id: str) -> None:
        super().__init__()
        self.run_id = run_id
        self._asked: tuple | None = None
        self._feed: LogFeed | None = None
        self._seen_live = False
        """This screen showed the run before it ended: only then is the operator asked."""
        self.feedback: str | None = None
        """The satisfaction question's state: None (not asked), ``asking``, ``up``,
        ``down`` or ``skipped``."""

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="◆")
        yield Static(id="run-header", classes="pane")
        yield Static(id="run-steps", classes="pane")
        with Horizontal(id="run-lower"):
            yield Static(id="run-current", classes="pane")
            yield Static(id="run-timeline", classes="pane")
        logs = LogView(max_lines=500, id="run-logs", classes="pane")
        logs.show_replica = True
        logs.can_focus = False
        yield logs
        yield Static(id="run-feedback")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#run-steps").border_title = "Steps"
        self.query_one("#run-current").border_title = "Current step"
        self.query_one("#run-timeline").border_title = "Journal"
        self.query_one("#run-logs").border_title = "Logs"
        self.refresh_view()
        self.set_interval(1.0, self.refresh_view)
        view = self.view
        if view is not None:
            self._feed = self.app.open_logs(view.workload, LogRequest(follow=True, tail=50))
            self.set_interval(0.3, self._poll_logs)

    def on_unmount(self) -> None:
        if self._feed is not None:
            self._feed.close()

    def _poll_logs(self) -> None:
        if self._feed is not None:
            lines = self._feed.take()
            if lines:
                self.query_one("#run-logs", LogView).append(lines[-500:])

    @property
    def view(self) -> RunView | None:
        return self.app.run_board.get(self.run_id)

    def apply_runs(self, changed: set[str]) -> None:
        if self.run_id in changed:
            self.refresh_view()

    def refresh_view(self) -> None:
        view = self.view
        if view is None:
            return
        try:
            self._render_view(view)
        except NoMatches:
            pass  # not composed yet, or being taken down as the app closes

    def _render_view(self, view: RunView) -> None:
        clock = self.app.clock()
        now = datetime.fromtimestamp(clock, UTC)
        variables = self.app.theme_variables
        styles = {key: _resolve(key, variables) for _glyph, key in STATE_GLYPHS.values()}
        header = self.query_one("#run-header", Static)
        header.update(header_text(view))
        header.set_class(view.phase in (Phase.DEGRADED, Phase.ABORTED), "-bad")
        header.set_class(view.phase == Phase.HEALTHY, "-good")
        header.set_class(view.phase in (Phase.PAUSED, Phase.ROLLED_BACK), "-warn")
        steps = self.query_one("#run-steps", Static)
        # At 80x24 a long runbook would push the current step's pane off the screen.
        rows = max(3, self.size.height // 3 - 2) if self.size.height else 0
        steps.update(steps_table(view, now, styles, rows))
        steps.border_title = steps_title(view, rows)
        current = self.query_one("#run-current", Static)
        verdict_styles = {key: _resolve(key, variables) for key in VERDICT_STYLES.values()}
        width = max(20, current.content_region.width or current.size.width - 2)
        chart_rows = 2 if 0 < current.content_region.height < 8 else 3
        current.update(current_text(view, clock, width=width, styles=verdict_styles, chart_rows=chart_rows))
        self.query_one("#run-timeline", Static).update(timeline_text(view))
        self._maybe_ask(view)
        self._maybe_ask_feedback(view)

    def _maybe_ask_feedback(self, view: RunView) -> None:
        """Once a run this screen watched has ended, ask the one-key question (never blocking)."""
        if not view.phase.finished:
            self._seen_live = True
            return
        if self._seen_live and self.feedback is None:
            self.feedback = "asking"
            prompt = self.query_one("#run-feedback", Static)
            prompt.update(
                Text.assemble(
                    (QUESTION, "bold"),
                    "  ",
                    (f"{GLYPHS['up']} +", "bold"),
                    "  ",
                    (f"{GLYPHS['down']} -", "bold"),
                    ("  (any other key skips)", "dim"),
                )
            )
            prompt.add_class("-asking")

    def on_key(self, event: events.Key) -> None:
        if self.feedback != "asking":
            return
        answer = KEYS.get(event.character or "")
        self.feedback = answer or "skipped"
        self.query_one("#run-feedback", Static).remove_class("-asking")
        view = self.view
        if answer is None or view is None:
            return  # a skip: the key goes on to do what it always does
        event.stop()
        event.prevent_default()
        self.app.record_feedback(view.journal, answer)

    def _maybe_ask(self, view: RunView) -> None:
        """Open the question a waiting run asks, once per question."""
        if view.waiting_for in ("confirm", "manual", "interrupted") and self.app.screen is self:
            question = (view.waiting_for, view.current)
            if question != self._asked:
                self._asked = question
                self.action_answer()

    # -- verbs ---------------------------------------------------------------------------

    def _send(self, verb: str, arg=None) -> None:
        self.app.run_board.send(self.run_id, verb, arg)

    def action_answer(self) -> None:
        view = self.view
        if view is None or view.current_step is None:
            return
        step = view.current_step
        if view.waiting_for == "confirm":
            prompt = step.detail[0] if step.detail else f"Go on with {view.runbook} on {view.workload.label}?"
            self.app.push_screen(
                ConfirmDialog(prompt, protect=view.environment if view.protected else None),
                lambda answer: answer is not None and self._send("answer", answer),
            )
        elif view.waiting_for == "manual":
            instructions = step.detail[0] if step.detail else step.title
            checklist = [line[4:] for line in step.detail[1:] if line.startswith("[ ] ")]
            self.app.push_screen(
                ChecklistDialog(instructions, checklist),
                lambda answer: answer is not None and self._send("answer", answer),
            )
        elif view.waiting_for == "interrupted":
            recommended = step.message.rsplit("recommended: ", 1)[-1] if "recommended: " in step.message else "redo"
            self.app.push_screen(
                ResolveDialog(f"{step.id} was interrupted: {step.message}", recommended),
                lambda choice: choice is not None and self._send("resolve", choice),
            )

    def action_pause_resume(self) -> None:
        view = self.view
        if view is None or view.phase.finished:
            return
        self._send("resume" if view.phase == Phase.PAUSED else "pause")

    def action_retry(self) -> None:
        self._send("retry")

    def action_skip(self) -> None:
        view = self.view
        if view is None or view.phase.finished:
            return
        self.app.push_screen(TextDialog("Why skip this step? (journaled)"), lambda reason: reason and self._send("skip", reason))

    def action_skip_wait(self) -> None:
        self._send("skip_wait")

    def action_abort(self) -> None:
        view = self.view
        if view is None or view.phase.finished:
            return
        self.app.push_screen(
            ConfirmDialog(
                f"Abort {view.runbook} on {view.workload.label}? "
                + (
                    RELEASE_ABORT.get(view.release, "")
                    or "The workload is left as it is now."
                )
            ),
            lambda answer: answer is not None and answer.get("yes") and self._send("abort", "from the run screen"),
        )

    def action_undo(self) -> None:
        view = self.view
        if view is None or view.phase.finished:
            return
        self.app.push_screen(
            ConfirmDialog(
                f"Undo: roll {view.workload.label} back to {view.from_version or view.from_image}?",
                protect=view.environment if view.protected else None,
            ),
            lambda answer: answer is not None and answer.get("yes") and self._send("undo", "from the run screen"),
        )

    def action_promote(self) -> None:
        """Argo's promote: end the current gate, wait or pause and go on to the next step."""
        view = self.view
        if view is None or view.phase.finished:
            return
        step = view.current_step
        what = step.title if step is not None else "the current step"
        self.app.push_screen(
            ConfirmDialog(f"Promote: end '{what}' now and go on with the next step?"),
            lambda answer: answer is not None and answer.get("yes") and self._send("promote", "from the run screen"),
        )

    def action_promote_full(self) -> None:
        """Argo's promote --full: skip every gate up to the promote step; a reason is required."""
        view = self.view
        if view is None or view.phase.finished:
            return
        self.app.push_screen(
            TextDialog("Promote fully, skipping every remaining gate. Why? (journaled; required)"),
            lambda reason: reason and reason.strip() and self._send("promote_full", reason.strip()),
        )

    def action_note(self) -> None:
        self.app.push_screen(TextDialog("Note for the journal:"), lambda text: text and self._send("note", text))

    def current_error(self):
        """This run's error for the error panel (``E``): a refusal the app announced, else how it ended."""
        from console.errors import from_run

        announced = getattr(self.app, "last_error", None)
        if announced is not None and announced.context.run_id == self.run_id:
            return announced
        view = self.view
        return from_run(view) if view is not None else None

    def action_logs(self) -> None:
        view = self.view
        if view is not None:
            self.app.show_logs(view.workload)


def _resolve(style: str, variables: dict[str, str]) -> str:
    """Turn "$success" style names into the theme's colours (Rich knows no variables)."""
    words = []
    for word in style.split():
        if word.startswith("$"):
            word = variables.get(word[1:], "default")
        words.append(word)
    return " ".join(words)
