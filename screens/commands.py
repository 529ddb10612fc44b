"""Command palette provider: jump to any environment, workload or screen (``:``)."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content


class WatchfloorCommands(Provider):
    """Environments, workloads, screens and actions, each with its key where it has one."""

    def _commands(self) -> list[tuple[str, object, str]]:
        app = self.app
        store = app.store
        commands: list[tuple[str, object, str]] = []
        for name in store.environment_names():
            commands.append((f"env {name}", partial(app.go_environment, name), "show this environment's workloads"))
        for workload in store.workloads():
            label = f"{workload.env}/{workload.key.label}"
            commands.append((f"workload {label}", partial(app.go_workload, workload.key), f"{workload.health.value} — jump to it"))
            commands.append((f"logs {label}", partial(app.show_logs, workload.key), "open its logs  l"))
            commands.append((f"open {label}", partial(app.show_workload, workload.key), "workload screen  enter"))
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

