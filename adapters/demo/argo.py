"""A simulated Argo Rollouts controller: canary ``Rollout`` objects through their steps.

Runs inside the demo's control plane (:class:`~adapters.demo.controller.Controller`,
when the emulator serves Argo's CRD) so the console's Argo code path — the row, the
detail pane, ``promote``, ``promote --full``, ``abort``, ``retry`` and the canary
runbook — works against something that answers like Argo's controller does. It follows
Argo's documented semantics (``docs/features/canary.md``, ``rollout/canary.go``,
``rollout/pause.go``) where the console looks; it is our own, much smaller code.

What it does, for a Rollout with ``spec.strategy.canary``:

- It owns ReplicaSets named ``<rollout>-<pod-template-hash>``, labelled (and selected)
  by ``rollouts-pod-template-hash``, annotated ``rollout.argoproj.io/revision``; the
  Rollout carries its latest revision in the same annotation. The first template is
  stable at once: ``stableRS`` = ``currentPodHash``, ``currentStepIndex`` = the number
  of steps, phase Healthy once its pods are available.
- A template change starts a new canary ReplicaSet and runs the steps from 0:
  ``setWeight: N`` scales the canary to ⌈N % × replicas⌉. Without ``trafficRouting``
  (a *basic* canary, where replica counts are the only way to weigh traffic) the
  stable ReplicaSet shrinks to ⌈(100 − N) % × replicas⌉, never below what keeps
  ``replicas − maxUnavailable`` pods available; with ``trafficRouting`` the stable one
  stays at full size and ``status.canary.weights`` says the weights, as Argo writes
  them only then. A ``setWeight`` step is done when the canary's pods are available.
- ``pause: {}`` adds the ``CanaryPauseStep`` pause condition and ``controllerPause``:
  phase Paused until someone clears the conditions (``kubectl argo rollouts promote``).
  ``pause: {duration: 30s}`` continues by itself after 30 s × ``time_scale`` — or
  earlier, if promoted.
- After the last step the canary is scaled to full size and, once available, becomes
  ``stableRS``; the old ReplicaSets go to 0 and the phase turns Healthy when their pods
  are gone. ``status.promoteFull`` skips the remaining steps straight to that.
- ``status.abort`` scales the canary to 0 and the stable ReplicaSet back to full:
  phase Degraded, message ``RolloutAborted: Rollout aborted update to revision N``,
  ``currentStepIndex`` 0. Clearing it (``retry``) runs the steps again from 0; a new
  template clears it too.
- ``spec.paused`` holds the steps where they are: phase Paused, "manually paused".
- A canary that makes no progress (say a crash-looping ``*-broken`` image) for
  ``progressDeadlineSeconds`` × ``time_scale`` (default 600 s) while not paused turns
  the Rollout Degraded (``ProgressDeadlineExceeded``), with the canary left running, as
  Argo does; with ``progressDeadlineAbort: true`` it is aborted as well.

Not simulated: analysis, experiment, ``setCanaryScale``, header routes and plugin
steps count as done at once (the demo has no AnalysisRuns; the console's Prometheus
gates do that job); blue-green Rollouts are stored but not reconciled;
``maxSurge`` is not honoured (the canary is scaled in one go).

Everything runs on the emulator's loop: store changes mark Rollouts dirty, a
``call_soon`` pass reconciles them, and the control plane's tick re-marks the Rollouts
that wait on the clock (timed pauses, progress deadlines).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import time
from collections.abc import Callable
from typing import Any

from adapters.demo.controller import _active, _pod_available, _pod_ready, resolve_fraction, template_hash
from adapters.demo.events import EventRecorder
from adapters.demo.objects import parse_time, rfc3339
from adapters.demo.resources import PODS, REPLICASETS, ROLLOUTS, ResourceType
from adapters.demo.store import ApiError, Change, ObjectStore

log = logging.getLogger("watchfloor.demo.argo")

POD_HASH = "rollouts-pod-template-hash"
REVISION = "rollout.argoproj.io/revision"
DESIRED_REPLICAS = "rollout.argoproj.io/desired-replicas"
PAUSE_STEP = "CanaryPauseStep"
COMPONENT = "rollouts-controller"
DEFAULT_DEADLINE = 600
DEFAULT_HISTORY = 10

HEALTHY, PROGRESSING, PAUSED, DEGRADED = "Healthy", "Progressing", "Paused", "Degraded"

Owned = Callable[[str, ResourceType], list[dict[str, Any]]]
"""``(owner uid, resource type) → dependents``: the control plane's owner index."""

_DURATION = re.compile(r"^(\d+)(s|m|h)?$")


def pause_seconds(value: Any) -> float | None:
    """A pause step's ``duration`` in seconds (``10``, ``"10s"``, ``"5m"``, ``"1h"``), None if absent or bad."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return float(value)
    match = _DURATION.match(str(value).strip())
    if not match:
        return None
    return float(int(match.group(1)) * {"s": 1, "m": 60, "h": 3600}[match.group(2) or "s"])


def step_words(step: dict[str, Any]) -> str:
    """A step as Argo's events name it: ``setWeight: 25``, ``pause: 30s``, ``pause``."""
    if step.get("setWeight") is not None:
        return f"setWeight: {step['setWeight']}"
    if "pause" in step:
        duration = (step.get("pause") or {}).get("duration")
        return f"pause: {duration}" if duration is not None else "pause"
    return next(iter(step), "step")


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _revision(obj: dict[str, Any]) -> int:
    text = str((obj["metadata"].get("annotations") or {}).get(REVISION, ""))
    return int(text) if text.isascii() and text.isdigit() else 0


def _hash_of(rs: dict[str, Any]) -> str:
    return (rs["metadata"].get("labels") or {}).get(POD_HASH, "")


class ArgoRollouts:
    """The simulated Argo Rollouts controller of one emulated cluster.

    Args:
        store: The cluster's objects.
        events: Where its Events go (``rollouts-controller``).
        owned: The control plane's owner index (a Rollout's ReplicaSets, a ReplicaSet's pods).
        time_scale: Multiplies pause durations and progress deadlines.
    """

    def __init__(self, store: ObjectStore, events: EventRecorder, owned: Owned, *, time_scale: float = 1.0) -> None:
        self._store = store
        self._events = events
        self._owned = owned
        self.time_scale = time_scale
        self._dirty: dict[tuple[str, str], None] = {}
        self._pass: asyncio.Handle | None = None
        self._started = False
        self._waiting: set[tuple[str, str]] = set()
        """Rollouts the clock moves on: a timed pause, a progress deadline."""
        self._progress: dict[str, tuple[tuple, float]] = {}
        """Rollout uid → (what its canary looked like, since when): for the deadline."""
        self._paused_at: dict[str, tuple[int, float]] = {}
        """Rollout uid → (step, when its timed pause began): finer than startTime's seconds."""

    # --- lifecycle and routing ------------------------------------------------------

    def start(self) -> None:
        self._started = True

    def stop(self) -> None:
        self._started = False
        if self._pass is not None:
            self._pass.cancel()
            self._pass = None

    def tracked(self) -> int:
        """Entries of per-Rollout bookkeeping (bounded by the number of Rollouts)."""
        return len(self._waiting) + len(self._progress) + len(self._paused_at)

    def on_change(self, change: Change) -> None:
        meta = change.obj["metadata"]
        namespace = meta.get("namespace") or ""
        if change.rt is ROLLOUTS:
            if change.type == "DELETED":
                self._waiting.discard((namespace, meta["name"]))
                self._progress.pop(meta.get("uid", ""), None)
                self._paused_at.pop(meta.get("uid", ""), None)
            else:
                self._mark(namespace, meta["name"])
        elif change.rt is REPLICASETS:
            for owner in meta.get("ownerReferences") or []:
                if owner.get("kind") == "Rollout" and owner.get("controller"):
                    self._mark(namespace, owner.get("name", ""))

    def tick(self) -> None:
        """Re-check the Rollouts that wait on the clock."""
        for namespace, name in list(self._waiting):
            self._mark(namespace, name)

    def _mark(self, namespace: str, name: str) -> None:
        self._dirty[(namespace, name)] = None
        if self._pass is None and self._started:
            self._pass = asyncio.get_running_loop().call_soon(self._run_pass)

    def _run_pass(self) -> None:
        self._pass = None
        batch, self._dirty = list(self._dirty), {}
        for namespace, name in batch:
            try:
                self._sync(namespace, name)
            except ApiError as error:
                # A race with a client write (409) or a deletion (404): look again soon.
                log.debug("reconcile rollout %s/%s: %s", namespace, name, error.message)
                asyncio.get_running_loop().call_later(0.05, self._mark, namespace, name)
            except Exception:  # one bad Rollout must not stop the others
                log.exception("reconcile rollout %s/%s failed", namespace, name)

    # --- reconcile ------------------------------------------------------------------

    def _sync(self, namespace: str, name: str) -> None:
        rollout = self._store.find(ROLLOUTS, namespace, name)
        if rollout is None or rollout["metadata"].get("deletionTimestamp"):
            self._waiting.discard((namespace, name))
            return
        spec = rollout.get("spec") or {}
        canary = (spec.get("strategy") or {}).get("canary")
        if not isinstance(canary, dict) or not isinstance(spec.get("template"), dict):
            return  # blue-green or no strategy: stored, not simulated
        _Sync(self, rollout, canary, time.time()).run()


class _Sync:
    """One reconcile of one canary Rollout: read, scale, step, write the status."""

    def __init__(self, owner: ArgoRollouts, rollout: dict[str, Any], canary: dict[str, Any], now: float) -> None:
        self.o = owner
        self.rollout = rollout
        self.meta = rollout["metadata"]
        self.uid = self.meta["uid"]
        self.key = (self.meta["namespace"], self.meta["name"])
        self.spec = rollout["spec"]
        self.status = rollout.get("status") or {}
        self.now = now
        self.replicas = max(0, _int(self.spec.get("replicas"), 1))
        self.steps = [s for s in canary.get("steps") or [] if isinstance(s, dict)]
        self.routed = bool(canary.get("trafficRouting"))
        self.max_unavailable = resolve_fraction(canary.get("maxUnavailable", "25%"), self.replicas, round_up=False)
        self.min_ready = _int(self.spec.get("minReadySeconds"), 0)
        self.pod_hash = template_hash(self.spec["template"])

    # -- reading --

    def counts(self, rs: dict[str, Any] | None) -> tuple[int, int, int]:
        """(pods, ready, available) of a ReplicaSet, counted from its pods (its status may lag)."""
        if rs is None:
            return 0, 0, 0
        pods = [p for p in self.o._owned(rs["metadata"]["uid"], PODS) if _active(p)]
        return (
            len(pods),
            sum(1 for p in pods if _pod_ready(p)),
            sum(1 for p in pods if _pod_available(p, self.min_ready, self.now)),
        )

    # -- the pass --

    def run(self) -> None:
        owned = [rs for rs in self.o._owned(self.uid, REPLICASETS) if not rs["metadata"].get("deletionTimestamp")]
        by_hash = {_hash_of(rs): rs for rs in owned}
        latest = max((_revision(rs) for rs in owned), default=0)
        new_rs = by_hash.get(self.pod_hash)
        if new_rs is None:
            new_rs = self.create_replicaset(latest + 1)
            latest += 1
        elif _revision(new_rs) < latest:
            # Back to an older template: that ReplicaSet becomes the newest revision.
            new_rs = self.annotate(new_rs, {REVISION: str(latest + 1)})
            latest += 1
        revision = _revision(new_rs) if new_rs is not None else latest

        status = self.status
        stable_hash = status.get("stableRS") or ""
        index = _int(status.get("currentStepIndex"), len(self.steps))
        pauses = [c for c in status.get("pauseConditions") or [] if isinstance(c, dict)]
        controller_pause = bool(status.get("controllerPause"))
        abort = bool(status.get("abort"))
        promote_full = bool(status.get("promoteFull"))
        abort_message = ""
        if not stable_hash or stable_hash not in by_hash and stable_hash != self.pod_hash:
            # The first template (or a stable ReplicaSet someone deleted): stable at once.
            stable_hash, index, pauses, controller_pause, abort, promote_full = self.pod_hash, len(self.steps), [], False, False, False
        elif status.get("currentPodHash") != self.pod_hash:
            # A new template starts its steps afresh; back to the stable one skips them.
            index = 0 if self.pod_hash != stable_hash else len(self.steps)
            pauses, controller_pause, abort, promote_full = [], False, False, False
            self.o._paused_at.pop(self.uid, None)
            self.event("Normal", "RolloutUpdated", f"Rollout updated to revision {revision}")
        if promote_full:
            pauses, controller_pause, abort, index = [], False, False, len(self.steps)

        stable_rs = by_hash.get(stable_hash) if stable_hash != self.pod_hash else new_rs
        others = [rs for rs in owned if rs is not new_rs and rs is not stable_rs]
        updating = self.pod_hash != stable_hash
        manual = bool(self.spec.get("paused"))
        timed_out = False

        if not updating:
            self.scale(new_rs, self.replicas)
            index = len(self.steps)
            pauses, controller_pause, promote_full = [], False, False
        elif abort:
            if self.steps:
                index = 0
            self.scale(new_rs, 0)
            self.scale(stable_rs, self.replicas)
            if status.get("abort") is not True or status.get("phase") != DEGRADED:
                self.event("Warning", "RolloutAborted", f"Rollout aborted update to revision {revision}")
        else:
            # Walk the steps as far as they go this pass: each one done moves to the next.
            for _ in range(len(self.steps) + 1):
                weight = self.weight(index)
                canary_target, stable_target = self.targets(weight, new_rs, stable_rs)
                self.scale(new_rs, canary_target)
                self.scale(stable_rs, stable_target)
                if manual or index >= len(self.steps):
                    break
                done, pauses, controller_pause = self.step_done(index, new_rs, canary_target, pauses, controller_pause)
                if not done:
                    break
                index += 1
                self.event("Normal", "RolloutStepCompleted", f"Rollout step {index}/{len(self.steps)} completed ({step_words(self.steps[index - 1])})")
            if index >= len(self.steps) and not manual:
                _, _, available = self.counts(new_rs)
                if (new_rs or {}).get("spec", {}).get("replicas") == self.replicas and available >= self.replicas:
                    stable_hash, stable_rs, updating = self.pod_hash, new_rs, False
                    promote_full = False
                    others = [rs for rs in owned if rs is not new_rs]
                    self.event("Normal", "RolloutCompleted", f"Rollout completed update to revision {revision} ({self.pod_hash}): Completed all {len(self.steps)} canary steps")
            if updating and not manual and not pauses:
                timed_out = self.deadline_passed(index, new_rs, stable_rs)
                if timed_out and self.spec.get("progressDeadlineAbort"):
                    abort = True
                    abort_message = f'ReplicaSet "{new_rs["metadata"]["name"]}" has timed out progressing.' if new_rs else ""
                    self.event("Warning", "RolloutAborted", f"Rollout aborted update to revision {revision}: {abort_message}")
                    if self.steps:
                        index = 0
                    self.scale(new_rs, 0)
                    self.scale(stable_rs, self.replicas)
                    timed_out = False
            else:
                self.o._progress.pop(self.uid, None)
        for rs in others:
            self.scale(rs, 0)
        self.cleanup(others)

        waits = updating and not abort and not manual and (not pauses or self.timed_pause(index))
        if waits:
            self.o._waiting.add(self.key)
        else:
            self.o._waiting.discard(self.key)
        if not updating or abort:
            self.o._progress.pop(self.uid, None)
        if not any(c.get("reason") == PAUSE_STEP for c in pauses):
            self.o._paused_at.pop(self.uid, None)

        self.write(
            new_rs=new_rs,
            stable_rs=stable_rs,
            others=others,
            stable_hash=stable_hash,
            index=index,
            pauses=pauses,
            controller_pause=controller_pause,
            abort=abort,
            abort_message=abort_message or self.previous_abort_detail(abort),
            promote_full=promote_full,
            timed_out=timed_out,
            revision=revision,
        )

    # -- steps --

    def weight(self, index: int) -> int:
        """Argo's current set weight: the last ``setWeight`` at or before the step, 100 past the end."""
        if index >= len(self.steps):
            return 100
        for step in reversed(self.steps[: index + 1]):
            if step.get("setWeight") is not None:
                return max(0, min(100, _int(step["setWeight"], 0)))
        return 0

    def timed_pause(self, index: int) -> bool:
        if index < len(self.steps) and "pause" in self.steps[index]:
            return pause_seconds((self.steps[index].get("pause") or {}).get("duration")) is not None
        return False

    def targets(self, weight: int, new_rs: dict | None, stable_rs: dict | None) -> tuple[int, int]:
        """(canary, stable) replica counts for a weight, as Argo's basic or routed canary sizes them."""
        canary = math.ceil(weight * self.replicas / 100)
        if self.routed:
            return canary, self.replicas  # the router weighs traffic: stable stays whole until promotion
        stable = math.ceil((100 - weight) * self.replicas / 100)
        # Shrink the stable side only as far as the canary's available pods make up for it.
        _, _, canary_available = self.counts(new_rs)
        floor = max(0, self.replicas - self.max_unavailable - min(canary_available, canary))
        current = _int(((stable_rs or {}).get("spec") or {}).get("replicas"), 0)
        return canary, min(max(stable, min(floor, current)), self.replicas)

    def step_done(
        self, index: int, new_rs: dict | None, canary_target: int, pauses: list[dict], controller_pause: bool
    ) -> tuple[bool, list[dict], bool]:
        """Whether step ``index`` is complete; the pause conditions and controllerPause after looking."""
        step = self.steps[index]
        if step.get("setWeight") is not None:
            _, _, available = self.counts(new_rs)
            return available >= canary_target, pauses, controller_pause
        if "pause" not in step:
            return True, pauses, controller_pause  # analysis, experiment…: not simulated, done at once
        duration = pause_seconds((step.get("pause") or {}).get("duration"))
        condition = next((c for c in pauses if c.get("reason") == PAUSE_STEP), None)
        if condition is None:
            if controller_pause:
                # Someone cleared our pause condition (``promote``): the step is done.
                return True, pauses, False
            pauses = [*pauses, {"reason": PAUSE_STEP, "startTime": rfc3339(self.now)}]
            self.o._paused_at[self.uid] = (index, self.now)
            self.event("Normal", "RolloutPaused", f"Rollout is paused ({PAUSE_STEP})")
            return False, pauses, True
        if duration is None:
            return False, pauses, controller_pause
        started_index, started = self.o._paused_at.get(self.uid, (index, None))
        if started is None or started_index != index:
            started = parse_time(condition.get("startTime")) or self.now
            self.o._paused_at[self.uid] = (index, started)
        if self.now - started < duration * self.o.time_scale:
            return False, pauses, controller_pause
        rest = [c for c in pauses if c.get("reason") != PAUSE_STEP]
        self.event("Normal", "RolloutResumed", f"Rollout is resumed after its {step_words(step)} step")
        return True, rest, bool(rest)

    def deadline_passed(self, index: int, new_rs: dict | None, stable_rs: dict | None) -> bool:
        """No progress for progressDeadlineSeconds (paused time does not count)."""
        shape = (index, self.pod_hash, self.counts(new_rs), self.counts(stable_rs))
        seen = self.o._progress.get(self.uid)
        if seen is None or seen[0] != shape:
            self.o._progress[self.uid] = (shape, self.now)
            return False
        deadline = _int(self.spec.get("progressDeadlineSeconds"), DEFAULT_DEADLINE) * self.o.time_scale
        return self.now - seen[1] > deadline

    def previous_abort_detail(self, abort: bool) -> str:
        if not abort:
            return ""
        message = str(self.status.get("message") or "")
        _, _, detail = message.partition(": Rollout aborted update to revision ")
        _, _, rest = detail.partition(": ")
        return rest

    # -- writes --

    def event(self, type_: str, reason: str, message: str) -> None:
        self.o._events.record(self.rollout, type_, reason, message, component=COMPONENT)

    def create_replicaset(self, revision: int) -> dict[str, Any] | None:
        template = json.loads(json.dumps(self.spec["template"]))
        template.setdefault("metadata", {}).setdefault("labels", {})[POD_HASH] = self.pod_hash
        selector = json.loads(json.dumps(self.spec.get("selector") or {"matchLabels": dict(template["metadata"]["labels"])}))
        selector.setdefault("matchLabels", {})[POD_HASH] = self.pod_hash
        name = f"{self.meta['name']}-{self.pod_hash}"
        body = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": name,
                "namespace": self.meta["namespace"],
                "labels": dict(template["metadata"]["labels"]),
                "annotations": {REVISION: str(revision), DESIRED_REPLICAS: str(self.replicas)},
                "ownerReferences": [
                    {
                        "apiVersion": self.rollout.get("apiVersion", "argoproj.io/v1alpha1"),
                        "kind": "Rollout",
                        "name": self.meta["name"],
                        "uid": self.uid,
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": {"replicas": 0, "minReadySeconds": self.min_ready, "selector": selector, "template": template},
        }
        try:
            created = self.o._store.create(REPLICASETS, body, self.meta["namespace"])
        except ApiError as error:
            log.warning("replica set %s not created: %s", name, error.message)
            return None
        self.event("Normal", "NewReplicaSetCreated", f"Created ReplicaSet {name} (revision {revision})")
        return created

    def annotate(self, rs: dict[str, Any], annotations: dict[str, str]) -> dict[str, Any]:
        copy = self.o._store.get_copy(REPLICASETS, rs["metadata"]["namespace"], rs["metadata"]["name"])
        if copy is None:
            return rs
        copy["metadata"].setdefault("annotations", {}).update(annotations)
        return self.o._store.write(REPLICASETS, copy)

    def scale(self, rs: dict[str, Any] | None, replicas: int) -> None:
        if rs is None:
            return
        before = _int(rs["spec"].get("replicas"), 1)
        if before == replicas:
            return
        copy = self.o._store.get_copy(REPLICASETS, rs["metadata"]["namespace"], rs["metadata"]["name"])
        if copy is None:
            return
        copy["spec"]["replicas"] = replicas
        copy["metadata"].setdefault("annotations", {})[DESIRED_REPLICAS] = str(self.replicas)
        written = self.o._store.write(REPLICASETS, copy)
        rs["spec"] = written["spec"]  # later targets this pass read the new size
        direction = "up" if replicas > before else "down"
        self.event(
            "Normal", "ScalingReplicaSet", f"Scaled {direction} ReplicaSet {rs['metadata']['name']} (revision {_revision(rs)}) from {before} to {replicas}"
        )

    def cleanup(self, others: list[dict[str, Any]]) -> None:
        """Delete idle old ReplicaSets beyond ``revisionHistoryLimit``, oldest first."""
        limit = _int(self.spec.get("revisionHistoryLimit"), DEFAULT_HISTORY)
        idle = sorted((rs for rs in others if rs["spec"].get("replicas") == 0 and self.counts(rs)[0] == 0), key=_revision)
        for rs in idle[: max(0, len(idle) - limit)]:
            try:
                self.o._store.delete(REPLICASETS, rs["metadata"]["namespace"], rs["metadata"]["name"])
            except ApiError as error:
                log.debug("old replica set %s not deleted: %s", rs["metadata"]["name"], error.message)

    def write(
        self,
        *,
        new_rs: dict | None,
        stable_rs: dict | None,
        others: list[dict],
        stable_hash: str,
        index: int,
        pauses: list[dict],
        controller_pause: bool,
        abort: bool,
        abort_message: str,
        promote_full: bool,
        timed_out: bool,
        revision: int,
    ) -> None:
        sets = [rs for rs in {id(r): r for r in [new_rs, stable_rs, *others] if r is not None}.values()]
        totals = [self.counts(rs) for rs in sets]
        pods = sum(c[0] for c in totals)
        ready = sum(c[1] for c in totals)
        available = sum(c[2] for c in totals)
        updated = self.counts(new_rs)[0]
        weight = 0 if abort else self.weight(index)
        rs_name = new_rs["metadata"]["name"] if new_rs else self.meta["name"]
        manual = bool(self.spec.get("paused"))

        if abort:
            detail = f"Rollout aborted update to revision {revision}" + (f": {abort_message}" if abort_message else "")
            progressing = ("False", "RolloutAborted", detail)
            phase, message = DEGRADED, f"RolloutAborted: {detail}"
        elif timed_out:
            detail = f'ReplicaSet "{rs_name}" has timed out progressing.'
            progressing = ("False", "ProgressDeadlineExceeded", detail)
            phase, message = DEGRADED, f"ProgressDeadlineExceeded: {detail}"
        elif manual or pauses:
            progressing = ("Unknown", "RolloutPaused", "Rollout is paused")
            phase, message = PAUSED, "manually paused" if manual else str(pauses[0].get("reason") or "")
        elif updated < self.replicas:
            progressing = ("True", "ReplicaSetUpdated", f'ReplicaSet "{rs_name}" is progressing.')
            phase, message = PROGRESSING, "more replicas need to be updated"
        elif available < updated:
            progressing = ("True", "ReplicaSetUpdated", f'ReplicaSet "{rs_name}" is progressing.')
            phase, message = PROGRESSING, "updated replicas are still becoming available"
        elif stable_hash != self.pod_hash:
            progressing = ("True", "ReplicaSetUpdated", f'ReplicaSet "{rs_name}" is progressing.')
            phase, message = PROGRESSING, "waiting for all steps to complete"
        elif pods > updated:
            progressing = ("True", "NewReplicaSetAvailable", f'ReplicaSet "{rs_name}" has successfully progressed.')
            phase, message = PROGRESSING, "old replicas are pending termination"
        else:
            progressing = ("True", "NewReplicaSetAvailable", f'ReplicaSet "{rs_name}" has successfully progressed.')
            phase, message = HEALTHY, ""
        if available >= self.replicas - self.max_unavailable:
            available_condition = ("True", "AvailableReason", "Rollout has minimum availability")
        else:
            available_condition = ("False", "AvailableReason", "Rollout does not have minimum availability")

        previous = {c.get("type"): c for c in self.status.get("conditions") or [] if isinstance(c, dict)}
        stamp = rfc3339(self.now)

        def condition(type_: str, words: tuple[str, str, str]) -> dict[str, Any]:
            status_, reason, text = words
            old = previous.get(type_) or {}
            changed = old.get("status") != status_
            same = not changed and old.get("reason") == reason and old.get("message") == text
            return {
                "type": type_,
                "status": status_,
                "reason": reason,
                "message": text,
                "lastUpdateTime": old.get("lastUpdateTime", stamp) if same else stamp,
                "lastTransitionTime": old.get("lastTransitionTime", stamp) if not changed else stamp,
            }

        canary_status: dict[str, Any] = {}
        if self.routed:
            canary_status["weights"] = {
                "canary": {"podTemplateHash": self.pod_hash, "weight": weight if stable_hash != self.pod_hash else 100},
                "stable": {"podTemplateHash": stable_hash, "weight": 100 - weight if stable_hash != self.pod_hash else 100},
            }
        status: dict[str, Any] = {
            "observedGeneration": str(self.meta.get("generation", 1)),
            "phase": phase,
            "currentPodHash": self.pod_hash,
            "stableRS": stable_hash,
            "replicas": pods,
            "updatedReplicas": updated,
            "readyReplicas": ready,
            "availableReplicas": available,
            "HPAReplicas": pods,
            "selector": ",".join(f"{k}={v}" for k, v in sorted(((self.spec.get("selector") or {}).get("matchLabels") or {}).items())),
            "canary": canary_status,
            "conditions": [condition("Progressing", progressing), condition("Available", available_condition)],
        }
        if message:
            status["message"] = message
        if self.steps:
            status["currentStepIndex"] = index
        if pauses:
            status["pauseConditions"] = pauses
        if controller_pause and pauses:
            status["controllerPause"] = True
        if abort:
            status["abort"] = True
            status["abortedAt"] = self.status.get("abortedAt") or stamp
        if promote_full:
            status["promoteFull"] = True

        copy = self.o._store.get_copy(ROLLOUTS, self.meta["namespace"], self.meta["name"])
        if copy is None:
            return
        annotations = copy["metadata"].get("annotations") or {}
        if copy.get("status") == status and annotations.get(REVISION) == str(revision):
            return
        if copy["metadata"].get("resourceVersion") != self.meta.get("resourceVersion"):
            self.o._mark(*self.key)  # changed under this pass: the next one sees it
            return
        copy["metadata"].setdefault("annotations", {})[REVISION] = str(revision)
        copy["status"] = status
        self.o._store.write(ROLLOUTS, copy)
