"""The documentation stays true: generated references match the models, diagrams parse, links resolve.

- docs/config-reference.md and docs/runbook-reference.md are regenerated in memory by
  scripts/gen-docs and compared with the committed files.
- Every ```mermaid block in docs/ is checked two ways. A structural check in Python
  always runs: a known header (flowchart/graph with a direction, stateDiagram-v2),
  balanced brackets and quotes, subgraph/end pairs, edges of the forms we use, every
  flowchart node labelled somewhere (a typo'd id would draw a stray box), and the
  run-state diagrams naming exactly the phases and step states the code has. The
  real parser — mermaid's own ``mermaid.parse`` under Node with jsdom — runs from
  ``tests/mermaid/node_modules`` (pinned by its package-lock.json, installed by
  scripts/setup-backends with ``npm ci``; ``WATCHFLOOR_MERMAID_DIR`` points elsewhere);
  without it the test goes through ``backend_unavailable``. Neither check draws the diagram: layout
  problems (overlapping labels) are not caught.
- Relative links between docs point at files that exist.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from console.runbook.run_view import Phase, StepState
from tests.backends import backend_unavailable

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
MERMAID_BLOCK = re.compile(r"^```mermaid\n(.*?)^```", re.DOTALL | re.MULTILINE)


def _gen_docs():
    loader = importlib.machinery.SourceFileLoader("gen_docs", str(ROOT / "scripts" / "gen-docs"))
    spec = importlib.util.spec_from_loader("gen_docs", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["config-reference.md", "runbook-reference.md"])
def test_committed_reference_matches_the_models(name: str) -> None:
    generated = {str(path): text for path, text in _gen_docs().generated().items()}

    committed = (DOCS / name).read_text(encoding="utf-8")

    assert committed == generated[f"docs/{name}"], f"docs/{name} is stale: run .venv/bin/python scripts/gen-docs"


def test_config_reference_names_every_config_field() -> None:
    from console.config import Config, DockerEnvironmentConfig, KubernetesEnvironmentConfig, PrometheusConfig

    text = (DOCS / "config-reference.md").read_text(encoding="utf-8")

    for model in (Config, DockerEnvironmentConfig, KubernetesEnvironmentConfig, PrometheusConfig):
        for name in model.model_fields:
            assert f"| `{name}` |" in text, f"{model.__name__}.{name} missing from the config reference"


def test_runbook_reference_names_every_step_kind_and_on_fail_value() -> None:
    from console.runbook.schema import FAILURE_ACTIONS, GATE_TYPES, STEP_KINDS

    text = (DOCS / "runbook-reference.md").read_text(encoding="utf-8")

    for kind in STEP_KINDS:
        assert f"### kind: {kind}" in text
    for gate_type in GATE_TYPES:
        assert f"### kind: gate, type: {gate_type}" in text
    for action in FAILURE_ACTIONS:
        assert f"| `{action}" in text


def test_gen_docs_refuses_a_field_without_a_description() -> None:
    from pydantic import BaseModel

    class Undocumented(BaseModel):
        """A model whose field nobody described."""

        mystery: int = 0

    with pytest.raises(SystemExit, match="Undocumented.mystery has no description"):
        _gen_docs().field_table(Undocumented, {}, {})


# --- mermaid -------------------------------------------------------------------------------


def _mermaid_blocks() -> list[tuple[str, str]]:
    blocks = []
    for path in sorted(DOCS.rglob("*.md")):
        for index, match in enumerate(MERMAID_BLOCK.finditer(path.read_text(encoding="utf-8"))):
            blocks.append((f"{path.relative_to(ROOT)}#{index}", match.group(1)))
    return blocks


_ID = r"[A-Za-z_][A-Za-z0-9_]*"
_SHAPE = r'(?:\[\("[^"]*"\)\]|\["[^"]*"\]|\("[^"]*"\)|\[[^\[\]"]*\]|\([^()"]*\))'
_NODE = re.compile(rf"({_ID})({_SHAPE})?")
_EDGE = re.compile(r'\s*(?:-->\|[^|]*\||--\s+"[^"]*"\s+-->|--\s+[^"\-][^-]*?\s+-->|-->|---|-\.->|==>)\s*')


def _balanced(line: str) -> bool:
    stack = []
    pairs = {")": "(", "]": "[", "}": "{"}
    in_quote = False
    for ch in line:
        if ch == '"':
            in_quote = not in_quote
        elif in_quote:
            continue
        elif ch in "([{":
            stack.append(ch)
        elif ch in pairs:
            if not stack or stack.pop() != pairs[ch]:
                return False
    return not stack and not in_quote


def check_mermaid(text: str) -> list[str]:
    """Problems of one mermaid block, for the subset of the syntax our docs use."""
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("%%")]
    if not lines:
        return ["empty block"]
    header, body = lines[0], lines[1:]
    problems = [f"unbalanced brackets or quotes: {line}" for line in body if not _balanced(line)]
    if re.fullmatch(r"(flowchart|graph) (TD|TB|LR|RL|BT)", header):
        return problems + _check_flowchart(body)
    if header == "stateDiagram-v2":
        return problems + _check_state_diagram(body)
    return problems + [f"unknown header {header!r} (expected flowchart DIR, graph DIR or stateDiagram-v2)"]


def _check_flowchart(body: list[str]) -> list[str]:
    problems: list[str] = []
    labelled: set[str] = set()
    used: set[str] = set()
    depth = 0
    for line in body:
        if line.startswith("subgraph "):
            depth += 1
            match = _NODE.fullmatch(line[len("subgraph ") :].strip())
            if match is None:
                problems.append(f"bad subgraph line: {line}")
            else:
                labelled.add(match.group(1))
            continue
        if line == "end":
            depth -= 1
            if depth < 0:
                problems.append("'end' without a subgraph")
            continue
        if line.startswith("direction "):
            continue
        parts = _EDGE.split(line)
        if len(parts) == 1 and _NODE.fullmatch(line) is None:
            problems.append(f"neither a node nor an edge: {line}")
            continue
        for part in parts:
            match = _NODE.fullmatch(part.strip())
            if match is None:
                problems.append(f"bad node {part!r} in: {line}")
                continue
            used.add(match.group(1))
            if match.group(2):
                labelled.add(match.group(1))
    if depth != 0:
        problems.append("subgraph without 'end'")
    problems += [f"node {name} is used but never labelled (a typo?)" for name in sorted(used - labelled)]
    return problems


_TRANSITION = re.compile(rf"(\[\*\]|{_ID})\s*-->\s*(\[\*\]|{_ID})(?:\s*:\s*(\S.*))?")


def _check_state_diagram(body: list[str]) -> list[str]:
    problems: list[str] = []
    for line in body:
        if _TRANSITION.fullmatch(line) is None:
            problems.append(f"not a transition 'A --> B[: label]': {line}")
    return problems


def state_names(text: str) -> set[str]:
    names: set[str] = set()
    for match in _TRANSITION.finditer(text):
        names |= {match.group(1), match.group(2)}
    return names - {"[*]"}


def test_docs_have_mermaid_diagrams() -> None:
    blocks = _mermaid_blocks()

    headers = {text.strip().splitlines()[0] for _, text in blocks}

    assert "stateDiagram-v2" in headers
    assert any(header.startswith("flowchart") for header in headers)


@pytest.mark.parametrize(("where", "text"), _mermaid_blocks(), ids=[where for where, _ in _mermaid_blocks()])
def test_mermaid_block_is_well_formed(where: str, text: str) -> None:
    assert check_mermaid(text) == []


@pytest.mark.parametrize(
    "broken",
    [
        "flowchart LR\n    A[\"one\"] --> B[\"two\"\n",
        "flowchart LR\n    subgraph s[\"box\"]\n    A[\"one\"]\n",
        "flowchart LR\n    A[\"one\"] --> Bee\n    B[\"two\"]\n",
        "sequenceDiagrm\n    A->>B: hi\n",
        "stateDiagram-v2\n    A --> \n",
    ],
    ids=["unclosed-bracket", "subgraph-without-end", "unlabelled-node", "unknown-header", "dangling-transition"],
)
def test_structural_check_catches_broken_diagrams(broken: str) -> None:
    assert check_mermaid(broken) != []


def test_run_phase_diagram_names_exactly_the_phases() -> None:
    diagrams = [text for _, text in _mermaid_blocks() if "Progressing" in text and text.startswith("stateDiagram-v2")]

    assert len(diagrams) == 1
    assert state_names(diagrams[0]) == {phase.value for phase in Phase}


def test_step_state_diagram_names_exactly_the_step_states() -> None:
    diagrams = [text for _, text in _mermaid_blocks() if "waiting_input" in text and text.startswith("stateDiagram-v2")]

    assert len(diagrams) == 1
    assert state_names(diagrams[0]) == {state.value for state in StepState}


_PARSE_ALL = r"""
import { JSDOM } from "jsdom";
import fs from "fs";
const dom = new JSDOM("<!doctype html><html><body></body></html>");
globalThis.window = dom.window;
globalThis.document = dom.window.document;
const { default: mermaid } = await import("mermaid");
mermaid.initialize({ startOnLoad: false });
const blocks = JSON.parse(fs.readFileSync(0, "utf8"));
const failures = [];
for (const [where, text] of blocks) {
  try { await mermaid.parse(text); } catch (error) { failures.push(`${where}: ${String(error.message || error)}`); }
}
console.log(JSON.stringify(failures));
"""


def test_mermaid_blocks_parse_with_mermaid(tmp_path: Path) -> None:
    import json

    modules = Path(os.environ.get("WATCHFLOOR_MERMAID_DIR") or ROOT / "tests" / "mermaid") / "node_modules"
    node = shutil.which("node")
    if node is None or not (modules / "mermaid").is_dir() or not (modules / "jsdom").is_dir():
        backend_unavailable("mermaid's parser (node, and tests/mermaid/node_modules from scripts/setup-backends)")
    script = modules.parent / f"watchfloor-parse-{os.getpid()}.mjs"  # beside node_modules, so imports resolve
    script.write_text(_PARSE_ALL, encoding="utf-8")
    try:
        done = subprocess.run(
            [node, str(script)], input=json.dumps(_mermaid_blocks()), capture_output=True, text=True, timeout=120, check=False
        )
    finally:
        script.unlink()

    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


# --- links ---------------------------------------------------------------------------------

_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_relative_links_in_docs_resolve() -> None:
    broken = []
    for path in [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]:
        for target in _LINK.findall(path.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", target):
                continue  # http:, https:, mailto:
            if not (path.parent / target).exists():
                broken.append(f"{path.relative_to(ROOT)} → {target}")

    assert broken == []
