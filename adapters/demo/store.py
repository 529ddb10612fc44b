"""The emulator's object store: current objects, one resourceVersion, bounded history.

Every change gets the next value of one global, monotonically increasing
resourceVersion and is appended to its resource's history, a ``deque`` with a fixed
``maxlen``. Watches resume from that history; a resourceVersion older than what the
history still holds is answered with ``410 Expired``, as a real API server answers a
version etcd has compacted. Nothing else grows with time or with the number of
requests served: memory is the objects plus ``history_limit`` events per resource.

Objects are kept twice: as a dict (for the controller and selectors to read) and as
the compact JSON bytes a list or watch sends, serialized once per change. History
entries reference those bytes, so an unchanged object costs nothing extra in the
history, and a list of 5,000 pods is a join of cached bytes rather than 5,000
``json.dumps`` calls.

The store is single-threaded: everything here runs on the emulator's event loop.
Dicts handed out by :meth:`ObjectStore.get` are the stored ones and must be treated as
read-only; :meth:`ObjectStore.get_copy` gives one to change and write back.
"""

from __future__ import annotations

import asyncio
import base64
import bisect
import json
import logging
import random
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from adapters.demo.objects import ClusterIPAllocator, Invalid, apply_defaults, new_uid, random_suffix, rfc3339, validate
from adapters.demo.patch import PatchError, json_patch, merge_patch, strategic_merge_patch
from adapters.demo.resources import NAMESPACES, PODS, RESOURCE_TYPES, ResourceType
from adapters.demo.selectors import FieldSelector, LabelSelector

log = logging.getLogger("watchfloor.demo.store")

DEFAULT_HISTORY_LIMIT = 10_000


def strip_nulls(value: Any) -> Any:
    """Drop ``null`` map values, as the server's decoder turns them into zero values.

    The official client's ``to_dict`` writes every unset field as ``null``; a real
    server reads those as absent, and so does the emulator.
    """
    if isinstance(value, dict):
        return {k: strip_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [strip_nulls(v) for v in value]
    return value


def dump(obj: Any) -> bytes:
    """Compact JSON bytes, as sent on the wire."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


class ApiError(Exception):
    """A request the API server answers with a ``Status`` failure.

    Attributes:
        code: HTTP status code.
        reason: The ``StatusReason`` (``NotFound``, ``Conflict``, ``Expired``…).
        details: The ``StatusDetails`` dict, if any.
    """

    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict[str, Any]:
        """The ``Status`` object the server sends for this error."""
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return body

    @classmethod
    def not_found(cls, rt: ResourceType, name: str) -> ApiError:
        return cls(404, "NotFound", f'{rt.key} "{name}" not found', {"name": name, "group": rt.group, "kind": rt.plural})

    @classmethod
    def already_exists(cls, rt: ResourceType, name: str) -> ApiError:
        return cls(409, "AlreadyExists", f'{rt.key} "{name}" already exists', {"name": name, "group": rt.group, "kind": rt.plural})

    @classmethod
    def conflict(cls, rt: ResourceType, name: str) -> ApiError:
        return cls(
            409,
            "Conflict",
            f'Operation cannot be fulfilled on {rt.key} "{name}": the object has been modified; '
            "please apply your changes to the latest version and try again",
            {"name": name, "group": rt.group, "kind": rt.plural},
        )

    @classmethod
    def invalid(cls, rt: ResourceType, error: Invalid) -> ApiError:
        causes = [{"reason": "FieldValueInvalid", "message": message, "field": field} for field, message in error.causes]
        return cls(422, "Invalid", str(error), {"name": error.name, "group": rt.group, "kind": rt.kind, "causes": causes})

    @classmethod
    def bad_request(cls, message: str) -> ApiError:
        return cls(400, "BadRequest", message)

    @classmethod
    def expired(cls, message: str) -> ApiError:
        return cls(410, "Expired", message)


class StoredObject:
    """One current object: the dict, its wire bytes, and what selectors look at."""

    __slots__ = ("obj", "raw", "labels", "fields")

    def __init__(self, obj: dict[str, Any], raw: bytes, labels: dict[str, str], fields: tuple[str, ...]) -> None:
        self.obj = obj
        self.raw = raw
        self.labels = labels
        self.fields = fields


class HistoryEvent:
    """One change in a resource's history, with enough to filter it for any watch.

    ``old_labels``/``old_fields`` let a selector watch turn a MODIFIED that moves an
    object out of (or into) its selection into DELETED (or ADDED), as the server does.
    """

    __slots__ = ("rv", "type", "namespace", "labels", "fields", "old_labels", "old_fields", "raw")

    def __init__(
        self,
        rv: int,
        type_: str,
        namespace: str,
        labels: dict[str, str],
        fields: tuple[str, ...],
        old_labels: dict[str, str] | None,
        old_fields: tuple[str, ...] | None,
        raw: bytes,
    ) -> None:
        self.rv = rv
        self.type = type_
        self.namespace = namespace
        self.labels = labels
        self.fields = fields
        self.old_labels = old_labels
        self.old_fields = old_fields
        self.raw = raw


class ResourceState:
    """Objects of one resource type by namespace, its bounded history and its watches."""

    __slots__ = ("rt", "by_namespace", "history", "floor", "compacted", "watches", "getters")

    def __init__(self, rt: ResourceType, history_limit: int) -> None:
        self.rt = rt
        self.by_namespace: dict[str, dict[str, StoredObject]] = {}
        self.history: deque[HistoryEvent] = deque(maxlen=history_limit)
        # Every event with rv > floor is still in the history.
        self.floor = 0
        # Versions older than this are refused at watch start (set by expire_watches).
        self.compacted = 0
        self.watches: set[Watch] = set()
        self.getters = tuple(rt.field_getters().values())

    def count(self) -> int:
        return sum(len(objects) for objects in self.by_namespace.values())


@dataclass(frozen=True)
class Change:
    """What a store listener is told after every change.

    Attributes:
        rt: The resource type.
        type: ``ADDED``, ``MODIFIED`` or ``DELETED``.
        obj: The object after the change (the last state, for DELETED).
        old: The object before the change (``None`` for ADDED).
        propagation: For DELETED, the ``propagationPolicy`` the client asked for.
    """

    rt: ResourceType
    type: str
    obj: dict[str, Any]
    old: dict[str, Any] | None
    propagation: str | None = None


class Watch:
    """The state of one open watch: a cursor into the history, nothing buffered.

    A watch holds no queue of its own: it remembers the last resourceVersion it sent
    and reads newer events straight from the resource's history when woken. A watch
    that falls further behind than the history reaches is told ``410 Expired`` (as a
    real server drops a watcher it cannot keep up), so a slow or stuck client can
    never make the emulator buffer without limit.
    """

    def __init__(
        self,
        store: ObjectStore,
        state: ResourceState,
        namespace: str | None,
        labels: LabelSelector,
        fields: FieldSelector,
        cursor: int,
    ) -> None:
        self._store = store
        self._state = state
        self.namespace = namespace
        self.labels = labels
        self.fields = fields
        self.cursor = cursor
        self.wake = asyncio.Event()
        self.dropped = False

    @property
    def rt(self) -> ResourceType:
        return self._state.rt

    def _selected(self, namespace: str, labels: dict[str, str] | None, fields: tuple[str, ...] | None) -> bool:
        if labels is None or fields is None:
            return False
        if self.namespace is not None and namespace != self.namespace:
            return False
        return self.labels.matches(labels) and self.fields.matches(fields)

    def take(self, limit: int = 1000) -> list[tuple[str, bytes]]:
        """The events after the cursor that this watch selects, as ``(type, raw)``.

        Advances the cursor. At most ``limit`` history entries are read per call so a
        big backlog is sent in slices and other connections get a turn.

        Raises:
            ApiError: 410 when events after the cursor have left the history.
        """
        state = self._state
        if self.cursor < state.floor:
            raise ApiError.expired(f"too old resource version: {self.cursor} ({state.floor})")
        pending: list[HistoryEvent] = []
        for event in reversed(state.history):
            if event.rv <= self.cursor:
                break
            pending.append(event)
        if not pending:
            self.wake.clear()
            return []
        pending.reverse()
        if len(pending) > limit:
            pending = pending[:limit]
        else:
            self.wake.clear()
        out: list[tuple[str, bytes]] = []
        for event in pending:
            now = self._selected(event.namespace, event.labels, event.fields)
            if event.type == "ADDED":
                if now:
                    out.append(("ADDED", event.raw))
            elif event.type == "DELETED":
                if now:
                    out.append(("DELETED", event.raw))
            else:
                before = self._selected(event.namespace, event.old_labels, event.old_fields)
                if now and before:
                    out.append(("MODIFIED", event.raw))
                elif now:
                    out.append(("ADDED", event.raw))
                elif before:
                    out.append(("DELETED", event.raw))
        self.cursor = pending[-1].rv
        return out

    def caught_up_version(self) -> int:
        """The resourceVersion a BOOKMARK may carry: everything up to it has been sent.

        Only valid right after :meth:`take` returned nothing new.
        """
        self.cursor = max(self.cursor, self._store.resource_version)
        return self.cursor

    def close(self) -> None:
        """Forget this watch (the connection is gone)."""
        self._state.watches.discard(self)


Listener = Callable[[Change], None]


class ObjectStore:
    """All objects of one emulated cluster.

    Args:
        history_limit: Events kept per resource for watch resumption.
        time_scale: Multiplies the grace period of graceful deletions.
        seed: Seeds generated names, so a seeded demo is reproducible.
    """

    def __init__(self, *, history_limit: int = DEFAULT_HISTORY_LIMIT, time_scale: float = 1.0, seed: int | None = None) -> None:
        self.history_limit = history_limit
        self.time_scale = time_scale
        self.resource_version = 0
        self._states: dict[str, ResourceState] = {rt.key: ResourceState(rt, history_limit) for rt in RESOURCE_TYPES}
        self._listeners: list[Listener] = []
        self._ips = ClusterIPAllocator()
        self.rng = random.Random(seed)  # nosec B311 # simulated cluster behaviour, not secrets
        self._timers: dict[tuple[str, str, str], asyncio.TimerHandle] = {}

    # --- plumbing ------------------------------------------------------------------

    def state(self, rt: ResourceType) -> ResourceState:
        """The state of one resource type."""
        return self._states[rt.key]

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener(change)`` after every change (on the loop, synchronously).

        Listeners must not write to the store from inside the call; they schedule work.
        """
        self._listeners.append(listener)

    def _next_version(self) -> int:
        self.resource_version += 1
        return self.resource_version

    def compact(self) -> int:
        """Refuse every resourceVersion handed out so far for new watches (410).

        Open watches carry on. A list made after this returns a version that is
        accepted, so a client that relists recovers, as from an etcd compaction.

        Returns:
            The new current resourceVersion.
        """
        rv = self._next_version()
        for state in self._states.values():
            state.compacted = rv
        return rv

    def _index(self, state: ResourceState, obj: dict[str, Any]) -> StoredObject:
        labels = obj.get("metadata", {}).get("labels") or {}
        fields = tuple(getter(obj) for getter in state.getters)
        return StoredObject(obj, dump(obj), labels, fields)

    def _record(
        self, state: ResourceState, type_: str, entry: StoredObject, old: StoredObject | None, namespace: str, rv: int
    ) -> None:
        history = state.history
        if len(history) == history.maxlen:
            state.floor = history[0].rv
        history.append(
            HistoryEvent(
                rv,
                type_,
                namespace,
                entry.labels,
                entry.fields,
                old.labels if old else None,
                old.fields if old else None,
                entry.raw,
            )
        )
        for watch in state.watches:
            watch.wake.set()

    def _notify(self, change: Change) -> None:
        for listener in self._listeners:
            try:
                listener(change)
            except Exception:  # a listener bug must not corrupt the store's bookkeeping
                log.exception("store listener failed on %s %s", change.type, change.rt.key)

    # --- reads ---------------------------------------------------------------------

    def _find(self, rt: ResourceType, namespace: str | None, name: str) -> StoredObject | None:
        return self.state(rt).by_namespace.get(namespace or "", {}).get(name)

    def get(self, rt: ResourceType, namespace: str | None, name: str) -> dict[str, Any]:
        """The stored object (read-only).

        Raises:
            ApiError: 404 if absent.
        """
        entry = self._find(rt, namespace, name)
        if entry is None:
            raise ApiError.not_found(rt, name)
        return entry.obj

    def get_raw(self, rt: ResourceType, namespace: str | None, name: str) -> bytes:
        """The stored object's wire bytes.

        Raises:
            ApiError: 404 if absent.
        """
        entry = self._find(rt, namespace, name)
        if entry is None:
            raise ApiError.not_found(rt, name)
        return entry.raw

    def find(self, rt: ResourceType, namespace: str | None, name: str) -> dict[str, Any] | None:
        """The stored object (read-only), or ``None``."""
        entry = self._find(rt, namespace, name)
        return entry.obj if entry else None

    def get_copy(self, rt: ResourceType, namespace: str | None, name: str) -> dict[str, Any] | None:
        """A private copy of the stored object to change and write back, or ``None``."""
        entry = self._find(rt, namespace, name)
        return json.loads(entry.raw) if entry else None

    def objects(self, rt: ResourceType, namespace: str | None = None) -> Iterable[dict[str, Any]]:
        """Every stored object of a type (read-only), optionally in one namespace."""
        state = self.state(rt)
        if namespace is not None:
            return [e.obj for e in state.by_namespace.get(namespace, {}).values()]
        return [e.obj for objects in state.by_namespace.values() for e in objects.values()]

    def count(self, rt: ResourceType) -> int:
        """How many objects of a type are stored."""
        return self.state(rt).count()

    def list(
        self,
        rt: ResourceType,
        namespace: str | None,
        labels: LabelSelector,
        fields: FieldSelector,
        *,
        limit: int = 0,
        continue_token: str | None = None,
    ) -> tuple[list[bytes], int, str | None, int | None]:
        """Select objects the way a list request does.

        Items come sorted by namespace and name, as etcd's key order gives them.
        ``limit``/``continue`` page through the current state (not a snapshot of the
        first page's version: the emulator keeps no old object states).

        Returns:
            ``(raw items, resourceVersion, continue token or None, remaining or None)``.
        """
        state = self.state(rt)
        if namespace is not None:
            spaces = [(namespace, state.by_namespace.get(namespace, {}))]
        else:
            spaces = sorted(state.by_namespace.items())
        paging = bool(limit or continue_token)
        # (namespace, name) keys are only needed to page; a plain list skips them, which
        # at 5,000 pods is 5,000 fewer tuples for the garbage collector to track.
        keys: list[tuple[str, str]] = []
        selected: list[StoredObject] = []
        for ns, objects in spaces:
            for name in sorted(objects):
                entry = objects[name]
                if labels.requirements and not labels.matches(entry.labels):
                    continue
                if fields.clauses and not fields.matches(entry.fields):
                    continue
                if paging:
                    keys.append((ns, name))
                selected.append(entry)
        rv = self.resource_version
        if not paging:
            return [e.raw for e in selected], rv, None, None
        start = 0
        if continue_token:
            try:
                token = json.loads(base64.urlsafe_b64decode(continue_token.encode()))
                rv = int(token["rv"])
                start = bisect.bisect_right(keys, (token["ns"], token["name"]))
            except (ValueError, KeyError, TypeError) as exc:
                raise ApiError.bad_request(f"continue key is not valid: {exc}") from exc
        items = selected[start:]
        next_token = None
        remaining = None
        if limit and len(items) > limit:
            items = items[:limit]
            last_ns, last_name = keys[start + limit - 1]
            next_token = base64.urlsafe_b64encode(
                json.dumps({"rv": rv, "ns": last_ns, "name": last_name}).encode()
            ).decode()
            remaining = len(selected) - start - limit
        return [e.raw for e in items], rv, next_token, remaining

    # --- writes --------------------------------------------------------------------

    def _check_namespace(self, rt: ResourceType, namespace: str | None) -> None:
        if not rt.namespaced:
            return
        ns = self._find(NAMESPACES, None, namespace or "")
        if ns is None:
            raise ApiError(404, "NotFound", f'namespaces "{namespace}" not found', {"name": namespace, "kind": "namespaces"})
        if ns.obj.get("status", {}).get("phase") == "Terminating":
            raise ApiError(
                403,
                "Forbidden",
                f'{rt.key} is forbidden: unable to create new content in namespace {namespace} because it is being terminated',
            )

    def create(self, rt: ResourceType, obj: Any, namespace: str | None = None) -> dict[str, Any]:
        """Create an object as ``POST`` does.

        Args:
            rt: The resource type.
            obj: The body (it is copied, not kept).
            namespace: The namespace from the URL (namespaced resources).

        Returns:
            The stored object (read-only).

        Raises:
            ApiError: 400 for a wrong kind or namespace, 404 for a missing namespace,
                409 if the name is taken, 422 if invalid.
        """
        if not isinstance(obj, dict):
            raise ApiError.bad_request(f"the body of the request was in an unknown format: expected a {rt.kind} object")
        obj = strip_nulls(obj)
        if obj.get("kind", rt.kind) != rt.kind or obj.get("apiVersion", rt.api_version) != rt.api_version:
            raise ApiError.bad_request(
                f"the API version in the data ({obj.get('apiVersion')}) does not match the expected API version ({rt.api_version})"
                if obj.get("apiVersion", rt.api_version) != rt.api_version
                else f"kind {obj.get('kind')!r} does not match {rt.kind!r}"
            )
        obj["kind"] = rt.kind
        obj["apiVersion"] = rt.api_version
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise ApiError.invalid(rt, Invalid(rt.kind, "", [("metadata", "Invalid value: must be an object")]))
        if rt.namespaced:
            body_ns = meta.get("namespace")
            if body_ns and namespace and body_ns != namespace:
                raise ApiError.bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            namespace = namespace or body_ns or "default"
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
            namespace = None
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = f"{meta['generateName']}{random_suffix(self.rng)}"
        for transient in ("resourceVersion", "uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation", "managedFields"):
            meta.pop(transient, None)
        apply_defaults(rt, obj, creating=True, ips=self._ips)
        try:
            validate(rt, obj)
        except Invalid as error:
            raise ApiError.invalid(rt, error) from None
        self._check_namespace(rt, namespace)
        state = self.state(rt)
        objects = state.by_namespace.setdefault(namespace or "", {})
        if meta["name"] in objects:
            raise ApiError.already_exists(rt, meta["name"])
        meta["uid"] = new_uid()
        meta["creationTimestamp"] = rfc3339()
        if rt.has_generation:
            meta["generation"] = 1
        rv = self._next_version()
        meta["resourceVersion"] = str(rv)
        entry = self._index(state, obj)
        objects[meta["name"]] = entry
        self._record(state, "ADDED", entry, None, namespace or "", rv)
        self._notify(Change(rt, "ADDED", obj, None))
        return obj

    def write(
        self,
        rt: ResourceType,
        obj: dict[str, Any],
        *,
        expect_version: str | None = None,
        subresource: str | None = None,
        _defaults: bool = True,
    ) -> dict[str, Any]:
        """Replace a stored object, as ``PUT`` does (and as the controller writes).

        Args:
            rt: The resource type.
            obj: The new object; the store owns it afterwards.
            expect_version: If given, the write fails with 409 unless it is the
                stored resourceVersion (optimistic concurrency).
            subresource: ``"status"`` to change only the status, ``"spec"`` to keep
                the stored status (a client write to the main resource of a type with
                a status subresource), ``None`` for the controller's full write.

        Returns:
            The stored object (read-only); unchanged (same resourceVersion) if the
            write changed nothing, as the real server does for a no-op update.

        Raises:
            ApiError: 404, 409, 422.
        """
        meta = obj.get("metadata") if isinstance(obj, dict) else None
        if not isinstance(meta, dict) or not meta.get("name"):
            raise ApiError.invalid(rt, Invalid(rt.kind, "", [("metadata.name", "Required value")]))
        namespace = (meta.get("namespace") or "") if rt.namespaced else ""
        name = meta["name"]
        state = self.state(rt)
        current = state.by_namespace.get(namespace, {}).get(name)
        if current is None:
            raise ApiError.not_found(rt, name)
        old = current.obj
        if expect_version is not None and expect_version != old["metadata"]["resourceVersion"]:
            raise ApiError.conflict(rt, name)
        if subresource == "status":
            new = json.loads(current.raw)
            if "status" in obj:
                new["status"] = obj["status"]
            else:
                new.pop("status", None)
        else:
            new = obj
            new["kind"] = rt.kind
            new["apiVersion"] = rt.api_version
            if subresource == "spec":
                if "status" in old:
                    new["status"] = json.loads(dump(old["status"]))
                else:
                    new.pop("status", None)
            # Identity and server-owned metadata cannot be changed by a write.
            for key in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation"):
                if key in old["metadata"]:
                    new["metadata"][key] = old["metadata"][key]
                else:
                    new["metadata"].pop(key, None)
            if rt.namespaced:
                new["metadata"]["namespace"] = namespace
            new["metadata"].pop("managedFields", None)
            if _defaults:
                apply_defaults(rt, new, creating=False, ips=self._ips)
            try:
                validate(rt, new, old)
            except Invalid as error:
                raise ApiError.invalid(rt, error) from None
            if rt.has_generation and new.get("spec") != old.get("spec"):
                new["metadata"]["generation"] = int(old["metadata"].get("generation", 1)) + 1
        new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
        if new == old:
            return old
        rv = self._next_version()
        new["metadata"]["resourceVersion"] = str(rv)
        entry = self._index(state, new)
        # Most writes change neither labels nor selectable fields: let the history share
        # the previous version's, rather than hold one copy per version.
        if entry.fields == current.fields:
            entry.fields = current.fields
        if entry.labels == current.labels:
            entry.labels = current.labels
        state.by_namespace[namespace][name] = entry
        self._record(state, "MODIFIED", entry, current, namespace, rv)
        self._notify(Change(rt, "MODIFIED", new, old))
        if new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers") and rt is not PODS:
            self.remove(rt, namespace or None, name)
        return new

    def patch(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        content_type: str,
        body: Any,
        *,
        subresource: str | None = None,
    ) -> dict[str, Any]:
        """Apply a PATCH request body.

        Args:
            content_type: One of the three patch media types.
            subresource: ``"status"`` to patch the status subresource.

        Raises:
            ApiError: 404, 409 (stale ``metadata.resourceVersion`` in the patch), 415
                for an unsupported patch type, 422 for a patch that cannot apply.
        """
        current = self.get(rt, namespace, name)
        try:
            if content_type == "application/merge-patch+json":
                new = merge_patch(current, body)
            elif content_type == "application/strategic-merge-patch+json":
                new = strategic_merge_patch(current, body)
            elif content_type == "application/json-patch+json":
                new = strip_nulls(json_patch(current, body))
            else:
                raise ApiError(
                    415,
                    "UnsupportedMediaType",
                    f"the body of the request was in an unknown format - accepted media types include: "
                    f"application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json (got {content_type})",
                )
        except PatchError as error:
            raise ApiError.invalid(rt, Invalid(rt.kind, name, [("patch", str(error))])) from None
        if not isinstance(new, dict) or not isinstance(new.get("metadata"), dict):
            raise ApiError.invalid(rt, Invalid(rt.kind, name, [("metadata", "Required value")]))
        if new["metadata"].get("name") != name:
            raise ApiError.bad_request(f"the name of the object ({new['metadata'].get('name')}) does not match the name on the URL ({name})")
        expect = None
        patched_version = new["metadata"].get("resourceVersion")
        if patched_version != current["metadata"]["resourceVersion"]:
            expect = patched_version
        return self.write(rt, new, expect_version=expect, subresource=subresource or ("spec" if "status" in rt.subresources else None))

    def replace(self, rt: ResourceType, namespace: str | None, name: str, body: Any, *, subresource: str | None = None) -> dict[str, Any]:
        """Apply a PUT request body (an update with optional optimistic concurrency).

        Raises:
            ApiError: 400 for a name mismatch, 404, 409, 422.
        """
        if not isinstance(body, dict) or not isinstance(body.get("metadata"), dict):
            raise ApiError.invalid(rt, Invalid(rt.kind, name, [("metadata", "Required value")]))
        body = strip_nulls(body)
        if body["metadata"].get("name") != name:
            raise ApiError.bad_request(f"the name of the object ({body['metadata'].get('name')}) does not match the name on the URL ({name})")
        if rt.namespaced:
            body_ns = body["metadata"].get("namespace")
            if body_ns and body_ns != namespace:
                raise ApiError.bad_request("the namespace of the provided object does not match the namespace sent on the request")
            body["metadata"]["namespace"] = namespace
        expect = body["metadata"].get("resourceVersion") or None
        return self.write(rt, body, expect_version=expect, subresource=subresource or ("spec" if "status" in rt.subresources else None))

    def delete(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        *,
        grace_seconds: int | None = None,
        propagation: str | None = None,
        precondition_uid: str | None = None,
        precondition_version: str | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """Delete as ``DELETE`` does.

        Pods on a node are deleted gracefully: ``deletionTimestamp`` is set and the pod
        goes away after a short grace (scaled by ``time_scale``); unscheduled pods and
        ``gracePeriodSeconds=0`` go at once. Objects with finalizers wait for them.
        Namespaces go Terminating, lose their content, then go.

        Returns:
            ``(object, gone)``: the last state and whether it is already removed.

        Raises:
            ApiError: 404, or 409 if a precondition fails.
        """
        current = self.get(rt, namespace, name)
        meta = current["metadata"]
        if precondition_uid and precondition_uid != meta.get("uid"):
            raise ApiError(
                409, "Conflict", f"Precondition failed: UID in precondition: {precondition_uid}, UID in object meta: {meta.get('uid')}"
            )
        if precondition_version and precondition_version != meta.get("resourceVersion"):
            raise ApiError(
                409,
                "Conflict",
                f"Precondition failed: ResourceVersion in precondition: {precondition_version}, "
                f"ResourceVersion in object meta: {meta.get('resourceVersion')}",
            )
        if rt is NAMESPACES:
            return self._delete_namespace(name), False
        graceful = rt is PODS and current.get("spec", {}).get("nodeName")
        if graceful:
            grace = current["spec"].get("terminationGracePeriodSeconds", 30) if grace_seconds is None else grace_seconds
            if grace > 0:
                if meta.get("deletionTimestamp"):
                    return current, False
                pod = json.loads(self.get_raw(rt, namespace, name))
                pod["metadata"]["deletionTimestamp"] = rfc3339(time.time() + grace)
                pod["metadata"]["deletionGracePeriodSeconds"] = grace
                written = self._mark_deleting(rt, pod)
                # Real containers usually stop well inside their grace period.
                delay = min(grace, 1.0) * self.time_scale
                self._schedule_removal(rt, namespace, name, meta["uid"], delay, propagation)
                return written, False
        if meta.get("finalizers"):
            if meta.get("deletionTimestamp"):
                return current, False
            obj = json.loads(self.get_raw(rt, namespace, name))
            obj["metadata"]["deletionTimestamp"] = rfc3339()
            return self._mark_deleting(rt, obj), False
        return self.remove(rt, namespace, name, propagation=propagation), True

    def _mark_deleting(self, rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        namespace = obj["metadata"].get("namespace") or ""
        state = self.state(rt)
        current = state.by_namespace[namespace][obj["metadata"]["name"]]
        rv = self._next_version()
        obj["metadata"]["resourceVersion"] = str(rv)
        entry = self._index(state, obj)
        state.by_namespace[namespace][obj["metadata"]["name"]] = entry
        self._record(state, "MODIFIED", entry, current, namespace, rv)
        self._notify(Change(rt, "MODIFIED", obj, current.obj))
        return obj

    def _schedule_removal(
        self, rt: ResourceType, namespace: str | None, name: str, uid: str, delay: float, propagation: str | None
    ) -> None:
        loop = asyncio.get_running_loop()
        key = (rt.key, namespace or "", name)

        def remove_if_same() -> None:
            self._timers.pop(key, None)
            entry = self._find(rt, namespace, name)
            if entry is not None and entry.obj["metadata"].get("uid") == uid:
                self.remove(rt, namespace, name, propagation=propagation)

        previous = self._timers.pop(key, None)
        if previous:
            previous.cancel()
        self._timers[key] = loop.call_later(delay, remove_if_same)

    def remove(self, rt: ResourceType, namespace: str | None, name: str, *, propagation: str | None = None) -> dict[str, Any]:
        """Remove an object now (the end of any deletion), recording DELETED.

        Raises:
            ApiError: 404 if absent.
        """
        state = self.state(rt)
        objects = state.by_namespace.get(namespace or "", {})
        entry = objects.pop(name, None)
        if entry is None:
            raise ApiError.not_found(rt, name)
        if not objects:
            state.by_namespace.pop(namespace or "", None)
        rv = self._next_version()
        # The DELETED event carries the last state with the deletion's version.
        last = json.loads(entry.raw)
        last["metadata"]["resourceVersion"] = str(rv)
        gone = self._index(state, last)
        self._record(state, "DELETED", gone, entry, namespace or "", rv)
        self._notify(Change(rt, "DELETED", last, entry.obj, propagation))
        return last

    def _delete_namespace(self, name: str) -> dict[str, Any]:
        ns = json.loads(self.get_raw(NAMESPACES, None, name))
        if ns.get("status", {}).get("phase") != "Terminating":
            ns["metadata"]["deletionTimestamp"] = rfc3339()
            ns["status"] = {"phase": "Terminating"}
            ns = self._mark_deleting(NAMESPACES, ns)
            loop = asyncio.get_running_loop()
            loop.call_later(0.05 * self.time_scale, self._finish_namespace, name, ns["metadata"]["uid"])
        return ns

    def _finish_namespace(self, name: str, uid: str) -> None:
        for rt in RESOURCE_TYPES:
            if not rt.namespaced:
                continue
            for obj_name in list(self.state(rt).by_namespace.get(name, {})):
                self.remove(rt, name, obj_name)
        entry = self._find(NAMESPACES, None, name)
        if entry is not None and entry.obj["metadata"].get("uid") == uid:
            self.remove(NAMESPACES, None, name)

    # --- watches -------------------------------------------------------------------

    def open_watch(
        self,
        rt: ResourceType,
        namespace: str | None,
        labels: LabelSelector,
        fields: FieldSelector,
        resource_version: str | None,
    ) -> tuple[Watch, list[bytes]]:
        """Start a watch.

        Args:
            resource_version: ``None``/``""``/``"0"`` start with the current state
                (sent as ADDED events); a number resumes after that version.

        Returns:
            The watch and the raw objects to send first as ADDED (possibly none).

        Raises:
            ApiError: 400 for a malformed version; 410 for one older than the history.
        """
        state = self.state(rt)
        initial: list[bytes] = []
        if not resource_version or resource_version == "0":
            initial, cursor, _, _ = self.list(rt, namespace, labels, fields)
        else:
            try:
                cursor = int(resource_version)
            except ValueError:
                raise ApiError.bad_request(f"invalid resource version: {resource_version!r}") from None
            oldest = max(state.floor, state.compacted)
            if cursor < oldest:
                raise ApiError.expired(f"too old resource version: {cursor} ({oldest})")
        watch = Watch(self, state, namespace, labels, fields, cursor)
        # Events after the cursor may already be in the history: look before waiting.
        watch.wake.set()
        state.watches.add(watch)
        return watch, initial

    def open_watches(self) -> list[Watch]:
        """Every open watch, all resources."""
        return [w for state in self._states.values() for w in state.watches]

    # --- introspection -------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Sizes that must stay bounded: objects, history and watches per resource."""
        return {
            "resource_version": self.resource_version,
            "history_limit": self.history_limit,
            "resources": {
                key: {
                    "objects": state.count(),
                    "history": len(state.history),
                    "watches": len(state.watches),
                    "floor": state.floor,
                }
                for key, state in self._states.items()
            },
            "pending_removals": len(self._timers),
        }


__all__ = [
    "ApiError",
    "Change",
    "DEFAULT_HISTORY_LIMIT",
    "HistoryEvent",
    "ObjectStore",
    "ResourceState",
    "StoredObject",
    "Watch",
    "dump",
]
