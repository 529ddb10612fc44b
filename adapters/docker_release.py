"""Docker adapter, progressive releases: canary and blue-green (issue D, DESIGN §4).

Built on the write side (adapters/docker_write.py), whose pieces it reuses: the clone of
a container's configuration onto another image, the health gate, the kept revisions.
A Docker workload is only its containers, so everything a release needs to know is on
them, where every console talking to the engine sees it.

**Canary.** K canary replicas of the new image run beside the N stable ones. Each is a
clone of the newest stable replica that keeps every label (Compose's too, so it stays in
the same workload row) and adds ``watchfloor.track=canary`` and the revision labels the
promote will give the stable set. Names: ``<project>-<service>-canary-<i>`` for a
Compose service, ``<workload>-canary-<i>`` otherwise. The weight is a replica ratio:
K = ``canary_replicas(N, weight)``, and every result says what was achieved ("canary 2:
1 of 4 replicas = 25 %, asked 25 %"). New canaries must pass their health check (or run
settled when the image has none); when they do not, the ones just started are removed.
``promote`` is a rolling deploy of the canary's image to the stable replicas
(health-gated; the old ones are kept for rollback as after any deploy), then the
canaries are removed. ``abort`` stops and removes the canaries; stable is not touched.
The stable verbs (deploy, rollback, restart, scale) act on the stable set only, and
``observe`` describes the stable set and names the canary in its ``reason``.

**Blue-green.** The live colour is the ``watchfloor.color`` label of the serving
replicas (none means blue). ``bluegreen_deploy`` starts one replica of the other colour
per live replica, named ``<name>-rev<n>`` as a deploy names a new replica, labelled with
its colour and the next revision, health-gated, and *without* the live replicas' network
aliases, so a Compose network's service name keeps reaching the live colour only.

- ``switch``: the idle replicas get the live ones' aliases, the live replicas are
  stopped and kept as ``<name>-rev<n>`` (hidden by the read side, like any kept
  revision), and the idle ones take the serving names.
- ``switch_back``: a rollback to the kept colour, which starts its kept containers
  again (the same container ids, nothing created) and stops and keeps the other colour.
  A ``switch`` after a switch back does the same the other way.
- ``scale_down`` removes the kept colour's stopped containers: Docker has no replica
  count to set to zero, and stopped containers hold only disk. The revision stays in
  the history label, so a later rollback to it re-creates it from its image.
- ``abort`` (before a switch) stops and removes the idle replicas; live is not touched.

**Ports.** Two sets run side by side, so a service that publishes a fixed host port, or
uses the host network, is refused with ``BAD_INPUT`` naming what it binds — unless it
is labelled ``watchfloor.port=auto``: it picks a free port itself (and registers that
port wherever its clients or Prometheus find it).

Removals stop a container before removing it, so it can deregister itself; they do not
heed ``stop`` (a half-removed canary helps nobody). Starting new replicas does.
"""

from __future__ import annotations

import time

from docker import errors as docker_errors

from adapters.base import (
    AdapterError,
    ErrorKind,
    Progress,
    ReleaseState,
    StopFlag,
    WriteResult,
    achieved_weight,
    canary_replicas,
)
from adapters.docker import COMPOSE_PROJECT, COMPOSE_SERVICE, image_version, replica_from_inspect
from adapters.docker_write import (
    _EPOCH,
    _OWN_LABELS,
    CHANGE_CAUSE_LABEL,
    COLOR_LABEL,
    COMPOSE_NUMBER,
    TRACK_LABEL,
    DockerWrites,
    Member,
    _Incoming,
    _known_entries,
    _networking,
    _NotReady,
    _own_labels,
    _replica_number,
    _side_by_side_blocker,
    _silent,
    _version_of,
)
from console.model import Health, WorkloadKey

COLORS = ("blue", "green")


class DockerReleases(DockerWrites):
    """The canary and blue-green verbs of one ``DockerAdapter`` (the write verbs are inherited)."""

    # -- canary -------------------------------------------------------------------------

    def canary_start(
        self,
        key: WorkloadKey,
        image: str,
        weight: int,
        *,
        timeout: float = 300.0,
        change_cause: str = "",
        progress: Progress | None = None,
        stop: StopFlag | None = None,
    ) -> WriteResult:
        say = progress or _silent
        _check_weight(key, weight, "canary start")
        if not image.strip():
            raise AdapterError(ErrorKind.BAD_INPUT, f"canary of {key.label}: no image given")
        deadline = time.monotonic() + timeout
        with self._translating(f"canary of {key.label}"):
            members = self.members(key, canaries=True)
            stable = self._current(key, members)
            self._refuse_release_under_way(key, members, stable, "start a canary")
            self._refuse_side_by_side("Canary", key, stable)
            template = max(stable, key=lambda m: m.created or _EPOCH)
            if template.image == image:
                raise AdapterError(
                    ErrorKind.BAD_INPUT, f"canary of {key.label}: the stable replicas already run {image}"
                )
            self._ensure_image(image, say)
            history = [m for m in members if not m.canary]
            number = self._next_revision(history)
            labels = {**_own_labels(number, change_cause, _known_entries(history)), TRACK_LABEL: "canary"}
            count = canary_replicas(len(stable), weight)
            incoming = self._canary_incoming(key, template, image, labels, count, members)
            say(f"canary of {key.label}: {count} replica(s) of {image} beside {len(stable)} stable")
            self._start_gated(
                "Canary", key, incoming, deadline, say, stop, what="canary replica", serving=_serving(stable)
            )
            version = self._version_of_ids(incoming)
            note = self._no_healthcheck_note(incoming)
        return WriteResult(
            verb="canary.start",
            workload=key,
            message=_weight_sentence(version, len(stable), count, weight) + note,
            from_version=_version_of(stable),
            to_version=version,
            revision=max(m.revision for m in stable),
            detail={
                "started": [i.id for i in incoming],
                "names": [i.final_name for i in incoming],
                "canary": [i.id for i in incoming],
                "stable": [m.id for m in stable],
                "image": image,
                "canary_revision": number,
                "weight": achieved_weight(len(stable), count),
                "asked_weight": weight,
            },
        )

    def canary_set_weight(
        self,
        key: WorkloadKey,
        weight: int,
        *,
        timeout: float = 300.0,
        progress: Progress | None = None,
        stop: StopFlag | None = None,
    ) -> WriteResult:
        say = progress or _silent
        _check_weight(key, weight, "canary weight")
        deadline = time.monotonic() + timeout
        with self._translating(f"canary weight of {key.label}"):
            members = self.members(key, canaries=True)
            stable = self._current(key, members)
            canaries = _canaries(members)
            if not canaries:
                raise AdapterError(
                    ErrorKind.CONFLICT, f"{key.label} has no canary: start one before setting its weight"
                )
            have, want = len(canaries), canary_replicas(len(stable), weight)
            started: list[str] = []
            removed: list[str] = []
            if want > have:
                template = max(canaries, key=lambda m: m.created or _EPOCH)
                same = {k: v for k, v in template.labels.items() if k in (*_OWN_LABELS, TRACK_LABEL)}
                incoming = self._canary_incoming(key, template, template.image, same, want - have, members)
                say(f"adding {want - have} canary replica(s) to {key.label}")
                self._start_gated(
                    "Canary weight change",
                    key,
                    incoming,
                    deadline,
                    say,
                    stop,
                    what="canary replica",
                    serving=f"{have} canary replica(s) and {_serving(stable)}",
                )
                started = [i.id for i in incoming]
            elif want < have:
                newest_first = sorted(canaries, key=lambda m: m.created or _EPOCH, reverse=True)
                removed = self._remove(newest_first[: have - want], say)
            version = image_version(canaries[0].image, canaries[0].labels)
        message = _weight_sentence(version, len(stable), want, weight)
        if want == have:
            message += " (unchanged)"
        return WriteResult(
            verb="canary.set_weight",
            workload=key,
            message=message,
            from_version=_version_of(stable),
            to_version=version,
            revision=max(m.revision for m in stable),
            detail={
                "started": started,
                "removed": removed,
                "canary_replicas": want,
                "weight": achieved_weight(len(stable), want),
                "asked_weight": weight,
            },
        )

    def canary_promote(
        self,
        key: WorkloadKey,
        *,
        timeout: float = 300.0,
        change_cause: str = "",
        progress: Progress | None = None,
        stop: StopFlag | None = None,
    ) -> WriteResult:
        say = progress or _silent
        with self._translating(f"promote of {key.label}"):
            canaries = _canaries(self.members(key, canaries=True))
            if not canaries:
                raise AdapterError(ErrorKind.CONFLICT, f"{key.label} has no canary to promote")
            newest = max(canaries, key=lambda m: m.created or _EPOCH)
            cause = change_cause or newest.labels.get(CHANGE_CAUSE_LABEL, "")
        say(f"promoting {newest.image}: rolling the stable replicas of {key.label} to it")
        try:
            deployed = self.deploy(
                key, newest.image, strategy="rolling", timeout=timeout, change_cause=cause, progress=say, stop=stop
            )
        except AdapterError as error:
            raise AdapterError(
                error.kind,
                f"Promote of {key.label} failed: {error.summary}; the canary is still running",
                admin_detail=error.admin_detail,
                developer_detail=error.developer_detail,
            ) from None
        with self._translating(f"promote of {key.label}"):
            removed = self._remove(canaries, say)
        return WriteResult(
            verb="canary.promote",
            workload=key,
            message=f"promoted {deployed.to_version}: {deployed.message}; removed {len(removed)} canary replica(s)",
            from_version=deployed.from_version,
            to_version=deployed.to_version,
            revision=deployed.revision,
            strategy=deployed.strategy,
            detail={**deployed.detail, "canary_removed": removed},
        )

    def canary_abort(
        self,
        key: WorkloadKey,
        *,
        timeout: float = 300.0,
        progress: Progress | None = None,
        stop: StopFlag | None = None,
    ) -> WriteResult:
        say = progress or _silent
        with self._translating(f"canary abort of {key.label}"):
            members = self.members(key, canaries=True)
            stable = self._current(key, members)
            canaries = _canaries(members)
            if not canaries:
                return WriteResult(
                    verb="canary.abort",
                    workload=key,
                    message=f"{key.label} has no canary: nothing to abort",
                    from_version=_version_of(stable),
                    to_version=_version_of(stable),
                    revision=max(m.revision for m in stable),
                    detail={"removed": []},
                )
            version = image_version(canaries[0].image, canaries[0].labels)
            removed = self._remove(canaries, say)
        return WriteResult(
            verb="canary.abort",
            workload=key,
            message=f"canary {version} aborted: removed {len(removed)} canary replica(s); {_serving(stable)} untouched",
            from_version=version,
            to_version=_version_of(stable),
            revision=max(m.revision for m in stable),
            detail={"removed": removed},
        )

    # -- blue-green ---------------------------------------------------------------------

    def bluegreen_deploy(
        self,
        key: WorkloadKey,
        image: str,
        *,
        timeout: float = 300.0,
        change_cause: str = "",
        progress: Progress | None = None,
        stop: StopFlag | None = None,
    ) -> WriteResult:
        say = progress or _silent
        if not image.strip():
            raise AdapterError(ErrorKind.BAD_INPUT, f"blue-green deploy of {key.label}: no image given")
        deadline = time.monotonic() + timeout
        with self._translating(f"blue-green deploy of {key.label}"):
            members = self.members(key, canaries=True)
            live = self._current(key, members)
            self._refuse_release_under_way(key, members, live, "deploy a blue-green colour")
            self._refuse_side_by_side("Blue-green deploy", key, live)
            self._ensure_image(image, say)
            history = [m for m in members if not m.canary]
            self._clear_leftovers(history, live, say)
            live_color = live[0].color
            color = _other(live_color)
            number = self._next_revision(history)
            labels = {**_own_labels(number, change_cause, _known_entries(history)), COLOR_LABEL: color}
            incoming = [self._clone(m, image=image, own_labels=labels) for m in sorted(live, key=lambda m: m.name)]
            for item in incoming:
                _without_aliases(item)
            say(f"{color}: {len(incoming)} replica(s) of {image} beside live {live_color}")
            self._start_gated(
                "Blue-green deploy",
                key,
                incoming,
                deadline,
                say,
                stop,
                what=f"{color} replica",
                serving=f"live {live_color} untouched",
                temporary_names=True,
            )
            version = self._version_of_ids(incoming)
            note = self._no_healthcheck_note(incoming)
        count = len(incoming)
        return WriteResult(
            verb="bluegreen.deploy",
            workload=key,
            message=(
                f"{color} {version} deployed beside live {live_color} {_version_of(live)}: "
                f"{count}/{count} healthy, no traffic until the switch" + note
            ),
            from_version=_version_of(live),
            to_version=version,
            revision=max(m.revision for m in live),
            detail={
                "started": [i.id for i in incoming],
                "names": [self._name_of(i.id) for i in incoming],
                "color": color,
                "live": live_color,
                "idle_revision": number,
            },
        )

    def bluegreen_switch(
        self,
        key: WorkloadKey,
        *,
        timeout: float = 300.0,
        progress: Progress | None = None,
        stop: StopFlag | None = None,
    ) -> WriteResult:
        say = progress or _silent
        deadline = time.monotonic() + timeout
        with self._translating(f"blue-green switch of {key.label}"):
            members = self.members(key, canaries=True)
            live = self._current(key, members)
            idle = _idle(members, live)
            if not idle:
                kept = _kept_colour(members, live)
                if kept is None:
                    raise AdapterError(
                        ErrorKind.CONFLICT,
                        f"{key.label} has no idle colour to switch to: deploy one first (blue-green deploy)",
                    )
            else:
                return self._switch_to_idle(key, live, idle, deadline, say, stop)
        return self._switch_to_kept(key, "bluegreen.switch", "Switch", kept, timeout, say, stop)

    def bluegreen_switch_back(
        self,
        key: WorkloadKey,
        *,
        timeout: float = 300.0,
        progress: Progress | None = None,
        stop: StopFlag | None = None,
    ) -> WriteResult:
        say = progress or _silent
        with self._translating(f"blue-green switch back of {key.label}"):
            members = self.members(key, canaries=True)
            live = self._current(key, members)
            idle = _idle(members, live)
            if idle:
                raise AdapterError(
                    ErrorKind.CONFLICT,
                    f"{key.label} has not switched: {idle[0].color} is deployed but takes no traffic yet "
                    "(abort removes it)",
                )
            kept = _kept_colour(members, live)
            if kept is None:
                raise AdapterError(
                    ErrorKind.CONFLICT,
                    f"{key.label} has no kept colour to switch back to (never switched, or already scaled down)",
                )
        return self._switch_to_kept(key, "bluegreen.switch_back", "Switch back", kept, timeout, say, stop)

    def bluegreen_scale_down(
        self,
        key: WorkloadKey,
        *,
        timeout: float = 300.0,
        progress: Progress | None = None,
        stop: StopFlag | None = None,
    ) -> WriteResult:
        say = progress or _silent
        with self._translating(f"blue-green scale down of {key.label}"):
            members = self.members(key, canaries=True)
            live = self._current(key, members)
            live_color = live[0].color
            idle = _idle(members, live)
            if idle:
                raise AdapterError(
                    ErrorKind.CONFLICT,
                    f"{idle[0].color} of {key.label} has not taken traffic yet: switch to it, or abort to remove it",
                )
            kept = _kept_colour(members, live)
            if kept is None:
                return WriteResult(
                    verb="bluegreen.scale_down",
                    workload=key,
                    message=f"{key.label} keeps no other colour: nothing to scale down",
                    from_version=_version_of(live),
                    to_version=_version_of(live),
                    revision=max(m.revision for m in live),
                    detail={"removed": [], "live": live_color},
                )
            removed = self._remove(kept, say)
        old = kept[0]
        return WriteResult(
            verb="bluegreen.scale_down",
            workload=key,
            message=(
                f"removed the {len(removed)} kept {old.color} container(s) ({image_version(old.image, old.labels)}); "
                f"live {live_color} {_version_of(live)} untouched; a rollback to revision {old.revision} "
                f"re-creates it from {old.image}"
            ),
            from_version=_version_of(live),
            to_version=_version_of(live),
            revision=max(m.revision for m in live),
            detail={"removed": removed, "color": old.color, "live": live_color, "removed_revision": old.revision},
        )

    def bluegreen_abort(
        self,
        key: WorkloadKey,
        *,
        timeout: float = 300.0,
        progress: Progress | None = None,
        stop: StopFlag | None = None,
    ) -> WriteResult:
        say = progress or _silent
        with self._translating(f"blue-green abort of {key.label}"):
            members = self.members(key, canaries=True)
            live = self._current(key, members)
            live_color = live[0].color
            # Before a switch the new colour runs beside live; after a switch back it is
            # kept stopped, newer than live. Either way it is the release to take away.
            idle = _idle(members, live)
            kept = _kept_colour(members, live)
            if not idle and kept is not None and kept[0].revision > max(m.revision for m in live):
                idle = kept
            if not idle:
                return WriteResult(
                    verb="bluegreen.abort",
                    workload=key,
                    message=f"{key.label} has no new colour deployed beside live: nothing to abort",
                    from_version=_version_of(live),
                    to_version=_version_of(live),
                    revision=max(m.revision for m in live),
                    detail={"removed": [], "live": live_color},
                )
            version = image_version(idle[0].image, idle[0].labels)
            removed = self._remove(idle, say)
        return WriteResult(
            verb="bluegreen.abort",
            workload=key,
            message=(
                f"{idle[0].color} {version} aborted: removed {len(removed)} {idle[0].color} container(s); "
                f"live {live_color} {_version_of(live)} untouched"
            ),
            from_version=version,
            to_version=_version_of(live),
            revision=max(m.revision for m in live),
            detail={"removed": removed, "color": idle[0].color, "live": live_color},
        )

    # -- reading ------------------------------------------------------------------------

    def release_state(self, key: WorkloadKey) -> ReleaseState:
        with self._translating(f"release state of {key.label}"):
            members = self.members(key, canaries=True)
        stable = [m for m in members if not m.retained and not m.canary]
        if not stable:
            return ReleaseState(workload=key, kind="", message=f"{key.label} has no containers")
        live_color = stable[0].color
        stable_image = max(stable, key=lambda m: (m.revision, m.created or _EPOCH)).image
        canaries = _canaries(members)
        if canaries:
            count, total = len(canaries), len(stable) + len(canaries)
            ready = self._healthy(canaries)
            weight = achieved_weight(len(stable), count)
            version = image_version(canaries[0].image, canaries[0].labels)
            return ReleaseState(
                workload=key,
                kind="canary",
                stable_image=stable_image,
                new_image=canaries[0].image,
                stable_replicas=len(stable),
                new_replicas=count,
                new_ready=ready,
                weight=weight,
                live=live_color,
                message=f"canary {version}: {count} of {total} replicas ({weight} %), {ready} ready",
            )
        idle = _idle(members, stable)
        if idle:
            ready = self._healthy(idle)
            version = image_version(idle[0].image, idle[0].labels)
            return ReleaseState(
                workload=key,
                kind="blue-green",
                stable_image=stable_image,
                new_image=idle[0].image,
                stable_replicas=len(stable),
                new_replicas=len(idle),
                new_ready=ready,
                live=live_color,
                idle_scaled_up=True,
                phase="deployed",
                message=(
                    f"blue-green: {idle[0].color} {version} deployed beside live {live_color} "
                    f"{_version_of(stable)}, {ready}/{len(idle)} ready; not switched"
                ),
            )
        kept = _kept_colour(members, stable)
        if kept is not None:
            version = image_version(kept[0].image, kept[0].labels)
            back = kept[0].revision > max(m.revision for m in stable)
            return ReleaseState(
                workload=key,
                kind="blue-green",
                stable_image=stable_image,
                new_image=kept[0].image,
                stable_replicas=len(stable),
                new_replicas=len(kept),
                live=live_color,
                idle_scaled_up=False,
                phase="switched-back" if back else "switched",
                message=(
                    f"blue-green: live {live_color} {_version_of(stable)}; {kept[0].color} {version} stopped and kept"
                    + (" (switched back from it)" if back else " for a switch back")
                ),
            )
        return ReleaseState(
            workload=key,
            kind="",
            stable_image=stable_image,
            stable_replicas=len(stable),
            live=live_color,
            message=f"no release under way on {key.label}",
        )

    # -- the pieces ---------------------------------------------------------------------

    def _refuse_release_under_way(
        self, key: WorkloadKey, members: list[Member], stable: list[Member], doing: str
    ) -> None:
        canaries = _canaries(members)
        if canaries:
            version = image_version(canaries[0].image, canaries[0].labels)
            raise AdapterError(
                ErrorKind.CONFLICT,
                f"cannot {doing} on {key.label}: a canary of {version} is running "
                f"({len(canaries)} replica(s)); promote or abort it first",
            )
        idle = _idle(members, stable)
        if idle:
            version = image_version(idle[0].image, idle[0].labels)
            raise AdapterError(
                ErrorKind.CONFLICT,
                f"cannot {doing} on {key.label}: {idle[0].color} {version} is deployed beside live "
                f"{stable[0].color}; switch to it or abort it first",
            )

    def _refuse_side_by_side(self, verb: str, key: WorkloadKey, members: list[Member]) -> None:
        why = next((reason for m in members if (reason := _side_by_side_blocker(key, m))), "")
        if why:
            raise AdapterError(
                ErrorKind.BAD_INPUT,
                f"{verb} of {key.label} refused: {why}, and a second set cannot have it too on the same host. "
                "Deploy instead (it replaces the replicas in place), publish no fixed host port, or — "
                "for a host-network service that picks a free port itself — label it watchfloor.port=auto",
                admin_detail="a canary or blue-green release runs the new replicas beside the old ones",
            )

    def _canary_incoming(
        self,
        key: WorkloadKey,
        template: Member,
        image: str,
        labels: dict[str, str],
        count: int,
        members: list[Member],
    ) -> list[_Incoming]:
        """``count`` canaries cloned from ``template``, with free names and Compose numbers."""
        compose = bool(template.labels.get(COMPOSE_PROJECT) and template.labels.get(COMPOSE_SERVICE))
        base = f"{template.labels[COMPOSE_PROJECT]}-{template.labels[COMPOSE_SERVICE]}" if compose else key.name
        taken = {((s.get("Names") or [""])[0]).lstrip("/") for s in self.api.containers(all=True)}
        number = max([_replica_number(m) for m in members] + [0])
        incoming, index = [], 0
        for _ in range(count):
            index += 1
            while f"{base}-canary-{index}" in taken:
                index += 1
            item = self._clone(template, image=image, own_labels=labels)
            item.final_name = f"{base}-canary-{index}"
            if compose:
                # Compose numbers its replicas; a canary takes a number of its own.
                number += 1
                item.config["Labels"][COMPOSE_NUMBER] = str(number)
            incoming.append(item)
        return incoming

    def _start_gated(
        self,
        verb: str,
        key: WorkloadKey,
        incoming: list[_Incoming],
        deadline: float,
        say: Progress,
        stop: StopFlag | None,
        *,
        what: str,
        serving: str,
        temporary_names: bool = False,
    ) -> None:
        """Create and start ``incoming``, wait for every health check; on failure remove them again."""
        try:
            self._bring_up(incoming, say, stop, temporary_names=temporary_names)
            self._await_ready([i.id for i in incoming], deadline, say, stop, label=what)
        except _NotReady as failure:
            self._discard(incoming, say)
            raise AdapterError(
                ErrorKind.BACKEND,
                f"{verb} of {key.label} in {self.env} failed: {failure.reason} — removed the new {what}s; {serving}",
                admin_detail=failure.detail,
                developer_detail=failure.developer,
            ) from None
        except BaseException:
            self._discard(incoming, say)
            raise

    def _switch_to_idle(
        self,
        key: WorkloadKey,
        live: list[Member],
        idle: list[Member],
        deadline: float,
        say: Progress,
        stop: StopFlag | None,
    ) -> WriteResult:
        """The first switch after a deploy: the running idle colour takes the names and the aliases."""
        live_color, color = live[0].color, idle[0].color
        try:
            self._await_ready([m.id for m in idle], deadline, say, stop, label=f"{color} replica")
        except _NotReady as failure:
            raise AdapterError(
                ErrorKind.BACKEND,
                f"Switch of {key.label} to {color} refused: {failure.reason}; live {live_color} untouched",
                admin_detail=failure.detail,
                developer_detail=failure.developer,
            ) from None
        by_name = {m.name: m for m in live}
        for member in idle:
            self._give_aliases(member, by_name.get(member.base_name) or live[0])
        retained = [self._retire(member, say) for member in live]
        policy = live[0].restart_policy
        for member in idle:
            self._take_name(_Incoming(final_name=member.base_name, revision=member.revision, id=member.id), policy)
            say(f"{member.base_name} is now {color}")
        pruned = self._prune(key, say)
        version, old_version = _version_of(idle), _version_of(live)
        return WriteResult(
            verb="bluegreen.switch",
            workload=key,
            message=(
                f"traffic on {color} {version} (revision {idle[0].revision}); "
                f"{live_color} {old_version} stopped and kept for a switch back"
            ),
            from_version=old_version,
            to_version=version,
            revision=idle[0].revision,
            detail={
                "live": color,
                "started": [],
                "promoted": [m.id for m in idle],
                "stopped": [r.member.id for r in retained],
                "retained": [r.name for r in retained if r.name],
                "pruned": pruned,
            },
        )

    def _switch_to_kept(
        self,
        key: WorkloadKey,
        verb: str,
        doing: str,
        kept: list[Member],
        timeout: float,
        say: Progress,
        stop: StopFlag | None,
    ) -> WriteResult:
        """Make the kept colour live again: a rollback to its revision starts its kept containers."""
        color = kept[0].color
        try:
            rolled = self.rollback(key, kept[0].revision, timeout=timeout, progress=say, stop=stop)
        except AdapterError as error:
            raise AdapterError(
                error.kind,
                f"{doing} of {key.label} to {color} failed: {error.summary}",
                admin_detail=error.admin_detail,
                developer_detail=error.developer_detail,
            ) from None
        instant = rolled.detail.get("instant")
        how = "started its kept containers" if instant else "re-created it (its containers were gone)"
        return WriteResult(
            verb=verb,
            workload=key,
            message=(
                f"traffic on {color} {rolled.to_version} (revision {rolled.revision}): {how}; "
                f"{_other(color)} {rolled.from_version} stopped and kept"
            ),
            from_version=rolled.from_version,
            to_version=rolled.to_version,
            revision=rolled.revision,
            strategy=rolled.strategy,
            detail={**rolled.detail, "live": color},
        )

    def _give_aliases(self, idle: Member, live: Member) -> None:
        """Reconnect ``idle`` to its networks with ``live``'s aliases (a Compose service name).

        Docker cannot add an alias to a connected endpoint, so the endpoint is dropped and
        made again; the live replica still serves meanwhile.
        """
        first, extra = _networking(live)
        wanted = {**first, **dict(extra)}
        connected = (idle.data.get("NetworkSettings") or {}).get("Networks") or {}
        for network, endpoint in wanted.items():
            aliases = endpoint.get("Aliases")
            if not aliases or network not in connected:
                continue
            self.api.disconnect_container_from_network(idle.id, network)
            self.api.connect_container_to_network(idle.id, network, aliases=aliases, links=endpoint.get("Links"))

    def _remove(self, members: list[Member], say: Progress) -> list[str]:
        """Stop (so it can deregister) and remove each container; return their ids."""
        removed = []
        for member in members:
            say(f"stopping and removing {member.name}")
            try:
                if not member.stopped:
                    self.api.stop(member.id, timeout=member.stop_timeout)
                self.api.remove_container(member.id, v=True, force=True)
            except docker_errors.NotFound:
                pass  # already gone: that is what was asked
            removed.append(member.id)
        return removed

    def _healthy(self, members: list[Member]) -> int:
        return sum(1 for m in members if replica_from_inspect(self.env, m.data).health is Health.HEALTHY)


# -- pure helpers ------------------------------------------------------------------------


def _check_weight(key: WorkloadKey, weight: int, doing: str) -> None:
    if isinstance(weight, bool) or not isinstance(weight, int) or not 1 <= weight <= 100:
        raise AdapterError(
            ErrorKind.BAD_INPUT,
            f"{doing} of {key.label}: the weight is a percentage from 1 to 100, got {weight!r}"
            + (" (to remove the canary, abort it)" if weight == 0 else ""),
        )


def _canaries(members: list[Member]) -> list[Member]:
    return sorted((m for m in members if m.canary and not m.retained), key=lambda m: m.name)


def _idle(members: list[Member], live: list[Member]) -> list[Member]:
    """The other colour's replicas running beside live before a switch."""
    live_color = live[0].color
    return sorted(
        (m for m in members if m.retained and not m.stopped and not m.canary and m.color != live_color),
        key=lambda m: m.name,
    )


def _kept_colour(members: list[Member], live: list[Member]) -> list[Member] | None:
    """The other colour's containers kept stopped by the last switch, or None.

    Only when the revision that served last (the one a rollback would pick) is of the
    other colour: after a plain deploy the kept revision is live's own colour, and no
    blue-green release is under way.
    """
    serving = {m.revision for m in live}
    kept = [
        m
        for m in members
        if m.retained and m.stopped and m.state != "created" and not m.canary and m.revision not in serving
    ]
    if not kept:
        return None
    last = max(kept, key=lambda m: m.finished or _EPOCH)
    if last.color == live[0].color:
        return None
    return sorted((m for m in kept if m.revision == last.revision), key=lambda m: m.name)


def _other(color: str) -> str:
    return COLORS[1] if color == COLORS[0] else COLORS[0]


def _without_aliases(item: _Incoming) -> None:
    """Keep a new colour off the service's network aliases until the switch."""
    endpoints = (item.config or {}).get("NetworkingConfig", {}).get("EndpointsConfig", {})
    for endpoint in endpoints.values():
        endpoint["Aliases"] = None
    item.extra_networks = [(name, {**endpoint, "Aliases": None}) for name, endpoint in item.extra_networks]


def _serving(stable: list[Member]) -> str:
    return f"{len(stable)} stable replica(s) of {_version_of(stable)}"


def _weight_sentence(version: str, stable: int, canary: int, asked: int) -> str:
    achieved = achieved_weight(stable, canary)
    return f"canary {version}: {canary} of {stable + canary} replicas = {achieved} %, asked {asked} %"


__all__ = ["DockerReleases", "COLORS"]
