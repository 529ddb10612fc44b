"""Prometheus's HTTP API: instant and range queries, alerts, and safe query templates.

One `PrometheusSource` per environment feeds its sparklines (range queries at the
sparkline step), its Prometheus gates (instant queries) and its alerts panel
(``/api/v1/alerts``). Synchronous, like every adapter: call it from thread workers.
Every failure is an `AdapterError` (never a raw exception), so a Prometheus that is
down is a state the console shows and a gate counts as an *error* measurement.

Why plain urllib3 and not ``prometheus-api-client`` (named in DESIGN §4): version
0.7.2 was read before deciding. It no longer pulls pandas or matplotlib (they are
extras now), but it does not fit:

- it has no call for ``/api/v1/alerts``, so a second HTTP path would be needed anyway;
- it folds every error into ``PrometheusApiClientException("HTTP Status Code 400
  (b'…')")``: the status and Prometheus's ``errorType``/``error`` would have to be
  parsed back out of a ``repr`` of the body to tell a bad query from an outage;
- by default it retries 3 times with exponential backoff (≈ 7 s) on connection
  errors and 5xx, so a gate would learn that Prometheus is down only that late;
- it requires ``dateparser`` (with ``regex``, ``pytz``, ``tzlocal``) for helpers this
  adapter does not use.

Each call here is one GET. urllib3 is already installed (requests, docker and
kubernetes depend on it), its ``PoolManager`` is thread-safe, and
``adapters/kube_http.py`` uses it the same way.

Values: Prometheus sends sample values as strings, including ``"NaN"``, ``"+Inf"`` and
``"-Inf"``. They are returned as Python floats *unchanged*: ``float('nan')`` and
``±float('inf')``. A NaN is what ``0/0`` gives (an error ratio with no traffic), and
it is the gate's conditions that decide what it means (``isNaN(result[0])``); this
adapter never drops or replaces one.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import ssl
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import urllib3

from adapters.base import AdapterError, ErrorKind
from adapters.wire import parse_rfc3339

__all__ = [
    "Alert",
    "PrometheusSource",
    "RangeSeries",
    "Sample",
    "named_query",
    "promql_regex_escape",
    "promql_string_escape",
]

Labels = dict[str, str]
Sample = tuple[Labels, float]
"""One series of an instant query: its labels and its value."""
RangeSeries = tuple[Labels, list[tuple[float, float]]]
"""One series of a range query: its labels and its ``(unix seconds, value)`` points."""

MAX_ERROR_TEXT = 300
"""Characters of Prometheus's ``error`` text kept in an operator summary."""


@dataclass(frozen=True, slots=True)
class Alert:
    """One pending or firing alert from ``/api/v1/alerts``.

    Attributes:
        name: The ``alertname`` label.
        state: ``firing`` or ``pending``.
        labels: Every other label (``alertname`` is in ``name``).
        annotations: Summary, description, runbook URL … as the rule sets them.
        active_at: When the alert's condition first held; None if Prometheus omits it.
        value: The value of the alert expression when last evaluated (may be NaN).
    """

    name: str
    state: str
    labels: Labels = field(default_factory=dict)
    annotations: Labels = field(default_factory=dict)
    active_at: datetime | None = None
    value: float = math.nan


class PrometheusSource:
    """One Prometheus server (or anything speaking its HTTP API: Thanos, Mimir …).

    Args:
        url: Base URL, e.g. ``http://127.0.0.1:9090`` or ``https://host/prometheus``.
        headers: Extra request headers (a tenant header for Mimir, say).
        bearer_token: The token itself (already resolved from ``${VAR}``/``file:``),
            sent as ``Authorization: Bearer …``.
        verify_tls: Check the server's certificate (the default). A string is the path
            of a CA bundle to check it against instead of the system's.
        timeout: Seconds per request, for connecting and for the answer each.

    Raises:
        AdapterError: ``BAD_INPUT`` when the URL, a header or the token cannot be used
            (no secret is repeated in the message).
    """

    def __init__(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        bearer_token: str | None = None,
        verify_tls: bool | str = True,
        timeout: float = 5.0,
    ) -> None:
        self.url = _base_url(url)
        """The base URL without a trailing ``/`` (and without any user:password@)."""
        self.timeout = float(timeout)
        if not self.timeout > 0 or math.isinf(self.timeout):
            raise AdapterError(ErrorKind.BAD_INPUT, f"the Prometheus timeout must be a number of seconds above 0, got {timeout!r}")
        self._headers = {"Accept": "application/json", "User-Agent": "watchfloor"}
        for name, value in (headers or {}).items():
            _check_header(name, value)
            self._headers[name] = value
        if bearer_token is not None:
            token = bearer_token.strip()
            if not token or not all(33 <= ord(ch) < 127 for ch in token):
                raise AdapterError(
                    ErrorKind.BAD_INPUT,
                    "the Prometheus bearer token is empty, or has spaces, control or non-ASCII characters",
                    admin_detail="check the file or variable the token comes from (a trailing newline is fine)",
                )
            self._headers["Authorization"] = f"Bearer {token}"
        pool_options: dict[str, Any] = {"num_pools": 2, "maxsize": 8, "retries": False}
        if self.url.startswith("https:"):
            pool_options["ssl_context"] = _ssl_context(verify_tls)
        self._pool = urllib3.PoolManager(**pool_options)

    def close(self) -> None:
        """Drop the pooled connections; the source may still be used afterwards."""
        self._pool.clear()

    # -- the API --------------------------------------------------------------------

    def check(self) -> str:
        """Ask the server who it is: ``"Prometheus 2.42.0"``.

        Uses ``/api/v1/status/buildinfo``; servers without it (some Prometheus-API
        compatible stores) are asked ``/-/ready`` instead.

        Raises:
            AdapterError: ``UNREACHABLE``, ``FORBIDDEN``, ``NOT_FOUND`` (wrong path
                prefix) or ``BACKEND``.
        """
        try:
            data = self._get("/api/v1/status/buildinfo")
        except AdapterError as error:
            if error.kind is not ErrorKind.NOT_FOUND:
                raise
            try:
                self._get_raw("/-/ready")
            except AdapterError as ready_error:
                if ready_error.kind is ErrorKind.NOT_FOUND:
                    raise error from None  # neither path exists: report the API one
                raise
            return "Prometheus-compatible server (ready)"
        version = data.get("version") if isinstance(data, dict) else None
        return f"Prometheus {version}" if version else "Prometheus"

    def instant(self, query: str, *, at: datetime | float | None = None) -> list[Sample]:
        """Evaluate ``query`` at one instant (now by default).

        Returns:
            One ``(labels, value)`` per series; a scalar result is one entry with no
            labels. Empty when nothing matched.

        Raises:
            AdapterError: ``BAD_INPUT`` for a query Prometheus cannot parse (its own
                message, with the position), or one that returns a range vector or a
                string; ``UNREACHABLE``/``FORBIDDEN``/``BACKEND`` otherwise.
        """
        params = {"query": query}
        if at is not None:
            params["time"] = _unix(at)
        data = self._get("/api/v1/query", params, query=query)
        kind, result = _result(data)
        with _answer_shape("query"):
            if kind == "vector":
                return [(_labels(item.get("metric")), _value(item.get("value"))) for item in result]
            if kind == "scalar":
                return [({}, _value(result))]
        raise AdapterError(
            ErrorKind.BAD_INPUT,
            f"the query returns a {'range vector' if kind == 'matrix' else kind}, not numbers: {_short(query)}",
            admin_detail="a gate or sparkline needs an instant vector or a scalar: drop the [5m] range "
            "selector or wrap it in rate(…[5m]) / avg_over_time(…[5m])",
        )

    def range(
        self,
        query: str,
        start: datetime | float,
        end: datetime | float,
        step: float | timedelta,
    ) -> list[RangeSeries]:
        """Evaluate ``query`` from ``start`` to ``end`` every ``step`` (a sparkline).

        Returns:
            One ``(labels, [(unix seconds, value), …])`` per series, points oldest first.

        Raises:
            AdapterError: as `instant`; ``BAD_INPUT`` also for a step of zero or less,
                or too many points (Prometheus allows 11,000 per series).
        """
        step_seconds = step.total_seconds() if isinstance(step, timedelta) else float(step)
        if not step_seconds > 0:
            raise AdapterError(ErrorKind.BAD_INPUT, f"a range query needs a step above zero, got {step!r}")
        params = {"query": query, "start": _unix(start), "end": _unix(end), "step": _number(step_seconds)}
        data = self._get("/api/v1/query_range", params, query=query)
        kind, result = _result(data)
        if kind != "matrix":
            raise AdapterError(ErrorKind.BACKEND, f"a range query answered with a {kind}, not a matrix")
        with _answer_shape("query_range"):
            return [
                (_labels(item.get("metric")), [(float(point[0]), _value(point)) for point in item.get("values") or ()])
                for item in result
            ]

    def alerts(self) -> list[Alert]:
        """Every pending and firing alert, as ``/api/v1/alerts`` lists them."""
        data = self._get("/api/v1/alerts")
        with _answer_shape("alerts"):
            return self._alerts(data)

    @staticmethod
    def _alerts(data: Any) -> list[Alert]:
        alerts = []
        for item in (data or {}).get("alerts") or ():
            state = item.get("state")
            if state not in ("firing", "pending"):
                continue
            labels = _labels(item.get("labels"))
            alerts.append(
                Alert(
                    name=labels.pop("alertname", ""),
                    state=state,
                    labels=labels,
                    annotations=_labels(item.get("annotations")),
                    active_at=parse_rfc3339(item.get("activeAt")),
                    value=_float(item.get("value")),
                )
            )
        return alerts

    # -- HTTP -------------------------------------------------------------------------

    def _get(self, path: str, params: Mapping[str, str] | None = None, *, query: str = "") -> Any:
        """GET a JSON API path and return its ``data``, or raise the matching AdapterError."""
        status, body, url = self._request(path, params)
        try:
            document = json.loads(body)
        except ValueError:
            document = None
        if not isinstance(document, dict) or "status" not in document:
            if status == 200:
                raise AdapterError(
                    ErrorKind.BACKEND,
                    f"{self.url} answered {path} with something that is not Prometheus's JSON",
                    admin_detail="is the URL a Prometheus server (or its path prefix right)?",
                    developer_detail=f"GET {url}\nHTTP {status}\n{_text(body)[:2000]}",
                )
            raise _http_error(status, None, body, url, self.url, query)
        if status != 200 or document.get("status") != "success":
            raise _http_error(status, document, body, url, self.url, query)
        return document.get("data")

    def _get_raw(self, path: str) -> bytes:
        status, body, url = self._request(path, None)
        if status != 200:
            raise _http_error(status, None, body, url, self.url, "")
        return body

    def _request(self, path: str, params: Mapping[str, str] | None) -> tuple[int, bytes, str]:
        try:
            url = self.url + path + (f"?{urlencode(params)}" if params else "")
        except UnicodeEncodeError:
            raise AdapterError(ErrorKind.BAD_INPUT, "the query has characters that cannot be sent (not UTF-8)") from None
        try:
            response = self._pool.request(
                "GET",
                url,
                headers=self._headers,
                timeout=urllib3.Timeout(connect=self.timeout, read=self.timeout),
                redirect=False,
                preload_content=True,
            )
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise self._unreachable(path, error) from None
        return response.status, response.data or b"", url

    def _unreachable(self, path: str, error: BaseException) -> AdapterError:
        reason = error.reason if isinstance(error, urllib3.exceptions.MaxRetryError) else error
        if isinstance(reason, (urllib3.exceptions.SSLError, ssl.SSLError)):
            return AdapterError(
                ErrorKind.UNREACHABLE,
                f"Prometheus at {self.url}: the TLS connection failed ({_tls_reason(reason)})",
                admin_detail="the server's certificate is not trusted for this name: give the CA "
                "(verify_tls: /path/ca.pem) or fix the certificate; verify_tls: false turns the check off",
                developer_detail=f"GET {self.url}{path}\n{error!r}",
            )
        return AdapterError(
            ErrorKind.UNREACHABLE,
            f"Prometheus at {self.url} does not answer ({_connection_reason(reason)})",
            admin_detail=f"no answer within {self.timeout:g} s; is it running, and is the URL right?",
            developer_detail=f"GET {self.url}{path}\n{error!r}",
        )


# --- errors ------------------------------------------------------------------------------


def _http_error(
    status: int, document: dict | None, body: bytes, url: str, base: str, query: str
) -> AdapterError:
    error_type = str((document or {}).get("errorType") or "")
    message = str((document or {}).get("error") or "").strip() or _text(body).strip()[:MAX_ERROR_TEXT]
    developer = f"GET {url}\nHTTP {status}\n{_text(body)[:2000]}"
    if error_type == "bad_data":
        where = f": {_short(query)}" if query else ""
        return AdapterError(
            ErrorKind.BAD_INPUT,
            f"Prometheus rejected the query ({_short(message, MAX_ERROR_TEXT)}){where}",
            admin_detail=f"query: {query}" if query else "",
            developer_detail=developer,
        )
    if status in (401, 403):
        return AdapterError(
            ErrorKind.FORBIDDEN,
            f"Prometheus at {base} refused the request (HTTP {status})",
            admin_detail="check the bearer_token (and that the proxy in front of Prometheus accepts it)",
            developer_detail=developer,
        )
    if status == 404:
        return AdapterError(
            ErrorKind.NOT_FOUND,
            f"Prometheus at {base} has no {urlsplit(url).path} (HTTP 404)",
            admin_detail="is the URL right, including any path prefix (e.g. https://host/prometheus)?",
            developer_detail=developer,
        )
    if status in (502, 503, 504) and document is None:
        # A proxy in front answered for a Prometheus it could not reach.
        return AdapterError(
            ErrorKind.UNREACHABLE,
            f"Prometheus at {base} does not answer (HTTP {status} from the proxy in front of it)",
            developer_detail=developer,
        )
    kind_text = f" {error_type}" if error_type else ""
    return AdapterError(
        ErrorKind.BACKEND,
        f"Prometheus at {base} failed (HTTP {status}{kind_text}): {_short(message, MAX_ERROR_TEXT)}",
        admin_detail=f"query: {query}" if query else "",
        developer_detail=developer,
    )


def _connection_reason(reason: BaseException) -> str:
    if isinstance(reason, (urllib3.exceptions.NewConnectionError, ConnectionRefusedError)):
        return "connection refused"
    if isinstance(reason, (urllib3.exceptions.ConnectTimeoutError, urllib3.exceptions.ReadTimeoutError)):
        return "timed out"
    if isinstance(reason, urllib3.exceptions.NameResolutionError):
        return "unknown host name"
    if isinstance(reason, urllib3.exceptions.ProtocolError):
        return "connection dropped"
    return type(reason).__name__


def _tls_reason(error: BaseException) -> str:
    text = str(error)
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return "certificate not trusted"
    if "WRONG_VERSION_NUMBER" in text:
        return "the server does not speak TLS on this port"
    return "TLS error"


# --- parsing -----------------------------------------------------------------------------


@contextlib.contextmanager
def _answer_shape(endpoint: str) -> Iterator[None]:
    """Turn an answer of an unexpected shape (a proxy's, a half-compatible store's) into BACKEND."""
    try:
        yield
    except (AttributeError, TypeError, KeyError, IndexError, ValueError) as error:
        raise AdapterError(
            ErrorKind.BACKEND,
            f"Prometheus answered /api/v1/{endpoint} in a shape watchfloor does not know",
            developer_detail=repr(error),
        ) from None


def _result(data: Any) -> tuple[str, Any]:
    if not isinstance(data, dict):
        raise AdapterError(ErrorKind.BACKEND, "Prometheus answered without a result")
    return str(data.get("resultType") or ""), data.get("result") or []


def _labels(value: Any) -> Labels:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TypeError(f"labels should be an object, got {type(value).__name__}")
    return {str(k): str(v) for k, v in value.items()}


def _value(pair: Any) -> float:
    """The value of ``[ts, "value"]``.

    A malformed pair raises (and becomes a BACKEND error): a made-up NaN would be
    judged by a gate as if Prometheus had sent it.
    """
    if not isinstance(pair, (list, tuple)) or len(pair) != 2 or not isinstance(pair[1], str):
        raise ValueError(f"a sample should be [time, \"value\"], got {pair!r}"[:200])
    return float(pair[1])  # reads Prometheus's "NaN", "+Inf" and "-Inf" as they are meant


def _float(text: Any) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


def _unix(value: datetime | float) -> str:
    if isinstance(value, datetime):
        return _number(value.timestamp())
    return _number(float(value))


def _number(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".")


def _short(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _text(body: bytes) -> str:
    return body.decode("utf-8", errors="replace")


def _base_url(url: str) -> str:
    try:
        parts = urlsplit(str(url).strip())
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as error:
        raise AdapterError(ErrorKind.BAD_INPUT, f"not a usable Prometheus URL ({error})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AdapterError(ErrorKind.BAD_INPUT, "a Prometheus URL starts with http:// or https:// and names a host")
    # Credentials in the URL would end up in every message; they never reach the wire
    # from here either (a token goes in bearer_token).
    netloc = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def _check_header(name: str, value: str) -> None:
    if not isinstance(name, str) or not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", name):
        raise AdapterError(ErrorKind.BAD_INPUT, f"{name!r} is not a usable HTTP header name")
    if not isinstance(value, str) or not all(ch == "\t" or 32 <= ord(ch) < 127 for ch in value):
        # The value may be a secret: name the header only.
        raise AdapterError(
            ErrorKind.BAD_INPUT, f"the value of header {name} has a line break, control or non-ASCII character"
        )


def _ssl_context(verify_tls: bool | str) -> ssl.SSLContext:
    if verify_tls is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        # The operator asked for no verification; a warning per request would only
        # scribble over the console (as in kube_http).
        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        return context
    if isinstance(verify_tls, str):
        try:
            return ssl.create_default_context(cafile=verify_tls)
        except (OSError, ssl.SSLError) as error:
            raise AdapterError(ErrorKind.BAD_INPUT, f"cannot use {verify_tls} as a CA bundle ({error})") from None
    return ssl.create_default_context()


# --- query templates ---------------------------------------------------------------------

PLACEHOLDERS = ("workload", "namespace", "service", "version", "track")
"""Names a `named_query` template may use as ``{name}``."""

_REGEX_META = set("\\.+*?()|[]{}^$")


def promql_regex_escape(value: str) -> str:
    """Escape RE2 metacharacters (what Go's ``regexp.QuoteMeta`` escapes)."""
    return "".join(f"\\{ch}" if ch in _REGEX_META else ch for ch in value)


def promql_string_escape(value: str, quote: str = '"') -> str:
    """The body of a PromQL string literal in ``quote`` (``"`` or ``'``) that reads back as ``value``.

    Backslash, the quote and control characters are escaped the way PromQL's lexer
    reads them (Go escapes); everything else is kept as it is.
    """
    named = {"\\": "\\\\", quote: "\\" + quote, "\n": "\\n", "\r": "\\r", "\t": "\\t"}
    out = []
    for ch in value:
        if ch in named:
            out.append(named[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return "".join(out)


def named_query(
    template: str, *, workload: str = "", namespace: str = "", service: str = "", version: str = "", track: str = ""
) -> str:
    """Fill ``{workload}``, ``{namespace}``, ``{service}``, ``{version}`` and ``{track}``
    into a PromQL template (a canary gate asks about ``version="{version}"``).

    Each placeholder must sit inside a quoted string (a label value); its value is
    escaped for that string, so no name can end the string early and add PromQL of
    its own. After ``=~`` or ``!~`` the value is also regex-escaped, so ``web.1``
    matches only ``web.1``. An empty value stays empty, and PromQL reads ``job=""`` as
    "has no job label". PromQL's own braces are left alone::

        named_query('sum(rate(http_requests_total{job="{workload}",code=~"5.."}[1m]))', workload="web")

    Raises:
        ValueError: A placeholder outside a quoted string, or a value containing a
            backtick inside a backtick (raw) string, which cannot be escaped.
    """
    values = {"workload": workload, "namespace": namespace, "service": service, "version": version, "track": track}
    out: list[str] = []
    i, n = 0, len(template)
    quote: str | None = None  # the open string's quote character
    regex = False  # whether the open string is the right side of =~ / !~
    while i < n:
        ch = template[i]
        if ch == "{":
            name = _placeholder_at(template, i)
            if name is not None:
                if quote is None:
                    raise ValueError(
                        f"placeholder {{{name}}} at position {i + 1} is outside a quoted string; "
                        f'write it as a label value, e.g. job="{{{name}}}"'
                    )
                value = promql_regex_escape(values[name]) if regex else values[name]
                if quote == "`":
                    if "`" in value:
                        raise ValueError(f"the {name} value contains a backtick, which a `raw string` cannot hold")
                    out.append(value)
                else:
                    out.append(promql_string_escape(value, quote))
                i += len(name) + 2
                continue
        out.append(ch)
        if quote is None:
            if ch in "\"'`":
                quote, regex = ch, _after_regex_operator(template, i)
            elif ch == "#":
                end = template.find("\n", i)
                end = n if end == -1 else end
                out.append(template[i + 1 : end])
                i = end
                continue
        elif ch == "\\" and quote != "`" and i + 1 < n:
            out.append(template[i + 1])
            i += 2
            continue
        elif ch == quote:
            quote = None
        i += 1
    return "".join(out)


def _placeholder_at(template: str, i: int) -> str | None:
    for name in PLACEHOLDERS:
        if template.startswith(f"{{{name}}}", i):
            return name
    return None


def _after_regex_operator(template: str, quote_index: int) -> bool:
    before = template[:quote_index].rstrip()
    return before.endswith("=~") or before.endswith("!~")
