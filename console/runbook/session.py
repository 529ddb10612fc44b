"""From "run this runbook on that workload" to a ready ``RunExecutor`` (UI and CLI share it).

It loads the runbooks, binds and checks the parameters, connects the environment's
adapter, finds the workload, opens the journal — every way that can go wrong becomes
a ``RunSetupError`` with an exit code and a sentence that says how to fix it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from adapters.base import AdapterError, WritableAdapter
from console.model import WorkloadKey
from console.runbook.run_view import RunView

BUILTIN_DIR = Path(__file__).resolve().parent.parent.parent / "runbooks"


class RunSetupError(Exception):
    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class Session:
    """A prepared run: call ``execute()`` (blocking) in a worker thread."""

    executor: object
    adapter: object
    mode: str
    entries: list | None = None

    @property
    def view(self) -> RunView:
        return self.executor.view

    def expectation(self):
        """How long each step should take, from this runbook's past runs (reads journals: a worker's job).

        Returns:
            An `estimate.Expectation`.
        """
        from console.runbook.estimate import load_expectation

        executor = self.executor
        return load_expectation(
            executor.runbook.name,
            executor.runbook.steps,
            environment=executor.environment.name,
            workload=executor.key.label,
            # The runs directory this run journals to: tests and configs may move it.
            directory=Path(executor.journal.path).parent,
            exclude=executor.view.run_id,
        )

    def execute(self) -> RunView:
        try:
            if self.mode == "resume":
                return self.executor.resume(self.entries or [])
            return self.executor.run()
        finally:
            self.executor.journal.close()
            self.adapter.close()


def runbook_set(config):
    from console.runbook.loader import load_runbooks

    user_dir = getattr(config, "runbooks_dir", None)
    return load_runbooks(BUILTIN_DIR, Path(user_dir) if user_dir else None)


def _backend(config, env_name: str | None, read_only: bool):
    from console.backends import backends_for

    backends = backends_for(config, read_only=read_only)
    names = [b.environment.name for b in backends]
    if not env_name:
        if len(backends) == 1:
            return backends[0]
        raise RunSetupError(f"say which environment with --env (known: {', '.join(names) or 'none'})")
    for backend in backends:
        if backend.environment.name == env_name:
            return backend
    raise RunSetupError(f"no environment named {env_name!r} (known: {', '.join(names) or 'none'})")


def _connect(backend):
    adapter = backend.make_adapter()
    if not isinstance(adapter, WritableAdapter):
        raise RunSetupError(f"{backend.environment.name}: this backend cannot run runbooks yet")
    try:
        adapter.connect()
    except AdapterError as error:
        raise RunSetupError(f"{backend.environment.name}: {error.summary}", exit_code=4) from error
    return adapter


def find_key(adapter, target: str) -> WorkloadKey:
    """The workload named ``NAME`` or ``GROUP/NAME`` in the adapter's environment."""
    try:
        snapshot = adapter.snapshot()
    except AdapterError as error:
        raise RunSetupError(f"{adapter.environment.name}: {error.summary}", exit_code=4) from error
    group, _, name = target.rpartition("/")
    keys = {r.workload for r in snapshot.replicas}
    keys |= {spec.key for spec in snapshot.specs or ()}
    keys |= {key for key, _kind in snapshot.kinds}
    matches = {k for k in keys if k.name == name and (not group or k.group == group)}
    if not matches:
        raise RunSetupError(f"{adapter.environment.name}: no workload named {target!r}")
    if len(matches) > 1:
        options = ", ".join(sorted(k.label for k in matches))
        raise RunSetupError(f"{adapter.environment.name}: {target!r} is ambiguous; say GROUP/NAME: {options}")
    return matches.pop()


def prepare_run(
    config,
    *,
    runbook_name: str,
    env_name: str | None,
    workload: str,
    raw_params: dict[str, str],
    read_only: bool = False,
    auto_answer: bool = False,
    interactive: bool = True,
    on_update: Callable[[RunView], None] | None = None,
    runs_dir: Path | None = None,
    key: WorkloadKey | None = None,
    backend=None,
    break_stale_lock: bool = False,
) -> Session:
    from console.runbook.executor import RunExecutor, RunOptions
    from console.runbook.journal import Journal, RunHeader, new_run_id
    from console.runbook.actor import actor
    from console.runbook.templating import ParamError, bind_params, render

    found = runbook_set(config)
    loaded = found.runbooks.get(runbook_name)
    if loaded is None:
        problems = "".join(f"\n{p}" for p in found.problems)
        known = ", ".join(sorted(found.runbooks)) or "none"
        raise RunSetupError(f"no runbook named {runbook_name!r} (known: {known}){problems}")
    backend = backend or _backend(config, env_name, read_only)
    environment = backend.environment
    directory = runs_dir or _runs_dir(config)
    try:
        if environment.read_only:
            raise RunSetupError(
                f"{environment.name} is read-only (read_only: true, or --read-only): runbooks that write are refused"
            )
        try:
            values = bind_params(loaded.runbook, raw_params)
        except ParamError as error:
            raise RunSetupError(f"{runbook_name}: {error}") from error
        adapter = _connect(backend)
    except RunSetupError as refused:
        _journal_refusal(directory, loaded.ref, environment.name, key.label if key else workload, raw_params, refused)
        raise
    try:
        try:
            key = key or find_key(adapter, workload)
        except RunSetupError as refused:
            _journal_refusal(directory, loaded.ref, environment.name, workload, raw_params, refused)
            raise
        observed = _observe(adapter, key)
        run_id = new_run_id()
        who = actor()
        builtins = {
            "workload": key.name,
            "environment": environment.name,
            "current_version": observed.version if observed else "",
            "current_image": observed.image if observed else "",
            "run_id": run_id,
            "actor": who.label,
        }
        try:
            runbook = render(loaded.runbook, {**builtins, **values})
        except ParamError as error:
            # A str param that makes a step invalid once filled in (an image field, say).
            refused = RunSetupError(f"{runbook_name}: {error}")
            _journal_refusal(directory, loaded.ref, environment.name, key.label, raw_params, refused)
            raise refused from error
        header = RunHeader(
            runbook=loaded.ref,
            environment_name=environment.name,
            workload=key.label,
            actor=who,
            service_version=observed.version if observed else "",
        )
        try:
            journal = Journal.create(run_id, header, directory=directory)
        except OSError as error:
            # No journal, no run: nothing has been changed yet.
            raise RunSetupError(
                f"cannot create the run's journal in {directory}: {error.strerror or error} — the run did not start "
                "(free space, or set state_dir in the config to a writable directory)",
                exit_code=2,
            ) from error
        options = RunOptions(
            allow_command_steps=bool(getattr(config, "allow_command_steps", False)),
            auto_answer=auto_answer,
            interactive=interactive,
            break_stale_lock=break_stale_lock,
        )
        executor = RunExecutor(
            _Rendered(loaded, runbook),
            values,
            adapter=adapter,
            environment=environment,
            key=key,
            journal=journal,
            options=options,
            on_update=on_update,
            prometheus=getattr(backend, "make_prometheus", None),
            queries=getattr(backend, "queries", ()),
            image_policy=_image_policy(backend),
        )
    except BaseException:
        adapter.close()
        raise
    return Session(executor, adapter, "run")


def prepare_resume(
    config,
    *,
    run_id: str,
    read_only: bool = False,
    auto_answer: bool = False,
    interactive: bool = True,
    resolution: str | None = None,
    on_update: Callable[[RunView], None] | None = None,
    runs_dir: Path | None = None,
    break_stale_lock: bool = False,
    backend=None,
) -> Session:
    from console.runbook.executor import RunExecutor, RunOptions
    from console.runbook.journal import Journal, JournalBusy, JournalCorrupt, read_journal
    from console.runbook.templating import render

    directory = runs_dir or _runs_dir(config)
    path = _journal_path(run_id, directory)
    if path is None:
        raise RunSetupError(f"no journal for run {run_id!r} (look in `watchfloor history`)")
    try:
        read = read_journal(path)
    except JournalCorrupt as error:
        raise RunSetupError(f"journal of {run_id} is damaged: {error}") from error
    entries = read.entries
    started = next((e for e in entries if e.get("event") == "run.started"), None)
    if started is None:
        raise RunSetupError(f"journal of {run_id} has no run.started entry; nothing to resume")
    name, _, sha = str(started.get("runbook", "")).partition("@")
    found = runbook_set(config)
    loaded = found.runbooks.get(name)
    if loaded is None:
        raise RunSetupError(f"run {run_id} used runbook {name!r}, which no longer exists")
    if sha and loaded.sha256 != sha:
        raise RunSetupError(
            f"runbook {name!r} changed since run {run_id} started (sha256 {sha[:12]}… → {loaded.sha256[:12]}…); "
            "resume needs the definition the run started with — restore it, or abort the run"
        )
    backend = backend or _backend(config, started.get("environment_name"), read_only)
    if backend.environment.read_only:
        refused = RunSetupError(f"{backend.environment.name} is read-only: cannot resume run {run_id}, which writes")
        # Audited like a refused start; the interrupted run's own journal stays as it is.
        _journal_refusal(directory, str(started.get("runbook", "")), backend.environment.name, str(started.get("workload", "")), {"resume": run_id}, refused)
        raise refused
    params = dict((started.get("data") or {}).get("params") or {})
    adapter = _connect(backend)
    try:
        key = find_key(adapter, str(started.get("workload")))
        try:
            journal = Journal.open_existing(path)
        except JournalBusy as error:
            raise RunSetupError(f"run {run_id} is still going on in another process ({error})", exit_code=3) from error
        builtins = {
            "workload": key.name,
            "environment": backend.environment.name,
            "current_version": (started.get("data") or {}).get("from_version", ""),
            "current_image": (started.get("data") or {}).get("from_image", ""),
            "run_id": run_id,
            "actor": journal.header.actor.label,
        }
        runbook = render(loaded.runbook, {**builtins, **params})
        options = RunOptions(
            allow_command_steps=bool(getattr(config, "allow_command_steps", False)),
            auto_answer=auto_answer,
            interactive=interactive,
            resolution=resolution,
            break_stale_lock=break_stale_lock,
        )
        executor = RunExecutor(
            _Rendered(loaded, runbook),
            params,
            adapter=adapter,
            environment=backend.environment,
            key=key,
            journal=journal,
            options=options,
            on_update=on_update,
            prometheus=getattr(backend, "make_prometheus", None),
            queries=getattr(backend, "queries", ()),
            image_policy=_image_policy(backend),
        )
    except BaseException:
        adapter.close()
        raise
    return Session(executor, adapter, "resume", entries)


@dataclass(frozen=True)
class _Rendered:
    """A loaded runbook with its parameters substituted (what the executor walks)."""

    loaded: object
    runbook: object


def _image_policy(backend):
    make = getattr(backend, "make_image_policy", None)
    return make() if make is not None else None


def _journal_refusal(directory: Path | None, runbook_ref: str, environment_name: str, workload: str, params, refused: RunSetupError) -> None:
    """Audit a run that was refused before it could start (read-only environment, bad
    params, unknown workload, backend unreachable): a journal of its own with
    ``run.started`` and ``run.finished`` (aborted, ``refused``), the actor on both, so
    ``history --audit`` lists it as ``run.refused`` like a run refused by a held lock.

    Best effort: a journal that cannot be written must not hide the refusal itself.
    """
    from console.runbook.actor import actor
    from console.runbook.journal import Journal, RunHeader, new_run_id
    from console.runbook.run_view import Outcome, Phase

    reason = str(refused)
    try:
        run_id = new_run_id()
        header = RunHeader(runbook=runbook_ref, environment_name=environment_name, workload=workload, actor=actor())
        with Journal.create(run_id, header, directory=directory) as journal:
            journal.append("run.started", data={"params": dict(params or {}), "steps": [], "refused": True})
            journal.append(
                "run.finished",
                data={"outcome": Outcome.ABORTED.value, "phase": Phase.ABORTED.value, "message": reason, "refused": True},
                error_context=reason,
                deployment_status=Phase.ABORTED.value,
            )
    except (OSError, ValueError):
        return


def _observe(adapter, key):
    try:
        return adapter.observe(key)
    except AdapterError:
        return None


def _runs_dir(config) -> Path | None:
    return None


def _journal_path(run_id: str, directory: Path | None) -> Path | None:
    from console.locations import runs_dir

    if "/" in run_id or run_id.startswith("."):
        return None
    path = (directory or runs_dir()) / f"{run_id}.jsonl"
    return path if path.is_file() else None


__all__ = ["RunSetupError", "Session", "find_key", "prepare_resume", "prepare_run", "runbook_set"]
