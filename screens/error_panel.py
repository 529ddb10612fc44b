"""The error panel: one error, disclosed a level at a time (DESIGN §7).

The operator summary comes first; ``enter`` (or ``d``) opens the admin detail, then
the developer detail; ``c`` copies a plain-text incident snippet through the
terminal's OSC 52 clipboard (works over SSH); the troubleshooting section to read is
named at the bottom. Every text in a report is untrusted (it quotes backends, pods and
files), so it is redacted and shown literally.
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from console.errors import ErrorReport, incident_snippet
from widgets.safe_text import safe_text


def lines_text(text: str, style: str = "") -> Text:
    """Multi-line untrusted text, each line shown literally (safe_text marks line breaks ⏎)."""
    out = Text()
    for index, line in enumerate(text.strip("\n").splitlines()):
        if index:
            out.append("\n")
        out.append_text(safe_text(line, style=style))
    return out


def context_text(report: ErrorReport) -> Text:
    """Environment · workload · versions · run · phase, the parts there are."""
    context = report.context
    text = Text()
    for name, value in (
        ("environment", context.environment),
        ("workload", context.workload),
        ("versions", context.versions),
        ("run", context.run_id),
        ("phase", context.phase),
    ):
        if not value:
            continue
        if text:
            text.append("  ")
        text.append(f"{name} ", style="dim")
        text.append_text(safe_text(value, style="bold"))
    if context.last_steps:
        text.append("\nlast steps", style="dim")
    for step in context.last_steps:
        text.append("\n  ")
        text.append_text(safe_text(step))
    return text


class ErrorPanel(ModalScreen[None]):
    """One error: summary first, more on ``enter``/``d``, ``c`` copies the status, ``esc`` closes."""

    CSS_PATH = Path(__file__).with_name("error_panel.tcss")

    BINDINGS = [
        Binding("enter,d", "more", "More detail"),
        Binding("c", "copy", "Copy status"),
        Binding("escape,q", "close", "Close"),
    ]

    def __init__(self, report: ErrorReport) -> None:
        super().__init__()
        self.report = report.redacted()
        """What is shown: the report with its secrets already hidden."""
        self.level = 0
        """How many detail levels are open (0: summary only)."""

    def compose(self) -> ComposeResult:
        report = self.report
        with VerticalScroll(id="error-body") as body:
            body.border_title = report.error_class.title
            body.border_subtitle = "esc close"
            yield Static(safe_text(report.summary, style="bold"), id="error-summary")
            yield Static(context_text(report), id="error-context")
            for index, (title, detail) in enumerate(report.details(), start=1):
                section = Static(
                    Text.assemble((title, "bold underline"), "\n", lines_text(detail)),
                    id=f"error-level-{index}",
                    classes="error-detail",
                )
                section.display = False
                yield section
            yield Static(self._footer_text(), id="error-footer")

    def on_mount(self) -> None:
        self.query_one("#error-body").focus()

    def _footer_text(self) -> Text:
        text = Text()
        remaining = len(self.report.details()) - self.level
        if remaining > 0:
            what = self.report.details()[self.level][0].lower()
            text.append(f"enter: {what}", style="bold")
            text.append("   ")
        text.append("c: copy status   ", style="bold")
        text.append("troubleshooting: ", style="dim")
        text.append_text(safe_text(self.report.doc_link))
        return text

    def action_more(self) -> None:
        """Open the next detail level and bring it into view."""
        if self.level >= len(self.report.details()):
            return
        self.level += 1
        section = self.query_one(f"#error-level-{self.level}", Static)
        section.display = True
        self.query_one("#error-footer", Static).update(self._footer_text())
        self.call_after_refresh(self.query_one("#error-body", VerticalScroll).scroll_to_widget, section, top=True)

    def action_copy(self) -> None:
        """Put the incident snippet on the clipboard (OSC 52), with the levels that are open."""
        self.app.copy_to_clipboard(incident_snippet(self.report, level=max(1, self.level)))
        self.notify("copied the status to the clipboard", timeout=3, markup=False)

    def action_close(self) -> None:
        self.dismiss(None)
