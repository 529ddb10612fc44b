"""Make untrusted text safe to put on a terminal (DESIGN §7).

Log lines, container and pod names, labels, environment values and Kubernetes
events come from whoever runs the workload. Written raw to a terminal they can move
the cursor, clear the screen, switch to the alternate screen, retitle the window,
plant OSC 8 hyperlinks with a deceptive target, write the operator's clipboard
(OSC 52) or reorder what is shown with bidi overrides ("Trojan Source").

`neutralise` removes all of that and keeps, at most, SGR colour sequences. It is
pure Python with no Textual or Rich import, so headless commands (`status`,
`runbook run`) use it too; the UI goes through `widgets.safe_text`.
"""

from __future__ import annotations

import re

__all__ = ["NEWLINE_MARK", "neutralise", "strip_sgr"]

NEWLINE_MARK = "\u23ce"  # ⏎
"""Shown in place of a line break inside what must stay one line."""

# Anything that is not plain printable text: C0 except TAB, DEL, C1, the two
# Unicode line separators, the bidi embeddings/overrides/isolates and lone
# surrogates. When none of these occur (the common case for log lines) the input is
# returned as it is.
_NEEDS_WORK = re.compile(
    "[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
# A lone surrogate (from a JSON "\ud800" escape or surrogateescape decoding) cannot
# be encoded for the terminal: writing it raises UnicodeEncodeError mid-frame.
_SURROGATE = re.compile("[\ud800-\udfff]")
_REPLACEMENT_CHARACTER = "\ufffd"

# The SGR sequences we keep: 7-bit CSI, parameters only digits, ';' and ':', final
# 'm'. The length cap keeps Rich's `int()` of a parameter far from Python's
# 4300-digit limit; a longer sequence is removed like any other CSI.
_SGR = r"\x1b\[[0-9;:]{0,128}m"
_SGR_AFTER_ESC = r"\[[0-9;:]{0,128}m"

# Everything to remove, as ECMA-48 shapes. Each match starts with one character of
# this class, so the regex engine can jump from one such character to the next
# instead of trying every alternative at every position (3-4x faster on coloured
# log lines); lookbehinds then tell which character it was.
_FIRST = "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]"
# OSC, DCS, SOS, PM and APC strings run to BEL or ST. An ESC inside one ends it too
# (a terminal would start a new sequence there); an unterminated one runs to the
# end of the text.
_STRING_BODY = r"[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
_CSI_BODY = r"[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]?"  # parameters, intermediates, final


def _removal_pattern(keep_sgr: bool) -> re.Pattern[str]:
    keep = f"(?!{_SGR_AFTER_ESC})" if keep_sgr else ""
    return re.compile(
        _FIRST
        + "(?:"
        # After ESC: a string (ESC ] P X ^ _), a CSI (ESC [), or any other ESC
        # sequence (nF charset designations such as 'ESC ( 0', Fp, Fe, Fs such as
        # RIS 'ESC c'), or nothing more: a lone ESC.
        + rf"(?<=\x1b){keep}(?:[\]PX^_]{_STRING_BODY}|\[{_CSI_BODY}|[\x20-\x2f]*[\x30-\x7e]?)"
        # The 8-bit string introducers DCS, SOS, OSC, PM, APC and the 8-bit CSI.
        + rf"|(?<=[\x90\x98\x9d\x9e\x9f]){_STRING_BODY}"
        + rf"|(?<=\x9b){_CSI_BODY}"
        # Any other character of the class goes alone: C0 except TAB/LF/CR (line
        # breaks are handled below), DEL, the other C1, bidi controls.
        + r"|(?<![\x1b\x90\x98\x9d\x9e\x9f\x9b])"
        + ")"
    )


# One left-to-right pass; every ESC and C1 in the input starts a match, except the
# ESC of an SGR sequence when those are kept, so the only ESCs left are those.
_REMOVE_KEEPING_SGR = _removal_pattern(keep_sgr=True)
_REMOVE_ALL = _removal_pattern(keep_sgr=False)
_SGR_ONLY = re.compile(_SGR)

_LINE_BREAK = re.compile("\r\n|[\r\n\u2028\u2029]")
_LINE_END_CHARS = "\r\n\u2028\u2029"


def neutralise(text: str, *, keep_sgr: bool = True, keep_newlines: bool = False) -> str:
    """Make untrusted text safe to show in a terminal.

    Removes, entirely: every escape or control sequence except SGR (CSI with any
    final byte, including cursor moves, erase and DEC private modes; OSC, including
    OSC 8 hyperlinks, OSC 52 clipboard writes and window titles, terminated by BEL or
    ST or running to the end of the text; DCS, SOS, PM and APC strings; two-byte and
    charset-designation ESC sequences), the 8-bit C1 controls U+0080-U+009F
    (including the one-character CSI and OSC forms), C0 controls other than TAB, LF
    and CR, DEL, and the Unicode bidi embeddings, overrides and isolates
    (U+202A-U+202E, U+2066-U+2069). Lone surrogates, which cannot be encoded
    for the terminal, become U+FFFD. TAB is kept as it is.

    Line breaks (CR LF, CR, LF, U+2028, U+2029) at the very end of the input are
    dropped: they end the line rather than belong to it. Inside the text they become
    `NEWLINE_MARK` (⏎) so one log line stays one line and a forged second line is
    visible as such; with ``keep_newlines=True`` each becomes a plain LF instead
    (a lone CR would otherwise return the cursor and let the rest overwrite what
    was written before it).

    Text with nothing to remove is returned unchanged (the same object), after one
    precompiled regex search.

    Args:
        text: Untrusted text.
        keep_sgr: Keep SGR colour/attribute sequences (``ESC [ params m`` with
            parameters of digits, ``;`` and ``:`` only), e.g. for `Text.from_ansi`.
        keep_newlines: Keep line breaks as LF instead of marking them.

    Returns:
        Text containing no control character other than TAB (and LF when
        ``keep_newlines``), no C1 control, no bidi control, no lone surrogate, and
        no ESC except the first byte of a kept SGR sequence.
    """
    if _NEEDS_WORK.search(text) is None:
        return text
    if not keep_newlines:
        text = text.rstrip(_LINE_END_CHARS)
    text = (_REMOVE_KEEPING_SGR if keep_sgr else _REMOVE_ALL).sub("", text)
    if not text.isascii():
        text = _SURROGATE.sub(_REPLACEMENT_CHARACTER, text)
    if keep_newlines:
        if "\r" in text or "\u2028" in text or "\u2029" in text:
            text = _LINE_BREAK.sub("\n", text)
    elif "\n" in text or "\r" in text or "\u2028" in text or "\u2029" in text:
        text = _LINE_BREAK.sub(NEWLINE_MARK, text)
    return text


def strip_sgr(text: str) -> str:
    """Remove the SGR sequences that `neutralise` keeps, for output that is not a tty.

    Only the SGR sequences are removed; anything else is left alone, so give it
    text that has been through `neutralise` already (for which
    ``strip_sgr(neutralise(s)) == neutralise(s, keep_sgr=False)``). For raw
    untrusted text use ``neutralise(s, keep_sgr=False)`` instead.

    Args:
        text: Text that may contain SGR sequences.

    Returns:
        The text without them.
    """
    if "\x1b" not in text:
        return text
    return _SGR_ONLY.sub("", text)
