"""The run executor: a state machine that walks a runbook's steps against one workload.

It runs in one worker thread (adapters block), journals every step before it proceeds
(DESIGN §5), and takes operator verbs from any thread through ``send()``. Everything
it shows the outside world is a frozen ``RunView`` handed to ``on_update``.

A run is resumable: ``RunExecutor.resume`` replays the journal, marks a step that
started but never finished *interrupted*, calls ``observe()`` and waits for the
operator's redo / done / skip / abort (or takes the recommended one when told to).
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess  # nosec B404 # command steps, off unless allow_command_steps
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from types import SimpleNamespace
from datetime import UTC, datetime, timedelta
from typing import Any

from adapters.base import AdapterError, ErrorKind, LockHolder, Observation, StopSignal, WriteResult
from console.model import Environment, EnvironmentKind, Health, NamedQuery, WorkloadKey
from console.redact import redact_text
from console.runbook.run_view import Outcome, Phase, RunView, StepState, StepView, TimelineEntry

POLL_SECONDS = 1.0
"""How often gates observe the workload and waits look for operator input."""
DEFAULT_GATE_WITHIN = 120.0
ROLLBACK_STEP = "rollback"
"""Step id journaled for the automatic rollback when a step's ``on_fail`` asks for one."""
RESOLUTIONS = ("redo", "done", "skip", "abort")
KILL_HOOK = "WATCHFLOOR_FAULT_KILL_AFTER"
"""Fault injection for the crash tests: ``event:step`` → SIGKILL this process right after
that journal entry is on disk. Documented in docs/runbooks.md; inert when unset."""


class RunRefused(Exception):
    """The run could not start: the lock is held, or the environment refuses writes."""

    def __init__(self, message: str, *, holder: LockHolder | None = None, kind: ErrorKind = ErrorKind.CONFLICT) -> None:
        super().__init__(message)
        self.holder = holder
        self.kind = kind
        self.stale_reason: str | None = None
        """Set when the lock's holder looks gone: the operator may break it (``break_stale_lock``)."""


@dataclass(frozen=True, slots=True)
class Command:
    verb: str
    """pause, resume, retry, skip, abort, undo, note, answer, skip_wait, resolve."""
    arg: Any = None
    actor: str = ""


@dataclass(slots=True)
class RunOptions:
    allow_command_steps: bool = False
    auto_answer: bool = False
    """Headless ``--yes``: confirm steps answer yes, manual checklists are ticked (journaled as such)."""
    interactive: bool = True
    """False for headless runs: a step whose on_fail is ``pause`` ends the run instead
    of waiting for a resume nobody can send (the run stays resumable)."""
    poll_seconds: float = POLL_SECONDS
    resolution: str | None = None
    """For resume without an operator: redo | done | skip | abort | None (recommended)."""
    break_stale_lock: bool = False
    """The operator confirmed breaking a lock whose holder looks gone (journaled as lock.broken)."""


class _StepFailed(Exception):
    def __init__(self, message: str, state: StepState = StepState.FAILED) -> None:
        super().__init__(message)
        self.state = state


class _Aborted(Exception):
    pass


class _Undo(Exception):
    pass


class _Paused(Exception):
    """Headless run hit an on_fail: pause; it ends here and can be resumed."""


class _RunFailed(Exception):
    """A step failed and its on_fail is abort: the run ends Degraded (not Aborted)."""


class _WaitSkipped(Exception):
    pass


class _PolicyRefused(Exception):
    """The image policy refused a step's image: the run ends failed, whatever the step's on_fail."""


class _Jump(Exception):
    """Go on at another step (a full promote skips to the promote step)."""

    def __init__(self, index: int) -> None:
        super().__init__(index)
        self.index = index


class _JournalFailed(Exception):
    """An entry could not be written: the run must not make another change (DESIGN §5)."""


class _Detached(Exception):
    """The console is closing: leave the run unfinished and resumable."""


class RunExecutor:
    """One run of one runbook against one workload."""

    def __init__(
        self,
        loaded,
        params: dict[str, Any],
        *,
        adapter,
        environment: Environment,
        key: WorkloadKey,
        journal,
        options: RunOptions | None = None,
        on_update: Callable[[RunView], None] | None = None,
        prometheus: Callable[[], Any] | None = None,
        queries: tuple[NamedQuery, ...] = (),
        image_policy=None,
    ) -> None:
        from console.image_policy import ImagePolicy

        self.loaded = loaded
        self.runbook = loaded.runbook
        self.params = dict(params)
        self.adapter = adapter
        self.environment = environment
        self.key = key
        self.journal = journal
        self.options = options or RunOptions()
        self._on_update = on_update
        self._actor = journal.header.actor.label
        self._inbox: queue.Queue[Command] = queue.Queue()
        self._stop = StopSignal()
        self._lock_holder: LockHolder | None = None
        self._pending_after_pause: str | None = None
        steps = tuple(StepView(id=s.id, title=_title(s), kind=s.kind) for s in self.runbook.steps)
        self.view = RunView(
            run_id=journal.run_id,
            runbook=self.runbook.name,
            title=self.runbook.title or self.runbook.name,
            environment=environment.name,
            workload=key,
            steps=steps,
            journal=str(journal.path),
            protected=environment.protected,
        )
        self._from_revision: int | None = None
        self._deployed = False
        self._detaching = False
        self._renewing = threading.Event()
        self._confirmed = False
        """A confirm step passed in this run; writes before one get an implicit confirmation."""
        self._prometheus = prometheus
        self._queries = queries
        self._image_policy = image_policy if image_policy is not None else ImagePolicy.default(protected=environment.protected)
        """The environment's ``ImagePolicy``; without one, any image, and protected
        environments pin digests (the executor is the last line, as for confirmations)."""
        self._view_lock = threading.RLock()
        self._background: dict[int, tuple[Any, threading.Event, threading.Thread]] = {}
        """Background gates by step index: the gate, its stop event, its thread."""
        self._journal_error = ""
        """Set once an entry could not be written; every later step refuses to run."""
        self._release: str | None = None
        """The release this run has open: "canary", "bluegreen-idle" (new colour up,
        not live), "bluegreen-live" (switched), or None. Undo and abort clean it up."""

    # -- outside world -------------------------------------------------------------------

    def send(self, verb: str, arg: Any = None, actor: str = "") -> None:
        """Queue an operator verb; safe from any thread."""
        if verb == "detach":
            self._detaching = True
        self._inbox.put(Command(verb, arg, actor))
        if verb in ("abort", "detach"):
            self._stop.set_soon()

    def _publish(self, **changes) -> None:
        # Background gates publish from their own threads.
        with self._view_lock:
            self.view = replace(self.view, **changes)
            if self._on_update is not None:
                self._on_update(self.view)

    def _set_step(self, index: int, **changes) -> None:
        with self._view_lock:
            steps = list(self.view.steps)
            steps[index] = replace(steps[index], **changes)
            self._publish(steps=tuple(steps))

    def _record(self, event: str, *, step: str | None = None, data: dict | None = None, error_context: str | None = None, text: str = "") -> None:
        if self._journal_error:
            raise _JournalFailed(self._journal_error)
        try:
            self.journal.append(
                event,
                step=step,
                data=data,
                error_context=error_context,
                service_version=self.view.to_version or self.view.from_version,
                deployment_status=self.view.phase.value,
            )
        except OSError as error:
            # A write it cannot record is a write it does not make: nothing after this
            # entry may happen, including the write this entry was about to announce.
            self._journal_error = f"cannot write the journal {self.journal.path}: {error.strerror or error}"
            raise _JournalFailed(self._journal_error) from error
        entry = TimelineEntry(datetime.now(UTC), event, step, text or event)
        with self._view_lock:
            self.view = replace(self.view, timeline=(*self.view.timeline, entry)[-200:])
        _maybe_kill(event, step)

    def _phase(self, phase: Phase, message: str) -> None:
        if phase == self.view.phase and message == self.view.message:
            return
        self._publish(phase=phase, message=message)
        self._record("phase.changed", data={"phase": phase.value, "message": message}, text=f"{phase.value}: {message}")

    # -- the run --------------------------------------------------------------------------

    def run(self) -> RunView:
        """Run from the first step to an end phase; returns the final view."""
        observed = self._observe_quietly()
        to_image = str(self.params.get("image") or "")
        self._publish(
            started=datetime.now(UTC),
            from_image=observed.image if observed else "",
            from_version=observed.version if observed else "",
            to_image=to_image,
            to_version=_version_of(to_image) if to_image else "",
        )
        if observed is not None:
            self._from_revision = observed.revision
            self._show_observation(observed)
        try:
            self._record_started()
            if self._refused_up_front():
                return self.view
        except _JournalFailed as failed:
            self._stopped_by_journal(str(failed))
            raise RunRefused(f"{failed}: the run did not start", kind=ErrorKind.BAD_INPUT) from None
        try:
            self._take_lock()
        except RunRefused as refused:
            try:
                self._finish(Phase.ABORTED, str(refused))
            except _JournalFailed as failed:
                self._stopped_by_journal(str(failed))
            raise
        except _JournalFailed as failed:
            self._stopped_by_journal(str(failed))
            raise RunRefused(f"{failed}: the run did not start", kind=ErrorKind.BAD_INPUT) from None
        self._detachable(lambda: (self._phase(Phase.PROGRESSING, f"running {self.view.title} on {self.key.label}"), self._walk(0)))
        return self.view

    def _record_started(self) -> None:
        self._record(
            "run.started",
            data={
                "params": self.params,
                "title": self.view.title,
                "steps": [s.id for s in self.view.steps],
                "from_image": self.view.from_image,
                "from_version": self.view.from_version,
                "to_version": self.view.to_version,
                "from_revision": self._from_revision,
                "protected": self.environment.protected,
            },
            text=f"run started by {self._actor}",
        )

    def _refused_up_front(self) -> bool:
        """Check every image the runbook will write against the policy before anything
        else (no question asked, no lock taken): a refused image ends the run here, failed.

        Digests are resolved later, at the step, so that what is pinned is what the tag
        names when the write happens.
        """
        for index, step in enumerate(self.runbook.steps):
            image = getattr(step, "image", None) if step.kind == "action" else None
            if not image:
                continue
            decision = self._image_policy.decide(str(image))
            if decision.allowed:
                continue
            self._record_refusal(step.id, str(image), decision.rule, decision.reason)
            self._set_step(index, state=StepState.FAILED, message=decision.message)
            self._finish(Phase.DEGRADED, decision.message)
            return True
        return False

    def _record_refusal(self, step_id: str, image: str, rule: str, reason: str) -> None:
        self._record(
            "policy.refused",
            step=step_id,
            data={"image": image, "rule": rule, "reason": reason, "outcome": f"refused: {reason}"},
            error_context=f"{rule}: {reason}",
            text=f"image policy refused {image} ({rule})",
        )

    def _image_for_write(self, step) -> str:
        """The image reference to hand the adapter: checked against the policy and, when
        it requires a digest, pinned to ``repo[:tag]@sha256:…`` (journaled as image.resolved).

        Raises:
            _PolicyRefused: Refused by a pattern, or the digest cannot be resolved.
        """
        from console.image_policy import refusal

        requested = str(step.image)
        decision = self._image_policy.decide(requested)
        if not decision.allowed:
            self._record_refusal(step.id, requested, decision.rule, decision.reason)
            raise _PolicyRefused(decision.message)
        if not decision.needs_digest or decision.image is None:
            return requested
        try:
            digest, source = self._resolve_digest(decision.image)
        except AdapterError as error:
            detail = f" ({error.admin_detail})" if error.admin_detail and error.kind is ErrorKind.FORBIDDEN else ""
            reason = f"cannot resolve digest of {requested}: {error.summary}{detail}"
            self._record_refusal(step.id, requested, "require_digest", reason)
            raise _PolicyRefused(refusal("require_digest", reason)) from error
        pinned = decision.image.pinned(digest)
        self._record(
            "image.resolved",
            step=step.id,
            data={"requested": requested, "digest": digest, "image": pinned, "source": source},
            text=f"{requested} is {digest} ({source})",
        )
        return pinned

    def _resolve_digest(self, image) -> tuple[str, str]:
        """(digest, where it came from) for an image without one; raises ``AdapterError``."""
        from adapters.image_digest import local_repo_digests, registry_digest
        from console.image_policy import DOCKER_HUB, digest_for

        if self.environment.kind is EnvironmentKind.DOCKER and hasattr(self.adapter, "api"):
            # What this engine would run: its local image, when it knows the registry's digest.
            found = digest_for(image, local_repo_digests(self.adapter.api, image.text) or [])
            if found:
                return found, "engine"
            if image.registry == DOCKER_HUB and not image.name.startswith(("docker.io/", "index.docker.io/")):
                raise AdapterError(
                    ErrorKind.NOT_FOUND,
                    "the engine has no registry digest for it (built here and never pushed, or not pulled)",
                    admin_detail=f"push or pull {image.text} first, or pin the digest in the runbook (image@sha256:…)",
                )
        return registry_digest(image.registry, image.path, image.reference), f"registry {image.registry}"

    def _detachable(self, body: Callable[[], object]) -> None:
        try:
            body()
        except _JournalFailed as failed:
            self._stopped_by_journal(str(failed))
        except _Detached:
            self._renewing.set()
            message = f"the console closed during the run — resume with `watchfloor runbook resume {self.view.run_id}`"
            self._record("operator.detach", data={"by": self._actor, "message": message}, text="detached")
            self._publish(message=message, waiting_for=None)
            self.journal.close()

    def _leave_resumable(self, why: str) -> None:
        """End this process's part of the run without ``run.finished``: a paused headless
        run waits for ``watchfloor runbook resume RUN_ID --choice redo|skip|abort``."""
        message = f"{why} (then --choice redo, skip or abort)" if "resume" in why else why
        self._phase(Phase.ABORTED, message)
        self._publish(finished=datetime.now(UTC), current=None, waiting_for=None)
        self._release_lock()
        self.journal.close()

    def _stopped_by_journal(self, why: str) -> None:
        """End the run without another journal entry (there is nowhere to write it)."""
        for _gate, stop, _thread in self._background.values():
            stop.set()
        self._background.clear()
        self._renewing.set()
        if self._lock_holder is not None:
            # Released so the workload is not locked for a ttl; the run stays resumable.
            _quiet(lambda: self.adapter.release_lock(self.key, self._lock_holder))
            self._lock_holder = None
        message = (
            f"stopped: {why} — no further change was made; the workload is as the last journaled "
            f"step left it. Free space (or fix the state dir), then `watchfloor runbook resume {self.view.run_id}`"
        )
        index = self.view.current
        if index is not None and not self.view.steps[index].state.finished:
            self._set_step(index, state=StepState.INTERRUPTED, message="stopped: the journal could not be written")
        self._publish(phase=Phase.ABORTED, message=message, finished=datetime.now(UTC), current=None, waiting_for=None)
        _quiet(self.journal.close)

    def resume(self, entries: list[dict]) -> RunView:
        """Continue a run from its journal ``entries`` (already read and chain-checked)."""
        state = _replay(entries)
        if state.finished:
            raise RunRefused(f"run {self.view.run_id} already finished ({state.outcome})", kind=ErrorKind.BAD_INPUT)
        started = state.started_data
        self._from_revision = started.get("from_revision")
        self._deployed = state.deployed
        self._confirmed = state.confirmed
        self._set_release(state.release)
        steps = list(self.view.steps)
        for index, view in enumerate(steps):
            recorded = state.steps.get(view.id)
            if recorded is not None:
                steps[index] = replace(view, state=recorded, message=state.messages.get(view.id, ""))
        to_image = state.last_resolved or str(self.params.get("image") or "")
        self._publish(
            steps=tuple(steps),
            started=state.started_at,
            from_image=started.get("from_image", ""),
            from_version=started.get("from_version", ""),
            to_image=to_image,
            to_version=_version_of(to_image) if to_image else "",
        )
        try:
            self._record("operator.resume_run", data={"by": self._actor, "pid": os.getpid()}, text="run resumed")
            try:
                self._take_lock()
            except RunRefused as refused:
                self._record("operator.resume-refused", data={"reason": str(refused)})
                raise
        except _JournalFailed as failed:
            self._stopped_by_journal(str(failed))
            raise RunRefused(f"{failed}: the run was not resumed", kind=ErrorKind.BAD_INPUT) from None
        self._detachable(lambda: self._continue(state))
        return self.view

    def _continue(self, state: "_Replayed") -> None:
        self._phase(Phase.PROGRESSING, f"resumed by {self._actor}")
        if state.rolling_back:
            self._roll_back(state.rollback_reason or "resumed rollback")
            return
        if state.interrupted is None:
            index = self._next_after(state)
            if index is None:
                return
            self._walk(index)
            return
        index = self._index_of_step(state.interrupted)
        observed = self._observe_quietly()
        step = self.runbook.steps[index]
        release = None
        if step.kind == "action" and step.verb.startswith(("canary.", "bluegreen.")) and hasattr(self.adapter, "release_state"):
            release = _quiet(lambda: self.adapter.release_state(self.key))
        recommended = _recommend(step, state, observed, self.view, release)
        self._set_step(
            index,
            state=StepState.INTERRUPTED,
            message=f"interrupted; {_describe(observed) if observed else 'workload not observable'}; recommended: {recommended}",
        )
        self._publish(current=index)
        resolution = self._resolution(index, observed, recommended)
        step_id = state.interrupted
        self._record("operator.resolve", step=step_id, data={"resolution": resolution, "recommended": recommended, "observed": observed.to_json() if observed else None})
        if resolution == "abort":
            self._set_step(index, state=StepState.CANCELLED, finished=datetime.now(UTC), message="aborted after the interruption")
            self._record("step.finished", step=step_id, data={"state": "cancelled", "message": "aborted after the interruption"})
            self._finish(Phase.ABORTED, f"aborted at {step_id} after the interruption")
            return
        if resolution in ("done", "skip"):
            final = StepState.PASSED if resolution == "done" else StepState.SKIPPED
            message = "marked done after the interruption" if resolution == "done" else "skipped after the interruption"
            self._set_step(index, state=final, finished=datetime.now(UTC), message=message)
            self._record("step.finished", step=step_id, data={"state": final.value, "message": message})
            if resolution == "done" and self.runbook.steps[index].kind == "action" and self.runbook.steps[index].verb == "deploy":
                self._deployed = True
            index += 1
        self._walk(index)
        return

    def _index_of_step(self, step_id: str) -> int:
        for index, step in enumerate(self.runbook.steps):
            if step.id == step_id:
                return index
        raise RunRefused(f"the journal names step {step_id}, which this runbook does not have", kind=ErrorKind.BAD_INPUT)

    def _next_after(self, state: "_Replayed") -> int | None:
        """Where to go on when the run died between two steps."""
        if state.last_finished is None:
            return 0
        index = self._index_of_step(state.last_finished)
        if state.steps[state.last_finished] in (StepState.PASSED, StepState.SKIPPED):
            return index + 1
        step = self.runbook.steps[index]
        paused_choice = self.options.resolution if self.options.resolution not in (None, "recommended") else None
        if paused_choice and str(getattr(step, "on_fail", "abort")) == "pause" and not self.options.interactive:
            # A headless run that paused on this step: the operator's --choice decides.
            self._record("operator.resolve", step=step.id, data={"resolution": paused_choice, "paused": True})
            if paused_choice == "redo":
                return index
            if paused_choice in ("skip", "done"):
                self._set_step(index, state=StepState.SKIPPED, message=f"{paused_choice} after the pause")
                return index + 1
            self._finish(Phase.ABORTED, f"aborted at {step.id} after the pause")
            return None
        try:
            decision = self._on_fail(index, step, state.messages.get(step.id, "failed"))
        except _Undo as undo:
            self._roll_back(str(undo))
            return None
        except _RunFailed as failed:
            self._finish(Phase.DEGRADED, str(failed))
            return None
        except _Paused as paused:
            self._leave_resumable(str(paused))
            return None
        return index if decision == "retry" else decision

    def _resolution(self, index: int, observed: Observation | None, recommended: str) -> str:
        if self.options.resolution:
            return recommended if self.options.resolution == "recommended" else self.options.resolution
        if not self.options.interactive:
            return recommended
        self._publish(waiting_for="interrupted")
        try:
            while True:
                command = self._inbox.get()
                if command.verb == "resolve" and command.arg in RESOLUTIONS:
                    return str(command.arg)
                if command.verb == "abort":
                    return "abort"
                if command.verb in ("note", "detach"):
                    self._handle_common(command)
        finally:
            self._publish(waiting_for=None)

    def _walk(self, index: int, *, first_resolution: str | None = None) -> None:
        try:
            while index < len(self.view.steps):
                try:
                    self._between_steps()
                    index = self._run_step(index)
                except _Jump as jump:
                    index = jump.index
            self._stop_background_gates("the run's steps are done")
            self._finish(Phase.HEALTHY, self._success_message())
        except _Aborted as aborted:
            self._cancel_current(str(aborted))
            self._stop_background_gates("aborted")
            cleanup = self._close_release_quietly()
            self._finish(Phase.ABORTED, (str(aborted) or "aborted by the operator") + cleanup)
        except _Undo as undo:
            self._cancel_current(str(undo))
            self._stop_background_gates("rolled back")
            self._roll_back(str(undo) or "undone by the operator")
        except _RunFailed as failed:
            self._stop_background_gates("failed")
            if self._release in ("canary", "bluegreen-idle", "bluegreen-live"):
                # A half-done release is never left behind: the failed step ends it.
                self._roll_back(str(failed))
                return
            self._finish(Phase.DEGRADED, str(failed))
        except _Paused as paused:
            self._stop_background_gates("paused headless")
            self._leave_resumable(str(paused))

    def _success_message(self) -> str:
        observed = self._observe_quietly()
        if observed is None:
            return "all steps passed"
        return f"all steps passed — {self.key.name} runs {observed.version or observed.image}, {observed.ready}/{observed.desired} ready"

    def _finish(self, phase: Phase, message: str, *, release: bool = True) -> None:
        self._phase(phase, message)
        self._publish(finished=datetime.now(UTC), current=None, waiting_for=None)
        if release:
            self._release_lock()
        outcome = self.view.outcome
        self._record(
            "run.finished",
            data={
                "outcome": outcome.value if outcome else None,
                "phase": phase.value,
                "message": message,
                "from_version": self.view.from_version,
                "to_version": self.view.to_version,
            },
            text=f"finished: {outcome.value if outcome else phase.value} — {message}",
        )
        self.journal.close()
        self._publish()

    # -- locks ----------------------------------------------------------------------------

    def _take_lock(self) -> None:
        holder = LockHolder(
            holder=self._actor,
            run_id=self.view.run_id,
            pid=os.getpid(),
            host=os.uname().nodename,
            started=datetime.now(UTC),
        )
        try:
            current = self.adapter.lock_holder(self.key)
            if current is not None and current.run_id == self.view.run_id:
                # Our own lock, left by the process this resume replaces.
                self.adapter.break_lock(self.key)
                self._record("lock.broken", data={"holder": current.to_json(), "reason": "resumed by the same run"})
            try:
                self._lock_holder = self.adapter.acquire_lock(self.key, holder)
            except AdapterError as error:
                stale = getattr(error, "stale_reason", None)
                if not (stale and self.options.break_stale_lock):
                    raise
                # The operator confirmed breaking a lock whose holder is gone: on the record.
                broken = self.adapter.break_lock(self.key)
                self._record(
                    "lock.broken",
                    data={"holder": broken.to_json() if broken else None, "why": stale, "by": self._actor},
                    text=f"stale lock broken ({stale})",
                )
                self._lock_holder = self.adapter.acquire_lock(self.key, holder)
        except AdapterError as error:
            if error.kind in (ErrorKind.CONFLICT, ErrorKind.READ_ONLY):
                held = getattr(error, "holder", None) or _quiet(lambda: self.adapter.lock_holder(self.key))
                refused = RunRefused(error.summary, holder=held, kind=error.kind)
                refused.stale_reason = getattr(error, "stale_reason", None)
                raise refused from error
            raise RunRefused(error.summary, kind=error.kind) from error
        self._record("lock.acquired", data={"holder": self._lock_holder.to_json()}, text="lock acquired")
        threading.Thread(target=self._renew_lock_loop, args=(self._lock_holder,), name="lock-renewal", daemon=True).start()

    def _renew_lock_loop(self, holder: LockHolder) -> None:
        """Renew the lock at a third of its ttl, so others can tell a live run from a dead one."""
        interval = max(1.0, holder.ttl_seconds / 3)
        while not self._renewing.wait(interval):
            try:
                self.adapter.renew_lock(self.key, holder)
            except AdapterError:
                # Someone broke the lock, or the backend blips; the run's next write
                # is still guarded by the backend, and the break itself is journaled
                # by whoever broke it.
                pass

    def _release_lock(self) -> None:
        self._renewing.set()
        if self._lock_holder is None:
            return
        try:
            self.adapter.release_lock(self.key, self._lock_holder)
            self._record("lock.released", data={"holder": self._lock_holder.to_json()})
        except AdapterError as error:
            self._record("lock.released", data={"holder": self._lock_holder.to_json()}, error_context=error.summary)
        self._lock_holder = None

    # -- operator verbs between and inside steps ------------------------------------------

    def _between_steps(self) -> None:
        """Handle queued verbs; a pause blocks here until resume/abort/undo."""
        while True:
            try:
                command = self._inbox.get_nowait()
            except queue.Empty:
                return
            self._handle_common(command)
            if command.verb == "pause":
                self._pause_loop("paused by the operator")

    def _handle_common(self, command: Command) -> None:
        actor = command.actor or self._actor
        if command.verb == "detach":
            raise _Detached()
        if command.verb == "background_gate":
            index, message = command.arg
            if index in self._background:
                self._background_failed(index, message)
            return
        if command.verb == "promote_full":
            self._promote_full(command)
            return
        if command.verb == "note":
            self._record("operator.note", data={"text": str(command.arg or ""), "by": actor}, text=f"note: {command.arg}")
        elif command.verb == "abort":
            self._record("operator.abort", data={"reason": str(command.arg or ""), "by": actor}, text="abort")
            raise _Aborted(f"aborted by {actor}" + (f": {command.arg}" if command.arg else ""))
        elif command.verb == "undo":
            self._record("operator.undo", data={"reason": str(command.arg or ""), "by": actor}, text="undo")
            raise _Undo(f"undone by {actor}" + (f": {command.arg}" if command.arg else ""))

    def _promote_full(self, command: Command) -> None:
        """Skip every step up to the promote step (Argo's ``promote --full``); needs a reason."""
        by = command.actor or self._actor
        reason = str(command.arg or "").strip()
        current = self.view.current if self.view.current is not None else 0
        if not reason:
            self._record("operator.promote_full", data={"by": by, "refused": "no reason given"}, text="full promote refused: give a reason")
            return
        target = next(
            (
                i
                for i, step in enumerate(self.runbook.steps)
                if i >= current and step.kind == "action" and step.verb in ("canary.promote", "bluegreen.switch")
            ),
            None,
        )
        if target is None:
            self._record("operator.promote_full", data={"by": by, "reason": reason, "refused": "no promote step ahead"}, text="full promote: no promote step ahead")
            return
        self._record("operator.promote_full", data={"by": by, "reason": reason, "to": self.runbook.steps[target].id}, text=f"promoted fully by {by}: {reason}")
        self._stop_background_gates(f"promoted fully by {by}")
        why = f"skipped: promoted fully by {by}: {reason}"
        for i in range(current, target):
            if not self.view.steps[i].state.finished:
                self._set_step(i, state=StepState.SKIPPED, message=why, finished=datetime.now(UTC), deadline=None)
                self._record("step.finished", step=self.runbook.steps[i].id, data={"state": "skipped", "message": why})
        # The promote step itself still asks for its confirmation if it is a write
        # before any confirm: a reason is not a yes.
        raise _Jump(target)

    def _pause_loop(self, why: str, *, failed_step: int | None = None) -> str:
        """Wait in Paused until the operator resumes; returns resume | retry | skip."""
        self._phase(Phase.PAUSED, why)
        self._publish(waiting_for="paused")
        self._record("operator.pause", data={"why": why})
        while True:
            command = self._inbox.get()
            self._handle_common(command)
            if command.verb in ("resume", "retry", "skip"):
                self._record(f"operator.{command.verb}", data={"arg": command.arg, "by": command.actor or self._actor})
                self._publish(waiting_for=None)
                self._phase(Phase.PROGRESSING, f"{command.verb} by {command.actor or self._actor}")
                return command.verb

    def _check_inbox(self, index: int) -> None:
        """Inside a step: abort/undo interrupt it, pause is kept for after it, notes are journaled."""
        while True:
            try:
                command = self._inbox.get_nowait()
            except queue.Empty:
                return
            if command.verb == "pause":
                self._inbox.put(command)  # taken up between steps
                return
            if command.verb == "skip":
                self._record("operator.skip", step=self.view.steps[index].id, data={"reason": str(command.arg or "")})
                raise _StepFailed(f"skipped: {command.arg or 'no reason given'}", StepState.SKIPPED)
            if command.verb == "skip_wait":
                raise _WaitSkipped()
            if command.verb == "promote":
                by = command.actor or self._actor
                self._record("operator.promote", step=self.view.steps[index].id, data={"by": by, "reason": str(command.arg or "")}, text=f"promoted by {by}")
                raise _StepFailed(f"promoted by {by}: step skipped", StepState.SKIPPED)
            self._handle_common(command)

    # -- steps --------------------------------------------------------------------------

    def _run_step(self, index: int) -> int:
        """Run one step (with retries the operator asks for); return the next index."""
        step = self.runbook.steps[index]
        while True:
            self._publish(current=index)
            self._set_step(index, state=StepState.RUNNING, started=datetime.now(UTC), finished=None, message="", detail=())
            self._record("step.started", step=step.id, data={"kind": step.kind, "title": _title(step)}, text=f"{step.id} started")
            try:
                state, message = self._execute(index, step)
            except _StepFailed as failure:
                state, message = failure.state, str(failure)
            except _PolicyRefused as refused:
                # Not a failure a retry, a skip or a goto could mend: the run ends here.
                self._set_step(index, state=StepState.FAILED, message=str(refused), finished=datetime.now(UTC), deadline=None)
                self._record("step.finished", step=step.id, data={"state": "failed", "message": str(refused)}, text=f"{step.id}: failed — {refused}")
                raise _RunFailed(str(refused)) from None
            if state is StepState.RUNNING:
                # A background gate: it goes on measuring beside the later steps.
                # Its step.finished is journaled when it ends; its measurements meanwhile.
                self._set_step(index, message=message, deadline=None)
                return index + 1
            self._set_step(index, state=state, message=message, finished=datetime.now(UTC), deadline=None)
            self._record("step.finished", step=step.id, data={"state": state.value, "message": message}, text=f"{step.id}: {state.value} — {message}")
            if state in (StepState.PASSED, StepState.SKIPPED):
                return index + 1
            decision = self._on_fail(index, step, message)
            if decision == "retry":
                continue
            return decision

    def _on_fail(self, index: int, step, message: str):
        on_fail = str(getattr(step, "on_fail", "abort") or "abort")
        if on_fail == "continue":
            return index + 1
        if on_fail.startswith("goto:"):
            return self._index_of(on_fail.split(":", 1)[1])
        if on_fail == "rollback":
            raise _Undo(f"{step.id} failed: {message}")
        if on_fail == "pause":
            if not self.options.interactive:
                raise _Paused(f"{step.id} failed: {message} — paused; resume with `watchfloor runbook resume {self.view.run_id}`")
            verb = self._pause_loop(f"{step.id} failed: {message}", failed_step=index)
            if verb == "retry":
                return "retry"
            if verb == "skip":
                self._set_step(index, state=StepState.SKIPPED)
            return index + 1
        raise _RunFailed(f"{step.id} failed: {message}")

    def _index_of(self, step_id: str) -> int:
        for index, step in enumerate(self.runbook.steps):
            if step.id == step_id:
                return index
        raise _RunFailed(f"goto target {step_id} does not exist")

    def _execute(self, index: int, step) -> tuple[StepState, str]:
        kind = step.kind
        if kind == "action":
            return self._action(index, step)
        if kind == "gate":
            return self._gate(index, step)
        if kind == "wait":
            return self._wait(index, step)
        if kind in ("manual", "confirm"):
            return self._ask(index, step)
        if kind == "command":
            return self._command(index, step)
        if hasattr(step, "plugin_options"):
            return self._plugin_step(index, step)
        raise _StepFailed(f"unknown step kind {kind!r}")

    def _plugin_step(self, index: int, step) -> tuple[StepState, str]:
        """A ``watchfloor.steps`` plugin's step, journaled like an adapter write: the
        request before it runs, the result after (so resume never runs it twice blindly)."""
        from console.plugins import STEP_GROUP, StepContext, StepFailed, describe_kinds, step_runner

        runner = step_runner(step.kind)
        if runner is None:
            raise _StepFailed(f"no installed plugin runs kind: {step.kind} ({describe_kinds(STEP_GROUP, step.kind)})")
        options = step.plugin_options()
        request = {"verb": f"plugin:{step.kind}", "options": dict(step.model_extra or {})}
        self._record("adapter.call", step=step.id, data={"request": request, "sent": True}, text=f"{step.kind} started")
        context = StepContext(
            environment=self.environment,
            workload=self.key,
            adapter=self.adapter,
            timeout=_seconds(step.timeout),
            stop=self._stop,
            progress=lambda sentence: self._set_step(index, detail=(*self.view.steps[index].detail, str(sentence))[-8:]),
        )
        try:
            message = str(runner(options, context) or f"{step.kind} passed")
        except StepFailed as failed:
            self._record("adapter.call", step=step.id, data={"request": request, "error": {"summary": str(failed)}}, error_context=str(failed))
            raise _StepFailed(str(failed)) from None
        except Exception as error:  # noqa: BLE001 (a plugin's bug fails its step, not the run's thread)
            summary = f"the {step.kind} plugin crashed: {type(error).__name__}: {error}"
            self._record("adapter.call", step=step.id, data={"request": request, "error": {"summary": summary}}, error_context=summary)
            raise _StepFailed(summary) from None
        self._record("adapter.call", step=step.id, data={"request": request, "result": {"message": message}}, text=message)
        return StepState.PASSED, message

    # action ---------------------------------------------------------------------------

    def _action(self, index: int, step) -> tuple[StepState, str]:
        verb = step.verb
        # Checked (and pinned) before the confirmation: nobody is asked to confirm a write
        # that will be refused, and what they confirm is the digest that will run.
        image = self._image_for_write(step) if getattr(step, "image", None) else ""
        if not self._confirmed:
            self._confirm_write(index, step, image)
        timeout = _seconds(getattr(step, "timeout", None)) or 300.0
        request: dict[str, Any] = {"verb": verb, "workload": self.key.label, "environment": self.environment.name}

        def progress(sentence: str) -> None:
            self._set_step(index, detail=(*self.view.steps[index].detail, sentence)[-8:])

        if verb == "deploy":
            request |= {"image": image, "strategy": getattr(step, "strategy", "auto") or "auto"}
            self._publish(to_image=image, to_version=_version_of(image))
            call = lambda: self.adapter.deploy(  # noqa: E731
                self.key,
                image,
                strategy=request["strategy"],
                timeout=timeout,
                change_cause=f"watchfloor {self.runbook.name} {self.view.run_id} by {self._actor}",
                progress=progress,
                stop=self._stop,
            )
        elif verb == "rollback":
            revision = getattr(step, "to_revision", None)
            request |= {"to_revision": revision}
            call = lambda: self.adapter.rollback(self.key, _int_or_none(revision), timeout=timeout, progress=progress, stop=self._stop)  # noqa: E731
        elif verb == "restart":
            call = lambda: self.adapter.restart(self.key, timeout=timeout, progress=progress, stop=self._stop)  # noqa: E731
        elif verb == "scale":
            request |= {"replicas": int(step.replicas)}
            call = lambda: self.adapter.scale(self.key, int(step.replicas), timeout=timeout, progress=progress, stop=self._stop)  # noqa: E731
        elif verb.startswith(("canary.", "bluegreen.")):
            call = self._release_call(step, request, image=image, timeout=timeout, progress=progress)
        else:
            raise _StepFailed(f"this backend has no {verb!r} action")
        result = self._adapter_call(step.id, request, call)
        self._set_release(_release_after(verb, self._release))
        if verb in ("canary.promote", "bluegreen.switch"):
            self._deployed = True
        if verb == "deploy":
            self._deployed = True
        elif verb == "rollback" and result.to_version:
            self._publish(to_version=result.to_version, to_image=str(result.detail.get("image_after") or ""))
        return StepState.PASSED, result.message

    def _release_call(self, step, request: dict[str, Any], *, image: str, timeout: float, progress) -> Callable[[], WriteResult]:
        """The adapter call of a canary or blue-green verb (``request`` gets its arguments)."""
        verb = step.verb
        method = getattr(self.adapter, verb.replace(".", "_"), None)
        if method is None:
            raise _StepFailed(f"{self.environment.name} ({self.environment.kind.value}) has no {verb} action")
        cause = f"watchfloor {self.runbook.name} {self.view.run_id} by {self._actor}"
        common = {"timeout": timeout, "progress": progress, "stop": self._stop}
        if verb == "canary.start":
            request |= {"image": image, "weight": int(step.weight)}
            self._publish(to_image=image, to_version=_version_of(image))
            return lambda: method(self.key, image, int(step.weight), change_cause=cause, **common)
        if verb == "canary.set_weight":
            request |= {"weight": int(step.weight)}
            return lambda: method(self.key, int(step.weight), **common)
        if verb == "bluegreen.deploy":
            request |= {"image": image}
            self._publish(to_image=image, to_version=_version_of(image))
            return lambda: method(self.key, image, change_cause=cause, **common)
        if verb == "canary.promote":
            return lambda: method(self.key, change_cause=cause, **common)
        return lambda: method(self.key, **common)

    def _set_release(self, release: str | None) -> None:
        self._release = release
        if release != (self.view.release or None):
            self._publish(release=release or "")

    def _close_release_quietly(self) -> str:
        """After an operator abort: take an open release back; returns what was done, for the message."""
        if not self._release:
            return ""
        try:
            return "; " + self._close_release("aborted")
        except (_StepFailed, AdapterError) as error:
            return f"; cleaning up the {self._release} failed: {error} — check {self.key.label}"

    def _close_release(self, why: str) -> str:
        """Put traffic and replicas back as they were before the release; journaled like any write."""
        release = self._release
        calls: list[str] = []
        if release == "bluegreen-live":
            calls = ["bluegreen.switch_back", "bluegreen.abort"]
        elif release == "bluegreen-idle":
            calls = ["bluegreen.abort"]
        elif release == "canary":
            calls = ["canary.abort"]
        messages = []
        for verb in calls:
            method = getattr(self.adapter, verb.replace(".", "_"))
            request = {"verb": verb, "workload": self.key.label, "environment": self.environment.name, "why": why}
            result = self._adapter_call(ROLLBACK_STEP, request, lambda method=method: method(self.key, timeout=300.0, progress=None, stop=None))
            self._set_release(_release_after(verb, self._release))
            messages.append(result.message)
        return "; ".join(messages)

    def _confirm_write(self, index: int, step, image: str = "") -> None:
        """Every write asks (DESIGN §7): a runbook without a confirm step before its first
        action gets one here, worded from the action (``image``: as it will be written)."""
        image = image or getattr(step, "image", "") or ""
        what = {
            "deploy": f"deploy {image} to",
            "rollback": "roll back",
            "restart": "restart every replica of",
            "scale": f"scale to {getattr(step, 'replicas', '?')} replicas:",
            "canary.start": f"start a {getattr(step, 'weight', '?')} % canary of {image} for",
            "canary.set_weight": f"set the canary weight to {getattr(step, 'weight', '?')} % for",
            "canary.promote": "promote the canary of",
            "canary.abort": "abort the canary of",
            "bluegreen.deploy": f"deploy {image} as the idle colour of",
            "bluegreen.switch": "switch traffic to the new colour of",
            "bluegreen.switch_back": "switch traffic back for",
            "bluegreen.scale_down": "scale down the old colour of",
            "bluegreen.abort": "remove the idle colour of",
        }.get(step.verb, step.verb)
        question = SimpleNamespace(
            id=step.id,
            kind="confirm",
            prompt=f"{self.view.title}: {what} {self.key.label} in {self.environment.name}?",
            timeout=None,
        )
        try:
            self._ask(index, question)
        except _StepFailed as declined:
            raise _Aborted(f"{step.id}: not confirmed ({declined})") from declined
        self._set_step(index, state=StepState.RUNNING, detail=())

    def _adapter_call(self, step_id: str, request: dict, call: Callable[[], WriteResult]) -> WriteResult:
        # The request is on disk before the backend hears of it, so a resume knows a
        # write may have happened even if the process dies mid-call.
        self._record("adapter.call", step=step_id, data={"request": request, "sent": True}, text=f"{request['verb']} sent")
        try:
            result = call()
        except AdapterError as error:
            if self._detaching:
                raise _Detached() from error
            self._record(
                "adapter.call",
                step=step_id,
                data={"request": request, "error": {"kind": error.kind.value, "summary": error.summary, "admin_detail": error.admin_detail}},
                error_context=error.summary,
                text=f"{request['verb']} failed: {error.summary}",
            )
            self._check_inbox_quiet()
            raise _StepFailed(error.summary) from error
        self._record("adapter.call", step=step_id, data={"request": request, "result": result.to_json()}, text=result.message)
        self._show_observation(self._observe_quietly())
        return result

    def _check_inbox_quiet(self) -> None:
        if self._stop.is_set():
            # The call was stopped because the operator aborted: surface that, not the error.
            while True:
                try:
                    command = self._inbox.get_nowait()
                except queue.Empty:
                    return
                self._handle_common(command)

    # gate -----------------------------------------------------------------------------

    def _gate(self, index: int, step) -> tuple[StepState, str]:
        gate_type = getattr(step, "type", "health")
        if gate_type == "prometheus":
            return self._prometheus_gate(index, step)
        if gate_type != "health":
            raise _StepFailed(f"gate type {gate_type!r} is not supported")
        within = _seconds(getattr(step, "within", None)) or _seconds(getattr(step, "timeout", None)) or DEFAULT_GATE_WITHIN
        stable_for = _seconds(getattr(step, "stable_for", None)) or 0.0
        expect_image = self.view.to_image if self._deployed else ""
        return self._health_gate(index, step.id, within=within, stable_for=stable_for, expect_image=expect_image)

    def _health_gate(self, index: int, step_id: str, *, within: float, stable_for: float, expect_image: str) -> tuple[StepState, str]:
        deadline = time.monotonic() + within
        self._set_step(index, deadline=time.time() + within)
        healthy_since: float | None = None
        last: tuple | None = None
        errors = 0
        observation: Observation | None = None
        while True:
            self._check_inbox(index)
            try:
                observation = self.adapter.observe(self.key)
                errors = 0
            except AdapterError as error:
                errors += 1
                self._record("gate.measurement", step=step_id, data={"error": error.summary}, error_context=error.summary)
                if errors >= 3:
                    raise _StepFailed(f"cannot observe {self.key.label}: {error.summary}", StepState.INCONCLUSIVE) from error
                observation = None
            if observation is not None:
                self._show_observation(observation)
                good = _is_healthy(observation, expect_image)
                measurement = (observation.health.value, observation.ready, observation.desired, observation.image, observation.reason, good)
                if measurement != last:
                    last = measurement
                    self._record(
                        "gate.measurement",
                        step=step_id,
                        data={"observed": observation.to_json(), "pass": good},
                        text=f"{'pass' if good else 'not yet'}: {_describe(observation)}",
                    )
                    self._set_step(index, detail=(_describe(observation),))
                now = time.monotonic()
                if good:
                    healthy_since = healthy_since or now
                    if now - healthy_since >= stable_for:
                        return StepState.PASSED, f"healthy: {_describe(observation)}"
                else:
                    healthy_since = None
                    if observation.health == Health.FAILED:
                        raise _StepFailed(f"failed: {_describe(observation)}")
            if time.monotonic() >= deadline:
                what = _describe(observation) if observation else "never observed"
                raise _StepFailed(f"not healthy within {_human(within)}: {what}")
            self._sleep(self.options.poll_seconds, index)

    # Prometheus gates -------------------------------------------------------------------

    def _make_prometheus_gate(self, step):
        from console.runbook.prometheus_gate import GateUnavailable, PrometheusGate, fill_query

        try:
            query, unit = fill_query(step, self.key, version=self.view.to_version, queries=self._queries)
        except GateUnavailable as error:
            raise _StepFailed(str(error)) from None
        return PrometheusGate(step, query, unit, self._prometheus)

    def _take_measurement(self, index: int, gate) -> None:
        measurement = gate.measure()
        line = gate.describe(measurement)
        self._record(
            "gate.measurement",
            step=gate.step.id,
            data={"query": gate.query, **measurement.to_json(), "phase": gate.state.phase.value},
            error_context=measurement.message if measurement.value is None else None,
            text=line,
        )
        self._set_step(index, gate=gate.view(), detail=(*self.view.steps[index].detail, line)[-8:])

    def _prometheus_gate(self, index: int, step) -> tuple[StepState, str]:
        gate = self._make_prometheus_gate(step)
        self._set_step(index, gate=gate.view(), detail=(f"query: {gate.query}",))
        if step.background:
            stop = threading.Event()
            thread = threading.Thread(target=self._background_gate, args=(index, gate, stop), name=f"gate-{step.id}", daemon=True)
            self._background[index] = (gate, stop, thread)
            thread.start()
            return StepState.RUNNING, f"measuring in the background every {_human(gate.state.interval)}"
        try:
            while not gate.done:
                delay = gate.state.next_delay() or 0.0
                if delay:
                    self._set_step(index, deadline=time.time() + delay)
                    self._sleep(delay, index)
                self._take_measurement(index, gate)
        except _StepFailed as failure:
            if failure.state is StepState.SKIPPED:
                gate.stop("skipped by the operator")
                self._set_step(index, gate=gate.view())
            raise
        finally:
            gate.close()
        return self._gate_outcome(gate)

    @staticmethod
    def _gate_outcome(gate) -> tuple[StepState, str]:
        from console.runbook.analysis import Phase as GatePhase

        phase, counts = gate.state.phase, gate.state.counts
        summary = f"{gate.state.message} ({counts})"
        if phase is GatePhase.SUCCESSFUL:
            return StepState.PASSED, f"passed: {summary}"
        if phase is GatePhase.INCONCLUSIVE:
            return StepState.INCONCLUSIVE, f"inconclusive: {summary}"
        if phase is GatePhase.ERROR:
            last = gate.state.measurements[-1].message if gate.state.measurements else ""
            return StepState.FAILED, f"error: {summary}" + (f"; last: {last}" if last else "")
        return StepState.FAILED, f"failed: {summary}"

    def _background_gate(self, index: int, gate, stop: threading.Event) -> None:
        try:
            while not gate.done and not stop.is_set():
                delay = gate.state.next_delay() or 0.0
                if stop.wait(delay):
                    break
                self._take_measurement(index, gate)
        except Exception as error:  # noqa: BLE001 - a gate thread must never die silently
            self._inbox.put(Command("background_gate", (index, f"gate thread failed: {error}"), "watchfloor"))
            return
        finally:
            gate.close()
        if gate.done and not stop.is_set():
            state, message = self._gate_outcome(gate)
            if state is not StepState.PASSED:
                self._inbox.put(Command("background_gate", (index, message), "watchfloor"))

    def _stop_background_gates(self, reason: str) -> None:
        """End every background gate (run over, promoted, undone) and record how each ended."""
        for index, (gate, stop, thread) in list(self._background.items()):
            stop.set()
            thread.join(timeout=10)
            gate.stop(reason)
            state, message = self._gate_outcome(gate)
            if state is StepState.PASSED or self.view.steps[index].state is StepState.RUNNING:
                self._set_step(index, state=state, message=message, gate=gate.view(), finished=datetime.now(UTC))
                self._record("step.finished", step=gate.step.id, data={"state": state.value, "message": message}, text=f"{gate.step.id}: {state.value} — {message}")
        self._background.clear()

    def _background_failed(self, index: int, message: str) -> None:
        """A background gate decided against the release while another step runs."""
        gate, stop, _thread = self._background.pop(index)
        stop.set()
        step = self.runbook.steps[index]
        state = StepState.INCONCLUSIVE if message.startswith("inconclusive") else StepState.FAILED
        self._set_step(index, state=state, message=message, gate=gate.view(), finished=datetime.now(UTC))
        self._record("step.finished", step=step.id, data={"state": state.value, "message": message}, text=f"{step.id}: {state.value} — {message}")
        decision = self._on_fail(index, step, message)
        if decision == "retry":
            # Measure afresh beside whatever runs now.
            self._prometheus_gate(index, step)
            self._set_step(index, state=StepState.RUNNING, finished=None)

    def _sleep(self, seconds: float, index: int) -> None:
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            try:
                command = self._inbox.get(timeout=min(left, 0.2))
            except queue.Empty:
                continue
            self._inbox.put(command)
            self._check_inbox(index)

    # wait -----------------------------------------------------------------------------

    def _wait(self, index: int, step) -> tuple[StepState, str]:
        duration = _seconds(getattr(step, "duration", None)) or 0.0
        self._set_step(index, state=StepState.WAITING_TIMER, deadline=time.time() + duration)
        try:
            self._sleep(duration, index)
        except _WaitSkipped:
            if getattr(step, "skippable", True):
                self._record("operator.skip_wait", step=step.id, data={})
                return StepState.PASSED, "wait skipped by the operator"
        return StepState.PASSED, f"waited {_human(duration)}"

    # manual and confirm ---------------------------------------------------------------

    def _ask(self, index: int, step) -> tuple[StepState, str]:
        if step.kind == "confirm":
            prompt = getattr(step, "prompt", "") or f"Proceed with {self.view.title} on {self.key.label} in {self.environment.name}?"
            detail = (prompt,)
        else:
            detail = (getattr(step, "instructions", "") or "", *[f"[ ] {item}" for item in getattr(step, "checklist", [])])
        if self.options.auto_answer:
            self._record(f"operator.{'confirm' if step.kind == 'confirm' else 'done'}", step=step.id, data={"by": "--yes", "auto": True})
            self._confirmed = self._confirmed or step.kind == "confirm"
            return StepState.PASSED, "answered yes by --yes" if step.kind == "confirm" else "ticked by --yes"
        if not self.options.interactive:
            raise _StepFailed(f"{step.kind} step needs an operator (pass --yes, or run it in the console)")
        timeout = _seconds(getattr(step, "timeout", None))
        deadline = time.monotonic() + timeout if timeout else None
        self._set_step(index, state=StepState.WAITING_INPUT, detail=detail, deadline=time.time() + timeout if timeout else None)
        self._publish(waiting_for=step.kind)
        try:
            while True:
                try:
                    command = self._inbox.get(timeout=0.2)
                except queue.Empty:
                    if deadline is not None and time.monotonic() >= deadline:
                        raise _StepFailed(f"no answer within {_human(timeout)}") from None
                    continue
                if command.verb == "answer":
                    return self._answer(step, command)
                self._inbox.put(command)
                self._check_inbox(index)
        finally:
            self._publish(waiting_for=None)

    def _answer(self, step, command: Command) -> tuple[StepState, str]:
        answer = command.arg if isinstance(command.arg, dict) else {"yes": bool(command.arg)}
        by = command.actor or self._actor
        if step.kind == "confirm":
            yes = bool(answer.get("yes"))
            if yes and self.environment.protected and answer.get("typed") != self.environment.name:
                # The UI checks this too; the executor is the last line, so it checks again.
                self._record("operator.confirm", step=step.id, data={"yes": False, "by": by, "why": "environment name not typed"})
                raise _StepFailed(f"{self.environment.name} is protected: type its name to confirm")
            self._record("operator.confirm", step=step.id, data={"yes": yes, "by": by})
            if not yes:
                raise _StepFailed(f"declined by {by}")
            self._confirmed = True
            return StepState.PASSED, f"confirmed by {by}"
        checked = list(answer.get("checked") or [])
        self._record("operator.done", step=step.id, data={"checked": checked, "by": by})
        return StepState.PASSED, f"done by {by} ({len(checked)} ticked)"

    # command --------------------------------------------------------------------------

    def _command(self, index: int, step) -> tuple[StepState, str]:
        command = str(step.run)
        self._set_step(index, detail=(f"$ {redact_text(command)}",))
        if not self.options.allow_command_steps:
            raise _StepFailed("command steps are off: set allow_command_steps: true in the config to run them")
        timeout = _seconds(getattr(step, "timeout", None)) or 300.0
        self._record("adapter.call", step=step.id, data={"request": {"verb": "command", "run": redact_text(command)}, "sent": True})
        try:
            completed = subprocess.run(  # nosec B603 # the runbook's shown command, argv list, opt-in
                [getattr(step, "shell", None) or "/bin/sh", "-c", command],
                capture_output=True,
                text=True,
                timeout=timeout,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as error:
            raise _StepFailed(f"command did not finish within {_human(timeout)}") from error
        except OSError as error:
            raise _StepFailed(f"command could not start: {error}") from error
        output = redact_text((completed.stdout + completed.stderr)[-4000:])
        self._record("adapter.call", step=step.id, data={"request": {"verb": "command"}, "result": {"exit_code": completed.returncode, "output": output}})
        self._set_step(index, detail=(f"$ {redact_text(command)}", *output.splitlines()[-6:]))
        if completed.returncode != 0:
            raise _StepFailed(f"command exited {completed.returncode}")
        return StepState.PASSED, "command exited 0"

    # rollback -------------------------------------------------------------------------

    def _roll_back(self, why: str) -> None:
        """Put the version the run started from back, then check it is healthy."""
        self._phase(Phase.PROGRESSING, f"rolling back: {why}")
        steps = [s for s in self.view.steps if s.id != ROLLBACK_STEP]
        title = {
            "canary": "Abort the canary (stable untouched)",
            "bluegreen-idle": "Remove the new colour (live untouched)",
            "bluegreen-live": "Switch traffic back, remove the new colour",
        }.get(self._release or "", "Roll back to the version before the run")
        steps.append(StepView(id=ROLLBACK_STEP, title=title, kind="action"))
        index = len(steps) - 1
        self._publish(steps=tuple(steps), current=index)
        self._set_step(index, state=StepState.RUNNING, started=datetime.now(UTC))
        self._record("step.started", step=ROLLBACK_STEP, data={"kind": "action", "why": why})
        try:
            if self._release:
                message = self._close_release(why)
                self._deployed = False
                state, gate_message = self._health_gate(index, ROLLBACK_STEP, within=DEFAULT_GATE_WITHIN, stable_for=0.0, expect_image=self.view.from_image)
                self._set_step(index, state=state, message=message, finished=datetime.now(UTC))
                self._record("step.finished", step=ROLLBACK_STEP, data={"state": state.value, "message": message})
                self._finish(Phase.ROLLED_BACK, f"{why} — {message}; {self.key.name} runs {self.view.from_version or self.view.from_image}")
                return
            observed = self._observe_quietly()
            if observed is not None and self.view.from_image and observed.image == self.view.from_image and observed.rollout_complete:
                message = f"{self.key.name} still runs {self.view.from_version or self.view.from_image}: nothing to undo"
                self._record("adapter.call", step=ROLLBACK_STEP, data={"request": {"verb": "rollback"}, "skipped": message})
            else:
                request = {"verb": "rollback", "workload": self.key.label, "to_revision": self._from_revision}
                result = self._adapter_call(
                    ROLLBACK_STEP,
                    request,
                    lambda: self.adapter.rollback(self.key, self._from_revision, timeout=300.0, progress=None, stop=None),
                )
                message = result.message
            self._deployed = False
            state, gate_message = self._health_gate(index, ROLLBACK_STEP, within=DEFAULT_GATE_WITHIN, stable_for=0.0, expect_image=self.view.from_image)
        except (_StepFailed, _Aborted, _Undo) as failure:
            if _unreachable(failure):
                self._rollback_pending(index, why, failure)
                return
            self._set_step(index, state=StepState.FAILED, message=str(failure), finished=datetime.now(UTC))
            self._record("step.finished", step=ROLLBACK_STEP, data={"state": "failed", "message": str(failure)})
            self._finish(Phase.DEGRADED, f"{why}; rollback failed: {failure}")
            return
        self._set_step(index, state=state, message=message, finished=datetime.now(UTC))
        self._record("step.finished", step=ROLLBACK_STEP, data={"state": state.value, "message": message})
        self._finish(Phase.ROLLED_BACK, f"{why} — rolled back to {self.view.from_version or self.view.from_image}")

    def _rollback_pending(self, index: int, why: str, failure: Exception) -> None:
        """The backend could not be reached to roll back: end here, unfinished and resumable.

        A rollback that never reached the backend has not happened, so the run must not
        end as if it had failed for good: with no ``step.finished`` for the rollback,
        ``resume`` observes the workload and rolls back (or finds nothing to undo) once
        the backend answers again.
        """
        message = (
            f"{why}; the rollback could not reach {self.environment.name}: {failure} — resume with "
            f"`watchfloor runbook resume {self.view.run_id}` once it answers"
        )
        self._set_step(index, state=StepState.INTERRUPTED, message=str(failure))
        self._phase(Phase.ABORTED, message)
        self._publish(finished=datetime.now(UTC), current=None, waiting_for=None)
        self._release_lock()
        self.journal.close()

    def _cancel_current(self, why: str) -> None:
        index = self.view.current
        if index is None:
            return
        step = self.view.steps[index]
        if not step.state.finished:
            self._set_step(index, state=StepState.CANCELLED, message=why, finished=datetime.now(UTC))
            self._record("step.finished", step=step.id, data={"state": "cancelled", "message": why})

    # observation ------------------------------------------------------------------------

    def _observe_quietly(self) -> Observation | None:
        try:
            return self.adapter.observe(self.key)
        except AdapterError:
            return None

    def _show_observation(self, observation: Observation | None) -> None:
        if observation is None:
            return
        self._publish(desired=observation.desired, updated=observation.updated, ready=observation.ready)


# -- resume -------------------------------------------------------------------------------


@dataclass(slots=True)
class _Replayed:
    started_data: dict
    started_at: datetime | None
    steps: dict[str, StepState]
    messages: dict[str, str]
    calls: dict[str, dict]
    """Last adapter.call data per step."""
    interrupted: str | None
    last_finished: str | None
    finished: bool
    outcome: str | None
    deployed: bool
    rolling_back: bool
    rollback_reason: str
    confirmed: bool = False
    release: str | None = None
    resolved: dict[str, str] | None = None
    """The pinned image each step was given (image.resolved), by step id."""
    last_resolved: str = ""


def _replay(entries: list[dict]) -> _Replayed:
    state = _Replayed({}, None, {}, {}, {}, None, None, False, None, False, False, "", resolved={})
    open_step: str | None = None
    for entry in entries:
        event, step, data = entry.get("event"), entry.get("step"), entry.get("data") or {}
        if event == "run.started":
            state.started_data = data
            state.started_at = _parse_ts(entry.get("ts"))
        elif event == "step.started":
            open_step = step
            state.steps[step] = StepState.RUNNING
            if step == ROLLBACK_STEP:
                state.rolling_back, state.rollback_reason = True, str(data.get("why") or "")
        elif event == "step.finished":
            state.steps[step] = StepState(data.get("state", "failed"))
            state.messages[step] = str(data.get("message") or "")
            state.last_finished = step
            if open_step == step:
                open_step = None
            if step == ROLLBACK_STEP:
                state.rolling_back = False
        elif event == "adapter.call" and step:
            state.calls[step] = data
            request = data.get("request") or {}
            if request.get("verb") == "deploy" and "result" in data:
                state.deployed = True
            if request.get("verb") == "rollback" and step == ROLLBACK_STEP and "result" in data:
                state.deployed = False
            if "result" in data and str(request.get("verb", "")).startswith(("canary.", "bluegreen.")):
                state.release = _release_after(str(request["verb"]), state.release)
        elif event == "run.finished":
            state.finished, state.outcome = True, data.get("outcome")
        elif event == "operator.confirm" and data.get("yes", True) and "why" not in data:
            state.confirmed = True
        elif event == "image.resolved" and step and data.get("image"):
            state.resolved[step] = state.last_resolved = str(data["image"])
    if open_step is not None and open_step != ROLLBACK_STEP:
        state.interrupted = open_step
        state.steps[open_step] = StepState.INTERRUPTED
    return state


def _recommend(step, state: _Replayed, observed: Observation | None, view: RunView, release=None) -> str:
    """The safe choice for an interrupted step: never apply a side effect twice."""
    call = state.calls.get(step.id) or {}
    sent = bool(call.get("sent")) or "result" in call or "error" in call
    plugin = hasattr(step, "plugin_options")  # a plugin step may write: treated like a command
    if step.kind != "action" and step.kind != "command" and not plugin:
        return "redo"  # gates, waits and questions have no side effect
    if "result" in call:
        return "done"
    if not sent:
        return "redo"
    if step.kind == "command" or plugin:
        return "abort"  # a shell command may or may not have run; a person decides
    if observed is None:
        return "abort"
    verb = step.verb
    images = {step.image, (state.resolved or {}).get(step.id)} - {None}
    if verb.startswith(("canary.", "bluegreen.")):
        return _recommend_release(step, release, view, images)
    if verb == "deploy":
        landed = observed.image in images and observed.rollout_complete
        return "done" if landed else "redo"
    if verb == "rollback":
        # The run started on the revision a rollback step goes back *from*, so the rollback
        # landed once the workload is on another revision (rolled out or not: a second
        # rollback would go "back" once more, to the version being left).
        before = state.started_data.get("from_revision")
        if before is not None and observed.revision is not None:
            return "done" if observed.revision != before else "redo"
        return "done" if view.from_image and observed.image != view.from_image else "redo"
    if verb == "scale":
        return "done" if observed.desired == int(step.replicas) else "redo"
    return "done"  # restart: the backend took it; restarting again would restart twice


def _recommend_release(step, release, view: RunView, images: set | None = None) -> str:
    """Whether an interrupted release verb landed, judged from the backend's release state
    (``images``: the step's image as written and as pinned, when it was)."""
    images = images or {step.image}
    if release is None:
        return "abort"  # the backend cannot say: a person decides
    verb, kind = step.verb, release.kind
    if verb == "canary.start":
        if kind == "canary":
            return "done" if release.new_image in images else "abort"
        return "redo" if kind == "" else "abort"
    if verb == "canary.set_weight":
        if kind != "canary":
            return "abort"
        from adapters.base import canary_replicas

        return "done" if release.new_replicas == canary_replicas(release.stable_replicas, int(step.weight)) else "redo"
    if verb == "canary.promote":
        if kind == "canary":
            return "redo"
        return "done" if view.to_image and release.stable_image == view.to_image else "abort"
    if verb == "canary.abort":
        return "done" if kind != "canary" else "redo"
    if verb == "bluegreen.abort":
        return "done" if kind == "" else "redo"
    if verb == "bluegreen.deploy":
        if kind == "blue-green" and release.new_image in images and release.idle_scaled_up:
            return "done"
        return "redo" if kind == "" else "abort"
    if verb == "bluegreen.switch":
        if view.to_image and release.stable_image == view.to_image:
            return "done"
        return "redo" if kind == "blue-green" and release.idle_scaled_up else "abort"
    if verb == "bluegreen.switch_back":
        return "done" if view.from_image and release.stable_image == view.from_image else "redo"
    if verb == "bluegreen.scale_down":
        return "done" if not release.idle_scaled_up else "redo"
    return "abort"


def _release_after(verb: str, release: str | None) -> str | None:
    """The open release after ``verb`` succeeded (see ``RunExecutor._release``)."""
    return {
        "canary.start": "canary",
        "canary.set_weight": release or "canary",
        "canary.promote": None,
        "canary.abort": None,
        "bluegreen.deploy": "bluegreen-idle",
        "bluegreen.switch": "bluegreen-live",
        "bluegreen.switch_back": "bluegreen-idle",
        "bluegreen.scale_down": None,
        "bluegreen.abort": None,
    }.get(verb, release)


def _parse_ts(value) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None
    except ValueError:
        return None


# -- helpers ------------------------------------------------------------------------------


def _title(step) -> str:
    return getattr(step, "title", None) or step.id


def _seconds(value) -> float | None:
    if value is None:
        return None
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value)


def _int_or_none(value) -> int | None:
    return None if value in (None, "") else int(value)


def _human(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def _version_of(image: str) -> str:
    name = image.split("@", 1)[0]
    tail = name.rsplit("/", 1)[-1]
    return tail.split(":", 1)[1] if ":" in tail else "latest"


def _is_healthy(observation: Observation, expect_image: str) -> bool:
    if not observation.exists or observation.health != Health.HEALTHY or not observation.rollout_complete:
        return False
    if observation.ready < observation.desired:
        return False
    return not expect_image or observation.image == expect_image


def _describe(observation: Observation) -> str:
    words = f"{observation.health.value}, {observation.ready}/{observation.desired} ready, {observation.version or observation.image}"
    return f"{words} — {observation.reason}" if observation.reason else words


def _unreachable(failure: Exception) -> bool:
    """Whether a step failed because the backend did not answer (not because it said no)."""
    cause = failure.__cause__
    return isinstance(cause, AdapterError) and cause.kind is ErrorKind.UNREACHABLE


def _quiet(call):
    try:
        return call()
    except Exception:  # noqa: BLE001 - only for naming a lock holder in a refusal message
        return None


def _maybe_kill(event: str, step: str | None) -> None:
    wanted = os.environ.get(KILL_HOOK)
    if wanted and wanted == f"{event}:{step or ''}":
        os.kill(os.getpid(), signal.SIGKILL)


__all__ = ["Command", "Outcome", "RunExecutor", "RunOptions", "RunRefused", "RESOLUTIONS"]
