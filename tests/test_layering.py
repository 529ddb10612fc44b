"""The house rules of DESIGN §1, checked: adapters and headless commands stay Textual-free,
widgets and screens never reach a backend client."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _loaded_after_import(modules: list[str]) -> set[str]:
    code = "import sys\n" + "".join(f"import {m}\n" for m in modules) + "print('\\n'.join(sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    return set(result.stdout.split())


def test_adapters_and_headless_commands_do_not_load_textual():
    loaded = _loaded_after_import(
        ["adapters.base", "adapters.docker", "console.store", "console.status", "console.cli", "console.headless_logs"]
    )

    # (rich may load: structlog imports it for its console renderer; it is not Textual.)
    assert not {m for m in loaded if m == "textual" or m.startswith("textual.")}


def test_console_package_init_is_empty():
    assert (ROOT / "console" / "__init__.py").read_text().strip() == ""


def test_import_linter_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")

    result = subprocess.run([str(lint)], capture_output=True, text=True, cwd=ROOT)

    assert result.returncode == 0, result.stdout + result.stderr
