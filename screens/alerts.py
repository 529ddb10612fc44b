"""The alerts panel (``A``): pending and firing Prometheus alerts of every environment.

One row per alert: state, name, severity, environment, the namespace/workload its
labels name, how long it has been active, and its summary. ``/`` filters by any word
of the environment, the alert or its labels (``prod``, ``web``, ``severity=page``);
``enter`` jumps to the workload the alert is about. Alert names, labels and
annotations come from whoever wrote the rules: untrusted text, never markup.
"""

from __future__ import annotations

import time
from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Static

from console.durations import format_age
from console.model import Alert
from console.store import Delta
from widgets.environment_list import connection_sentence
from widgets.keyed_table import KeyedTable
from widgets.safe_text import safe_text

COLUMNS = ("State", "Alert", "Severity", "Env", "Workload", "Age", "Summary")
WIDTHS = {"State": 9, "Severity": 8, "Age": 4, "Summary": 80}
STATE_GLYPHS = {"firing": "●", "pending": "◐"}

AlertKey = tuple[str, str, tuple[tuple[str, str], ...]]


def alert_key(alert: Alert) -> AlertKey:
    return (alert.env, alert.name, alert.labels)


def alert_workload(alert: Alert) -> str:
    """``namespace/workload`` as the alert's labels name it ("" when they name none)."""
    names = alert.workload_names
    if not names:
        return ""
    namespace = alert.label("namespace")
    return f"{namespace}/{names[0]}" if namespace else names[0]


def alert_matches(alert: Alert, words: list[str]) -> bool:
    """Every word is in the environment, the name, the state or a ``label=value`` of the alert."""
    haystack = " ".join(
        [alert.env, alert.name, alert.state, *(f"{k}={v}" for k, v in alert.labels)]
    ).lower()
    return all(word in haystack for word in words)


class AlertsScreen(Screen):
    """Firing and pending alerts from each environment's Prometheus, with their age."""

    CSS_PATH = Path(__file__).with_name("alerts.tcss")
    AUTO_FOCUS = "#alerts"

    BINDINGS = [
        Binding("slash", "filter", "Filter"),
        Binding("enter", "open", "Go to workload"),
        Binding("escape", "back", "Back"),
        Binding("q", "app.pop_screen", "Back", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.filter_text = ""
        """Words an alert must all contain (environment, name, state, label=value)."""
        self._shown_status: str | None = None

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="◆")
        yield Static("", id="alerts-status")
        yield Input(placeholder="filter: environment, workload, label=value — Enter keeps it, Esc clears", id="alerts-filter")
        yield KeyedTable(id="alerts", classes="pane")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(KeyedTable)
        for label in COLUMNS:
            table.add_column(label, key=label.lower(), width=WIDTHS.get(label))
        self.query_one("#alerts-filter").display = False
        self.sync()
        self.set_interval(1.0, self.sync)

    # -- data ------------------------------------------------------------------------

    def apply_delta(self, delta: Delta) -> None:
        if delta.alerts or delta.environments:
            self.sync()

    def visible_alerts(self) -> list[Alert]:
        """The alerts the table shows, in its order: firing first, then by environment and name."""
        words = self.filter_text.lower().split()
        alerts = [a for a in self.app.store.alerts() if alert_matches(a, words)]
        order = {name: index for index, name in enumerate(self.app.store.environment_names())}
        alerts.sort(key=lambda a: (a.state != "firing", order.get(a.env, 0), a.name, a.labels))
        return alerts

    def sync(self) -> None:
        """Show the store's alerts (after the filter), their ages, and each Prometheus's state."""
        now = getattr(self.app, "clock", time.time)()
        alerts = self.visible_alerts()
        table = self.query_one(KeyedTable)
        variables = self.app.theme_variables
        table.sync({alert_key(a): self._cells(a, now, variables) for a in alerts}, [alert_key(a) for a in alerts])
        total = len(self.app.store.alerts())
        title = Text(f"Alerts · {len(alerts)} of {total}" if self.filter_text else f"Alerts · {total}")
        if self.filter_text:
            title.append(" · filter: ")
            title.append_text(safe_text(self.filter_text))
        if table.border_title is None or Text(str(table.border_title)).plain != title.plain:
            table.border_title = title
        self._sync_status()

    def _cells(self, alert: Alert, now: float, variables) -> tuple[Text, ...]:
        firing = alert.state == "firing"
        colour = variables.get("health-bad" if firing else "health-warn", "")
        age = format_age(now - alert.active_at.timestamp()) if alert.active_at else "-"
        return (
            Text(f"{STATE_GLYPHS.get(alert.state, '?')} {alert.state}", style=f"bold {colour}" if firing else colour),
            safe_text(alert.name, style="bold" if firing else ""),
            safe_text(alert.severity),
            safe_text(alert.env),
            safe_text(alert_workload(alert)),
            Text(age),
            safe_text(alert.summary, style="dim" if not firing else ""),
        )

    def _sync_status(self) -> None:
        store = self.app.store
        lines = Text()
        configured = False
        for env in store.environment_names():
            prometheus = store.prometheus(env)
            if lines:
                lines.append("\n")
            lines.append_text(safe_text(env, style="bold"))
            if prometheus is None:
                lines.append(": no Prometheus configured", style="dim")
                continue
            configured = True
            connection = prometheus.connection
            if connection is None:
                lines.append(": Prometheus — waiting for the first answer", style="dim")
            elif connection.connected:
                alerts = store.alerts(env)
                firing = sum(1 for a in alerts if a.state == "firing")
                lines.append(f": Prometheus connected · {firing} firing, {len(alerts) - firing} pending")
            else:
                sentence = connection_sentence(connection).replace("disconnected", "unreachable", 1)
                lines.append(f": Prometheus {sentence}", style="bold")
                if connection.error:
                    lines.append(" — ")
                    lines.append_text(safe_text(connection.error))
                lines.append(" (alerts as last seen)", style="dim")
        if not configured:
            lines.append("\nNo environment has a Prometheus: give one `prometheus: {url: …}` in the config.", style="dim")
        if lines.plain != self._shown_status:
            self._shown_status = lines.plain
            self.query_one("#alerts-status", Static).update(lines)

    # -- events and actions ------------------------------------------------------------------

    @on(Input.Changed, "#alerts-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value
        self.sync()

    @on(Input.Submitted, "#alerts-filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        self.query_one("#alerts-filter").display = False
        self.query_one(KeyedTable).focus()

    @on(KeyedTable.Selected, "#alerts")
    def _alert_chosen(self, event: KeyedTable.Selected) -> None:
        self.action_open()

    def action_filter(self) -> None:
        field = self.query_one("#alerts-filter", Input)
        field.display = True
        field.focus()

    def action_back(self) -> None:
        field = self.query_one("#alerts-filter", Input)
        if self.filter_text or field.display:
            field.value = ""
            field.display = False
            self.filter_text = ""
            self.query_one(KeyedTable).focus()
            self.sync()
            return
        self.app.pop_screen()

    def action_open(self) -> None:
        """Go to the workload the highlighted alert is about."""
        key = self.query_one(KeyedTable).key_at_cursor()
        alert = next((a for a in self.visible_alerts() if alert_key(a) == key), None)
        if alert is None:
            return
        target = next((w.key for w in self.app.store.workloads(alert.env) if alert.matches(w.key)), None)
        if target is None:
            self.app.notify("no workload matches this alert's labels", markup=False, timeout=3)
            return
        self.app.go_workload(target)
