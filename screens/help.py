"""The key help screen (``?``): every binding of the screen below it, and the global ones."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

GLOBAL_KEYS = [
    (":", "command palette — jump to any environment, workload or screen"),
    ("ctrl+p", "command palette"),
    ("?", "this help"),
    ("A", "alerts: firing and pending Prometheus alerts"),
    ("H", "delivery history: DORA figures, durations, satisfaction per environment"),
    ("E", "error details: summary, then admin and developer detail; c copies the status"),
    ("ctrl+t", "next theme"),
    ("ctrl+q", "quit"),
]


MARKS = [
    ("!", "after a workload's name: a Prometheus alert is about it (bold: firing, dim: pending) — A lists them"),
    ("│", "on a metric sparkline: a deploy, rollback, promote or switch, from the run journals"),
]
"""What the marks on screen mean."""


def _describe(bindings: list[tuple[str, str]]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for key, description in bindings:
        table.add_row(Text(key), Text(description))
    return table


def screen_keys(screen) -> list[tuple[str, str]]:
    """(key, description) for the screen's own bindings, in declaration order."""
    keys = []
    for binding in getattr(screen, "BINDINGS", []):
        if isinstance(binding, Binding):
            key, description = binding.key, binding.description or binding.action
        else:
            key, _action, description = (list(binding) + [""])[:3]
        keys.append((_pretty(key), description))
    return keys


def _pretty(key: str) -> str:
    names = {"slash": "/", "right_square_bracket": "]", "left_square_bracket": "[", "space": "space", "ampersand": "&", "question_mark": "?", "colon": ":"}
    return ", ".join(names.get(k.strip(), k.strip()) for k in key.split(","))


class HelpScreen(ModalScreen):
    """Keys of the current screen and the global ones; any of Esc, q, ? closes it."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 72; max-width: 100%; height: auto; max-height: 90%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    """

    BINDINGS = [
        Binding("escape,q,question_mark", "app.pop_screen", "Close"),
    ]

    def __init__(self, title: str, keys: list[tuple[str, str]]) -> None:
        super().__init__()
        self.help_title = title
        self.keys = keys

    def compose(self) -> ComposeResult:
        with VerticalScroll() as scroll:
            scroll.border_title = f"Keys — {self.help_title}"
            yield Static(Text("This screen", style="bold underline"))
            yield Static(_describe(self.keys))
            yield Static(Text("\nEverywhere", style="bold underline"))
            yield Static(_describe(GLOBAL_KEYS))
            yield Static(Text("\nMarks", style="bold underline"))
            yield Static(_describe(MARKS))
            yield Static(Text("\nThe mouse works too, but is never needed.", style="dim"))
