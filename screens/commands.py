"""Command palette provider: jump to any environment, workload or screen (``:``)."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content


RUNBOOK_KEYS = {"deploy": "d", "rollback": "r", "restart": "R", "scale": "s"}
"""Runbooks that have a key on a workload."""


class WatchfloorCommands(Provider):
    """Environments, workloads, screens and actions, each with its key where it has one."""

    def _commands(self) -> list[tuple[str, object, str]]:
        app = self.app
        store = app.store
        commands: list[tuple[str, object, str]] = []
        other_runbooks = sorted(name for name in app.runbooks().runbooks if name not in RUNBOOK_KEYS)
        for name in store.environment_names():
            commands.append((f"env {name}", partial(app.go_environment, name), "show this environment's workloads"))
        for workload in store.workloads():
            label = f"{workload.env}/{workload.key.label}"
            commands.append((f"workload {label}", partial(app.go_workload, workload.key), f"{workload.health.value} — jump to it"))
            commands.append((f"logs {label}", partial(app.show_logs, workload.key), "open its logs  l"))
            commands.append((f"open {label}", partial(app.show_workload, workload.key), "workload screen  enter"))
            commands.append((f"history {label}", partial(app.show_history, workload.key), "revisions and runs  h"))
            for runbook, key in RUNBOOK_KEYS.items():
                commands.append((f"{runbook} {label}", partial(app.start_runbook, runbook, workload.key), f"run the {runbook} runbook  {key}"))
            for runbook in other_runbooks:
                commands.append((f"runbook {runbook} {label}", partial(app.start_runbook, runbook, workload.key), "run this runbook"))
        for view in app.run_board.runs():
            state = view.outcome.value if view.outcome else view.phase.value
            commands.append(
                (f"run {view.runbook} {view.environment}/{view.workload.label} ({state})", partial(app.show_run, view.run_id), view.run_id)
            )
        for run in app.interrupted_runs():
            commands.append(
                (f"resume {run.runbook} {run.environment_name}/{run.workload} {run.run_id}", partial(app.resume_run, run.run_id), "interrupted run: redo / done / skip / abort its step")
            )
        commands.append(("matrix: versions by environment", app.show_matrix, "drift and promotion  M"))
        commands.append(("history: delivery figures of every environment", app.show_delivery, "DORA keys, durations, satisfaction  H"))
        commands.append(("alerts: firing and pending Prometheus alerts", app.show_alerts, "alerts panel  A"))
        commands.append(("help: keys", app.action_help, "key help  ?"))
        for theme in app.watchfloor_themes:
            commands.append((f"theme {theme}", partial(app.set_theme, theme), "switch theme  ctrl+t cycles"))
        commands.append(("quit", app.action_quit, "leave watchfloor  ctrl+q"))
        return commands

    async def discover(self) -> Hits:
        for title, callback, help_text in self._commands():
            yield DiscoveryHit(Content(title), callback, text=title, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, callback, help_text in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, _highlight(matcher, query, title), callback, text=title, help=help_text)


def _highlight(matcher, query: str, title: str) -> Content:
    """Like ``Matcher.highlight`` but literal: that one parses the title as markup,
    and titles here hold workload names, which are untrusted."""
    content = Content(title)
    _score, offsets = matcher.fuzzy_search.match(query, title)
    for offset in offsets:
        if offset < len(title) and not title[offset].isspace():
            content = content.stylize(matcher.match_style, offset, offset + 1)
    return content

