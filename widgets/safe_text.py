"""The one way untrusted text reaches the screen (DESIGN §7, STYLE convention 7).

A `str` handed to `DataTable.add_row`, `Static`, `Label` or `notify` is parsed as
markup: a pod name or log line containing ``[/]`` crashes the app, and one containing
``[@click=app.quit]`` or ``[link=...]`` does what it says. Escaping is not enough
(textual#6155). So untrusted values are wrapped here, in objects that are never
parsed, after `console.terminal_text.neutralise` has removed every control and
escape sequence:

- table cells and other Rich renderables: `safe_text`;
- coloured log lines: `safe_log_text` (SGR colours kept, nothing else);
- `Static`, `Label` and anything else taking Textual content: `safe_content`.

Redaction is a separate concern (`console.redact`); apply it before these.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.content import Content
from textual.style import Style as ContentStyle

from console.terminal_text import neutralise

__all__ = ["safe_content", "safe_log_text", "safe_text"]


def _as_str(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        # Container and pod output arrives as bytes; "b'...'" helps nobody.
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)


def safe_text(value: object, style: str | Style = "") -> Text:
    """Wrap an untrusted value as a Rich `Text` shown literally.

    The value is converted with `str` (bytes are decoded as UTF-8), neutralised
    without SGR, and never parsed as markup: ``[bold]`` shows as ``[bold]``.

    Args:
        value: Anything: a name, a label value, an event message, a number.
        style: A style for the whole text, chosen by us (never by the value).

    Returns:
        A `Text` whose `plain` is ``neutralise(str(value), keep_sgr=False)``.
    """
    return Text(neutralise(_as_str(value), keep_sgr=False), style=style)


def safe_log_text(line: object) -> Text:
    """Turn one untrusted log line into a Rich `Text`, keeping its SGR colours.

    Every escape sequence other than SGR is removed first, so the only thing
    `Text.from_ansi` still interprets is colour and attributes; line breaks inside
    the line are shown as ⏎. It never raises: should Rich fail on some SGR
    parameters, the line is returned uncoloured instead.

    Args:
        line: A log line (``str``; bytes are decoded as UTF-8).

    Returns:
        A single-line `Text`.
    """
    try:
        text = _as_str(line)
    except Exception:  # noqa: BLE001 - a broken __str__ must not take the log view down
        return Text(f"<unprintable {type(line).__name__}>")
    try:
        neutralised = neutralise(text, keep_sgr=True)
        if "\x1b" not in neutralised:
            # Most lines carry no colour; Text.from_ansi would cost ~10x more.
            return Text(neutralised, end="")
        return Text.from_ansi(neutralised, end="")
    except Exception:  # noqa: BLE001 - colours are a nicety; the line must still show
        return Text(neutralise(text, keep_sgr=False), end="")


def safe_content(value: object, style: str | ContentStyle = "") -> Content:
    """Wrap an untrusted value as Textual `Content`, for `Static`, `Label` and the like.

    `Content` built this way is literal: no markup is parsed. For templates that
    mix our markup with untrusted values, use
    ``Content.from_markup("[b]$name[/b]", name=neutralise(value, keep_sgr=False))``
    instead, which substitutes variables literally.

    Args:
        value: Anything; converted with `str` (bytes decoded as UTF-8).
        style: A style for the whole content, chosen by us.

    Returns:
        A `Content` whose `plain` is ``neutralise(str(value), keep_sgr=False)``.
    """
    return Content.styled(neutralise(_as_str(value), keep_sgr=False), style)
