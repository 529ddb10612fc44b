"""Docker adapter, write side: deploy, rollback, restart, scale, history, observe (DESIGN §4).

A Docker workload is only its containers, so everything a revision needs is kept on
them, where every console that talks to the engine sees it:

- **Revision labels.** Containers this module creates carry ``watchfloor.revision=<n>``
  and ``watchfloor.change-cause``; a container without them counts as revision 1.
  ``watchfloor.history`` holds the earlier revisions (number, image, change cause,
  time) so a revision whose containers were pruned can still be re-created.
- **Names are kept.** The serving replica keeps its name (``web``, ``shop_web_1``). A
  new replica starts beside the old one as ``<name>-rev<n>`` and takes the name once
  the old one has stopped; the old one is renamed ``<name>-rev<old n>``, kept stopped
  with restart policy ``no`` (so a daemon restart does not bring it back), and is what
  an instant rollback starts again. A container named ``…-rev<n>`` is therefore
  retained (stopped) or in flight (running, mid-deploy). The containers of the last
  two revisions that served are retained; older ones are removed.
- **Rollback returns to the revision's own number.** Labels cannot change on an
  existing container, and a retained container still says ``watchfloor.revision=1``;
  numbering its reactivation as a new revision would need a record outside the engine
  that another operator's console would not see. So after rolling back to revision 1
  the workload is at revision 1 again (Kamal does the same); the journal records the
  rollback as its own event.

Strategies: **rolling** starts all new replicas beside the old ones, waits for every
health check, then stops the old ones (a surge of one replica per replica for the
length of the health wait); **recreate** stops the old ones first, for services that
bind fixed host ports or use the host network, where two cannot run side by side;
**auto** picks recreate exactly then and says why. A failed health wait removes the
new replicas and leaves (rolling) or puts back (recreate) the old ones serving. A
host-network service labelled ``watchfloor.port=auto`` picks a free port itself, so it
can run side by side after all (rolling, canary, blue-green).

Canary replicas (``watchfloor.track=canary``, adapters/docker_release.py) are not part of
the stable set: every verb here reads, deploys, restarts and scales the stable replicas
and leaves a canary alone; ``observe`` describes the stable set and names the canary.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from docker import errors as docker_errors

from adapters.base import AdapterError, ErrorKind, Observation, Progress, StopFlag, WriteResult, achieved_weight
from adapters.docker import (
    COMPOSE_PROJECT,
    COMPOSE_SERVICE,
    WORKLOAD_LABEL,
    image_version,
    replica_from_inspect,
    workload_key,
)
from adapters.wire import parse_rfc3339
from console.model import Health, Revision, WorkloadKey

if TYPE_CHECKING:
    from adapters.docker import DockerAdapter

REVISION_LABEL = "watchfloor.revision"
CHANGE_CAUSE_LABEL = "watchfloor.change-cause"
HISTORY_LABEL = "watchfloor.history"
TRACK_LABEL = "watchfloor.track"
"""``canary`` on canary replicas (adapters/docker_release.py)."""
COLOR_LABEL = "watchfloor.color"
"""``blue`` or ``green`` on blue-green replicas; a container without it is blue."""
PORT_LABEL = "watchfloor.port"
"""``auto``: the service picks a free port itself, so copies can share the host network."""
COMPOSE_NUMBER = "com.docker.compose.container-number"
RETAINED_NAME = re.compile(r"^(?P<base>.+)-rev(?P<revision>\d+)(?:-[0-9a-f]{6})?$")
"""``<name>-rev<n>``, with a random suffix when that name was taken."""

RETAIN_REVISIONS = 2
SETTLE_SECONDS = 2.0
"""Without a health check, a replica counts as ready after this long running without restarts."""
POLL_SECONDS = 0.1
HISTORY_KEPT = 20
RECOVERY_SECONDS = 60.0
"""Budget for bringing the old replicas back after a failed recreate."""
STRATEGIES = ("auto", "rolling", "recreate")

# Fields of a container's Config that the image provides unless the user set them; a
# clone onto another image keeps only what differs from the old image, so version 2
# brings its own (the old image's Env or version label must not ride along).
_IMAGE_DEFAULTS = ("User", "WorkingDir", "Volumes", "ExposedPorts", "StopSignal", "Shell", "Healthcheck")
_COPIED = ("Domainname", "AttachStdin", "AttachStdout", "AttachStderr", "Tty", "OpenStdin", "StdinOnce", "StopTimeout")
_OWN_LABELS = (REVISION_LABEL, CHANGE_CAUSE_LABEL, HISTORY_LABEL)
_NO_RESTART = {"Name": "no", "MaximumRetryCount": 0}


@dataclass(slots=True)
class Member:
    """One container of a workload, read fresh from ``inspect``."""

    id: str
    name: str
    state: str
    image: str
    """The image reference the container was created with (``web:1``)."""
    image_id: str
    labels: dict[str, str]
    revision: int
    retained: bool
    """Named ``…-rev<n>``: kept for rollback (stopped) or in flight (running)."""
    base_name: str
    """The name it serves under (its own, or the one before ``-rev<n>``)."""
    created: datetime | None
    finished: datetime | None
    data: dict[str, Any]

    @property
    def stopped(self) -> bool:
        return self.state in ("exited", "created", "dead")

    @property
    def canary(self) -> bool:
        return self.labels.get(TRACK_LABEL) == "canary"

    @property
    def color(self) -> str:
        return self.labels.get(COLOR_LABEL) or "blue"

    @property
    def restart_policy(self) -> dict[str, Any]:
        return (self.data.get("HostConfig") or {}).get("RestartPolicy") or dict(_NO_RESTART)

    @property
    def stop_timeout(self) -> int:
        value = (self.data.get("Config") or {}).get("StopTimeout")
        return int(value) if value is not None else 10


@dataclass(slots=True)
class _Incoming:
    """A replica that should serve after the write: a retained container or one to create."""

    final_name: str
    revision: int
    config: dict[str, Any] | None = None
    extra_networks: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    existing: Member | None = None
    id: str = ""
    created: bool = False


@dataclass(slots=True)
class _Retained:
    member: Member
    name: str
    policy: dict[str, Any]


class _NotReady(Exception):
    """New replicas did not become ready; ``reason`` is one phrase, ``detail`` for admins."""

    def __init__(self, reason: str, detail: str = "", developer: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail
        self.developer = developer


class DockerWrites:
    """The write verbs of one ``DockerAdapter`` (which owns the client and the environment)."""

    def __init__(
        self,
        adapter: DockerAdapter,
        *,
        retain_revisions: int = RETAIN_REVISIONS,
        settle_seconds: float = SETTLE_SECONDS,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        self._adapter = adapter
        self.retain_revisions = retain_revisions
        self.settle_seconds = settle_seconds
        self.poll_seconds = poll_seconds

    @property
    def api(self):
        return self._adapter.api

    @property
    def env(self) -> str:
        return self._adapter.environment.name

    # -- verbs ----------------------------------------------------------------------

    def deploy(
        self,
        key: WorkloadKey,
        image: str,
        *,
        strategy: str = "auto",
        timeout: float = 300.0,
        change_cause: str = "",
        progress: Progress | None = None,
        stop: StopFlag | None = None,
    ) -> WriteResult:
        say = progress or _silent
        if strategy not in STRATEGIES:
            raise AdapterError(
                ErrorKind.BAD_INPUT, f"unknown deploy strategy {strategy!r}; use one of {', '.join(STRATEGIES)}"
            )
        if not image.strip():
            raise AdapterError(ErrorKind.BAD_INPUT, f"deploy of {key.label}: no image given")
        deadline = time.monotonic() + timeout
        with self._translating(f"deploy of {key.label}"):
            members = self.members(key)
            current = self._current(key, members)
            self._ensure_image(image, say)
            chosen, why = self._strategy(key, current, strategy)
            if why:
                say(f"{chosen}: {why}")
            self._clear_leftovers(members, current, say)
            number = self._next_revision(members)
            labels = _own_labels(number, change_cause, _known_entries(members))
            from_version = _version_of(current)
            incoming = [self._clone(m, image=image, own_labels=labels) for m in current]
            say(f"revision {number}: {len(incoming)} new replica(s) of {key.label} from {image}")
            retained = self._replace(
                "Deploy", key, current, incoming, chosen, deadline, say, stop, serving=f"{from_version} still serving"
            )
            removed = self._prune(key, say)
            to_version = self._version_of_ids(incoming)
            note = self._no_healthcheck_note(incoming)
        ready = len(incoming)
        message = f"{key.label} now runs {to_version} (revision {number}), {ready}/{ready} healthy"
        if why:
            message = f"{chosen}: {why}; " + message
        return WriteResult(
            verb="deploy",
            workload=key,
            message=message + note,
            from_version=from_version,
            to_version=to_version,
            revision=number,
            strategy=chosen,
            detail=_detail(incoming, retained, removed, why),
        )

    def rollback(
        self,
        key: WorkloadKey,
        to_revision: int | None = None,
        *,
        timeout: float = 300.0,
        progress: Progress | None = None,
        stop: StopFlag | None = None,
    ) -> WriteResult:
        say = progress or _silent
        deadline = time.monotonic() + timeout
        with self._translating(f"rollback of {key.label}"):
            members = self.members(key)
            current = self._current(key, members)
            leftovers = self._clear_leftovers(members, current, say)
            current_revision = max(m.revision for m in current)
            if to_revision is not None and all(m.revision == to_revision for m in current):
                # Idempotent, as `kubectl rollout undo` to the current revision is: a rollback
                # resumed after an interrupted deploy finds the old revision serving and only
                # the interrupted write's replicas to remove (docs/reliability.md).
                return self._already_serving(key, current, leftovers, deadline, say, stop)
            known = {r.number: r for r in self._revisions(key, members)}
            target = self._rollback_target(key, members, current_revision, known, to_revision)
            image = known[target].image
            keep = [m for m in members if m.retained and m.stopped and m.revision == target and m.state != "created"]
            keep.sort(key=lambda m: m.finished or _EPOCH, reverse=True)
            incoming = self._rollback_incoming(current, keep, known[target], _known_entries(members))
            instant = all(i.existing is not None for i in incoming)
            if not instant:
                self._ensure_image(image, say)
            chosen, why = self._strategy(key, current + [i.existing for i in incoming if i.existing], "auto")
            how = "starting its retained containers" if instant else "re-creating it (no retained containers)"
            say(f"rolling {key.label} back to revision {target} ({image}) by {how}")
            from_version = _version_of(current)
            retained = self._replace(
                "Rollback",
                key,
                current,
                incoming,
                chosen,
                deadline,
                say,
                stop,
                serving=f"revision {current_revision} ({from_version}) still serving",
            )
            removed = self._prune(key, say)
            to_version = self._version_of_ids(incoming)
            note = self._no_healthcheck_note(incoming)
        count = len(incoming)
        message = (
            f"{key.label} rolled back to revision {target} ({image}), {count}/{count} healthy; "
            f"revision {current_revision} kept stopped"
        )
        if why:
            message = f"{chosen}: {why}; " + message
        detail = _detail(incoming, retained, removed, why)
        detail.update(instant=instant, rolled_back_from=current_revision)
        return WriteResult(
            verb="rollback",
            workload=key,
            message=message + note,
            from_version=from_version,
            to_version=to_version,
            revision=target,
            strategy=chosen,
            detail=detail,
        )

    def _already_serving(
        self,
        key: WorkloadKey,
        current: list[Member],
        leftovers: list[str],
        deadline: float,
        say: Progress,
        stop: StopFlag | None,
    ) -> WriteResult:
        """The rollback target already serves: start any of its replicas the engine left stopped, wait for health."""
        revision = current[0].revision
        version = _version_of(current)
        stopped = [m for m in current if m.stopped]
        for member in stopped:
            say(f"starting {member.name} (revision {revision}): it serves but was stopped")
            self.api.start(member.id)
        try:
            self._await_ready([m.id for m in current], deadline, say, stop, label="replica")
        except _NotReady as failure:
            raise AdapterError(
                ErrorKind.BACKEND,
                f"Rollback of {key.label} in {self.env}: revision {revision} ({version}) already serves "
                f"but {failure.reason}",
                admin_detail=failure.detail,
                developer_detail=failure.developer,
            ) from None
        count = len(current)
        message = f"{key.label} already runs revision {revision} ({version}), {count}/{count} healthy"
        if leftovers:
            message += f"; removed {', '.join(leftovers)}, left over from an interrupted write"
        if stopped:
            message += f"; started {', '.join(m.name for m in stopped)}"
        return WriteResult(
            verb="rollback",
            workload=key,
            message=message,
            from_version=version,
            to_version=version,
            revision=revision,
            detail={
                "started": [m.id for m in stopped],
                "stopped": [],
                "retained": [],
                "pruned": [],
                "recreate_reason": "",
                "leftovers_removed": leftovers,
                "instant": True,
                "rolled_back_from": revision,
            },
        )

    def restart(
        self,
        key: WorkloadKey,
        *,
        timeout: float = 300.0,
        progress: Progress | None = None,
        stop: StopFlag | None = None,
    ) -> WriteResult:
        say = progress or _silent
        deadline = time.monotonic() + timeout
        with self._translating(f"restart of {key.label}"):
            current = sorted(self._current(key, self.members(key)), key=lambda m: m.name)
            total = len(current)
            for index, member in enumerate(current, start=1):
                if stop is not None and stop.is_set():
                    raise AdapterError(
                        ErrorKind.BACKEND,
                        f"Restart of {key.label} stopped by the operator after {index - 1}/{total} replicas",
                    )
                say(f"restarting {member.name} ({index}/{total})")
                self.api.restart(member.id, timeout=member.stop_timeout)
                try:
                    self._await_ready([member.id], deadline, say, stop, label="restarted replica")
                except _NotReady as failure:
                    raise AdapterError(
                        ErrorKind.BACKEND,
                        f"Restart of {key.label} in {self.env} stopped at {member.name} ({index}/{total}): "
                        f"it {failure.reason}; the replicas after it were not restarted",
                        admin_detail=failure.detail,
                        developer_detail=failure.developer,
                    ) from None
            revision = max(m.revision for m in current)
        return WriteResult(
            verb="restart",
            workload=key,
            message=f"{key.label} restarted, {total}/{total} healthy",
            from_version=_version_of(current),
            to_version=_version_of(current),
            revision=revision,
            detail={"restarted": [m.id for m in current]},
        )

    def scale(
        self,
        key: WorkloadKey,
        replicas: int,
        *,
        timeout: float = 300.0,
        progress: Progress | None = None,
        stop: StopFlag | None = None,
    ) -> WriteResult:
        say = progress or _silent
        if replicas < 1:
            raise AdapterError(
                ErrorKind.BAD_INPUT,
                f"scale of {key.label} to {replicas}: a Docker workload needs at least one container "
                "(it is its only record of the configuration); stop it instead",
            )
        deadline = time.monotonic() + timeout
        with self._translating(f"scale of {key.label}"):
            members = self.members(key, canaries=True)  # their replica numbers are taken
            current = self._current(key, members)
            have = len(current)
            version = _version_of(current)
            revision = max(m.revision for m in current)
            if replicas > have:
                detail = self._scale_up(key, members, current, replicas, deadline, say, stop)
            elif replicas < have:
                detail = self._scale_down(current, have - replicas, say)
            else:
                detail = {}
        verb = "already has" if replicas == have else "now has"
        return WriteResult(
            verb="scale",
            workload=key,
            message=f"{key.label} {verb} {replicas} replica{'s' if replicas != 1 else ''} (was {have})",
            from_version=version,
            to_version=version,
            revision=revision,
            detail={"from_replicas": have, "to_replicas": replicas, **detail},
        )

    def history(self, key: WorkloadKey) -> list[Revision]:
        with self._translating(f"history of {key.label}"):
            return self._revisions(key, self.members(key))

    def observe(self, key: WorkloadKey) -> Observation:
        """The stable set's state; a canary or an idle blue-green colour beside it is named
        in ``reason`` and does not count as a rollout under way (release_state tells more)."""
        with self._translating(f"observe {key.label}"):
            members = self.members(key, canaries=True)
        current = [m for m in members if not m.retained and not m.canary]
        if not current:
            return Observation(workload=key, exists=False, health=Health.UNKNOWN, reason="no containers")
        live_color = current[0].color
        running_retained = [m for m in members if m.retained and not m.stopped]
        idle = [m for m in running_retained if m.color != live_color]
        in_flight = [m for m in running_retained if m.color == live_color]
        canaries = [m for m in members if m.canary and not m.retained]
        revision = max(m.revision for m in current)
        newest = [m for m in current if m.revision == revision]
        replicas = [replica_from_inspect(self.env, m.data) for m in current]
        ready = sum(1 for r in replicas if r.health is Health.HEALTHY)
        complete = not in_flight and len(newest) == len(current)
        health, reason = _observed_health(replicas, ready)
        if not complete:
            also = in_flight[0].name if in_flight else next(m.name for m in current if m.revision != revision)
            health, reason = Health.PROGRESSING, f"rollout under way: {also} runs beside the serving replicas"
        beside = _beside_note(canaries, idle, len(current), live_color)
        if beside:
            reason = f"{reason}; {beside}"
        return Observation(
            workload=key,
            exists=True,
            image=newest[0].image,
            version=image_version(newest[0].image, newest[0].labels),
            revision=revision,
            desired=len(current),
            updated=len(newest),
            ready=ready,
            available=ready,
            health=health,
            reason=reason,
            rollout_complete=complete,
        )

    # -- reading the workload -------------------------------------------------------

    def members(self, key: WorkloadKey, *, canaries: bool = False) -> list[Member]:
        """Every container of the workload, retained ones included, each inspected now.

        Canary replicas only when ``canaries`` is set: they are not the stable set, and
        their revision label (the one a promote will create) must not count as served.
        """
        members = []
        for summary in self.api.containers(all=True):
            labels = summary.get("Labels") or {}
            name = ((summary.get("Names") or [""])[0]).lstrip("/")
            if _member_key(self.env, name, labels) != key:
                continue
            if not canaries and labels.get(TRACK_LABEL) == "canary":
                continue
            try:
                data = self.api.inspect_container(summary["Id"])
            except docker_errors.NotFound:
                continue  # removed between the list and the inspect
            members.append(_member(data))
        return members

    def _current(self, key: WorkloadKey, members: list[Member]) -> list[Member]:
        current = [m for m in members if not m.retained and not m.canary]
        if not current:
            raise AdapterError(ErrorKind.NOT_FOUND, f"{key.label} has no containers in {self.env}")
        return current

    def _revisions(self, key: WorkloadKey, members: list[Member]) -> list[Revision]:
        return [
            Revision(key, n, entry.get("image", ""), parse_rfc3339(entry.get("at")), entry.get("cause", ""))
            for n, entry in sorted(_known_entries(members).items())
        ]

    def _next_revision(self, members: list[Member]) -> int:
        return max([m.revision for m in members] + list(_known_entries(members))) + 1

    def _rollback_target(
        self,
        key: WorkloadKey,
        members: list[Member],
        current_revision: int,
        known: dict[int, Revision],
        to_revision: int | None,
    ) -> int:
        if to_revision is not None:
            if to_revision == current_revision:
                raise AdapterError(ErrorKind.BAD_INPUT, f"{key.label} already runs revision {to_revision}")
            if to_revision not in known:
                numbers = ", ".join(str(n) for n in sorted(known)) or "none"
                raise AdapterError(
                    ErrorKind.NOT_FOUND, f"{key.label} has no revision {to_revision} (known revisions: {numbers})"
                )
            return to_revision
        # The revision that served last: the retained one stopped most recently, else
        # (all pruned) the newest other revision on record.
        retained = [m for m in members if m.retained and m.stopped and m.revision != current_revision]
        if retained:
            return max(retained, key=lambda m: m.finished or _EPOCH).revision
        earlier = [n for n in known if n != current_revision]
        if earlier:
            return max(earlier)
        raise AdapterError(
            ErrorKind.NOT_FOUND,
            f"{key.label} has no previous revision to roll back to (it has only ever run revision {current_revision})",
        )

    def _rollback_incoming(
        self, current: list[Member], keep: list[Member], revision: Revision, known: dict[int, dict[str, Any]]
    ) -> list[_Incoming]:
        """Pair each serving replica with a retained container of the target, else a clone."""
        target = revision.number
        spare = list(keep)
        incoming: list[_Incoming] = []
        unmatched: list[Member] = []
        for member in sorted(current, key=lambda m: m.name):
            match = next((r for r in spare if r.base_name == member.name), None)
            if match is None:
                unmatched.append(member)
                continue
            spare.remove(match)
            incoming.append(_Incoming(final_name=member.name, revision=target, existing=match))
        # Re-created replicas get the revision's own number: same image, same configuration.
        labels = _own_labels(target, revision.change_cause, known)
        for member in unmatched:
            if spare:
                incoming.append(_Incoming(final_name=member.name, revision=target, existing=spare.pop(0)))
            else:
                incoming.append(self._clone(member, image=revision.image, own_labels=labels))
        return incoming

    # -- the swap ------------------------------------------------------------------

    def _replace(
        self,
        verb: str,
        key: WorkloadKey,
        current: list[Member],
        incoming: list[_Incoming],
        strategy: str,
        deadline: float,
        say: Progress,
        stop: StopFlag | None,
        *,
        serving: str,
    ) -> list[_Retained]:
        """Make ``incoming`` serve in place of ``current``; return the retained old replicas."""
        if strategy == "recreate":
            return self._recreate(verb, key, current, incoming, deadline, say, stop)
        try:
            self._bring_up(incoming, say, stop, temporary_names=True)
            self._await_ready([i.id for i in incoming], deadline, say, stop, label=_label(verb))
        except _NotReady as failure:
            self._discard(incoming, say)
            raise AdapterError(
                ErrorKind.BACKEND,
                f"{verb} of {key.label} in {self.env} failed: {failure.reason} — removed the new replicas; {serving}",
                admin_detail=failure.detail,
                developer_detail=failure.developer,
            ) from None
        except BaseException:
            self._discard(incoming, say)
            raise
        retained = [self._retire(member, say) for member in current]
        policy = current[0].restart_policy
        for item in incoming:
            self._take_name(item, policy)
        return retained

    def _recreate(
        self,
        verb: str,
        key: WorkloadKey,
        current: list[Member],
        incoming: list[_Incoming],
        deadline: float,
        say: Progress,
        stop: StopFlag | None,
    ) -> list[_Retained]:
        retained = [self._retire(member, say) for member in current]
        try:
            self._bring_up(incoming, say, stop, temporary_names=False, policy=current[0].restart_policy)
            self._await_ready([i.id for i in incoming], deadline, say, stop, label=_label(verb))
        except BaseException as error:
            self._discard(incoming, say)
            restored = self._restore(retained, say)
            if not isinstance(error, _NotReady):
                raise
            raise AdapterError(
                ErrorKind.BACKEND,
                f"{verb} of {key.label} in {self.env} failed: {error.reason} — removed the new replicas; {restored}",
                admin_detail=error.detail,
                developer_detail=error.developer,
            ) from None
        return retained

    def _bring_up(
        self,
        incoming: list[_Incoming],
        say: Progress,
        stop: StopFlag | None,
        *,
        temporary_names: bool,
        policy: dict[str, Any] | None = None,
    ) -> None:
        for item in incoming:
            if stop is not None and stop.is_set():
                raise _NotReady("stopped by the operator before every new replica had started")
            if item.existing is not None:
                item.id = item.existing.id
                if not temporary_names:
                    self.api.rename(item.id, item.final_name)
                if policy is not None:
                    self._set_policy(item.id, policy)
                say(f"starting retained {item.existing.name} (revision {item.revision})")
            else:
                name = f"{item.final_name}-rev{item.revision}" if temporary_names else item.final_name
                item.id = self._create(item, name)
                item.created = True
                say(f"created {name} (revision {item.revision})")
            self.api.start(item.id)

    def _create(self, item: _Incoming, name: str) -> str:
        assert item.config is not None
        try:
            created = self.api.create_container_from_config(item.config, name=name)
        except docker_errors.APIError as error:
            if error.status_code != 409:
                raise
            # The name is taken (a leftover from an interrupted write): keep it recognisable.
            created = self.api.create_container_from_config(item.config, name=f"{name}-{secrets.token_hex(3)}")
        container_id = created["Id"]
        item.id = container_id
        for network, endpoint in item.extra_networks:
            self.api.connect_container_to_network(
                container_id,
                network,
                aliases=endpoint.get("Aliases"),
                links=endpoint.get("Links"),
                ipv4_address=(endpoint.get("IPAMConfig") or {}).get("IPv4Address"),
            )
        return container_id

    def _discard(self, incoming: list[_Incoming], say: Progress) -> None:
        """Undo ``_bring_up``: remove created containers, stop retained ones again.

        Best effort: a failure here is reported as progress and the next one is tried,
        so the error that made us undo is the one the caller raises.
        """
        for item in incoming:
            if not item.id:
                continue
            try:
                if item.created:
                    self.api.remove_container(item.id, force=True, v=True)
                    say(f"removed new replica {item.final_name} (revision {item.revision})")
                elif item.existing is not None:
                    self.api.stop(item.id, timeout=item.existing.stop_timeout)
                    self._set_policy(item.id, _NO_RESTART)
                    if self._name_of(item.id) != item.existing.name:
                        self.api.rename(item.id, item.existing.name)
                    say(f"stopped retained {item.existing.name} again")
            except docker_errors.NotFound:
                continue
            except Exception as error:  # noqa: BLE001 - see the docstring
                say(f"could not undo {item.final_name} (revision {item.revision}): {_first_line(error)}")

    def _retire(self, member: Member, say: Progress) -> _Retained:
        """Stop a serving replica and keep it, renamed ``<name>-rev<n>``, for rollback."""
        policy = member.restart_policy
        say(f"stopping {member.name} (revision {member.revision})")
        self.api.stop(member.id, timeout=member.stop_timeout)
        if (member.data.get("HostConfig") or {}).get("AutoRemove"):
            return _Retained(member, "", policy)  # removed itself on stop: nothing to keep
        if policy.get("Name") not in (None, "", "no"):
            self._set_policy(member.id, _NO_RESTART)
        name = self._rename_unique(member.id, f"{member.name}-rev{member.revision}")
        say(f"kept {member.name} stopped as {name} for rollback")
        return _Retained(member, name, policy)

    def _restore(self, retained: list[_Retained], say: Progress) -> str:
        """After a failed recreate: the old replicas back under their names, started, ready."""
        ids = []
        try:
            for item in retained:
                if not item.name:
                    continue
                self.api.rename(item.member.id, item.member.name)
                self._set_policy(item.member.id, item.policy)
                self.api.start(item.member.id)
                ids.append(item.member.id)
            say(f"restarted the old replicas ({len(ids)}); waiting for them to be ready")
            self._await_ready(ids, time.monotonic() + RECOVERY_SECONDS, say, None, label="old replica")
        except _NotReady as failure:
            return f"the old replicas were restarted but {failure.reason}"
        except (docker_errors.APIError, AdapterError) as error:
            return f"restarting the old replicas failed too: {_first_line(error)}"
        version = _version_of([item.member for item in retained])
        return f"restarted the old replicas, {version} serving again"

    def _take_name(self, item: _Incoming, policy: dict[str, Any]) -> None:
        if self._name_of(item.id) != item.final_name:
            self.api.rename(item.id, item.final_name)
        if item.existing is not None:
            self._set_policy(item.id, policy)

    def _rename_unique(self, container_id: str, name: str) -> str:
        try:
            self.api.rename(container_id, name)
        except docker_errors.APIError as error:
            if error.status_code != 409:
                raise
            name = f"{name}-{secrets.token_hex(3)}"
            self.api.rename(container_id, name)
        return name

    def _set_policy(self, container_id: str, policy: dict[str, Any]) -> None:
        wanted = _policy(policy)
        current = (self.api.inspect_container(container_id).get("HostConfig") or {}).get("RestartPolicy") or {}
        if _policy(current) != wanted:
            self.api.update_container(container_id, restart_policy=wanted)

    def _name_of(self, container_id: str) -> str:
        return (self.api.inspect_container(container_id).get("Name") or "").lstrip("/")

    def _prune(self, key: WorkloadKey, say: Progress) -> list[str]:
        """Remove retained containers beyond the last ``retain_revisions`` revisions that served."""
        members = self.members(key)
        serving = {m.revision for m in members if not m.retained}
        kept = [m for m in members if m.retained and m.stopped and m.revision not in serving]
        last_stop: dict[int, datetime] = {}
        for member in kept:
            finished = member.finished or _EPOCH
            last_stop[member.revision] = max(last_stop.get(member.revision, _EPOCH), finished)
        keep = set(sorted(last_stop, key=last_stop.__getitem__, reverse=True)[: self.retain_revisions])
        removed = []
        for member in kept:
            if member.revision in keep:
                continue
            try:
                self.api.remove_container(member.id, v=True)
            except docker_errors.NotFound:
                continue
            removed.append(member.name)
            say(f"removed {member.name}: revision {member.revision} is older than the last {self.retain_revisions}")
        return removed

    def _clear_leftovers(self, members: list[Member], current: list[Member], say: Progress) -> list[str]:
        """Remove new replicas an interrupted write left running (``…-rev<n>`` newer than what serves).

        Returns the names removed. A stopped ``…-rev<n>`` is kept: it may be a revision
        that served and was retained for rollback, which its name and labels cannot tell apart.
        """
        serving = max(m.revision for m in current)
        removed = []
        for member in members:
            if member.retained and (member.state == "created" or (not member.stopped and member.revision > serving)):
                say(f"removing {member.name}, left over from an interrupted write")
                try:
                    self.api.remove_container(member.id, force=True, v=True)
                except docker_errors.NotFound:
                    continue  # removed meanwhile (AutoRemove, another console)
                removed.append(member.name)
        return removed

    # -- waiting for health ---------------------------------------------------------

    def _await_ready(
        self,
        ids: list[str],
        deadline: float,
        say: Progress,
        stop: StopFlag | None,
        *,
        label: str,
    ) -> None:
        """Block until every container is ready; raise :class:`_NotReady` at the first that cannot be."""
        total = len(ids)
        pending = {container_id: None for container_id in ids}
        restarts: dict[str, int] = {}
        say(f"waiting for {total} {label}{'s' if total != 1 else ''} to pass the health check")
        while pending:
            for container_id in list(pending):
                data = self.api.inspect_container(container_id)
                baseline = restarts.setdefault(container_id, int(data.get("RestartCount") or 0))
                verdict = _readiness(data, self.settle_seconds, baseline)
                if verdict is True:
                    pending.pop(container_id)
                    say(f"{total - len(pending)}/{total} {label}s ready")
                elif isinstance(verdict, str):
                    raise self._not_ready(ids, f"{label} {_name(data)} {verdict}")
            if not pending:
                return
            if stop is not None and stop.is_set():
                raise self._not_ready(ids, "stopped by the operator before the new replicas were ready")
            if time.monotonic() >= deadline:
                names = ", ".join(self._name_of(i) for i in pending)
                raise self._not_ready(ids, f"{names} not ready before the timeout")
            time.sleep(self.poll_seconds)

    def _not_ready(self, ids: list[str], reason: str) -> _NotReady:
        lines, states = [], []
        for container_id in ids:
            try:
                data = self.api.inspect_container(container_id)
            except docker_errors.APIError:
                continue
            state = data.get("State") or {}
            health = state.get("Health") or {}
            lines.append(
                f"{_name(data)}: state {state.get('Status')}, exit code {state.get('ExitCode')}, "
                f"health {health.get('Status', 'none')}, restarts {data.get('RestartCount', 0)}"
            )
            for check in (health.get("Log") or [])[-3:]:
                output = " ".join((check.get("Output") or "").split())[:300]
                lines.append(f"  health check exit {check.get('ExitCode')}: {output}")
            try:
                tail = self.api.logs(container_id, tail=5).decode("utf-8", errors="replace").splitlines()
            except docker_errors.APIError:
                tail = []
            lines.extend(f"  log: {line}" for line in tail)
            states.append({"id": container_id, "State": state})
        return _NotReady(reason, "\n".join(lines), json.dumps(states, default=str)[:8000])

    # -- choosing and building ------------------------------------------------------

    def _strategy(self, key: WorkloadKey, members: list[Member], asked: str) -> tuple[str, str]:
        """(strategy, why recreate was forced or "")."""
        why = next((reason for m in members if (reason := _side_by_side_blocker(key, m))), "")
        if asked == "rolling" and why:
            raise AdapterError(
                ErrorKind.BAD_INPUT,
                f"a rolling deploy of {key.label} cannot work: {why}; use strategy recreate (or auto)",
            )
        if asked == "recreate":
            return "recreate", ""
        return ("recreate", why) if why else ("rolling", "")

    def _ensure_image(self, image: str, say: Progress) -> None:
        try:
            self.api.inspect_image(image)
            return
        except docker_errors.ImageNotFound:
            pass
        say(f"pulling {image}")
        try:
            self.api.pull(image)
            self.api.inspect_image(image)
        except docker_errors.APIError as error:
            raise AdapterError(
                ErrorKind.NOT_FOUND,
                f"image {image} is not on the engine and could not be pulled; nothing was changed",
                admin_detail=_first_line(error.explanation or error),
                developer_detail=repr(error),
            ) from error

    def _image_config(self, image_id: str) -> dict[str, Any] | None:
        try:
            return self.api.inspect_image(image_id).get("Config") or {}
        except docker_errors.APIError:
            return None  # the old image is gone: clone the container's config as it is

    def _clone(self, member: Member, *, image: str, own_labels: dict[str, str]) -> _Incoming:
        """A replica to create from ``member``'s configuration, running ``image``.

        ``own_labels`` replace the member's revision, change-cause and history labels.
        """
        config = _user_config(member, self._image_config(member.image_id))
        labels = config.pop("Labels")
        for own in _OWN_LABELS:
            labels.pop(own, None)
        if not (labels.get(COMPOSE_PROJECT) and labels.get(COMPOSE_SERVICE)) and not labels.get(WORKLOAD_LABEL):
            # The new replica starts under another name; the label keeps it in the workload.
            labels[WORKLOAD_LABEL] = _member_key(self.env, member.name, member.labels).name
        labels.update(own_labels)
        config.update(Image=image, Labels=labels, HostConfig=_host_config(member))
        networking, extra = _networking(member)
        if networking:
            config["NetworkingConfig"] = {"EndpointsConfig": networking}
        revision = int(own_labels.get(REVISION_LABEL) or 1)
        return _Incoming(final_name=member.name, revision=revision, config=config, extra_networks=extra)

    def _scale_up(
        self,
        key: WorkloadKey,
        members: list[Member],
        current: list[Member],
        replicas: int,
        deadline: float,
        say: Progress,
        stop: StopFlag | None,
    ) -> dict[str, Any]:
        template = max(current, key=lambda m: m.created or _EPOCH)
        blocker = _side_by_side_blocker(key, template)
        if blocker:
            raise AdapterError(ErrorKind.BAD_INPUT, f"scale of {key.label} beyond one replica cannot work: {blocker}")
        names = {((s.get("Names") or [""])[0]).lstrip("/") for s in self.api.containers(all=True)}
        base, separator = _name_base(template.name)
        compose = bool(template.labels.get(COMPOSE_PROJECT) and template.labels.get(COMPOSE_SERVICE))
        used = {_replica_number(m) for m in members}
        incoming = []
        number = max(used | {1})
        for _ in range(replicas - len(current)):
            number += 1
            while f"{base}{separator}{number}" in names or number in used:
                number += 1
            same_revision = {k: v for k, v in template.labels.items() if k in _OWN_LABELS}
            item = self._clone(template, image=template.image, own_labels=same_revision)
            item.final_name = f"{base}{separator}{number}"
            if compose:
                item.config["Labels"][COMPOSE_NUMBER] = str(number)
            incoming.append(item)
        try:
            self._bring_up(incoming, say, stop, temporary_names=False)
            self._await_ready([i.id for i in incoming], deadline, say, stop, label="new replica")
        except _NotReady as failure:
            self._discard(incoming, say)
            raise AdapterError(
                ErrorKind.BACKEND,
                f"Scale of {key.label} in {self.env} failed: {failure.reason} — removed the new replicas; "
                f"{len(current)} still serving",
                admin_detail=failure.detail,
                developer_detail=failure.developer,
            ) from None
        except BaseException:
            self._discard(incoming, say)
            raise
        return {"started": [i.id for i in incoming], "names": [i.final_name for i in incoming]}

    def _scale_down(self, current: list[Member], count: int, say: Progress) -> dict[str, Any]:
        victims = sorted(current, key=lambda m: m.created or _EPOCH, reverse=True)[:count]
        for member in victims:
            say(f"stopping and removing {member.name}")
            self.api.stop(member.id, timeout=member.stop_timeout)
            self.api.remove_container(member.id, v=True, force=True)
        return {"removed": [m.id for m in victims], "names": [m.name for m in victims]}

    # -- small helpers ----------------------------------------------------------------

    def _version_of_ids(self, incoming: list[_Incoming]) -> str:
        for item in incoming:
            data = self.api.inspect_container(item.id)
            config = data.get("Config") or {}
            return image_version(config.get("Image") or "", config.get("Labels") or {})
        return ""

    def _no_healthcheck_note(self, incoming: list[_Incoming]) -> str:
        for item in incoming:
            if not (self.api.inspect_container(item.id).get("State") or {}).get("Health"):
                return f" (no health check: counted ready after {self.settle_seconds:g} s running without restarts)"
        return ""

    @contextlib.contextmanager
    def _translating(self, doing: str) -> Iterator[None]:
        """Only AdapterError leaves a write: the SDK's and requests' errors are translated."""
        try:
            yield
        except AdapterError:
            raise
        except Exception as error:  # noqa: BLE001 - translated, never swallowed
            raise self._adapter._translate(error, doing) from error


# -- pure helpers ------------------------------------------------------------------------

_EPOCH = datetime.fromtimestamp(0, UTC)


def _silent(_: str) -> None:
    pass


def _label(verb: str) -> str:
    return "new replica" if verb == "Deploy" else "replica"


def retained_revision(name: str) -> int | None:
    """The revision a ``<name>-rev<n>`` container holds, or None for a serving name."""
    match = RETAINED_NAME.match(name)
    return int(match.group("revision")) if match else None


def _member_key(env: str, name: str, labels: dict[str, str]) -> WorkloadKey:
    match = RETAINED_NAME.match(name)
    return workload_key(env, match.group("base") if match else name, labels)


def _member(data: dict[str, Any]) -> Member:
    config = data.get("Config") or {}
    state = data.get("State") or {}
    labels = dict(config.get("Labels") or {})
    name = (data.get("Name") or "").lstrip("/")
    match = RETAINED_NAME.match(name)
    try:
        revision = int(labels.get(REVISION_LABEL) or 1)
    except ValueError:
        revision = 1
    return Member(
        id=data["Id"],
        name=name,
        state=state.get("Status") or "",
        image=config.get("Image") or "",
        image_id=data.get("Image") or "",
        labels=labels,
        revision=revision,
        retained=match is not None,
        base_name=match.group("base") if match else name,
        created=parse_rfc3339(data.get("Created")),
        finished=parse_rfc3339(state.get("FinishedAt")),
        data=data,
    )


def _entries(member: Member) -> list[dict[str, Any]]:
    """Revisions known to ``member``: its recorded history plus itself."""
    try:
        recorded = json.loads(member.labels.get(HISTORY_LABEL) or "[]")
    except ValueError:
        recorded = []
    entries = [e for e in recorded if isinstance(e, dict) and isinstance(e.get("n"), int) and e["n"] != member.revision]
    created = member.created.isoformat() if member.created else None
    entries.append(
        {"n": member.revision, "image": member.image, "cause": member.labels.get(CHANGE_CAUSE_LABEL, ""), "at": created}
    )
    return entries


def _known_entries(members: list[Member]) -> dict[int, dict[str, Any]]:
    """Every revision the workload's containers know of, by number; the containers' own facts win."""
    known: dict[int, dict[str, Any]] = {}
    recorded = [e for m in members for e in _entries(m)[:-1]]
    own = [_entries(m)[-1] for m in sorted(members, key=lambda m: m.created or _EPOCH)]
    for entry in recorded + own:
        earlier = known.get(entry["n"])
        if earlier is not None and earlier.get("at") and (not entry.get("at") or earlier["at"] < entry["at"]):
            entry = {**entry, "at": earlier["at"]}  # a revision dates from its first container
        known[entry["n"]] = entry
    return known


def _own_labels(revision: int, cause: str, known: dict[int, dict[str, Any]]) -> dict[str, str]:
    history = [known[n] for n in sorted(known) if n != revision][-HISTORY_KEPT:]
    return {
        REVISION_LABEL: str(revision),
        CHANGE_CAUSE_LABEL: cause,
        HISTORY_LABEL: json.dumps(history, separators=(",", ":")),
    }


def _readiness(data: dict[str, Any], settle: float, restarts_before: int) -> bool | str | None:
    """True when ready, a phrase when it never will be, None while it may still become ready."""
    state = data.get("State") or {}
    status = state.get("Status")
    if status == "running":
        if int(data.get("RestartCount") or 0) > restarts_before:
            return "restarted (it crashed)"
        health = state.get("Health")
        if health:
            if health.get("Status") == "healthy":
                return True
            if health.get("Status") == "unhealthy":
                last = (health.get("Log") or [{}])[-1]
                output = " ".join((last.get("Output") or "").split())[:120]
                return "became unhealthy" + (f" (health check: {output})" if output else "")
            return None
        started = parse_rfc3339(state.get("StartedAt"))
        if started is not None and (datetime.now(UTC) - started).total_seconds() >= settle:
            return True
        return None
    if status == "restarting":
        return f"is restarting (exit code {state.get('ExitCode')})"
    if status in ("exited", "dead"):
        return f"exited with code {state.get('ExitCode')}" + (f": {state['Error']}" if state.get("Error") else "")
    if status in ("created", "paused"):
        return None
    return f"is {status or 'in an unknown state'}"


def _side_by_side_blocker(key: WorkloadKey, member: Member) -> str:
    """Why a second copy of ``member`` cannot run beside it, or ""."""
    host = member.data.get("HostConfig") or {}
    if host.get("NetworkMode") == "host" and member.labels.get(PORT_LABEL) != "auto":
        return f"{key.name} uses the host network"
    for container_port, bindings in sorted((host.get("PortBindings") or {}).items()):
        for binding in bindings or []:
            port = (binding or {}).get("HostPort") or ""
            if port not in ("", "0"):
                return f"{key.name} binds host port {port}"
    return ""


def _user_config(member: Member, image_config: dict[str, Any] | None) -> dict[str, Any]:
    """The parts of ``member``'s Config its creator chose, as opposed to its image's defaults."""
    config = member.data.get("Config") or {}
    result: dict[str, Any] = {name: config[name] for name in _COPIED if name in config}
    hostname = config.get("Hostname") or ""
    if hostname and hostname != member.id[:12]:
        result["Hostname"] = hostname  # set by the user, not the container id Docker defaults to
    labels = dict(config.get("Labels") or {})
    if image_config is None:
        for name in (*_IMAGE_DEFAULTS, "Env", "Cmd", "Entrypoint"):
            if config.get(name) is not None:
                result[name] = config[name]
        result["Labels"] = labels
        return result
    for name in _IMAGE_DEFAULTS:
        if config.get(name) is not None and config.get(name) != image_config.get(name):
            result[name] = config[name]
    image_env = set(image_config.get("Env") or [])
    result["Env"] = [item for item in config.get("Env") or [] if item not in image_env]
    if config.get("Entrypoint") != image_config.get("Entrypoint"):
        # A chosen entrypoint drops the image's Cmd in Docker, so Cmd was chosen too.
        result["Entrypoint"] = config.get("Entrypoint")
        result["Cmd"] = config.get("Cmd")
    elif config.get("Cmd") != image_config.get("Cmd"):
        result["Cmd"] = config.get("Cmd")
    image_labels = image_config.get("Labels") or {}
    result["Labels"] = {k: v for k, v in labels.items() if image_labels.get(k) != v}
    return result


def _host_config(member: Member) -> dict[str, Any]:
    host = dict(member.data.get("HostConfig") or {})
    links = host.get("Links")
    if links:
        # inspect says "/db:/web/database"; create wants "db:database".
        pairs = (link.partition(":") for link in links)
        host["Links"] = [f"{a.lstrip('/')}:{b.rsplit('/', 1)[-1]}" for a, _, b in pairs]
    return host


def _networking(member: Member) -> tuple[dict[str, Any], list[tuple[str, dict[str, Any]]]]:
    """Endpoint config for the create call (one network) and the networks to connect after."""
    mode = (member.data.get("HostConfig") or {}).get("NetworkMode") or ""
    networks = ((member.data.get("NetworkSettings") or {}).get("Networks")) or {}
    if mode in ("none", "host") or mode.startswith("container:"):
        return {}, []
    short_id = member.id[:12]
    endpoints = {}
    for name, settings in networks.items():
        settings = settings or {}
        endpoints[name] = {
            "Aliases": [a for a in settings.get("Aliases") or [] if a != short_id] or None,
            "Links": settings.get("Links"),
            "IPAMConfig": settings.get("IPAMConfig"),
        }
    primary = mode if mode in endpoints else next(iter(endpoints), None)
    first = {primary: endpoints.pop(primary)} if primary else {}
    return first, list(endpoints.items())


def _name_base(name: str) -> tuple[str, str]:
    match = re.search(r"([-_.])(\d+)$", name)
    if match:
        return name[: match.start()], match.group(1)
    return name, "-"


def _replica_number(member: Member) -> int:
    try:
        return int(member.labels.get(COMPOSE_NUMBER) or "")
    except ValueError:
        pass
    match = re.search(r"[-_.](\d+)$", member.base_name)
    return int(match.group(1)) if match else 1


def _version_of(members: list[Member]) -> str:
    if not members:
        return ""
    newest = max(members, key=lambda m: (m.revision, m.created or _EPOCH))
    return image_version(newest.image, newest.labels)


def _observed_health(replicas: list, ready: int) -> tuple[Health, str]:
    total = len(replicas)
    if ready == total:
        return Health.HEALTHY, f"{ready}/{total} healthy"
    worst = max(replicas, key=lambda r: r.health.severity)
    sentence = f"{ready}/{total} healthy; {worst.name}: {worst.reason}"
    if ready == 0 and worst.health in (Health.FAILED, Health.DEGRADED):
        return Health.FAILED, sentence
    if all(r.health in (Health.HEALTHY, Health.PROGRESSING) for r in replicas):
        return Health.PROGRESSING, sentence
    return Health.DEGRADED, sentence


def _beside_note(canaries: list[Member], idle: list[Member], stable: int, live_color: str) -> str:
    """What runs beside the stable set, for ``observe``'s reason, or ""."""
    notes = []
    if canaries:
        version = image_version(canaries[0].image, canaries[0].labels)
        share = achieved_weight(stable, len(canaries))
        notes.append(f"canary {version}: {len(canaries)} of {stable + len(canaries)} replicas ({share} %)")
    if idle:
        version = image_version(idle[0].image, idle[0].labels)
        notes.append(f"blue-green: {idle[0].color} {version} idle beside live {live_color}")
    return "; ".join(notes)


def _policy(policy: dict[str, Any]) -> dict[str, Any]:
    return {"Name": policy.get("Name") or "no", "MaximumRetryCount": policy.get("MaximumRetryCount") or 0}


def _name(data: dict[str, Any]) -> str:
    return (data.get("Name") or data.get("Id", "")[:12]).lstrip("/")


def _detail(incoming: list[_Incoming], retained: list[_Retained], removed: list[str], why: str) -> dict[str, Any]:
    return {
        "started": [i.id for i in incoming],
        "stopped": [r.member.id for r in retained],
        "retained": [r.name for r in retained if r.name],
        "pruned": removed,
        "recreate_reason": why,
    }


def _first_line(value: object) -> str:
    text = str(value).strip()
    return text.splitlines()[0] if text else ""


__all__ = [
    "DockerWrites",
    "Member",
    "retained_revision",
    "RETAINED_NAME",
    "REVISION_LABEL",
    "CHANGE_CAUSE_LABEL",
    "TRACK_LABEL",
    "COLOR_LABEL",
    "PORT_LABEL",
]
