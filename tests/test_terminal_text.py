"""Untrusted text is made terminal-safe and is never interpreted as markup (DESIGN §7)."""

from __future__ import annotations

import re
import unicodedata
import time

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from rich.cells import cell_len
from textual.app import App, ComposeResult
from textual.widgets import DataTable, Label, Static

from console.terminal_text import NEWLINE_MARK, neutralise, strip_sgr
from widgets.safe_text import safe_content, safe_log_text, safe_text

ESC = "\x1b"
SGR = re.compile(r"\x1b\[[0-9;:]*m")
# What must never reach the terminal: C0 except TAB, DEL, C1, bidi controls.
FORBIDDEN = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
BIDI = [chr(c) for c in [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]]
CONTROLS = [chr(c) for c in [*range(0x00, 0x20), *range(0x7F, 0xA0)]]
SURROGATES = ["\ud800", "\udbff", "\udc80", "\udfff"]
SURROGATE = re.compile("[\ud800-\udfff]")

# Pieces of escape sequences and Rich/Textual markup, so that generated text hits
# the interesting shapes far more often than uniform characters would.
FRAGMENTS = [
    "\x1b", "\x1b[", "\x1b]", "\x1bP", "\x1bX", "\x1b^", "\x1b_", "\x1b\\", "\x1b(",
    "\x1b(0", "\x1bc", "\x1b7", "\x1b#8", "\x07", "\x9b", "\x9d", "\x90", "\x9c",
    "31m", "0m", "38;5;196m", "38:2::255:0:0m", "?1049h", "2J", "H", ";", ":", "m",
    "8;;http://evil.example/", "52;c;aGVsbG8=", "0;title", " ", "\t", "\r", "\n",
    "\r\n", "\u2028", "\u2029", "[bold red]", "[/]", "[link=http://x]",
    "[@click=app.quit]", "[b]", "\\[", "]", "[", "$name", "日本", "e\u0301",
    *BIDI,
]
untrusted_text = st.lists(
    st.one_of(
        st.text(),
        st.text(alphabet=st.sampled_from(CONTROLS + BIDI + SURROGATES)),
        st.sampled_from(FRAGMENTS),
    ),
    max_size=20,
).map("".join)


def without_sgr(text: str) -> str:
    return SGR.sub("", text)


# --- table-driven cases -----------------------------------------------------------

NEUTRALISE_CASES = [
    # (id, input, keep_sgr=True result, keep_sgr=False result)
    ("plain text is unchanged", "GET /healthz 200", "GET /healthz 200", "GET /healthz 200"),
    ("tab is kept", "a\tb", "a\tb", "a\tb"),
    ("sgr colours kept or dropped", "\x1b[31mred\x1b[0m", "\x1b[31mred\x1b[0m", "red"),
    ("sgr with colon sub-parameters kept", "\x1b[38:2::1:2:3mx", "\x1b[38:2::1:2:3mx", "x"),
    ("sgr reset without parameters kept", "\x1b[mx", "\x1b[mx", "x"),
    ("private-mode sgr lookalike removed", "\x1b[?31mx", "x", "x"),
    ("sgr with intermediate byte removed", "\x1b[31 mx", "x", "x"),
    ("overlong sgr removed", "\x1b[" + "1;" * 100 + "mx", "x", "x"),
    ("cursor movement removed", "a\x1b[10;5Hb\x1b[2Ac", "abc", "abc"),
    ("erase screen removed", "\x1b[2J\x1b[3Jx", "x", "x"),
    ("alternate screen removed", "\x1b[?1049hx\x1b[?1049l", "x", "x"),
    ("8-bit csi removed", "a\x9b2Jb", "ab", "ab"),
    ("8-bit csi sgr removed", "a\x9b31mb", "ab", "ab"),
    ("osc window title with bel removed", "\x1b]0;pwned\x07x", "x", "x"),
    ("osc window title with st removed", "\x1b]2;pwned\x1b\\x", "x", "x"),
    ("osc 8 hyperlink target removed, text kept",
     "\x1b]8;;http://evil.example/\x1b\\click\x1b]8;;\x1b\\", "click", "click"),
    ("osc 52 clipboard write removed", "\x1b]52;c;cm0gLXJmIC8K\x07x", "x", "x"),
    ("unterminated osc runs to end", "ok\x1b]0;title and more", "ok", "ok"),
    ("osc ended by another escape", "\x1b]0;t\x1b[31mx", "\x1b[31mx", "x"),
    ("8-bit osc with 8-bit st removed", "a\x9d0;t\x9cb", "ab", "ab"),
    ("dcs removed", "a\x1bP1$r0m\x1b\\b", "ab", "ab"),
    ("sos pm apc removed", "a\x1bXs\x1b\\b\x1b^p\x1b\\c\x1b_a\x1b\\d", "abcd", "abcd"),
    ("charset designation removed", "a\x1b(0qqq\x1b(Bb", "aqqqb", "aqqqb"),
    ("full reset removed", "a\x1bcb", "ab", "ab"),
    ("save and restore cursor removed", "a\x1b7b\x1b8c", "abc", "abc"),
    ("decaln removed", "a\x1b#8b", "ab", "ab"),
    ("lone trailing escape removed", "a\x1b", "a", "a"),
    ("c0 controls removed", "a\x00\x07\x08\x0b\x0c\x0e\x1a\x1fb", "ab", "ab"),
    ("del removed", "a\x7fb", "ab", "ab"),
    ("c1 controls removed", "a\x80\x85\x8d\x8e\x9ab", "ab", "ab"),
    ("8-bit apc string runs to its terminator", "a\x9fhidden\x9cb", "ab", "ab"),
    ("bidi overrides removed", "a\u202eb\u202ac\u2066d\u2069e", "abcde", "abcde"),
    ("lone surrogates replaced", "a\udcffb\ud800", "a\ufffdb\ufffd", "a\ufffdb\ufffd"),
    ("trailing line break dropped", "line\r\n", "line", "line"),
    ("inner line break marked", "one\ntwo", f"one{NEWLINE_MARK}two", f"one{NEWLINE_MARK}two"),
    ("carriage return marked so nothing is overwritten",
     "rm -rf /\rls", f"rm -rf /{NEWLINE_MARK}ls", f"rm -rf /{NEWLINE_MARK}ls"),
    ("crlf inside is one mark", "a\r\nb", f"a{NEWLINE_MARK}b", f"a{NEWLINE_MARK}b"),
    ("unicode line separators marked", "a\u2028b\u2029c",
     f"a{NEWLINE_MARK}b{NEWLINE_MARK}c", f"a{NEWLINE_MARK}b{NEWLINE_MARK}c"),
    ("rich markup is just text", "[bold red]x[/]", "[bold red]x[/]", "[bold red]x[/]"),
]


@pytest.mark.parametrize(
    ("raw", "with_sgr", "without"),
    [pytest.param(*case[1:], id=case[0]) for case in NEUTRALISE_CASES],
)
def test_neutralise_cases(raw: str, with_sgr: str, without: str) -> None:
    assert neutralise(raw) == with_sgr
    assert neutralise(raw, keep_sgr=False) == without


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("a\nb\n", "a\nb\n", id="newlines kept"),
        pytest.param("a\r\nb\r\n", "a\nb\n", id="crlf becomes lf"),
        pytest.param("progress 1%\rprogress 2%", "progress 1%\nprogress 2%",
                     id="lone cr becomes lf so it cannot overwrite"),
        pytest.param("a\u2028b", "a\nb", id="unicode line separator becomes lf"),
        pytest.param("\x1b[2Ka\n\x1b[1Ab", "a\nb", id="escapes still removed"),
    ],
)
def test_neutralise_keep_newlines(raw: str, expected: str) -> None:
    assert neutralise(raw, keep_newlines=True) == expected


def test_clean_text_is_returned_as_the_same_object() -> None:
    line = "2024-05-01T12:00:00Z INFO web-7d4b9 GET /api/v1/items?page=2 200 12ms\tok ✓"
    assert neutralise(line) is line


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("\x1b[1;31mx\x1b[0m", "x", id="sgr removed"),
        pytest.param("plain", "plain", id="plain unchanged"),
    ],
)
def test_strip_sgr(raw: str, expected: str) -> None:
    assert strip_sgr(raw) == expected


# --- properties -----------------------------------------------------------------


@settings(max_examples=1000)
@given(untrusted_text)
def test_neutralised_text_without_sgr_holds_no_control_escape_or_bidi(s: str) -> None:
    out = neutralise(s, keep_sgr=False)
    assert FORBIDDEN.search(out) is None
    assert ESC not in out
    out.encode("utf-8")  # no lone surrogate left to break the terminal writer


@settings(max_examples=1000)
@given(untrusted_text)
def test_every_escape_kept_starts_a_well_formed_sgr(s: str) -> None:
    out = neutralise(s, keep_sgr=True)
    rest = without_sgr(out)
    assert ESC not in rest
    assert FORBIDDEN.search(rest) is None
    assert SURROGATE.search(out) is None
    assert out.count(ESC) == len(SGR.findall(out))


@settings(max_examples=1000)
@given(untrusted_text)
def test_stripping_kept_sgr_equals_neutralising_without_it(s: str) -> None:
    assert strip_sgr(neutralise(s)) == neutralise(s, keep_sgr=False)


@settings(max_examples=1000)
@given(untrusted_text, st.booleans(), st.booleans())
def test_neutralise_is_idempotent(s: str, keep_sgr: bool, keep_newlines: bool) -> None:
    once = neutralise(s, keep_sgr=keep_sgr, keep_newlines=keep_newlines)
    assert neutralise(once, keep_sgr=keep_sgr, keep_newlines=keep_newlines) == once


@settings(max_examples=1000)
@given(untrusted_text)
def test_one_line_stays_one_line_and_keep_newlines_leaves_no_cr(s: str) -> None:
    assert not any(c in neutralise(s) for c in "\r\n\u2028\u2029")
    assert not any(c in neutralise(s, keep_newlines=True) for c in "\r\u2028\u2029")


@settings(max_examples=1000)
@given(st.text(alphabet=st.characters(exclude_categories=["Cc", "Cs"])))
def test_text_without_controls_is_untouched(s: str) -> None:
    assume(not any(c in s for c in BIDI + ["\u2028", "\u2029"]))
    assert neutralise(s) is s
    assert neutralise(s, keep_sgr=False) is s


ESC_AND_C1 = "\x1b" + "".join(map(chr, range(0x80, 0xA0)))


@settings(max_examples=1000)
@given(st.text(alphabet=st.characters(exclude_characters=ESC_AND_C1)))
def test_without_escapes_only_single_controls_go_and_no_text_is_lost(s: str) -> None:
    # With no ESC and no C1 there is no sequence to swallow printable text, so the
    # result is the input minus single characters, with line breaks marked.
    kept = (c for c in s.rstrip("\r\n\u2028\u2029") if c in "\r\n" or not FORBIDDEN.match(c))
    expected = re.sub("\r\n|[\r\n\u2028\u2029]", NEWLINE_MARK, "".join(kept))
    expected = SURROGATE.sub("\ufffd", expected)
    assert neutralise(s, keep_sgr=False) == expected


# --- the Rich/Textual side --------------------------------------------------------

MARKUP_CASES = ["[bold red]x[/]", "[/]", "[link=http://x]y[/link]", "[@click=app.quit]q[/]",
                "[b]unclosed", "\\[escaped]", "[red", "$variable", "[", "]"]


@pytest.mark.parametrize("raw", MARKUP_CASES)
def test_markup_is_shown_literally(raw: str) -> None:
    assert safe_text(raw).plain == raw
    assert safe_text(raw).spans == []
    assert safe_content(raw).plain == raw
    assert safe_content(raw).spans == []


def test_safe_text_applies_only_our_style() -> None:
    text = safe_text("[red]x", style="bold")
    assert text.plain == "[red]x"
    assert str(text.style) == "bold"


def test_safe_text_decodes_bytes_and_stringifies_others() -> None:
    assert safe_text(b"caf\xc3\xa9\x1b[2J").plain == "café"
    assert safe_text(42).plain == "42"


def test_safe_log_text_keeps_colour_and_drops_the_rest() -> None:
    text = safe_log_text(
        "\x1b[31merror\x1b[0m \x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\ [b]x[/b]\n"
    )
    assert text.plain == "error link [b]x[/b]"
    assert [(span.start, span.end) for span in text.spans] == [(0, 5)]
    assert text.spans[0].style.color.number == 1
    assert all(span.style.link is None for span in text.spans)


@settings(max_examples=1000)
@given(untrusted_text)
def test_safe_text_and_content_show_exactly_the_neutralised_text(s: str) -> None:
    expected = neutralise(s, keep_sgr=False)
    assert safe_text(s).plain == expected
    assert safe_text(s).spans == []
    assert safe_content(s).plain == expected


@settings(max_examples=1000)
@given(untrusted_text)
def test_safe_log_text_never_raises_and_is_one_line(s: str) -> None:
    text = safe_log_text(s)
    assert text.plain == neutralise(s, keep_sgr=False)
    assert "\n" not in text.plain


class SafeTextApp(App[None]):
    """Shows one value in each kind of widget that would otherwise parse markup."""

    CSS = """
    Static, Label { width: 100%; height: 1; text-wrap: nowrap; text-overflow: clip; }
    DataTable { height: 3; }
    """

    def __init__(self, value: str) -> None:
        super().__init__()
        self.value = value

    def compose(self) -> ComposeResult:
        yield DataTable(cell_padding=0)
        yield Static(safe_content(self.value))
        yield Label(safe_content(self.value))

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        shown = safe_text(self.value)
        width = cell_len(shown.plain.replace("\t", " " * 8))
        table.add_column("value", width=max(1, width), key="value")
        table.add_row(shown, key="row")


APP_WIDTH = 240


def shown_as(expected: str) -> re.Pattern[str]:
    """What a screen line showing `expected` may look like: Rich expands a tab by
    cells and Textual's Content by characters, so a tab is any run of 1-8 spaces."""
    return re.compile(" {1,8}".join(map(re.escape, expected.split("\t"))) + " *")


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(untrusted_text)
@example("日本\tx e\u0301\tz 🇬🇧\u200d\tq [@click=app.quit]x[/] [link=http://x]y[/]")
@example("\x1b]8;;http://evil\x1b\\[bold]click[/]\x1b]8;;\x1b\\\x1b[2J\r\n")
async def test_widgets_show_untrusted_text_literally(s: str) -> None:
    expected = neutralise(s, keep_sgr=False)
    assume(cell_len(expected.replace("\t", " " * 8)) < APP_WIDTH - 2)
    # A combining mark with nothing before it has no cell of its own; widgets drop it,
    # which is a rendering detail, not markup or an escape getting through.
    assume(not expected or not unicodedata.combining(expected[0]))
    on_screen = shown_as(expected)
    app = SafeTextApp(s)
    async with app.run_test(size=(APP_WIDTH, 8)) as pilot:
        await pilot.pause()
        table = app.query_one(DataTable)
        assert table.get_cell("row", "value").plain == expected
        # Line 0 is the header; line 1 is the row.
        assert on_screen.fullmatch(table.render_line(1).text)
        assert on_screen.fullmatch(app.query_one(Static).render_line(0).text)
        assert on_screen.fullmatch(app.query_one(Label).render_line(0).text)
        assert app.is_running  # no [@click=app.quit] was acted upon


@pytest.mark.parametrize(
    "line",
    [
        "\x1b]" * 50_000,
        "\x1b[" + "1;" * 50_000,
        "\x1b[1m" * 25_000,
        "\x9d" + "x" * 100_000,
        "\x1bP" + "\x1b" * 100_000,
    ],
    ids=["osc introducers", "long csi", "many sgr", "unterminated 8-bit osc", "dcs of escapes"],
)
def test_hostile_lines_take_linear_time(line: str) -> None:
    # Linear patterns take milliseconds here; a quadratic one takes many seconds.
    started = time.perf_counter()
    neutralise(line)
    neutralise(line, keep_sgr=False)
    assert time.perf_counter() - started < 3.0
