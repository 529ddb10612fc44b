"""core/v1 Events as the simulated components emit them, aggregated and bounded.

Repeats of the same event (same object, reason, type and message — a ``BackOff`` every
few seconds from a crash loop) update one Event's ``count`` and ``lastTimestamp``, as
client-go's recorder does. Events expire after ``ttl`` seconds (the API server's
default is one hour) and at most ``max_events`` are kept, oldest-updated dropped first,
so a crash loop running for days holds a constant number of objects.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections import OrderedDict
from typing import Any

from adapters.demo.objects import rfc3339
from adapters.demo.resources import EVENTS
from adapters.demo.store import ApiError, ObjectStore

log = logging.getLogger("watchfloor.demo.events")

DEFAULT_EVENT_TTL = 3600.0
DEFAULT_MAX_EVENTS = 2000


class EventRecorder:
    """Writes Events into the store for the simulated scheduler, kubelet and controllers.

    Args:
        store: Where the Events live.
        ttl: Seconds after its last update an Event is removed.
        max_events: Most Events kept; the least recently updated go first.
    """

    def __init__(self, store: ObjectStore, *, ttl: float = DEFAULT_EVENT_TTL, max_events: int = DEFAULT_MAX_EVENTS) -> None:
        self._store = store
        self._ttl = ttl
        self._max_events = max_events
        # aggregation key -> (namespace, event name, last update); ordered by last update.
        self._recent: OrderedDict[tuple[str, ...], tuple[str, str, float]] = OrderedDict()

    def record(
        self,
        involved: dict[str, Any],
        type_: str,
        reason: str,
        message: str,
        *,
        component: str,
        host: str | None = None,
        field_path: str | None = None,
    ) -> None:
        """Record one occurrence of an event about ``involved``.

        Args:
            involved: The object the event is about (its kind, name, uid… are used).
            type_: ``Normal`` or ``Warning``.
            reason: Short CamelCase reason (``Scheduled``, ``BackOff``).
            message: What happened, for humans.
            component: The reporting component (``kubelet``, ``default-scheduler``).
            host: The node, for kubelet events.
            field_path: e.g. ``spec.containers{web}`` for container events.
        """
        meta = involved.get("metadata", {})
        namespace = meta.get("namespace") or "default"
        key = (namespace, meta.get("uid", ""), reason, type_, message, field_path or "")
        now = time.time()
        existing = self._recent.get(key)
        if existing is not None:
            ns, name, _ = existing
            event = self._store.get_copy(EVENTS, ns, name)
            if event is not None:
                event["count"] = int(event.get("count") or 1) + 1
                event["lastTimestamp"] = rfc3339(now)
                self._store.write(EVENTS, event)
                self._recent[key] = (ns, name, now)
                self._recent.move_to_end(key)
                self.prune(now)
                return
        involved_ref: dict[str, Any] = {
            "kind": involved.get("kind"),
            "namespace": namespace,
            "name": meta.get("name"),
            "uid": meta.get("uid"),
            "apiVersion": involved.get("apiVersion"),
            "resourceVersion": meta.get("resourceVersion"),
        }
        if field_path:
            involved_ref["fieldPath"] = field_path
        source: dict[str, Any] = {"component": component}
        if host:
            source["host"] = host
        # The real recorder names events "<object>.<unix nanos in hex>".
        name = f"{meta.get('name')}.{int(now * 1e9):x}{secrets.token_hex(2)}"
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": involved_ref,
            "reason": reason,
            "message": message,
            "source": source,
            "firstTimestamp": rfc3339(now),
            "lastTimestamp": rfc3339(now),
            "count": 1,
            "type": type_,
            "reportingComponent": component,
            "reportingInstance": host or "",
        }
        try:
            self._store.create(EVENTS, event, namespace)
        except ApiError as error:
            # The namespace may be going away under the object; the event is moot then.
            log.debug("event %s for %s not recorded: %s", reason, meta.get("name"), error.message)
            return
        self._recent[key] = (namespace, name, now)
        self.prune(now)

    def prune(self, now: float | None = None) -> None:
        """Drop Events past their TTL and beyond the cap (cheap: oldest are first)."""
        now = time.time() if now is None else now
        while self._recent:
            key, (namespace, name, updated) = next(iter(self._recent.items()))
            if len(self._recent) <= self._max_events and now - updated < self._ttl:
                break
            del self._recent[key]
            if self._store.find(EVENTS, namespace, name) is not None:
                self._store.remove(EVENTS, namespace, name)

    def __len__(self) -> int:
        return len(self._recent)

