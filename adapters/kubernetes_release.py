"""Canary and blue-green releases on Kubernetes, and the verbs of Argo Rollouts (issue D).

**Canary.** A ``<name>-canary`` Deployment runs beside the stable one: the stable
Deployment's spec with the new image, its selector and pod labels being the stable
ones plus ``track: canary``, and as many replicas as put the canary nearest the asked
share of all replicas (``canary_replicas``). It carries every label the Service selects
on, so it takes its share of traffic. Promote rolls the stable Deployment to the
canary's image (an ordinary deploy: followed, failing fast) and then deletes the canary;
abort deletes the canary and touches nothing else.

Why the stable Deployment never takes the canary's pods for its own, although its
selector (immutable, so it cannot be narrowed) matches them: a controller only counts
and manages objects whose ``ownerReference`` names it as controller, and adopts only
orphans. The canary's ReplicaSet is owned by the canary Deployment, and the canary's
pods by that ReplicaSet; each ReplicaSet's own selector adds its ``pod-template-hash``,
which differs between the two because the templates differ (at least by ``track``).
So the stable status, rollouts and scale-downs never see canary pods, on a real
cluster and in the emulator (whose controllers go by owner references alone). Only
plain label queries (``kubectl get pods -l app=web``) see both — which is why this
module finds a Deployment's pods by owner or by selector plus template hash, never by
the Deployment's selector alone.

**Blue-green.** Traffic follows a Service whose selector selects the workload's pods;
its ``color`` label (none: blue) names the live colour. The other colour is a second
Deployment (``<name>-green`` or ``<name>-blue``; the workload's own Deployment is the
blue one unless its pods say otherwise) with the same selector plus ``color: <colour>``.
A switch and a switch back are each one Service patch — ``color`` in the selector —
so no pod starts and traffic moves in seconds.

That needs the live pods to carry their colour before the other colour's pods exist
(a Service selector is plain equality: it cannot say "not green"). The first blue-green
deploy of a workload without colour labels therefore adds ``color: blue`` to the live
Deployment's pod template — one rolling restart, followed and health-gated like any
deploy, done once in the workload's life — then pins the Service to ``color: blue``
(selecting the very same pods), and only then starts green. Pod labels are never
patched in place: a pod the ReplicaSet replaces later would lose the label and silently
drop out of the Service.

The Service records which colour holds the newest release (``watchfloor.io/
bluegreen-deployed``), so switch and switch back are idempotent: a resumed run that
repeats either finds traffic already where it should be and changes nothing.

**Argo Rollouts.** A workload that is a ``Rollout`` (``argoproj.io/v1alpha1``) runs its
own steps; watchfloor shows its phase and step and drives it the way the
``kubectl argo rollouts`` CLI does: ``promote`` clears pause conditions (or moves to the
next step) through the ``status`` subresource and unpauses the spec, ``promote --full``
sets ``status.promoteFull``, ``abort`` and ``retry`` set ``status.abort``; each falls
back to patching the object itself where the CRD has no status subresource (Argo
Rollouts before v0.10).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace

from adapters.base import (
    AdapterError,
    ErrorKind,
    Progress,
    ReleaseState,
    StopFlag,
    WriteResult,
    achieved_weight,
    canary_replicas,
    refuse_if_read_only,
)
from adapters.argo import next_weight, rollout_status
from adapters.kubernetes_write import (
    CHANGE_CAUSE,
    MERGE,
    POLL_SECONDS,
    TEMPLATE_HASH,
    KubernetesWriter,
    Request,
    _escape,
    _main_container,
    _path,
    _rollout_complete,
    _say,
    _template_containers,
)
from console.model import Environment, WorkloadKey

TRACK = "track"
CANARY = "canary"
COLOR = "color"
BLUE = "blue"
GREEN = "green"
MANAGED_BY = "app.kubernetes.io/managed-by"
CANARY_OF = "watchfloor.io/canary-of"
"""On a canary Deployment: the workload it is a canary of (only such canaries are touched)."""
BLUEGREEN_OF = "watchfloor.io/bluegreen-of"
BLUEGREEN_CREATED = "watchfloor.io/bluegreen-created"
"""On a colour Deployment watchfloor created: an abort deletes it rather than scaling it down."""
BLUEGREEN_REPLACED = "watchfloor.io/bluegreen-replaced-image"
"""On an existing colour Deployment a release updated: the image an abort puts back."""
BLUEGREEN_DEPLOYED = "watchfloor.io/bluegreen-deployed"
"""On the Service: the colour that holds the newest release."""
ROLLOUTS = "argoproj.io/v1alpha1"
CLEANUP_SECONDS = 60.0
"""Longest wait for a failed release's pods to go before the failure is reported anyway."""


class KubernetesReleaser:
    """Release verbs for one environment; ``request`` is the adapter's JSON call."""

    def __init__(self, environment: Environment, request: Request) -> None:
        self.environment = environment
        self._request = request
        self._writer = KubernetesWriter(environment, request)

    # -- reading -------------------------------------------------------------------------

    def _get(self, group_version: str, plural: str, namespace: str, name: str) -> dict | None:
        try:
            return self._request("GET", _path(group_version, plural, namespace, name))
        except AdapterError as error:
            if error.kind == ErrorKind.NOT_FOUND:
                return None
            raise

    def _deployment(self, namespace: str, name: str) -> dict | None:
        return self._get("apps/v1", "deployments", namespace, name)

    def _rollout(self, key: WorkloadKey) -> dict | None:
        # A cluster without Argo Rollouts answers 404 for the whole group, and one
        # that forbids this user its objects 403: either way, not a Rollout we can use.
        try:
            return self._get(ROLLOUTS, "rollouts", key.group, key.name)
        except AdapterError as error:
            if error.kind == ErrorKind.FORBIDDEN:
                return None
            raise

    def _target(self, key: WorkloadKey) -> tuple[str, dict]:
        """("deployment" | "rollout", the object) named by ``key``."""
        deployment = self._deployment(key.group, key.name)
        if deployment is not None:
            return "deployment", deployment
        rollout = self._rollout(key)
        if rollout is not None:
            return "rollout", rollout
        raise AdapterError(
            ErrorKind.NOT_FOUND,
            f"{key.label} is not a Deployment (nor an Argo Rollout) in {self.environment.name}",
            admin_detail="canary and blue-green releases work on Deployments, and on Argo Rollouts through Argo's own verbs",
        )

    def _canary(self, key: WorkloadKey) -> dict | None:
        canary = self._deployment(key.group, _canary_name(key))
        if canary is not None and _annotations(canary).get(CANARY_OF) != key.name:
            raise AdapterError(
                ErrorKind.CONFLICT,
                f"{key.group}/{_canary_name(key)} exists but is not a watchfloor canary of {key.name}; watchfloor leaves it alone",
                admin_detail=f"it has no {CANARY_OF}={key.name} annotation; rename or remove it to release {key.name} as a canary",
            )
        return canary

    # -- canary --------------------------------------------------------------------------

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
        refuse_if_read_only(self.environment, "canary start", key)
        _check_weight(key, weight, lowest=1)
        kind, stable = self._target(key)
        if kind == "rollout":
            return self._rollout_start(key, stable, image, weight, change_cause=change_cause, progress=progress)
        self._refuse_if_bluegreen(key)
        existing = self._canary(key)
        if existing is not None:
            running = _image(existing, key.name)
            if running != image:
                raise AdapterError(
                    ErrorKind.CONFLICT,
                    f"a canary of {key.label} on {running} is already running; promote or abort it first",
                )
            # The same canary again (a resumed run): only its weight may need setting.
            _say(progress, f"a canary of {image} already runs: setting its weight")
            return self._set_weight(key, stable, existing, weight, "canary.start", timeout=timeout, progress=progress, stop=stop)
        stable_replicas = _replicas(stable)
        replicas = canary_replicas(stable_replicas, weight)
        body = _canary_body(key, stable, image, replicas, change_cause or f"canary {image}")
        canary_key = replace(key, name=_canary_name(key))
        created = self._request("POST", _path("apps/v1", "deployments", key.group, None), body=body)
        _say(progress, f"created {canary_key.name}: {replicas} replica(s) of {image} beside {stable_replicas} stable")
        try:
            done = self._writer._follow(canary_key, created, timeout=timeout, progress=progress, stop=stop, verb="canary", target=image)
        except AdapterError as error:
            raise self._failed(error, stop, f"the canary was removed, {key.name} is untouched", lambda: self._remove(canary_key, created, progress=progress)) from error
        return self._canary_result("canary.start", key, stable, done, weight)

    def canary_set_weight(
        self, key: WorkloadKey, weight: int, *, timeout: float = 300.0, progress: Progress | None = None, stop: StopFlag | None = None
    ) -> WriteResult:
        refuse_if_read_only(self.environment, "canary weight change", key)
        _check_weight(key, weight, lowest=0)
        kind, stable = self._target(key)
        if kind == "rollout":
            return self._rollout_weight(key, stable, weight, progress=progress)
        canary = self._canary(key)
        if canary is None:
            raise AdapterError(ErrorKind.NOT_FOUND, f"no canary of {key.label} is running: start one first")
        return self._set_weight(key, stable, canary, weight, "canary.set_weight", timeout=timeout, progress=progress, stop=stop)

    def canary_promote(
        self,
        key: WorkloadKey,
        *,
        timeout: float = 300.0,
        change_cause: str = "",
        progress: Progress | None = None,
        stop: StopFlag | None = None,
    ) -> WriteResult:
        refuse_if_read_only(self.environment, "canary promote", key)
        kind, stable = self._target(key)
        if kind == "rollout":
            # The runbook's promote ends the release: Argo's promote --full, not one step.
            return self.rollout_promote(key, full=True, progress=progress)
        canary = self._canary(key)
        if canary is None:
            raise AdapterError(ErrorKind.NOT_FOUND, f"no canary of {key.label} to promote")
        image = _image(canary, key.name)
        before = _image(stable, key.name)
        _say(progress, f"promoting {image}: rolling {key.name}'s {_replicas(stable)} replicas to it")
        deployed = self._writer.deploy(
            key, image, timeout=timeout, change_cause=change_cause or f"promote canary {image}", progress=progress, stop=stop
        )
        canary_key = replace(key, name=_canary_name(key))
        left = self._remove(canary_key, canary, timeout=timeout, progress=progress, stop=stop)
        return WriteResult(
            verb="canary.promote",
            workload=key,
            message=f"{deployed.message}; canary {canary_key.name} removed{_terminating(left)}",
            from_version=_version(before),
            to_version=_version(image),
            revision=deployed.revision,
            detail={"canary": canary_key.name, "image_before": before, "image_after": image, "canary_replicas": _replicas(canary)},
        )

    def canary_abort(
        self, key: WorkloadKey, *, timeout: float = 300.0, progress: Progress | None = None, stop: StopFlag | None = None
    ) -> WriteResult:
        refuse_if_read_only(self.environment, "canary abort", key)
        kind, stable = self._target(key)
        if kind == "rollout":
            return self._rollout_abort_to_stable(key, progress=progress)
        stable_image = _image(stable, key.name)
        canary = self._canary(key)
        if canary is None:
            return WriteResult(
                verb="canary.abort",
                workload=key,
                message=f"no canary of {key.name} to abort; {key.name} is untouched on {stable_image}",
                detail={"canary": None, "image_before": stable_image, "image_after": stable_image},
            )
        image = _image(canary, key.name)
        canary_key = replace(key, name=_canary_name(key))
        left = self._remove(canary_key, canary, timeout=timeout, progress=progress, stop=stop)
        return WriteResult(
            verb="canary.abort",
            workload=key,
            message=f"canary {_version(image)} of {key.name} removed ({_replicas(canary)} replicas){_terminating(left)}; {key.name} still runs {stable_image}",
            from_version=_version(image),
            to_version=_version(stable_image),
            detail={"canary": canary_key.name, "image_before": image, "image_after": stable_image, "canary_replicas": _replicas(canary)},
        )

    def _set_weight(self, key, stable: dict, canary: dict, weight: int, verb: str, *, timeout, progress, stop) -> WriteResult:
        canary_key = replace(key, name=_canary_name(key))
        wanted = canary_replicas(_replicas(stable), weight)
        before = _replicas(canary)
        patched = canary
        if before != wanted:
            patch = {"metadata": {"resourceVersion": _meta(canary).get("resourceVersion")}, "spec": {"replicas": wanted}}
            patched = self._writer._patch_deployment(canary_key, patch)
            _say(progress, f"scaling {canary_key.name} {before} → {wanted}")
        done = self._writer._follow(canary_key, patched, timeout=timeout, progress=progress, stop=stop, verb="canary weight change", target=f"{wanted} replicas")
        return self._canary_result(verb, key, stable, done, weight)

    def _canary_result(self, verb: str, key: WorkloadKey, stable: dict, canary: dict, asked: int) -> WriteResult:
        stable_replicas, replicas = _replicas(stable), _replicas(canary)
        weight = achieved_weight(stable_replicas, replicas)
        image, stable_image = _image(canary, key.name), _image(stable, key.name)
        nearest = "" if weight == asked else f", the nearest to the {asked} % asked"
        return WriteResult(
            verb=verb,
            workload=key,
            message=(
                f"canary {_version(image)} of {key.name}: {replicas} of {stable_replicas + replicas} replicas "
                f"({weight} %{nearest}), {_ready(canary)} ready"
            ),
            from_version=_version(stable_image),
            to_version=_version(image),
            detail={
                "canary": _meta(canary).get("name"),
                "image_before": stable_image,
                "image_after": image,
                "stable_replicas": stable_replicas,
                "canary_replicas": replicas,
                "weight": weight,
                "weight_asked": asked,
            },
        )

    def _refuse_if_bluegreen(self, key: WorkloadKey) -> None:
        for colour in (BLUE, GREEN):
            if self._deployment(key.group, f"{key.name}-{colour}") is not None:
                raise AdapterError(
                    ErrorKind.CONFLICT,
                    f"{key.label} is released blue-green ({key.name}-{colour} exists): use the blue-green verbs",
                    admin_detail="a canary beside two colours would take traffic from whichever colour the Service selects",
                )

    # -- blue-green ----------------------------------------------------------------------

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
        refuse_if_read_only(self.environment, "blue-green deploy", key)
        kind, base = self._target(key)
        if kind == "rollout":
            raise AdapterError(
                ErrorKind.BAD_INPUT,
                f"{key.label} is an Argo Rollout: deploy its new image and Argo starts the preview; a switch promotes it",
            )
        if self._canary(key) is not None:
            raise AdapterError(ErrorKind.CONFLICT, f"a canary of {key.label} is running; promote or abort it before a blue-green release")
        colours = self._colours(key, base)
        live, idle = colours.live, colours.idle
        live_dep = colours.deployments.get(live)
        if live_dep is None:
            raise AdapterError(
                ErrorKind.BAD_INPUT,
                f"service {colours.service_name} sends traffic to color={live}, but {key.name} has no {live} Deployment",
            )
        live_key = replace(key, name=_meta(live_dep).get("name", key.name))
        live_image = _image(live_dep, key.name)
        labelled = False
        if _template_labels(live_dep).get(COLOR) != live:
            _say(progress, f"labelling {live_key.name}'s pods color={live} (one rolling restart, the first time only) so the Service can tell the colours apart")
            patch = {
                "metadata": {
                    "resourceVersion": _meta(live_dep).get("resourceVersion"),
                    "annotations": {CHANGE_CAUSE: f"watchfloor blue-green: label pods color={live}"},
                },
                "spec": {"template": {"metadata": {"labels": {COLOR: live}}}},
            }
            patched = self._writer._patch_deployment(live_key, patch)
            live_dep = self._writer._follow(live_key, patched, timeout=timeout, progress=progress, stop=stop, verb="colour labelling", target=f"color={live}")
            labelled = True
        service = colours.service
        if _selector(service).get(COLOR) != live:
            service = self._patch_service(key, service, {"spec": {"selector": {COLOR: live}}})
            _say(progress, f"service {colours.service_name} now selects color={live}: the same pods as before")

        template = _copy((live_dep.get("spec") or {}).get("template") or {})
        labels = template.setdefault("metadata", {}).setdefault("labels", {})
        labels.pop(TEMPLATE_HASH, None)
        labels[COLOR] = idle
        _set_image(template, key.name, image)
        replicas = _replicas(live_dep)
        cause = change_cause or f"blue-green {image}"
        idle_dep = colours.deployments.get(idle)
        if idle_dep is None:
            name = f"{key.name}-{idle}"
            selector = _copy((base.get("spec") or {}).get("selector") or {})
            selector.setdefault("matchLabels", {})[COLOR] = idle
            spec = {k: v for k, v in _copy(live_dep.get("spec") or {}).items() if k != "paused"}
            spec.update(replicas=replicas, selector=selector, template=template)
            body = {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {
                    "name": name,
                    "namespace": key.group,
                    "labels": {**selector["matchLabels"], MANAGED_BY: "watchfloor"},
                    "annotations": {CHANGE_CAUSE: cause, BLUEGREEN_OF: key.name, BLUEGREEN_CREATED: "true"},
                },
                "spec": spec,
            }
            patched = self._request("POST", _path("apps/v1", "deployments", key.group, None), body=body)
            created = True
        else:
            name = _meta(idle_dep).get("name", "")
            before = _image(idle_dep, key.name)
            annotations = {CHANGE_CAUSE: cause}
            if before != image:
                annotations[BLUEGREEN_REPLACED] = before
            patched = self._writer._patch_deployment(
                replace(key, name=name), _replace_template(idle_dep, template, replicas, annotations), content_type="application/json-patch+json"
            )
            created = False
        idle_key = replace(key, name=name)
        _say(progress, f"{'created' if created else 'updated'} {name}: {replicas} replica(s) of {image}, taking no traffic yet")
        try:
            done = self._writer._follow(idle_key, patched, timeout=timeout, progress=progress, stop=stop, verb=f"{idle} deploy", target=image)
        except AdapterError as error:
            raise self._failed(error, stop, f"{idle} was taken down again, traffic stays on {live}", lambda: self._undo_idle(key, idle_key, progress=progress)) from error
        self._patch_service(key, service, {"metadata": {"annotations": {BLUEGREEN_DEPLOYED: idle}}})
        return WriteResult(
            verb="bluegreen.deploy",
            workload=key,
            message=f"{idle} ({name}) runs {image}, {_ready(done)}/{replicas} ready; traffic still on {live} ({live_key.name}, {_version(live_image)})",
            from_version=_version(live_image),
            to_version=_version(image),
            detail={
                "service": colours.service_name,
                "live": live,
                "idle": idle,
                "deployment": name,
                "replicas": replicas,
                "created": created,
                "labelled_live": labelled,
                "image_before": live_image,
                "image_after": image,
            },
        )

    def bluegreen_switch(
        self, key: WorkloadKey, *, timeout: float = 300.0, progress: Progress | None = None, stop: StopFlag | None = None
    ) -> WriteResult:
        refuse_if_read_only(self.environment, "blue-green switch", key)
        kind, base = self._target(key)
        if kind == "rollout":
            if "blueGreen" not in ((base.get("spec") or {}).get("strategy") or {}):
                raise AdapterError(ErrorKind.BAD_INPUT, f"{key.label} is an Argo Rollout with a canary strategy: promote it instead")
            return self.rollout_promote(key, progress=progress)
        colours = self._colours(key, base)
        return self._point(key, colours, colours.deployed or colours.idle, "bluegreen.switch", timeout=timeout, progress=progress, stop=stop)

    def bluegreen_switch_back(
        self, key: WorkloadKey, *, timeout: float = 300.0, progress: Progress | None = None, stop: StopFlag | None = None
    ) -> WriteResult:
        refuse_if_read_only(self.environment, "blue-green switch back", key)
        kind, base = self._target(key)
        if kind == "rollout":
            raise AdapterError(ErrorKind.BAD_INPUT, f"{key.label} is an Argo Rollout: abort it before promotion, or undo it after")
        colours = self._colours(key, base)
        if colours.deployed is None:
            raise AdapterError(
                ErrorKind.BAD_INPUT,
                f"no blue-green release of {key.label} is recorded on service {colours.service_name}: nothing to switch back from",
            )
        return self._point(key, colours, _other(colours.deployed), "bluegreen.switch_back", timeout=timeout, progress=progress, stop=stop)

    def bluegreen_scale_down(
        self, key: WorkloadKey, *, timeout: float = 300.0, progress: Progress | None = None, stop: StopFlag | None = None
    ) -> WriteResult:
        refuse_if_read_only(self.environment, "blue-green scale down", key)
        kind, base = self._target(key)
        if kind == "rollout":
            raise AdapterError(ErrorKind.BAD_INPUT, f"{key.label} is an Argo Rollout: Argo scales the old colour down itself (scaleDownDelaySeconds)")
        colours = self._colours(key, base)
        idle = colours.idle
        idle_dep = colours.deployments.get(idle)
        if idle_dep is None or _replicas(idle_dep) == 0:
            return WriteResult(
                verb="bluegreen.scale_down",
                workload=key,
                message=f"{idle} of {key.name} is already scaled down; traffic is on {colours.live}",
                detail={"colour": idle, "deployment": _meta(idle_dep).get("name") if idle_dep else None, "from": 0, "to": 0},
            )
        idle_key = replace(key, name=_meta(idle_dep).get("name", ""))
        before = _replicas(idle_dep)
        patch = {"metadata": {"resourceVersion": _meta(idle_dep).get("resourceVersion")}, "spec": {"replicas": 0}}
        self._writer._patch_deployment(idle_key, patch)
        _say(progress, f"scaling {idle_key.name} {before} → 0")
        self._writer._wait_generic(idle_key, "deployments", timeout=timeout, progress=progress, stop=stop)
        image = _image(idle_dep, key.name)
        return WriteResult(
            verb="bluegreen.scale_down",
            workload=key,
            message=f"{idle} ({idle_key.name}) scaled {before} → 0; its definition ({image}) is kept for a later switch back",
            detail={"colour": idle, "deployment": idle_key.name, "from": before, "to": 0, "image_before": image, "image_after": image},
        )

    def bluegreen_abort(
        self, key: WorkloadKey, *, timeout: float = 300.0, progress: Progress | None = None, stop: StopFlag | None = None
    ) -> WriteResult:
        refuse_if_read_only(self.environment, "blue-green abort", key)
        kind, base = self._target(key)
        if kind == "rollout":
            return self.rollout_abort(key, progress=progress)
        colours = self._colours(key, base)
        live, idle = colours.live, colours.idle
        if colours.deployed == live:
            raise AdapterError(
                ErrorKind.CONFLICT,
                f"{live} of {key.label} already takes traffic: switch back first; abort only takes down a colour that never went live",
            )
        idle_dep = colours.deployments.get(idle)
        live_dep = colours.deployments.get(live)
        live_image = _image(live_dep, key.name) if live_dep else ""
        undone = None
        if idle_dep is not None and (_replicas(idle_dep) > 0 or _annotations(idle_dep).get(BLUEGREEN_REPLACED)):
            idle_key = replace(key, name=_meta(idle_dep).get("name", ""))
            undone = self._undo_idle(key, idle_key, timeout=timeout, progress=progress, stop=stop)
        if colours.deployed is not None:
            self._patch_service(key, colours.service, {"metadata": {"annotations": {BLUEGREEN_DEPLOYED: None}}})
        if undone is None:
            message = f"no {idle} release of {key.name} to abort; traffic stays on {live}"
        else:
            message = (
                f"{idle} ({_meta(idle_dep).get('name')}, {_image(idle_dep, key.name)}) {undone}; "
                f"traffic stays on {live} ({_meta(live_dep).get('name', '?')}, {_version(live_image)})"
            )
        return WriteResult(
            verb="bluegreen.abort",
            workload=key,
            message=message,
            from_version=_version(_image(idle_dep, key.name)) if idle_dep else "",
            to_version=_version(live_image),
            detail={"live": live, "idle": idle, "deployment": _meta(idle_dep).get("name") if idle_dep else None, "undone": undone},
        )

    def _point(self, key: WorkloadKey, colours: _Colours, target: str, verb: str, *, timeout, progress, stop) -> WriteResult:
        """Send the Service's traffic to ``target``: one selector patch, after checking
        the target's pods are ready and labelled (scaling it up first only when a
        switch back finds it scaled down)."""
        live = colours.live
        live_dep = colours.deployments.get(live)
        live_image = _image(live_dep, key.name) if live_dep else ""
        if live == target and _selector(colours.service).get(COLOR) == target:
            return WriteResult(
                verb=verb,
                workload=key,
                message=f"traffic already goes to {target} ({_meta(live_dep).get('name') if live_dep else '?'}); nothing to switch",
                from_version=_version(live_image),
                to_version=_version(live_image),
                detail={"service": colours.service_name, "from": live, "to": target, "switched": False},
            )
        target_dep = colours.deployments.get(target)
        if target_dep is None:
            raise AdapterError(ErrorKind.BAD_INPUT, f"{key.label} has no {target} Deployment to send traffic to: deploy one first")
        target_key = replace(key, name=_meta(target_dep).get("name", ""))
        if _template_labels(target_dep).get(COLOR) != target:
            raise AdapterError(
                ErrorKind.BAD_INPUT,
                f"{target_key.name}'s pods do not carry color={target}, so the Service could not select them; a blue-green deploy labels them",
            )
        scaled = False
        if _replicas(target_dep) == 0 and verb == "bluegreen.switch_back" and live_dep is not None:
            replicas = _replicas(live_dep)
            _say(progress, f"{target} was scaled down: scaling {target_key.name} back to {replicas} before switching")
            patch = {"metadata": {"resourceVersion": _meta(target_dep).get("resourceVersion")}, "spec": {"replicas": replicas}}
            patched = self._writer._patch_deployment(target_key, patch)
            target_dep = self._writer._follow(target_key, patched, timeout=timeout, progress=progress, stop=stop, verb=f"{target} scale-up", target=f"{replicas} replicas")
            scaled = True
        replicas, ready = _replicas(target_dep), _ready(target_dep)
        generation = int(_meta(target_dep).get("generation") or 0)
        if replicas == 0 or ready < replicas or not _rollout_complete(target_dep, generation):
            raise AdapterError(
                ErrorKind.CONFLICT,
                f"{target} ({target_key.name}) is not ready ({ready}/{replicas}): switching would send traffic to too few pods",
            )
        before = dict(_selector(colours.service))
        service = self._patch_service(key, colours.service, {"spec": {"selector": {COLOR: target}}})
        image = _image(target_dep, key.name)
        _say(progress, f"service {colours.service_name} now sends traffic to {target} ({target_key.name})")
        return WriteResult(
            verb=verb,
            workload=key,
            message=(
                f"traffic on {target} ({target_key.name}, {_version(image)}, {ready}/{replicas} ready); "
                f"{live} ({_meta(live_dep).get('name') if live_dep else '?'}) stays up for a quick switch back"
            ),
            from_version=_version(live_image),
            to_version=_version(image),
            detail={
                "service": colours.service_name,
                "from": live,
                "to": target,
                "switched": True,
                "scaled_up": scaled,
                "selector_before": before,
                "selector_after": dict(_selector(service)),
                "image_before": live_image,
                "image_after": image,
            },
        )

    def _undo_idle(self, key: WorkloadKey, idle_key: WorkloadKey, *, timeout: float = CLEANUP_SECONDS, progress=None, stop=None) -> str:
        """Take down a colour that never went live: delete it if this release made it,
        else scale it to zero with the image it had before put back."""
        idle_dep = self._deployment(idle_key.group, idle_key.name)
        if idle_dep is None:
            return "was already gone"
        annotations = _annotations(idle_dep)
        if annotations.get(BLUEGREEN_CREATED) == "true" and not annotations.get(BLUEGREEN_REPLACED) and idle_key.name != key.name:
            left = self._remove(idle_key, idle_dep, timeout=timeout, progress=progress, stop=stop)
            return f"removed{_terminating(left)}"
        restore = annotations.get(BLUEGREEN_REPLACED)
        spec: dict = {"replicas": 0}
        if restore:
            template = _copy((idle_dep.get("spec") or {}).get("template") or {})
            _set_image(template, key.name, restore)
            spec["template"] = {"spec": {"containers": template["spec"]["containers"]}}
        patch = {
            "metadata": {"resourceVersion": _meta(idle_dep).get("resourceVersion"), "annotations": {BLUEGREEN_REPLACED: None}},
            "spec": spec,
        }
        self._writer._patch_deployment(idle_key, patch)
        _say(progress, f"scaling {idle_key.name} to 0" + (f" and putting {restore} back" if restore else ""))
        self._writer._wait_generic(idle_key, "deployments", timeout=timeout, progress=progress, stop=stop)
        return "scaled to 0" + (f", back on {restore}" if restore else "")

    def live_key(self, key: WorkloadKey) -> WorkloadKey:
        """The Deployment that serves ``key``'s traffic: after a blue-green switch to
        ``<name>-green`` that one, otherwise ``key`` itself. Costs nothing extra for a
        workload that never had a blue-green release (no colour label)."""
        base = self._deployment(key.group, key.name)
        if base is None or COLOR not in _template_labels(base):
            return key
        try:
            colours = self._colours(key, base)
        except AdapterError:
            return key  # no Service, or an odd colour: the workload's own Deployment it is
        live = colours.deployments.get(colours.live)
        name = _meta(live).get("name") if live else None
        return key if not name or name == key.name else WorkloadKey(key.env, key.group, name)

    def _colours(self, key: WorkloadKey, base: dict) -> _Colours:
        deployments: dict[str, dict] = {}
        for name in (key.name, f"{key.name}-{BLUE}", f"{key.name}-{GREEN}"):
            obj = base if name == key.name else self._deployment(key.group, name)
            if obj is None:
                continue
            colour = _template_labels(obj).get(COLOR) or (BLUE if name == key.name else name.rsplit("-", 1)[1])
            if colour not in (BLUE, GREEN):
                raise AdapterError(ErrorKind.BAD_INPUT, f"{key.group}/{name} has color={colour}; blue-green knows blue and green")
            if colour in deployments:
                raise AdapterError(
                    ErrorKind.CONFLICT,
                    f"{_meta(deployments[colour]).get('name')} and {name} are both {colour}: which one the Service means is unclear",
                )
            deployments[colour] = obj
        service = self._service_for(key, base)
        live = _selector(service).get(COLOR) or _template_labels(base).get(COLOR) or BLUE
        if live not in (BLUE, GREEN):
            raise AdapterError(ErrorKind.BAD_INPUT, f"service {_meta(service).get('name')} selects color={live}; blue-green knows blue and green")
        deployed = _annotations(service).get(BLUEGREEN_DEPLOYED)
        return _Colours(service=service, live=live, deployments=deployments, deployed=deployed if deployed in (BLUE, GREEN) else None)

    def _service_for(self, key: WorkloadKey, base: dict) -> dict:
        """The Service that carries the workload's traffic: the one named like it if it
        selects its pods, else the only one that does."""
        labels = {k: v for k, v in _template_labels(base).items() if k not in (COLOR, TEMPLATE_HASH)}
        services = self._request("GET", _path("v1", "services", key.group, None)).get("items") or []

        def selects(service: dict) -> bool:
            selector = {k: v for k, v in _selector(service).items() if k != COLOR}
            return bool(selector) and all(labels.get(k) == v for k, v in selector.items())

        matching = sorted((s for s in services if selects(s)), key=lambda s: _meta(s).get("name", ""))
        named = [s for s in matching if _meta(s).get("name") == key.name]
        if named:
            return named[0]
        if len(matching) == 1:
            return matching[0]
        if not matching:
            raise AdapterError(
                ErrorKind.BAD_INPUT,
                f"blue-green needs a Service selecting {key.label}'s pods, and none in {key.group} does",
                admin_detail="watchfloor moves traffic between colours by patching that Service's selector; create one (named like the workload) first",
            )
        names = ", ".join(_meta(s).get("name", "") for s in matching)
        raise AdapterError(
            ErrorKind.BAD_INPUT,
            f"several Services select {key.label}'s pods ({names}) and none is named {key.name}: watchfloor will not guess which carries its traffic",
        )

    def _patch_service(self, key: WorkloadKey, service: dict, patch: dict) -> dict:
        name = _meta(service).get("name", "")
        body = {**patch, "metadata": {**(patch.get("metadata") or {}), "resourceVersion": _meta(service).get("resourceVersion")}}
        try:
            return self._request("PATCH", _path("v1", "services", key.group, name), body=body, content_type=MERGE)
        except AdapterError as error:
            if error.kind == ErrorKind.CONFLICT:
                raise AdapterError(
                    ErrorKind.CONFLICT,
                    f"service {key.group}/{name} changed while watchfloor was patching it; nothing was applied — try again",
                    admin_detail=error.summary,
                    developer_detail=error.developer_detail,
                ) from error
            raise

    # -- shared ------------------------------------------------------------------------

    def _remove(self, key: WorkloadKey, deployment: dict, *, timeout: float = CLEANUP_SECONDS, progress=None, stop=None) -> int:
        """Delete a Deployment and wait for its pods to go; the number still terminating
        when the wait ended (0: all gone)."""
        # Its pods carry all its template's labels; its selector alone may be as broad
        # as "track=canary", which other workloads' canaries match too.
        selector = _template_labels(deployment)
        try:
            self._request("DELETE", _path("apps/v1", "deployments", key.group, key.name), body={"propagationPolicy": "Background"})
        except AdapterError as error:
            if error.kind != ErrorKind.NOT_FOUND:
                raise
        _say(progress, f"deleted {key.name}; waiting for its pods to go")
        deadline = time.monotonic() + timeout
        while True:
            left = len(self._writer._pods(key.group, selector)) if selector else 0
            if left == 0 or time.monotonic() >= deadline or (stop is not None and stop.is_set()):
                return left
            time.sleep(POLL_SECONDS)

    def _failed(self, error: AdapterError, stop: StopFlag | None, undone: str, undo) -> AdapterError:
        """The error to raise when a release's new replicas failed: ``undo()`` first
        (what this verb created must not linger), unless the operator stopped the wait —
        then the runbook decides."""
        if stop is not None and stop.is_set():
            return error
        try:
            undo()
        except AdapterError as cleanup:
            return AdapterError(
                error.kind,
                f"{error.summary}; cleaning up failed too: {cleanup.summary}",
                admin_detail=error.admin_detail,
                developer_detail=error.developer_detail,
            )
        return AdapterError(error.kind, f"{error.summary}; {undone}", admin_detail=error.admin_detail, developer_detail=error.developer_detail)

    # -- state ---------------------------------------------------------------------------

    def release_state(self, key: WorkloadKey) -> ReleaseState:
        kind, obj = self._target(key)
        if kind == "rollout":
            return _rollout_state(key, obj)
        try:
            canary = self._canary(key)
        except AdapterError as error:
            if error.kind != ErrorKind.CONFLICT:
                raise
            canary = None  # someone else's "-canary" Deployment: not a release of ours
        if canary is not None:
            stable_replicas, replicas, ready = _replicas(obj), _replicas(canary), _ready(canary)
            weight = achieved_weight(stable_replicas, replicas)
            image = _image(canary, key.name)
            return ReleaseState(
                workload=key,
                kind="canary",
                stable_image=_image(obj, key.name),
                new_image=image,
                stable_replicas=stable_replicas,
                new_replicas=replicas,
                new_ready=ready,
                weight=weight,
                message=f"canary {_version(image)} of {key.name}: {replicas} of {stable_replicas + replicas} replicas ({weight} %), {ready} ready",
            )
        siblings = [self._deployment(key.group, f"{key.name}-{colour}") for colour in (BLUE, GREEN)]
        if not any(siblings) and COLOR not in _template_labels(obj):
            return ReleaseState(workload=key, kind="")
        try:
            colours = self._colours(key, obj)
        except AdapterError as error:
            if error.kind not in (ErrorKind.BAD_INPUT, ErrorKind.CONFLICT):
                raise
            return ReleaseState(workload=key, kind="blue-green", message=error.summary)
        live_dep = colours.deployments.get(colours.live)
        idle_dep = colours.deployments.get(colours.idle)

        def words(colour: str, dep: dict | None) -> str:
            if dep is None:
                return f"no {colour}"
            if _replicas(dep) == 0:
                return f"{colour} ({_meta(dep).get('name')}, {_version(_image(dep, key.name))}, scaled down)"
            return f"{colour} ({_meta(dep).get('name')}, {_version(_image(dep, key.name))}, {_ready(dep)}/{_replicas(dep)} ready)"

        idle_up = bool(idle_dep) and _replicas(idle_dep) > 0
        message = f"traffic on {words(colours.live, live_dep)}; idle: {words(colours.idle, idle_dep)}"
        if not idle_up:
            # Both colours defined, one of them down: the workload is blue-green, but no
            # release is under way until the idle colour starts.
            return ReleaseState(workload=key, kind="", live=colours.live, message=message)
        return ReleaseState(
            workload=key,
            kind="blue-green",
            stable_image=_image(live_dep, key.name) if live_dep else "",
            new_image=_image(idle_dep, key.name) if idle_dep else "",
            stable_replicas=_replicas(live_dep) if live_dep else 0,
            new_replicas=_replicas(idle_dep) if idle_dep else 0,
            new_ready=_ready(idle_dep) if idle_dep else 0,
            live=colours.live,
            idle_scaled_up=True,
            message=message,
        )

    # -- Argo Rollouts -----------------------------------------------------------------

    def rollout_promote(self, key: WorkloadKey, *, full: bool = False, progress: Progress | None = None) -> WriteResult:
        """``kubectl argo rollouts promote [--full]``: the same patches, in the same order."""
        refuse_if_read_only(self.environment, "promote-full" if full else "promote", key)
        rollout = self._argo_rollout(key)
        spec_patch, status_patch, unified = argo_promote_patches(rollout, full=full)
        sent = self._argo_send(key, spec_patch, status_patch, unified)
        verb = "rollout.promote_full" if full else "rollout.promote"
        if not sent:
            message = f"rollout {key.name} is already fully promoted" if full else f"rollout {key.name} is not paused: nothing to promote"
        else:
            message = f"rollout {key.name} {'fully ' if full else ''}promoted; Argo Rollouts takes it from there"
        _say(progress, message)
        return WriteResult(verb=verb, workload=key, message=message, detail={"patches": sent})

    def rollout_abort(self, key: WorkloadKey, *, progress: Progress | None = None) -> WriteResult:
        """``kubectl argo rollouts abort``: the stable version takes all traffic back."""
        refuse_if_read_only(self.environment, "abort", key)
        self._argo_rollout(key)
        sent = self._argo_send(key, None, {"status": {"abort": True}}, {"status": {"abort": True}})
        message = f"rollout {key.name} aborted: Argo Rollouts sends traffic back to the stable version"
        _say(progress, message)
        return WriteResult(verb="rollout.abort", workload=key, message=message, detail={"patches": sent})

    def rollout_retry(self, key: WorkloadKey, *, progress: Progress | None = None) -> WriteResult:
        """``kubectl argo rollouts retry rollout``: an aborted Rollout starts its steps again."""
        refuse_if_read_only(self.environment, "retry", key)
        self._argo_rollout(key)
        sent = self._argo_send(key, None, {"status": {"abort": False}}, {"status": {"abort": False}})
        message = f"rollout {key.name} retried: Argo Rollouts starts its steps again"
        _say(progress, message)
        return WriteResult(verb="rollout.retry", workload=key, message=message, detail={"patches": sent})

    def _rollout_start(
        self, key: WorkloadKey, rollout: dict, image: str, weight: int, *, change_cause: str, progress: Progress | None
    ) -> WriteResult:
        """A canary of an Argo Rollout is a change of its image: Argo's controller then
        runs the Rollout's own steps. The weight asked is compared with the first step's."""
        argo = rollout_status(rollout)
        if argo.strategy != "canary":
            raise AdapterError(
                ErrorKind.BAD_INPUT,
                f"{key.label} is an Argo Rollout with a {argo.strategy or 'missing'} strategy, not a canary one: use the blue-green runbook",
            )
        before = _image(rollout, key.name)
        if before == image:
            message = f"rollout {key.name} already runs {image}: Argo is at {argo.summary or 'no status yet'}, weight {argo.weight} %"
            _say(progress, message)
            return WriteResult(
                verb="canary.start", workload=key, message=message, from_version=_version(before), to_version=_version(image),
                detail={"argo": True, "patches": [], "weight": argo.weight, "asked": weight},
            )
        containers = _template_containers(rollout)
        index = _main_container(containers, key.name)
        patch = [
            {"op": "test", "path": f"/spec/template/spec/containers/{index}/image", "value": before},
            {"op": "replace", "path": f"/spec/template/spec/containers/{index}/image", "value": image},
        ]
        if change_cause and (rollout.get("metadata") or {}).get("annotations"):
            patch.append({"op": "add", "path": f"/metadata/annotations/{_escape(CHANGE_CAUSE)}", "value": change_cause})
        elif change_cause:
            patch.append({"op": "add", "path": "/metadata/annotations", "value": {CHANGE_CAUSE: change_cause}})
        self._request("PATCH", _path(ROLLOUTS, "rollouts", key.group, key.name), body=patch, content_type="application/json-patch+json")
        first = next_weight({**rollout, "status": {"currentStepIndex": -1}})
        said = f"Argo's first step sends {first} %" if first is not None else "Argo's steps set the weights"
        message = f"rollout {key.name}: image {before} → {image}; Argo Rollouts runs its canary steps ({said}, asked {weight} %)"
        _say(progress, message)
        return WriteResult(
            verb="canary.start", workload=key, message=message, from_version=_version(before), to_version=_version(image),
            detail={"argo": True, "patches": [{"subresource": "", "patch": patch}], "weight": first, "asked": weight},
        )

    def _rollout_abort_to_stable(self, key: WorkloadKey, *, progress: Progress | None) -> WriteResult:
        """The runbook's abort on a Rollout: Argo's ``abort`` (traffic back to stable at
        once), then the template set back to the stable ReplicaSet's image — which Argo
        treats as a rollback to stable, without steps — so the Rollout ends Healthy on
        the version it started from instead of Degraded on the refused one."""
        aborted = self.rollout_abort(key, progress=progress)
        rollout = self._argo_rollout(key)
        current = _image(rollout, key.name)
        stable = self._rollout_stable_image(key, rollout)
        if not stable or stable == current:
            return WriteResult(
                verb="canary.abort", workload=key, message=aborted.message, from_version=_version(current), to_version=_version(current),
                detail={**aborted.detail, "argo": True, "image_before": current, "image_after": current},
            )
        index = _main_container(_template_containers(rollout), key.name)
        patch = [
            {"op": "test", "path": f"/spec/template/spec/containers/{index}/image", "value": current},
            {"op": "replace", "path": f"/spec/template/spec/containers/{index}/image", "value": stable},
        ]
        self._request("PATCH", _path(ROLLOUTS, "rollouts", key.group, key.name), body=patch, content_type="application/json-patch+json")
        message = f"rollout {key.name} aborted and set back to {stable}: Argo rolls back to its stable ReplicaSet without steps"
        _say(progress, message)
        return WriteResult(
            verb="canary.abort", workload=key, message=message, from_version=_version(current), to_version=_version(stable),
            detail={"argo": True, "patches": [*aborted.detail.get("patches", []), {"subresource": "", "patch": patch}], "image_before": current, "image_after": stable},
        )

    def _rollout_stable_image(self, key: WorkloadKey, rollout: dict) -> str:
        """The image of the ReplicaSet Argo calls stable (``status.stableRS``), "" when unknown."""
        stable_hash = str((rollout.get("status") or {}).get("stableRS") or "")
        if not stable_hash:
            return ""
        uid = (rollout.get("metadata") or {}).get("uid")
        listed = self._request(
            "GET", _path("apps/v1", "replicasets", key.group, None), query={"labelSelector": f"rollouts-pod-template-hash={stable_hash}"}
        )
        for rs in listed.get("items") or []:
            owners = (rs.get("metadata") or {}).get("ownerReferences") or []
            if any(o.get("kind") == "Rollout" and (o.get("uid") == uid or o.get("name") == key.name) for o in owners):
                return _image(rs, key.name)
        return ""

    def _rollout_weight(self, key: WorkloadKey, rollout: dict, weight: int, *, progress: Progress | None) -> WriteResult:
        """Argo's weights are its steps': a weight above the current one is reached by
        promoting past the pause that holds it — one step, as ``promote`` does."""
        argo = rollout_status(rollout)
        if argo.weight >= weight or argo.phase != "Paused":
            where = "paused" if argo.phase == "Paused" else argo.phase or "without status"
            message = f"rollout {key.name} is {where} at weight {argo.weight} % (asked {weight} %): Argo's steps decide, nothing sent"
            _say(progress, message)
            return WriteResult(verb="canary.set_weight", workload=key, message=message, detail={"argo": True, "patches": [], "weight": argo.weight, "asked": weight})
        promoted = self.rollout_promote(key, progress=progress)
        upcoming = next_weight(rollout)
        message = f"rollout {key.name} promoted past its pause: the next step sends {upcoming if upcoming is not None else 100} % (asked {weight} %)"
        _say(progress, message)
        return WriteResult(verb="canary.set_weight", workload=key, message=message, detail={**promoted.detail, "argo": True, "weight": upcoming, "asked": weight})

    def _argo_rollout(self, key: WorkloadKey) -> dict:
        rollout = self._rollout(key)
        if rollout is None:
            raise AdapterError(ErrorKind.NOT_FOUND, f"{key.label} is not an Argo Rollout in {self.environment.name}")
        return rollout

    def _argo_send(self, key: WorkloadKey, spec_patch: dict | None, status_patch: dict | None, unified: dict | None) -> list[dict]:
        """Status first through its subresource; where the CRD has none (404), the
        unified patch on the object instead — as the CLI does."""
        path = _path(ROLLOUTS, "rollouts", key.group, key.name)
        sent: list[dict] = []
        if status_patch is not None:
            try:
                self._request("PATCH", f"{path}/status", body=status_patch, content_type=MERGE)
                sent.append({"subresource": "status", "patch": status_patch})
            except AdapterError as error:
                if error.kind != ErrorKind.NOT_FOUND:
                    raise
                spec_patch = unified
        if spec_patch is not None:
            self._request("PATCH", path, body=spec_patch, content_type=MERGE)
            sent.append({"subresource": "", "patch": spec_patch})
        return sent


def argo_promote_patches(rollout: dict, *, full: bool) -> tuple[dict | None, dict | None, dict | None]:
    """(spec patch, status patch, unified patch) that ``kubectl argo rollouts promote``
    sends for ``rollout`` (``getPatches`` in its source): merge patches, None where it
    sends nothing. The unified patch replaces the spec patch where the status
    subresource is missing."""
    spec = rollout.get("spec") or {}
    status = rollout.get("status") or {}
    if full:
        if status.get("currentPodHash") != status.get("stableRS"):
            return None, {"status": {"promoteFull": True}}, None
        return None, None, None
    spec_patch = {"spec": {"paused": False}} if spec.get("paused") else None
    unified: dict | None = {"spec": {"paused": False}, "status": {"pauseConditions": None}}
    status_patch = None
    canary = (spec.get("strategy") or {}).get("canary")
    if not isinstance(canary, dict):
        canary = None
    index = _next_step(canary, status)
    paused_by = status.get("pauseConditions") or []
    analysis = (((status.get("canary") or {}).get("currentStepAnalysisRunStatus")) or {}).get("status")
    if canary is not None and analysis == "Inconclusive" and paused_by and status.get("controllerPause"):
        # An inconclusive analysis paused it: un-pause the controller and move on.
        if index is not None:
            status_patch = {"status": {"pauseConditions": None, "controllerPause": False, "currentStepIndex": index}}
    elif paused_by:
        status_patch = {"status": {"pauseConditions": None}}
    elif canary is not None and index is not None:
        # Not paused but in a step (analysis, experiment): promoting skips that step.
        status_patch = {"status": {"pauseConditions": None, "currentStepIndex": index}}
        unified = {"spec": {"paused": False}, "status": {"pauseConditions": None, "currentStepIndex": index}}
    return spec_patch, status_patch, unified


def _next_step(canary: dict | None, status: dict) -> int | None:
    steps = (canary or {}).get("steps") or []
    if canary is None or not steps:
        return None
    index = int(status.get("currentStepIndex") or 0)
    return index + 1 if index < len(steps) else index


def _rollout_state(key: WorkloadKey, rollout: dict) -> ReleaseState:
    status = rollout.get("status") or {}
    argo = rollout_status(rollout)
    updated = int(status.get("updatedReplicas") or 0)
    return ReleaseState(
        workload=key,
        kind=argo.strategy,
        new_image=_image(rollout, key.name),
        stable_replicas=_replicas(rollout),
        new_replicas=updated,
        new_ready=min(updated, int(status.get("readyReplicas") or 0)),
        weight=argo.weight,
        phase=argo.summary,
        message=f"Argo Rollout {key.name}: {argo.summary or 'no status yet'}" + (f" — {argo.message}" if argo.message else ""),
    )


# -- helpers --------------------------------------------------------------------------------


@dataclass
class _Colours:
    """A blue-green workload as read: its Service, the live colour, a Deployment per colour."""

    service: dict
    live: str
    deployments: dict[str, dict]
    deployed: str | None
    """The colour holding the newest release, as the Service records it."""

    @property
    def idle(self) -> str:
        return _other(self.live)

    @property
    def service_name(self) -> str:
        return _meta(self.service).get("name", "")


def _other(colour: str) -> str:
    return GREEN if colour == BLUE else BLUE


def _canary_name(key: WorkloadKey) -> str:
    return f"{key.name}-{CANARY}"


def _canary_body(key: WorkloadKey, stable: dict, image: str, replicas: int, cause: str) -> dict:
    spec = {k: v for k, v in _copy(stable.get("spec") or {}).items() if k != "paused"}
    selector = spec.get("selector") or {}
    selector.setdefault("matchLabels", {})[TRACK] = CANARY
    template = spec.get("template") or {}
    labels = template.setdefault("metadata", {}).setdefault("labels", {})
    labels.pop(TEMPLATE_HASH, None)
    labels[TRACK] = CANARY
    _set_image(template, key.name, image)
    spec.update(replicas=replicas, selector=selector, template=template)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": _canary_name(key),
            "namespace": key.group,
            # Only the selector's labels: copying the stable's own labels would make
            # tools that track it (Helm, Argo CD) think they own the canary too.
            "labels": {**selector["matchLabels"], MANAGED_BY: "watchfloor"},
            "annotations": {CHANGE_CAUSE: cause, CANARY_OF: key.name},
        },
        "spec": spec,
    }


def _replace_template(deployment: dict, template: dict, replicas: int, annotations: dict) -> list[dict]:
    """A JSON patch putting ``template`` in whole (a merge would keep labels and fields
    the new template does not have), guarded by the resourceVersion read."""
    metadata = _meta(deployment)
    ops: list[dict] = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": metadata.get("resourceVersion")},
        {"op": "replace", "path": "/spec/template", "value": template},
        {"op": "add", "path": "/spec/replicas", "value": replicas},
    ]
    if metadata.get("annotations"):
        ops += [{"op": "add", "path": f"/metadata/annotations/{_escape(k)}", "value": v} for k, v in annotations.items()]
    else:
        ops.append({"op": "add", "path": "/metadata/annotations", "value": annotations})
    return ops


def _check_weight(key: WorkloadKey, weight: int, *, lowest: int) -> None:
    if not isinstance(weight, int) or isinstance(weight, bool) or not lowest <= weight <= 100:
        raise AdapterError(ErrorKind.BAD_INPUT, f"canary weight for {key.label} must be a whole percentage from {lowest} to 100, not {weight!r}")


def _copy(obj):
    return json.loads(json.dumps(obj))


def _meta(obj: dict | None) -> dict:
    return (obj or {}).get("metadata") or {}


def _annotations(obj: dict | None) -> dict:
    return _meta(obj).get("annotations") or {}


def _template_labels(obj: dict) -> dict:
    return (((obj.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}


def _selector(service: dict) -> dict:
    return (service.get("spec") or {}).get("selector") or {}


def _replicas(obj: dict) -> int:
    value = (obj.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


def _ready(obj: dict) -> int:
    return int((obj.get("status") or {}).get("readyReplicas") or 0)


def _image(obj: dict, workload: str) -> str:
    """The workload's main container's image: the one named like the workload, else the
    first — looked up by the workload's name also in ``-canary`` and colour Deployments."""
    containers = _template_containers(obj)
    return containers[_main_container(containers, workload)].get("image", "") if containers else ""


def _set_image(template: dict, workload: str, image: str) -> None:
    containers = ((template.get("spec") or {}).get("containers")) or []
    containers[_main_container(containers, workload)]["image"] = image


def _version(image: str) -> str:
    from adapters.kubernetes import image_version

    return image_version(image, {}) if image else ""


def _terminating(left: int) -> str:
    return f" ({left} pod(s) still terminating)" if left else ""


class KubernetesReleases:
    """The release methods of ``KubernetesAdapter`` (``ReleaseAdapter``), mixed into it.

    Needs ``self.environment`` and ``self.request`` from the adapter. Beyond the
    protocol, Argo Rollouts' own verbs: ``rollout_promote`` (``full=True`` for
    ``promote --full``), ``rollout_abort``, ``rollout_retry``.
    """

    environment: Environment

    def request(self, method: str, path: str, **kwargs) -> dict:  # pragma: no cover - the adapter's
        raise NotImplementedError

    @property
    def _releaser(self) -> KubernetesReleaser:
        return KubernetesReleaser(self.environment, self.request)

    def canary_start(self, key, image, weight, **kwargs) -> WriteResult:
        return self._releaser.canary_start(key, image, weight, **kwargs)

    def canary_set_weight(self, key, weight, **kwargs) -> WriteResult:
        return self._releaser.canary_set_weight(key, weight, **kwargs)

    def canary_promote(self, key, **kwargs) -> WriteResult:
        return self._releaser.canary_promote(key, **kwargs)

    def canary_abort(self, key, **kwargs) -> WriteResult:
        return self._releaser.canary_abort(key, **kwargs)

    def bluegreen_deploy(self, key, image, **kwargs) -> WriteResult:
        return self._releaser.bluegreen_deploy(key, image, **kwargs)

    def bluegreen_switch(self, key, **kwargs) -> WriteResult:
        return self._releaser.bluegreen_switch(key, **kwargs)

    def bluegreen_switch_back(self, key, **kwargs) -> WriteResult:
        return self._releaser.bluegreen_switch_back(key, **kwargs)

    def bluegreen_scale_down(self, key, **kwargs) -> WriteResult:
        return self._releaser.bluegreen_scale_down(key, **kwargs)

    def bluegreen_abort(self, key, **kwargs) -> WriteResult:
        return self._releaser.bluegreen_abort(key, **kwargs)

    def release_state(self, key) -> ReleaseState:
        return self._releaser.release_state(key)

    def rollout_promote(self, key, *, full: bool = False, progress: Progress | None = None) -> WriteResult:
        return self._releaser.rollout_promote(key, full=full, progress=progress)

    def rollout_abort(self, key, *, progress: Progress | None = None) -> WriteResult:
        return self._releaser.rollout_abort(key, progress=progress)

    def rollout_retry(self, key, *, progress: Progress | None = None) -> WriteResult:
        return self._releaser.rollout_retry(key, progress=progress)
