"""The environment list: every environment with its connection state and health counts."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from rich.text import Text
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from console.model import ConnectionState, Environment, Health
from widgets.health_badge import GLYPHS, health_colour
from widgets.safe_text import safe_text


@dataclass(frozen=True, slots=True)
class EnvironmentSummary:
    environment: Environment
    connection: ConnectionState
    counts: Mapping[Health, int]


def connection_sentence(connection: ConnectionState, *, now: float | None = None) -> str:
    """"connected", or "disconnected since 12:03:04 — retrying in 4s"."""
    if connection.connected:
        return "connected"
    parts = ["disconnected"]
    if connection.since is not None:
        parts.append(f"since {connection.since.astimezone().strftime('%H:%M:%S')}")
    sentence = " ".join(parts)
    if connection.retry_at is not None:
        left = max(0, round(connection.retry_at - (now if now is not None else time.monotonic())))
        sentence += f" — retrying in {left}s" if left else " — retrying now"
    return sentence


def summary_text(summary: EnvironmentSummary, variables: Mapping[str, str], *, now: float | None = None) -> Text:
    environment = summary.environment
    text = Text()
    if summary.connection.connected:
        text.append("◉ ", style=variables.get("health-ok", ""))
    else:
        text.append("○ ", style="bold " + variables.get("health-bad", ""))
    text.append_text(safe_text(environment.name, style="bold"))
    if environment.protected:
        text.append(" [protected]", style="dim")
    text.append("\n  ")
    if not summary.connection.connected:
        text.append(connection_sentence(summary.connection, now=now), style=variables.get("health-bad", ""))
        return text
    shown = False
    for health in (Health.FAILED, Health.DEGRADED, Health.PROGRESSING, Health.HEALTHY, Health.UNKNOWN):
        count = summary.counts.get(health, 0)
        if count:
            text.append(f"{GLYPHS[health]}{count} ", style=health_colour(health, variables))
            shown = True
    if not shown:
        text.append("no workloads", style="dim")
    return text


class EnvironmentList(OptionList):
    """One option per environment; choosing one shows its workloads."""

    DEFAULT_CSS = """
    EnvironmentList { height: 1fr; }
    """

    class Picked(Message):
        def __init__(self, name: str) -> None:
            super().__init__()
            self.name = name

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._prompts: dict[str, Text] = {}

    def show(self, summaries: list[EnvironmentSummary]) -> None:
        """Update options in place; add or remove only environments that came or went."""
        variables = self.app.theme_variables
        names = [s.environment.name for s in summaries]
        if list(self._prompts) != names:
            highlighted = self.highlighted
            self.clear_options()
            self._prompts = {}
            for summary in summaries:
                prompt = summary_text(summary, variables)
                self._prompts[summary.environment.name] = prompt
                self.add_option(Option(prompt, id=summary.environment.name))
            if summaries:
                self.highlighted = min(highlighted or 0, len(summaries) - 1)
            return
        for summary in summaries:
            prompt = summary_text(summary, variables)
            name = summary.environment.name
            if prompt != self._prompts.get(name):
                self._prompts[name] = prompt
                self.replace_option_prompt(name, prompt)

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        if event.option.id:
            self.post_message(self.Picked(event.option.id))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id:
            self.post_message(self.Picked(event.option.id))
