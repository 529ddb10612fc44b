"""The runbook engine's pure parts: schema, loader, templating, journal (DESIGN §5).

Nothing in this package imports Textual or an adapter: headless ``runbook run``
and the tests use it as it is. The public names are re-exported here so callers
write ``from console.runbook import load_runbooks, Journal``.
"""

from __future__ import annotations

import importlib

# ``actor`` is also a submodule's name: importing the submodule would set the package
# attribute to the module, so the (light) function is bound here, eagerly.
from console.runbook.actor import Actor, actor

# Names are imported on first use (PEP 562): the console imports run_view at start-up
# and must not pay for pydantic models and the journal before its first frame.
_HOME = {
    "ACTION_VERBS": "schema",
    "ActionStep": "schema",
    "AdapterCallRecord": "journal",
    "BUILTIN_NAMES": "schema",
    "CommandStep": "schema",
    "ConfirmStep": "schema",
    "EVENTS": "journal",
    "FailurePolicy": "schema",
    "GENESIS": "journal",
    "HealthGateStep": "schema",
    "ImageRef": "schema",
    "Journal": "journal",
    "JournalBusy": "journal",
    "JournalCorrupt": "journal",
    "JournalProblem": "journal",
    "JournalRead": "journal",
    "LoadedRunbook": "loader",
    "ManualStep": "schema",
    "Note": "journal",
    "Param": "schema",
    "ParamError": "templating",
    "ParamValue": "templating",
    "RunHeader": "journal",
    "RunRecord": "journal",
    "RunSummary": "journal",
    "Runbook": "schema",
    "RunbookSet": "loader",
    "Step": "schema",
    "StepRecord": "journal",
    "WaitStep": "schema",
    "bind_params": "templating",
    "builtin_runbooks_dir": "loader",
    "format_duration": "schema",
    "journal_path": "journal",
    "list_runs": "journal",
    "load_runbook": "loader",
    "load_runbook_file": "loader",
    "load_runbooks": "loader",
    "new_run_id": "journal",
    "parse_image_ref": "schema",
    "parse_runbook": "loader",
    "read_journal": "journal",
    "render": "templating",
    "render_text": "templating",
    "replay": "journal",
    "runbook_to_yaml": "schema",
}

__all__ = sorted([*_HOME, "Actor", "actor"])


def __getattr__(name: str):
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
