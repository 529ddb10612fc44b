"""watchfloor's themes: Textual ``Theme`` objects plus our health colours.

Every theme defines ``health-ok``, ``health-progress``, ``health-warn``, ``health-bad``
and ``health-unknown``. Health is never shown by colour alone — a glyph and a word go
with it — so the high-contrast and colour-blind-safe themes stay readable.
"""

from __future__ import annotations

from pathlib import Path

from textual.theme import Theme

CSS_PATH = Path(__file__).with_name("watchfloor.tcss")

DARK = Theme(
    name="dark",
    primary="#3B82F6",
    secondary="#8B5CF6",
    accent="#F59E0B",
    foreground="#E5E7EB",
    background="#0F1115",
    surface="#171A21",
    panel="#1F2430",
    success="#22C55E",
    warning="#EAB308",
    error="#EF4444",
    dark=True,
    variables={
        "health-ok": "#22C55E",
        "health-progress": "#38BDF8",
        "health-warn": "#EAB308",
        "health-bad": "#EF4444",
        "health-unknown": "#9CA3AF",
    },
)

LIGHT = Theme(
    name="light",
    primary="#1D4ED8",
    secondary="#6D28D9",
    accent="#B45309",
    foreground="#111827",
    background="#F8FAFC",
    surface="#FFFFFF",
    panel="#E5E7EB",
    success="#15803D",
    warning="#A16207",
    error="#B91C1C",
    dark=False,
    variables={
        "health-ok": "#15803D",
        "health-progress": "#0369A1",
        "health-warn": "#A16207",
        "health-bad": "#B91C1C",
        "health-unknown": "#4B5563",
    },
)

HIGH_CONTRAST = Theme(
    name="high-contrast",
    primary="#FFFFFF",
    secondary="#FFFF00",
    accent="#FFFF00",
    foreground="#FFFFFF",
    background="#000000",
    surface="#000000",
    panel="#000000",
    success="#00FF00",
    warning="#FFFF00",
    error="#FF5555",
    dark=True,
    luminosity_spread=0.0,
    variables={
        "health-ok": "#00FF00",
        "health-progress": "#00FFFF",
        "health-warn": "#FFFF00",
        "health-bad": "#FF5555",
        "health-unknown": "#FFFFFF",
        "block-cursor-background": "#FFFF00",
        "block-cursor-foreground": "#000000",
        "border": "#FFFFFF",
        "footer-key-foreground": "#FFFF00",
    },
)

# Okabe–Ito palette: distinguishable with the common colour-vision deficiencies.
COLOUR_BLIND = Theme(
    name="colour-blind",
    primary="#0072B2",
    secondary="#CC79A7",
    accent="#E69F00",
    foreground="#F0F0F0",
    background="#101418",
    surface="#181D23",
    panel="#222831",
    success="#009E73",
    warning="#E69F00",
    error="#D55E00",
    dark=True,
    variables={
        "health-ok": "#56B4E9",
        "health-progress": "#009E73",
        "health-warn": "#E69F00",
        "health-bad": "#D55E00",
        "health-unknown": "#BBBBBB",
    },
)

THEMES: dict[str, Theme] = {theme.name: theme for theme in (DARK, LIGHT, HIGH_CONTRAST, COLOUR_BLIND)}
"""Our themes by the name ``--theme`` and the config use."""
