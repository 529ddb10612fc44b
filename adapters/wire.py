"""Small parsers for what Docker and Kubernetes both put on the wire.

Both speak RFC 3339 with nanoseconds, both prefix log lines with such a timestamp
when asked, and both name images ``registry/repo:tag[@sha256:…]``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

_RFC3339 = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)?$")


def parse_rfc3339(value: object) -> datetime | None:
    """An aware datetime from RFC 3339 text with up to nanoseconds (or epoch seconds).

    Zero times (``0001-01-01…``, Docker's "never") and anything unparsable give None.
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    if not isinstance(value, str) or not value or value.startswith("0001-"):
        return None
    match = _RFC3339.match(value.strip())
    if not match:
        return None
    base, fraction, zone = match.groups()
    fraction = (fraction or ".0")[:7]  # datetime keeps microseconds
    zone = "+00:00" if zone in (None, "Z") else zone
    try:
        moment = datetime.fromisoformat(f"{base}{fraction}{zone}")
    except ValueError:
        return None
    # Within a day of datetime's limits, showing the time in a local zone overflows
    # (a Kubernetes Event may carry any valid time, "9999-12-31T23:59:59Z" included).
    return moment if _EARLIEST <= moment <= _LATEST else None


_EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
_LATEST = datetime(9999, 12, 30, tzinfo=UTC)


def split_timestamp(text: str) -> tuple[datetime | None, str]:
    """Split the ``timestamps=true`` prefix off a log line: (time, rest of the line)."""
    stamp, sep, rest = text.partition(" ")
    if sep and len(stamp) >= 20 and stamp[4:5] == "-" and stamp[10:11] == "T":
        ts = parse_rfc3339(stamp)
        if ts is not None:
            return ts, rest
    return None, text


def image_version(image: str, labels: dict[str, str], label_names: tuple[str, ...]) -> str:
    """The version people call it: the first version label set, else the tag, else a short digest."""
    for label in label_names:
        if labels.get(label):
            return labels[label]
    if "@sha256:" in image:
        name, _, digest = image.partition("@sha256:")
        last = name.rsplit("/", 1)[-1]
        # A pinned "web:1.5@sha256:…" (image policy require_digest) is still version 1.5.
        return last.split(":", 1)[1] if ":" in last else digest[:12]
    if image.startswith("sha256:"):  # an image ID, not a name: no tag to show
        return image[7:19]
    last = image.rsplit("/", 1)[-1]
    if ":" in last:
        return last.split(":", 1)[1]
    return "latest" if image else ""
