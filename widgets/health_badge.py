"""Health as glyph + word + colour: never colour alone (high-contrast, colour-blind)."""

from __future__ import annotations

from collections.abc import Mapping

from rich.text import Text

from console.model import Health

GLYPHS = {
    Health.HEALTHY: "●",
    Health.PROGRESSING: "◐",
    Health.DEGRADED: "▲",
    Health.FAILED: "✖",
    Health.UNKNOWN: "?",
}

_VARIABLE = {
    Health.HEALTHY: "health-ok",
    Health.PROGRESSING: "health-progress",
    Health.DEGRADED: "health-warn",
    Health.FAILED: "health-bad",
    Health.UNKNOWN: "health-unknown",
}


def health_colour(health: Health, variables: Mapping[str, str]) -> str:
    """The theme's colour for a health, as a Rich colour string."""
    return variables.get(_VARIABLE[health], "")


def health_text(health: Health, variables: Mapping[str, str], *, word: bool = True) -> Text:
    """``● healthy`` styled with the theme's health colour."""
    label = f"{GLYPHS[health]} {health.value}" if word else GLYPHS[health]
    colour = health_colour(health, variables)
    style = f"bold {colour}" if health in (Health.DEGRADED, Health.FAILED) else colour
    return Text(label, style=style)
