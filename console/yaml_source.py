"""Load YAML keeping where every value came from, so errors can say file:line:column.

PyYAML's ``yaml.safe_load`` loses positions and silently keeps the last of two
equal keys. Here the file is composed into a node tree first (which carries
marks), checked for duplicate keys, runaway aliases and size limits, and only then
built into plain Python data with the safe constructor. Every failure, whatever
the input bytes, becomes a :class:`ConfigError` holding :class:`ConfigProblem`
values: never a traceback.

The problem types live here rather than in :mod:`console.config` because YAML
problems are found before any model is involved; :mod:`console.config` re-exports
them. Runbook files (DESIGN §5) can use the same loader.

No Textual here: headless commands import this module.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

MAX_BYTES = 1024 * 1024
"""Largest file accepted. A console config is a few KiB; this only stops accidents."""

MAX_NODES = 50_000
"""Most YAML nodes accepted, counting every expansion of an alias (stops billion laughs)."""

MAX_DEPTH = 100
"""Deepest nesting accepted (PyYAML composes recursively and would hit RecursionError)."""

FILE_FIELD = "(file)"
SYNTAX_FIELD = "(syntax)"
DOCUMENT_FIELD = "(document)"

YamlPath = tuple[Any, ...]
"""Keys and list indexes from the document root, e.g. ``("environments", 0, "host")``."""

_MERGE_TAG = "tag:yaml.org,2002:merge"

__all__ = [
    "DOCUMENT_FIELD",
    "FILE_FIELD",
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_NODES",
    "SYNTAX_FIELD",
    "ConfigError",
    "ConfigProblem",
    "YamlDocument",
    "YamlPath",
    "format_path",
    "load_yaml",
    "parse_yaml",
    "printable",
]


def printable(text: str, limit: int | None = None) -> str:
    """Make text safe to print on a terminal, on one line.

    Control characters, escape sequences, bidi overrides and lone surrogates are
    shown as Python-style escapes (``\\x1b``, ``\\n``); everything else is kept.

    Args:
        text: Any text, possibly from an untrusted file.
        limit: Truncate to about this many characters (before escaping), marking
            the cut with an ellipsis.

    Returns:
        The printable text.
    """
    if limit is not None and len(text) > limit:
        text = text[: max(limit - 1, 0)] + "…"
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)


_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def format_path(path: Iterable[Any]) -> str:
    """Render a YAML path the way people write it: ``environments[1].host``.

    Args:
        path: Keys and list indexes from the document root.

    Returns:
        The dotted path, or ``"(document)"`` for the root.
    """
    out = ""
    for part in path:
        if isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part}]"
        elif isinstance(part, str) and _PLAIN_KEY.fullmatch(part):
            out += f".{part}" if out else part
        else:
            # Keys with dots, spaces or non-string keys would make the dotted form
            # ambiguous; show them bracketed and quoted.
            out += f"[{printable(repr(part), 60)}]"
    return out or DOCUMENT_FIELD


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with a config (or other YAML) file, located and fixable.

    Attributes:
        file: The file as the operator named it.
        line: 1-based line, or None when the problem has no position (file not
            readable).
        column: 1-based column, or None.
        field: Dotted path of the offending setting (``environments[1].host``), or
            ``(file)``, ``(syntax)``, ``(document)`` for whole-file problems.
        message: What is wrong.
        hint: What to do about it.
    """

    file: str
    line: int | None
    column: int | None
    field: str
    message: str
    hint: str

    def __str__(self) -> str:
        where = printable(self.file)
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return f"{where}: {printable(self.field)}: {printable(self.message)} (fix: {printable(self.hint)})"


class ConfigError(Exception):
    """A config (or other YAML) file could not be used.

    Attributes:
        problems: Every problem found, in file order where positions are known.
    """

    def __init__(self, problems: Iterable[ConfigProblem]) -> None:
        self.problems: list[ConfigProblem] = list(problems)
        super().__init__(self.problems)

    def __str__(self) -> str:
        return "\n".join(str(problem) for problem in self.problems)


@dataclass(frozen=True)
class YamlDocument:
    """Plain Python data from a YAML file plus where each value was written.

    Attributes:
        file: The file as the operator named it.
        data: What ``yaml.safe_load`` would have returned (None for an empty file).
        marks: ``(line, column)``, 1-based, for every path: the key's position for
            a mapping entry, the item's position for a list item, the first token
            for the root.
    """

    file: str
    data: Any
    marks: Mapping[YamlPath, tuple[int, int]] = field(default_factory=dict)

    def mark(self, path: YamlPath) -> tuple[int, int] | None:
        """Position of ``path``, or of its nearest ancestor that has one.

        Args:
            path: Keys and list indexes from the document root.

        Returns:
            ``(line, column)``, 1-based, or None for an empty document.
        """
        path = tuple(path)
        while True:
            try:
                found = self.marks.get(path)
            except TypeError:  # an unhashable part cannot be a key we recorded
                found = None
            if found is not None:
                return found
            if not path:
                return None
            path = path[:-1]

    def problem(self, path: YamlPath, message: str, hint: str, *, field: str | None = None) -> ConfigProblem:
        """A problem located at ``path`` (or its nearest recorded ancestor).

        Args:
            path: Where the problem is.
            message: What is wrong.
            hint: What to do about it.
            field: The field name to show; defaults to the formatted path.

        Returns:
            The located problem.
        """
        mark = self.mark(path)
        line, column = mark if mark else (None, None)
        return ConfigProblem(self.file, line, column, field or format_path(path), message, hint)


class _LimitError(yaml.MarkedYAMLError):
    """A limit of ours was hit while composing; carries its own hint."""

    def __init__(self, problem: str, mark: Any, hint: str) -> None:
        super().__init__(problem=problem, problem_mark=mark)
        self.hint = hint


class _Loader(yaml.SafeLoader):
    """The safe loader, bounded, and with every constructor failure marked."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._node_count = 0
        self._depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node:  # noqa: D102
        self._node_count += 1
        if self._node_count > MAX_NODES:
            raise _LimitError(
                f"more than {MAX_NODES} values",
                self.peek_event().start_mark,
                "this is far larger than any config; check that this is the right file",
            )
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _LimitError(
                    f"nested more than {MAX_DEPTH} levels deep",
                    self.peek_event().start_mark,
                    "flatten the structure; check for unbalanced [ or {",
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_object(self, node: Node, deep: bool = False) -> Any:  # noqa: D102
        try:
            return super().construct_object(node, deep)
        except yaml.YAMLError:
            raise
        except (ValueError, TypeError, AttributeError, OverflowError, KeyError, IndexError) as exc:
            # PyYAML lets e.g. "2024-13-45" (a date by the YAML 1.1 rules) or
            # "!!int x" escape as a bare ValueError; give it a position.
            tag = node.tag.rsplit(":", 1)[-1]
            raise ConstructorError(
                None, None, f"cannot read {printable(str(node.value), 40)!r} as {tag}: {exc}", node.start_mark
            ) from exc


def _one_based(mark: Any) -> tuple[int, int]:
    return mark.line + 1, mark.column + 1


def _syntax_hint(text: str) -> str:
    lowered = text.lower()
    if "'\\t'" in text or "tab" in lowered:
        return "indent with spaces, not tabs"
    if "block end" in lowered or "block mapping" in lowered or "block collection" in lowered:
        return "check the indentation: keys of one mapping, and items of one list, must start in the same column"
    if "mapping values are not allowed" in lowered:
        return "put a space after ':' and check the indentation; quote values that contain ': '"
    if "undefined alias" in lowered:
        return "define the anchor (&name) before using it (*name)"
    if "duplicate anchor" in lowered:
        return "give each anchor (&name) a different name"
    if "expected a single document" in lowered:
        return "keep one document per file: remove the second '---'"
    if "unhashable key" in lowered:
        return "use plain text keys"
    if "constructor for the tag" in lowered:
        return "remove the '!' tag: only plain YAML values are allowed"
    if "recursive" in lowered:
        return "an alias may not refer to a value that contains it"
    if "cannot read" in lowered:
        return "quote the value to keep it as text, or correct it"
    if "could not find expected ':'" in lowered:
        return "write 'key: value' and check that quotes are closed"
    if "found unexpected end of stream" in lowered or "found unexpected" in lowered:
        return "check that quotes and brackets are closed"
    return "check the indentation and quoting on this line"


def _text_position(text: str, index: int) -> tuple[int, int]:
    index = max(0, min(index, len(text)))
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return line, column


def _codepoint(character: Any) -> str:
    code = ord(character) if isinstance(character, str) and len(character) == 1 else character
    return f"U+{code:04X}" if isinstance(code, int) else printable(repr(code), 20)


def _yaml_problem(file: str, text: str, exc: yaml.YAMLError) -> ConfigProblem:
    if isinstance(exc, yaml.reader.ReaderError):
        line, column = _text_position(text, exc.position)
        return ConfigProblem(
            file,
            line,
            column,
            SYNTAX_FIELD,
            f"character {_codepoint(exc.character)} is not allowed in YAML",
            "remove it, or write it as an escape inside a double-quoted string",
        )
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line, column = _one_based(mark) if mark is not None else (None, None)
        message = exc.problem or exc.context or "invalid YAML"
        if exc.context and exc.problem:
            message = f"{exc.problem} ({exc.context}"
            if exc.context_mark is not None and exc.context_mark is not mark:
                message += f" on line {exc.context_mark.line + 1}"
            message += ")"
        hint = getattr(exc, "hint", None) or _syntax_hint(message)
        return ConfigProblem(file, line, column, SYNTAX_FIELD, message, hint)
    return ConfigProblem(file, None, None, SYNTAX_FIELD, str(exc) or "invalid YAML", _syntax_hint(str(exc)))


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [child for pair in node.value for child in pair]
    return []


def _check_expansion(root: Node) -> None:
    """Reject alias cycles and alias bombs without expanding anything.

    Sizes are memoised per node, so this is linear in the number of distinct
    nodes even when aliases would expand to billions.
    """
    sizes: dict[int, int] = {}
    entered: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, leaving = stack.pop()
        key = id(node)
        if leaving:
            size = 1 + sum(sizes[id(child)] for child in _children(node))
            sizes[key] = min(size, MAX_NODES + 1)
            entered.discard(key)
            if sizes[key] > MAX_NODES:
                raise _LimitError(
                    f"aliases expand to more than {MAX_NODES} values",
                    node.start_mark,
                    "use fewer nested aliases (*name)",
                )
            continue
        if key in sizes:
            continue
        if key in entered:
            # Entered but not left: we are inside its own subtree.
            raise ConstructorError(
                None, None, "found an alias that refers to a value containing it (recursive)", node.start_mark
            )
        entered.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node))


@dataclass
class _Duplicate:
    path: YamlPath
    key: Any
    mark: Any
    first_line: int


def _check_duplicates(loader: _Loader, root: Node) -> tuple[dict[int, Any], list[_Duplicate]]:
    """Find repeated keys (by value: ``1``, ``01`` and ``true`` collide in a dict).

    Runs before construction, because constructing merges ``<<`` keys into the
    mapping nodes and then overriding a merged key would look like a duplicate.

    Returns:
        The constructed value of every scalar key node (by node id, reused for
        the marks) and the duplicates found.
    """
    key_values: dict[int, Any] = {}
    duplicates: list[_Duplicate] = []
    seen: set[int] = set()
    stack: list[tuple[Node, YamlPath]] = [(root, ())]
    while stack:
        node, path = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, SequenceNode):
            stack.extend((item, path + (index,)) for index, item in enumerate(node.value))
        elif isinstance(node, MappingNode):
            first_seen: dict[Any, Node] = {}
            for key_node, value_node in node.value:
                if key_node.tag == _MERGE_TAG:
                    # Merged mappings contribute keys to this same mapping.
                    stack.append((value_node, path))
                    continue
                if not isinstance(key_node, ScalarNode):
                    continue  # construction reports "unhashable key"
                key = loader.construct_object(key_node, deep=True)
                key_values[id(key_node)] = key
                try:
                    earlier = first_seen.get(key)
                except TypeError:
                    continue
                if earlier is not None:
                    duplicates.append(_Duplicate(path, key, key_node.start_mark, earlier.start_mark.line + 1))
                else:
                    first_seen[key] = key_node
                stack.append((value_node, path + (key,)))
    duplicates.sort(key=lambda dup: (dup.mark.line, dup.mark.column))
    return key_values, duplicates


def _collect_marks(root: Node, key_values: dict[int, Any]) -> dict[YamlPath, tuple[int, int]]:
    # Walks the constructed (merge-flattened) tree, expanding aliases; bounded by
    # _check_expansion.
    marks: dict[YamlPath, tuple[int, int]] = {(): _one_based(root.start_mark)}
    stack: list[tuple[Node, YamlPath]] = [(root, ())]
    while stack:
        node, path = stack.pop()
        if isinstance(node, SequenceNode):
            for index, item in enumerate(node.value):
                marks[path + (index,)] = _one_based(item.start_mark)
                stack.append((item, path + (index,)))
        elif isinstance(node, MappingNode):
            entries: dict[Any, tuple[Node, Node]] = {}
            for key_node, value_node in node.value:
                if id(key_node) not in key_values:
                    continue
                try:
                    entries[key_values[id(key_node)]] = (key_node, value_node)  # last wins, as in the data
                except TypeError:
                    continue
            for key, (key_node, value_node) in entries.items():
                marks[path + (key,)] = _one_based(key_node.start_mark)
                stack.append((value_node, path + (key,)))
    return marks


def _decode(file: str, raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        line_start = raw.rfind(b"\n", 0, exc.start) + 1
        column = len(raw[line_start : exc.start].decode("utf-8", errors="replace")) + 1
        if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
            hint = "the file is UTF-16; save it as UTF-8"
        else:
            hint = "save the file as UTF-8"
        raise ConfigError(
            [
                ConfigProblem(
                    file,
                    line,
                    column,
                    FILE_FIELD,
                    f"the file is not UTF-8 text (byte 0x{raw[exc.start]:02x} cannot be decoded)",
                    hint,
                )
            ]
        ) from None


def parse_yaml(source: str | bytes, file: str = "<string>") -> YamlDocument:
    """Parse YAML text into data plus marks.

    Args:
        source: The YAML text, or raw bytes that should be UTF-8.
        file: Name to put in problems.

    Returns:
        The document. ``data`` is None when the text holds no document (empty or
        only comments).

    Raises:
        ConfigError: For bytes that are not UTF-8, YAML syntax errors, duplicate
            keys, recursive aliases, and inputs beyond the size, node or depth
            limits.
    """
    if isinstance(source, bytes):
        if len(source) > MAX_BYTES:
            raise ConfigError([_too_large(file, len(source))])
        text = _decode(file, source)
    else:
        text = source
        if len(text) > MAX_BYTES:
            raise ConfigError([_too_large(file, len(text.encode("utf-8", errors="surrogatepass")))])

    loader: _Loader | None = None
    try:
        loader = _Loader(text)  # the reader rejects control characters right here
        root = loader.get_single_node()
        if root is None:
            return YamlDocument(file, None, {})
        _check_expansion(root)
        key_values, duplicates = _check_duplicates(loader, root)
        if duplicates:
            problems = []
            for dup in duplicates:
                line, column = _one_based(dup.mark)
                shown = printable(str(dup.key), 60)
                problems.append(
                    ConfigProblem(
                        file,
                        line,
                        column,
                        format_path(dup.path + (dup.key,)),
                        f"duplicate key '{shown}' (first written on line {dup.first_line})",
                        "remove one of them: YAML would silently keep only the last",
                    )
                )
            raise ConfigError(problems)
        data = loader.construct_document(root)
        marks = _collect_marks(root, key_values)
    except yaml.YAMLError as exc:
        raise ConfigError([_yaml_problem(file, text, exc)]) from None
    except RecursionError:
        # Our own depth limit stops this first unless the caller's stack is
        # already deep; either way the operator gets a message, not a traceback.
        raise ConfigError(
            [ConfigProblem(file, None, None, SYNTAX_FIELD, "the document is nested too deeply", "flatten the structure")]
        ) from None
    finally:
        if loader is not None:
            loader.dispose()
    return YamlDocument(file, data, marks)


def _too_large(file: str, size: int) -> ConfigProblem:
    return ConfigProblem(
        file,
        None,
        None,
        FILE_FIELD,
        f"the file is {size / 1024 / 1024:.1f} MiB; the limit is {MAX_BYTES // 1024 // 1024} MiB",
        "check that this is the right file; a config is usually a few KiB",
    )


def load_yaml(path: Path) -> YamlDocument:
    """Read and parse a YAML file.

    Args:
        path: The file to read. Problems name it as given (not made absolute), so
            messages match what the operator typed.

    Returns:
        The document.

    Raises:
        ConfigError: When the file cannot be read, or for anything
            :func:`parse_yaml` rejects.
    """
    file = str(path)
    try:
        with open(path, "rb") as stream:
            # Read one byte past the limit so an oversized file (or /dev/zero) is
            # caught without reading all of it.
            raw = stream.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(
            [
                ConfigProblem(
                    file,
                    None,
                    None,
                    FILE_FIELD,
                    "no such file",
                    "check the path given by --config or $WATCHFLOOR_CONFIG, or create the file",
                )
            ]
        ) from None
    except IsADirectoryError:
        raise ConfigError(
            [ConfigProblem(file, None, None, FILE_FIELD, "this is a directory, not a file", "name the YAML file itself")]
        ) from None
    except PermissionError:
        raise ConfigError(
            [
                ConfigProblem(
                    file,
                    None,
                    None,
                    FILE_FIELD,
                    "permission denied",
                    "make the file readable by this user (chmod 600 keeps it private)",
                )
            ]
        ) from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(
            [ConfigProblem(file, None, None, FILE_FIELD, f"cannot read the file: {reason}", "check the path")]
        ) from None
    if len(raw) > MAX_BYTES:
        raise ConfigError([_too_large(file, _size_of(path, len(raw)))])
    return parse_yaml(raw, file)


def _size_of(path: Path, at_least: int) -> int:
    try:
        return max(path.stat().st_size, at_least)
    except (OSError, ValueError):
        return at_least
