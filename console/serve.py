"""Browser mode: ``watchfloor serve`` runs the console in a browser through textual-serve.

Every browser tab that connects gets its own console process (``python -m console``
with the same ``--config``/``--demo``/``--env``/``--read-only``/``--theme`` options),
driven over one websocket by textual-serve's ``AppService``.

What this module changes in textual-serve's ``Server``:

- **URLs are built per request, never from a fixed ``public_url``.** textual-serve
  writes ``http://<bind host>:<port>/static/...`` into the page, which breaks behind any
  reverse proxy and under any path prefix (textual-serve#42). Here the page links its
  assets and websocket relative to itself, or under the prefix a proxy announces in
  ``X-Ingress-Path`` (Home Assistant ingress) or ``X-Forwarded-Prefix``; the browser
  turns the websocket path into ``ws://`` or ``wss://`` from its own address bar, so
  the scheme and host are always the ones the user actually reached.
- **No third-party requests**: the page loads its font from the bundled statics, not
  from Google Fonts.
- **The websocket refuses other sites.** Browsers let any web page open a websocket to
  127.0.0.1, and this websocket types into a console that can deploy: a handshake whose
  ``Origin`` is not the host the page was served from is refused (403), and so is one
  that reaches a loopback bind under a non-loopback host name straight from a browser
  (DNS rebinding).

The console has no authentication of its own: anything that can reach the port can
operate it. Expose it beyond loopback only behind an authenticating proxy.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import ipaddress
import logging
import re
import shlex
import sys
from collections.abc import Mapping
from pathlib import Path
from string import Template
from typing import Any
from urllib.parse import urlsplit

from aiohttp import WSCloseCode, web
from textual_serve.app_service import AppService
from textual_serve.server import Server

log = logging.getLogger("watchfloor.serve")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
PREFIX_HEADERS = ("X-Ingress-Path", "X-Forwarded-Prefix")
"""Headers a reverse proxy uses to say under which path it mounts us, most specific first."""

# One or more "/segment"s of URL-safe characters. An empty segment is refused because a
# prefix of "//evil.example" would make every asset URL protocol-relative: a script
# loaded from another host. Quotes and angle brackets are refused so the value cannot
# leave its HTML attribute even before escaping.
_PREFIX = re.compile(r"(?:/[A-Za-z0-9._~%+@:-]+)+")
# Headers only a proxy sets: a browser's websocket handshake cannot carry them, so a page
# of another site cannot forge them.
_PROXY_HEADERS = ("X-Forwarded-For", "X-Forwarded-Host", "X-Real-IP", "Forwarded", *PREFIX_HEADERS)
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})
QUIT_GRACE = 5.0
"""Seconds a console gets to quit by itself once its tab is gone, before SIGTERM."""
KILL_GRACE = 2.0
"""Seconds after SIGTERM before SIGKILL."""


def path_prefix(headers: Mapping[str, str]) -> str:
    """The path prefix a reverse proxy mounts the console under, from its headers.

    Args:
        headers: The request's headers.

    Returns:
        ``"/api/hassio_ingress/abc"`` (no trailing slash) from ``X-Ingress-Path``, else
        from ``X-Forwarded-Prefix`` (its first entry when a proxy chain listed several);
        ``""`` when neither is present or the value is not a plain absolute path.
    """
    for name in PREFIX_HEADERS:
        value = headers.get(name, "").split(",")[0].strip().rstrip("/")
        if value and _PREFIX.fullmatch(value):
            return value
    return ""


def page_base(headers: Mapping[str, str]) -> str:
    """What the page puts before ``static/...`` and ``ws``: the proxy's prefix, or nothing.

    Nothing means relative to the page itself, which is right whenever the page is
    reached at its directory URL (``/`` directly, ``/prefix/`` through a proxy that
    announces no prefix).
    """
    prefix = path_prefix(headers)
    return f"{prefix}/" if prefix else ""


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an IP literal, IPv6 with or without brackets) is this machine's loopback."""
    host = host.strip("[]").lower()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _host_name(authority: str) -> str:
    """``"example.org"`` from ``"example.org:8000"``, ``"::1"`` from ``"[::1]:8000"``."""
    return (urlsplit(f"//{authority}").hostname or "").lower()


def websocket_refusal(headers: Mapping[str, str], *, loopback_bind: bool) -> str | None:
    """Why a websocket handshake must be refused, or None to accept it.

    Args:
        headers: The handshake's headers.
        loopback_bind: Whether the server listens on a loopback address only.

    Returns:
        A one-line reason for the 403, or None.
    """
    host = headers.get("X-Forwarded-Host", "").split(",")[0].strip() or headers.get("Host", "")
    origin = headers.get("Origin")
    if origin is not None:
        # Browsers always send Origin on a websocket handshake; tools (and the tests'
        # HTTP client) need not, and they are not the cross-site threat.
        origin_authority = urlsplit(origin).netloc.lower()
        if not origin_authority or origin_authority not in {host.lower(), headers.get("Host", "").lower()}:
            return f"websocket from origin {origin!r} refused: the page was served as {host!r}"
    behind_proxy = any(name in headers for name in _PROXY_HEADERS)
    if loopback_bind and not behind_proxy and not is_loopback(_host_name(headers.get("Host", ""))):
        return (
            f"websocket for host {headers.get('Host', '')!r} refused: a loopback-only console is reached as "
            "localhost or 127.0.0.1 (or through a proxy that sets X-Forwarded-Host)"
        )
    return None


def console_command(
    *,
    config: str | None = None,
    demo: bool = False,
    env: str | None = None,
    read_only: bool = False,
    theme: str | None = None,
    log_level: str | None = None,
) -> str:
    """The shell command that runs one console for one browser tab.

    textual-serve runs it through a shell, so every argument is quoted.

    Returns:
        e.g. ``"exec /venv/bin/python -m console --demo"``: ``exec`` so the shell
        becomes the console, and a signal sent to the process reaches the console.
    """
    argv = [sys.executable, "-m", "console"]
    if config:
        # The console runs in the server's working directory, but an absolute path
        # reads the same in the server's log and in `ps`.
        argv += ["--config", str(Path(config).expanduser().resolve())]
    if env:
        argv += ["--env", env]
    if theme:
        argv += ["--theme", theme]
    if log_level:
        argv += ["--log-level", log_level]
    if read_only:
        argv.append("--read-only")
    if demo:
        argv.append("--demo")
    return "exec " + shlex.join(argv)


_PAGE = Template("""<!DOCTYPE html>
<html>
  <head>
    <meta charset="utf-8" />
    <title>$title</title>
    <link rel="stylesheet" href="${static}css/xterm.css" />
    <script src="${static}js/textual.js"></script>
    <style>
      @font-face {
        font-family: "Roboto Mono";
        src: url("${static}fonts/RobotoMono-VariableFont_wght.ttf");
      }
      body { background: #0c181f; margin: 0; }
      .dialog-container {
        position: absolute; width: 100vw; height: 100vh; z-index: 10;
        display: flex; align-items: center; justify-content: center;
      }
      .intro {
        width: 640px; height: 200px; z-index: 20; margin: 32px;
        display: flex; flex-direction: column; align-items: center; justify-content: center;
        font: 16px "Roboto Mono", menlo, monospace; color: rgba(255, 255, 255, 0.95);
        background-color: #12232d;
      }
      body.-first-byte .intro-dialog { display: none; }
      body .textual-terminal { opacity: 0; transition: opacity 0.3s ease-out; }
      body.-first-byte .textual-terminal { opacity: 1; }
      .closed-dialog { display: none; }
      body.-closed .closed-dialog { display: flex; }
      button {
        padding: 16px 32px; margin: 16px; border: none; cursor: pointer;
        font-family: "Roboto Mono", menlo, monospace;
        background-color: #5e0ba7; color: rgba(255, 255, 255, 0.95);
      }
      #start { display: none; }
      #start.-delay { display: block; }
    </style>
    <script>
      function restart() {
        var params = new URLSearchParams(window.location.search);
        params.delete("delay");
        window.location.href = window.location.pathname + "?" + params.toString();
      }
    </script>
  </head>
  <body>
    <div class="dialog-container intro-dialog">
      <div class="intro">
        <div>$title — connecting…</div>
        <button type="button" onclick="restart()" id="start">Start</button>
      </div>
    </div>
    <div class="dialog-container closed-dialog">
      <div class="intro">
        <div>Session ended.</div>
        <button type="button" onclick="restart()">Restart</button>
      </div>
    </div>
    <div id="terminal" class="textual-terminal"
         data-session-websocket-url="${websocket}" data-font-size="$font_size"></div>
    <script>
      // textual.js opens the websocket at window load with this attribute as the URL.
      // Resolving it here against the page's own address gives ws: or wss: and the host
      // the user typed, whatever the proxies in between call themselves.
      (function () {
        var terminal = document.getElementById("terminal");
        var url = new URL(terminal.dataset.sessionWebsocketUrl, document.baseURI);
        url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
        terminal.dataset.sessionWebsocketUrl = url.href;
      })();
    </script>
  </body>
</html>
""")


def render_page(*, base: str, title: str, font_size: int) -> str:
    """The HTML page that loads textual.js and connects the terminal to the console.

    Args:
        base: :func:`page_base` of the request.
        title: Shown in the tab and while connecting.
        font_size: Terminal font size in pixels.
    """
    return _PAGE.substitute(
        title=html.escape(title),
        static=html.escape(f"{base}static/"),
        websocket=html.escape(f"{base}ws"),
        font_size=font_size,
    )


class ConsoleServer(Server):
    """textual-serve's server with per-request URLs and a same-origin websocket.

    Args:
        command: What each browser tab runs (:func:`console_command`).
        host: Address to listen on.
        port: Port to listen on.
        title: Page title.
    """

    def __init__(self, command: str, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, title: str = "watchfloor") -> None:
        super().__init__(command, host=host, port=port, title=title)
        self.loopback_bind = is_loopback(host)
        """Whether only this machine can connect (enables the DNS-rebinding check)."""
        shown_host = f"[{host}]" if ":" in host else host
        # Only for the startup line: pages never contain it.
        self.public_url = f"http://{shown_host}:{port}"

    async def handle_index(self, request: web.Request) -> web.Response:  # type: ignore[override]
        """Serve the page, its URLs built for this request."""
        try:
            font_size = min(max(int(request.query.get("fontsize", "16")), 6), 48)
        except ValueError:
            font_size = 16
        page = render_page(base=page_base(request.headers), title=self.title, font_size=font_size)
        return web.Response(
            text=page,
            content_type="text/html",
            headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
        )

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        """Refuse cross-site and rebinding handshakes, then run one console over the websocket.

        Replaces textual-serve's handler to make sure the console ends with its tab
        (:class:`ConsoleSession`) and that shutting the server down ends every console.
        """
        reason = websocket_refusal(request.headers, loopback_bind=self.loopback_bind)
        if reason is not None:
            print(f"watchfloor serve: {reason}", file=sys.stderr, flush=True)
            raise web.HTTPForbidden(text=reason)
        websocket = web.WebSocketResponse(heartbeat=15)
        await websocket.prepare(request)
        session = ConsoleSession(
            self.command,
            write_bytes=websocket.send_bytes,
            write_str=websocket.send_str,
            close=websocket.close,
            download_manager=self.download_manager,
            debug=self.debug,
        )
        self._sessions[session] = websocket
        try:
            await session.start(_cells(request.query.get("width"), 80), _cells(request.query.get("height"), 24))
            await self._process_messages(websocket, session)
        except Exception:  # noqa: BLE001 - one broken tab must not take the server down
            log.exception("console session failed")
        finally:
            await session.stop()
            self._sessions.pop(session, None)
            await websocket.close()
        return websocket

    async def _make_app(self) -> web.Application:
        self._sessions: dict[ConsoleSession, web.WebSocketResponse] = {}
        return await super()._make_app()

    async def on_shutdown(self, app: web.Application) -> None:
        """End every console, then close its websocket, so shutdown never waits on an open tab."""
        sessions = list(self._sessions.items())
        await asyncio.gather(*(session.stop() for session, _ in sessions), return_exceptions=True)
        for _, websocket in sessions:
            await websocket.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")

    async def on_startup(self, app: web.Application) -> None:
        """Say where the console is served (replaces textual-serve's banner)."""
        print(f"watchfloor serve: serving the console on {self.public_url}/ (Ctrl+C stops)", file=sys.stderr, flush=True)


def _cells(value: str | None, default: int) -> int:
    """A terminal dimension from the query string, within what a screen can hold."""
    try:
        return min(max(int(value or default), 10), 1000)
    except ValueError:
        return default


class ConsoleSession(AppService):
    """One console process, driven by one browser tab, that always ends with it.

    textual-serve asks the process to quit and then waits for it indefinitely; a console
    still busy shutting down (a watch stream that takes its time to close) would outlive
    its tab, with its demo clusters. Here it gets :data:`QUIT_GRACE` seconds, then
    SIGTERM, then SIGKILL.
    """

    _stopping: asyncio.Future[None] | None = None

    async def stop(self) -> None:
        """Ask the console to quit; terminate it if it has not within the grace periods."""
        if self._stopping is None:
            self._stopping = asyncio.ensure_future(self._stop())
        await asyncio.shield(self._stopping)

    async def _stop(self) -> None:
        # _process is textual-serve's (set by start()); there is no public handle on it.
        process = self._process
        polite = asyncio.ensure_future(super().stop())
        waited = 0.0
        for grace, escalate in ((QUIT_GRACE, "terminate"), (KILL_GRACE, "kill"), (KILL_GRACE, None)):
            done, _ = await asyncio.wait({polite}, timeout=grace)
            waited += grace
            if done:
                break
            if process is None or process.returncode is not None or escalate is None:
                # Gone, yet its output never closed (a grandchild holds it): stop reading.
                polite.cancel()
                break
            log.warning("console pid %s still running %.0fs after it was asked to quit: %s", process.pid, waited, escalate)
            with contextlib.suppress(ProcessLookupError):
                getattr(process, escalate)()
        try:
            await polite
        except asyncio.CancelledError:
            pass


def exposure_warning(host: str) -> str | None:
    """The warning printed when the console listens beyond loopback, or None."""
    if is_loopback(host):
        return None
    return (
        f"watchfloor serve: warning: listening on {host}, not only on loopback. The console has no "
        "authentication of its own: anyone who reaches this port can operate your environments. "
        "Put it behind an authenticating reverse proxy (see docs/browser-mode.md)."
    )


def serve(args: Any) -> int:
    """Run ``watchfloor serve`` until Ctrl+C or SIGTERM.

    Args:
        args: Parsed CLI arguments: ``host``, ``port``, ``config``, ``demo``, ``env``,
            ``read_only``, ``theme``, ``log_level``.

    Returns:
        The exit code.
    """
    warning = exposure_warning(args.host)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    command = console_command(
        config=args.config,
        demo=bool(args.demo),
        env=args.env,
        read_only=bool(args.read_only),
        theme=getattr(args, "theme", None),
        log_level=args.log_level,
    )
    title = "watchfloor (demo)" if args.demo else "watchfloor"
    ConsoleServer(command, host=args.host, port=args.port, title=title).serve()
    return 0
