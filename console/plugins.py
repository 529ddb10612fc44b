"""Backends and runbook step kinds from other distributions, through Python entry points.

Two entry point groups (docs/plugins.md):

- ``watchfloor.adapters``: the entry point's name is an environment ``kind:``; its
  object is an adapter factory, called ``factory(environment, options)`` in a worker
  thread to make the environment's adapter (``adapters.base.Adapter``). ``options`` are
  the environment's own keys from the config: an instance of the factory's
  ``config_model`` (a pydantic model) when it has one, else a plain dict.
- ``watchfloor.steps``: the name is a runbook step ``kind:``; the object is a step
  runner, called ``runner(options, context)`` in the run's thread. ``options`` are the
  step's own keys (``config_model`` again, when it has one), placeholders filled in;
  ``context`` is a `StepContext`. It returns the sentence the step passed with, or
  raises `StepFailed`.

Discovery is lazy (nothing here runs until a config or runbook names a kind the
built-ins do not have) and cached. A plugin that fails to load, or that takes a
built-in's name, becomes a `PluginProblem`: it is left out, reported wherever its
kind is used, and never breaks the built-ins.

No Textual here: config validation and headless commands use this module.
"""

from __future__ import annotations

import functools
import importlib.metadata
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from console.model import Environment, WorkloadKey

__all__ = [
    "ADAPTER_GROUP",
    "STEP_GROUP",
    "PluginProblem",
    "Plugins",
    "StepContext",
    "StepFailed",
    "adapter_factory",
    "describe_kinds",
    "discover",
    "step_runner",
    "validate_options",
]

ADAPTER_GROUP = "watchfloor.adapters"
STEP_GROUP = "watchfloor.steps"
BUILTIN_ENVIRONMENT_KINDS = ("docker", "kubernetes")
BUILTIN_STEP_KINDS = ("action", "gate", "wait", "manual", "confirm", "command")
_KIND_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")


class StepFailed(Exception):
    """Raised by a plugin step runner: the step failed, with this sentence for the operator."""


@dataclass(frozen=True, slots=True)
class PluginProblem:
    """A plugin that could not be used, and why (shown with the kind it would have served)."""

    group: str
    name: str
    value: str
    """The entry point's ``module:attribute``."""
    distribution: str
    message: str

    def __str__(self) -> str:
        return f"{self.name} ({self.distribution}, {self.value}): {self.message}"


@dataclass(frozen=True, slots=True)
class Plugins:
    """What discovery found: loaded objects by kind, and the plugins that failed."""

    adapters: dict[str, Any] = field(default_factory=dict)
    steps: dict[str, Any] = field(default_factory=dict)
    problems: tuple[PluginProblem, ...] = ()


@dataclass(frozen=True, slots=True)
class StepContext:
    """What a plugin step runner may use while it runs.

    Attributes:
        environment: The environment the run acts on.
        workload: The workload the run acts on.
        adapter: The environment's adapter (reads, or writes the plugin is meant to make).
        timeout: The step's ``timeout`` in seconds, None when it has none.
        stop: Set when the operator aborts; a long runner checks ``stop.is_set()``.
        progress: Adds a sentence to the step's detail on the run screen.
    """

    environment: Environment
    workload: WorkloadKey
    adapter: Any
    timeout: float | None
    stop: Any
    progress: Callable[[str], None]


_lock = threading.Lock()


@functools.cache
def discover() -> Plugins:
    """Load every ``watchfloor.adapters`` and ``watchfloor.steps`` entry point, once.

    Returns:
        The loaded plugins by kind, and the problems of those that could not be used.
    """
    with _lock:
        adapters: dict[str, Any] = {}
        steps: dict[str, Any] = {}
        problems: list[PluginProblem] = []
        for group, found, builtins in (
            (ADAPTER_GROUP, adapters, BUILTIN_ENVIRONMENT_KINDS),
            (STEP_GROUP, steps, BUILTIN_STEP_KINDS),
        ):
            for entry in sorted(importlib.metadata.entry_points(group=group), key=lambda e: e.name):
                dist = entry.dist.name if entry.dist is not None else "unknown distribution"

                def problem(message: str, entry=entry, dist=dist, group=group) -> None:
                    problems.append(PluginProblem(group, entry.name, entry.value, dist, message))

                if not _KIND_NAME.fullmatch(entry.name):
                    problem("not a valid kind name (lowercase letters, digits and '_', starting with a letter)")
                elif entry.name in builtins:
                    problem(f"'{entry.name}' is a built-in kind; the plugin is ignored")
                elif entry.name in found:
                    problem(f"a second plugin for '{entry.name}'; the first one found is used")
                else:
                    try:
                        found[entry.name] = entry.load()
                    except Exception as error:  # noqa: BLE001 (any import-time failure of foreign code)
                        problem(f"failed to load: {type(error).__name__}: {error}")
        return Plugins(adapters, steps, tuple(problems))


def adapter_factory(kind: str) -> Any | None:
    """The loaded ``watchfloor.adapters`` factory for an environment kind, or None."""
    return discover().adapters.get(kind)


def step_runner(kind: str) -> Any | None:
    """The loaded ``watchfloor.steps`` runner for a step kind, or None."""
    return discover().steps.get(kind)


def describe_kinds(group: str, kind: object = None) -> str:
    """A hint naming the installed plugin kinds, and why ``kind`` is not among them if it failed.

    Args:
        group: `ADAPTER_GROUP` or `STEP_GROUP`.
        kind: The kind that was asked for.
    """
    plugins = discover()
    installed = sorted(plugins.adapters if group == ADAPTER_GROUP else plugins.steps)
    text = f"installed plugins: {', '.join(installed)}" if installed else f"no {group} plugins are installed"
    broken = [p for p in plugins.problems if p.group == group and p.name == kind]
    if broken:
        text += f"; the plugin for '{kind}' cannot be used: {broken[0]}"
    return text


def validate_options(plugin: Any, options: dict[str, Any]) -> Any:
    """A plugin's own keys, checked by its ``config_model`` when it has one.

    Returns:
        The model instance, or the dict unchanged when the plugin declares no model.

    Raises:
        pydantic.ValidationError: When the model rejects them.
    """
    model = getattr(plugin, "config_model", None)
    if model is None:
        return dict(options)
    return model.model_validate(options)
