"""A counting reverse proxy in front of a real Prometheus: what reached it, and when.

The sparkline tests and ``benchmarks/prom_sparklines.py`` count range queries where
Prometheus sees them, on the wire, not where the console thinks it sent them. Nothing
is mocked: every request is forwarded to the real Prometheus and its answer returned.
"""

from __future__ import annotations

import http.client
import http.server
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass


@dataclass(frozen=True)
class SeenRequest:
    path: str
    params: dict[str, str]
    at: float
    """``time.time()`` when it arrived."""


class CountingProxy:
    """A reverse proxy on 127.0.0.1 recording each request's path and query parameters.

    Args:
        upstream: Base URL of the Prometheus behind it.
    """

    def __init__(self, upstream: str) -> None:
        self.requests: list[SeenRequest] = []
        self._lock = threading.Lock()
        parts = urllib.parse.urlsplit(upstream)
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format: str, *args) -> None:  # noqa: A002 - the stdlib's name
                pass

            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                split = urllib.parse.urlsplit(self.path)
                params = dict(urllib.parse.parse_qsl(split.query))
                with owner._lock:
                    owner.requests.append(SeenRequest(split.path, params, time.time()))
                connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
                try:
                    connection.request("GET", self.path, headers={"Accept": self.headers.get("Accept", "*/*")})
                    response = connection.getresponse()
                    body = response.read()
                    status, content_type = response.status, response.getheader("Content-Type", "application/json")
                except OSError:
                    status, body, content_type = 502, b"Bad Gateway\n", "text/plain"
                finally:
                    connection.close()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="counting-proxy", daemon=True
        )
        self._thread.start()

    def range_queries(self) -> list[SeenRequest]:
        with self._lock:
            return [r for r in self.requests if r.path.endswith("/api/v1/query_range")]

    def per_series_per_step(self, step: float) -> Counter:
        """(query text, step number of the range's end) → how many range queries asked it."""
        return Counter((r.params["query"], round(float(r.params["end"]) / step)) for r in self.range_queries())

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
