"""Browser mode: ``watchfloor serve --demo`` over real HTTP, through a prefixing proxy, in Chromium.

Everything is real: the server is the ``watchfloor serve`` command in its own process,
the consoles it starts run the embedded demo clusters, the proxy is a small aiohttp
reverse proxy (what Home Assistant's ingress does: mount the app under a path,
strip the path, say so in ``X-Ingress-Path``), and the browser is Debian's headless
Chromium driven over the DevTools protocol.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import WSMsgType, web
from multidict import CIMultiDict

from console.serve import KILL_GRACE, QUIT_GRACE, console_command, page_base, path_prefix, websocket_refusal
from tests.backends import backend_unavailable

ROOT = Path(__file__).resolve().parent.parent
PREFIX = "/prefix"
ENVIRONMENT_NAME = b"demo-staging"
# href/src attributes and the terminal's websocket attribute of the served page.
_URL_ATTRIBUTES = re.compile(r'(?:href|src|data-session-websocket-url)="([^"]*)"')
_CSS_URLS = re.compile(r'url\("([^"]*)"\)')
_HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
    "transfer-encoding", "upgrade", "host", "content-length",
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _listening_addresses(port: int) -> set[str]:
    """Local addresses with a socket listening on ``port`` (from /proc/net/tcp and tcp6), as hex."""
    addresses = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            address, _, port_hex = fields[1].partition(":")
            if fields[3] == "0A" and int(port_hex, 16) == port:  # 0A: LISTEN
                addresses.add(address)
    return addresses


class ServeProcess:
    """A ``watchfloor serve`` process in its own session, so teardown can end all it started."""

    def __init__(self, *args: str, log_path: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "console", "serve", "--port", str(self.port), *args],
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_until_serving(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"watchfloor serve exited {self.process.returncode}:\n{self.log()}")
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.1)
        raise AssertionError(f"watchfloor serve did not listen within {timeout:g}s:\n{self.log()}")

    def consoles(self) -> set[int]:
        """Pids of the consoles it runs now (its child processes)."""
        children = set()
        for task in Path(f"/proc/{self.process.pid}/task").glob("*/children"):
            try:
                children.update(int(pid) for pid in task.read_text().split())
            except OSError:
                continue
        return children

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        """SIGTERM, as a service manager would; SIGKILL for whatever of its session is left."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    """``watchfloor serve --demo`` on a free loopback port (the default host)."""
    server = ServeProcess("--demo", log_path=tmp_path_factory.mktemp("serve") / "serve.log")
    try:
        server.wait_until_serving()
        yield server
    finally:
        server.stop()


async def _proxy_http(request: web.Request, upstream: str, session: aiohttp.ClientSession) -> web.StreamResponse:
    tail = request.match_info["tail"]
    headers = CIMultiDict((k, v) for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP)
    # What Home Assistant's ingress and most proxies send: the mount point, and who asked.
    headers["X-Ingress-Path"] = PREFIX
    headers["X-Forwarded-Host"] = request.host
    headers["X-Forwarded-Proto"] = request.scheme
    headers["X-Forwarded-For"] = request.remote or ""
    url = f"{upstream}/{tail}"
    if request.headers.get("Upgrade", "").lower() == "websocket":
        return await _proxy_websocket(request, url, headers, session)
    async with session.request(request.method, url, params=request.query, headers=headers, data=await request.read()) as answer:
        body = await answer.read()
        response = web.Response(status=answer.status, body=body)
        for name, value in answer.headers.items():
            if name.lower() not in _HOP_BY_HOP | {"content-encoding"}:
                response.headers.add(name, value)
        return response


async def _proxy_websocket(request: web.Request, url: str, headers: CIMultiDict, session: aiohttp.ClientSession) -> web.WebSocketResponse:
    for name in ("Sec-WebSocket-Key", "Sec-WebSocket-Version", "Sec-WebSocket-Extensions"):
        headers.pop(name, None)
    async with session.ws_connect(url, params=request.query, headers=headers, autoping=True) as upstream:
        downstream = web.WebSocketResponse()
        await downstream.prepare(request)

        async def pump(source, sink) -> None:
            async for message in source:
                if message.type == WSMsgType.BINARY:
                    await sink.send_bytes(message.data)
                elif message.type == WSMsgType.TEXT:
                    await sink.send_str(message.data)
            await sink.close()

        tasks = [asyncio.ensure_future(pump(upstream, downstream)), asyncio.ensure_future(pump(downstream, upstream))]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            task.cancel()
        return downstream


class PrefixProxy:
    """A reverse proxy on loopback that serves ``upstream`` under ``/prefix/`` and nothing else."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.url = ""
        self.outside_prefix: list[str] = []
        """Paths requested outside the prefix (each answered 404): URLs that escaped it."""
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(auto_decompress=False)
        app = web.Application()
        app.router.add_route("*", PREFIX + "/{tail:.*}", self._forward)
        app.router.add_route("*", "/{anything:.*}", self._outside)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        return await _proxy_http(request, self.upstream, self._session)

    async def _outside(self, request: web.Request) -> web.Response:
        if request.path != "/favicon.ico":  # browsers ask for it at the root on their own
            self.outside_prefix.append(request.path)
        return web.Response(status=404)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()


@pytest.fixture
async def proxy(served: ServeProcess) -> AsyncIterator[PrefixProxy]:
    """A :class:`PrefixProxy` in front of the served console."""
    prefix_proxy = PrefixProxy(served.url)
    await prefix_proxy.start()
    try:
        yield prefix_proxy
    finally:
        await prefix_proxy.stop()


async def _wait_until(check, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.2)
    return True


def _page_urls(page: str) -> list[str]:
    return _URL_ATTRIBUTES.findall(page) + _CSS_URLS.findall(page)


async def _terminal_output(websocket: aiohttp.ClientWebSocketResponse, wanted: bytes, timeout: float = 60.0) -> bytes:
    """Terminal bytes from the console until ``wanted`` appears in them."""
    output = b""
    deadline = time.monotonic() + timeout
    while wanted not in output:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no {wanted!r} in {len(output)} bytes of terminal output: {output[-400:]!r}")
        message = await websocket.receive(timeout=remaining)
        if message.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.ERROR):
            raise AssertionError(f"websocket closed before {wanted!r} appeared: {output[-400:]!r}")
        if message.type == WSMsgType.BINARY:
            output += message.data
    return output


# ---------------------------------------------------------------------------- pure parts


def test_the_prefix_comes_from_the_ingress_header_before_the_forwarded_one() -> None:
    headers = CIMultiDict({"X-Forwarded-Prefix": "/other", "X-Ingress-Path": "/api/hassio_ingress/Tok-en_1/"})

    assert path_prefix(headers) == "/api/hassio_ingress/Tok-en_1"
    assert page_base(headers) == "/api/hassio_ingress/Tok-en_1/"


@pytest.mark.parametrize(
    "value",
    ["//evil.example", "https://evil.example/x", '/a"><script>alert(1)</script>', "relative/path", "/a//b", "/a b"],
)
def test_a_prefix_header_that_is_not_a_plain_absolute_path_is_ignored(value: str) -> None:
    headers = CIMultiDict({"X-Ingress-Path": value})

    assert page_base(headers) == ""


def test_the_console_command_quotes_every_argument_for_the_shell() -> None:
    command = console_command(config="/tmp/my config; rm -rf ~.yaml", demo=True, env="prod's")

    assert command.startswith("exec ")
    assert "'/tmp/my config; rm -rf ~.yaml'" in command
    assert "'prod'\"'\"'s'" in command


def test_a_websocket_from_the_page_s_own_origin_is_accepted_directly_and_through_a_proxy() -> None:
    direct = CIMultiDict({"Host": "127.0.0.1:8000", "Origin": "http://127.0.0.1:8000"})
    proxied = CIMultiDict(
        {"Host": "10.0.0.5:8000", "X-Forwarded-Host": "ops.example.org", "Origin": "https://ops.example.org"}
    )

    assert websocket_refusal(direct, loopback_bind=True) is None
    assert websocket_refusal(proxied, loopback_bind=False) is None


def test_a_websocket_from_another_site_or_through_dns_rebinding_is_refused() -> None:
    cross_site = CIMultiDict({"Host": "127.0.0.1:8000", "Origin": "https://evil.example"})
    rebinding = CIMultiDict({"Host": "evil.example:8000", "Origin": "http://evil.example:8000"})

    assert "origin" in (websocket_refusal(cross_site, loopback_bind=True) or "")
    assert "host" in (websocket_refusal(rebinding, loopback_bind=True) or "")


# ---------------------------------------------------------------------------- over HTTP


def test_serve_listens_on_loopback_only_by_default(served: ServeProcess) -> None:
    addresses = _listening_addresses(served.port)

    assert addresses == {"0100007F"}, f"listening on {addresses} (hex, little-endian), want only 127.0.0.1"


async def test_the_page_served_directly_links_its_assets_and_websocket_relatively(served: ServeProcess) -> None:
    async with aiohttp.ClientSession() as client:
        async with client.get(served.url + "/") as response:
            page = await response.text()
            status = response.status
        urls = _page_urls(page)
        statuses = {}
        for url in urls:
            if url != "ws":
                async with client.get(f"{served.url}/{url}") as asset:
                    statuses[url] = asset.status

    assert status == 200
    assert "ws" in urls and len(urls) >= 4
    assert all(not re.match(r"^(?:[a-z]+:|/)", url) for url in urls), urls
    assert set(statuses.values()) == {200}, statuses


async def test_through_a_prefixing_proxy_every_asset_resolves_and_the_websocket_carries_the_console(
    proxy: PrefixProxy,
) -> None:
    async with aiohttp.ClientSession() as client:
        async with client.get(f"{proxy.url}{PREFIX}/") as response:
            page = await response.text()
        urls = _page_urls(page)
        statuses = {}
        for url in urls:
            if not url.endswith("/ws"):
                async with client.get(proxy.url + url) as asset:
                    statuses[url] = (asset.status, len(await asset.read()))
        async with client.ws_connect(
            f"{proxy.url}{PREFIX}/ws", params={"width": "120", "height": "40"}, headers={"Origin": proxy.url}
        ) as websocket:
            output = await _terminal_output(websocket, ENVIRONMENT_NAME)

    assert f"{PREFIX}/ws" in urls
    assert all(url.startswith(f"{PREFIX}/") for url in urls), urls
    assert all(status == 200 and size > 0 for status, size in statuses.values()), statuses
    assert ENVIRONMENT_NAME in output
    assert proxy.outside_prefix == []


async def test_a_websocket_opened_by_another_site_s_page_is_refused(served: ServeProcess) -> None:
    async with aiohttp.ClientSession() as client:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await client.ws_connect(f"{served.url}/ws", headers={"Origin": "https://evil.example"})

    assert refused.value.status == 403


@pytest.mark.slow
async def test_closing_the_tab_ends_its_console(served: ServeProcess) -> None:
    before = served.consoles()
    async with aiohttp.ClientSession() as client:
        async with client.ws_connect(f"{served.url}/ws") as websocket:
            await _terminal_output(websocket, ENVIRONMENT_NAME)
            started = served.consoles() - before

    ended = await _wait_until(lambda: not (started & served.consoles()), timeout=QUIT_GRACE + 2 * KILL_GRACE + 5)

    assert len(started) == 1
    assert ended, f"consoles {started & served.consoles()} still running after their tab closed"


@pytest.mark.slow
async def test_stopping_the_server_ends_the_consoles_of_open_tabs(tmp_path: Path) -> None:
    server = ServeProcess("--demo", log_path=tmp_path / "serve.log")
    try:
        server.wait_until_serving()
        async with aiohttp.ClientSession() as client:
            async with client.ws_connect(f"{server.url}/ws") as websocket:
                await _terminal_output(websocket, ENVIRONMENT_NAME)
                consoles = server.consoles()
                server.process.send_signal(signal.SIGTERM)
                exited = await _wait_until(lambda: server.process.poll() is not None, timeout=QUIT_GRACE + 2 * KILL_GRACE + 10)
                closed = await websocket.receive(timeout=5)
        left = {pid for pid in consoles if Path(f"/proc/{pid}").exists()}
    finally:
        server.stop()

    assert consoles and exited, server.log()
    assert closed.type in (WSMsgType.CLOSE, WSMsgType.CLOSED)
    assert left == set()


def test_serve_on_a_non_loopback_address_warns_that_the_console_has_no_authentication(tmp_path: Path) -> None:
    # Bound to the wildcard for under a second, on a random port: the warning is printed
    # before the server starts listening.
    server = ServeProcess("--demo", "--host", "0.0.0.0", log_path=tmp_path / "serve.log")
    try:
        server.wait_until_serving()
        log = server.log()
    finally:
        server.stop()

    assert "warning" in log and "no authentication" in log and "0.0.0.0" in log


def test_serve_with_an_invalid_config_exits_2_before_listening(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("environments: [\n")

    result = subprocess.run(
        [sys.executable, "-m", "console", "--config", str(config), "serve", "--port", str(_free_port())],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )

    assert result.returncode == 2, result.stderr
    assert "invalid config" in result.stderr


# ---------------------------------------------------------------------------- in Chromium


class DevTools:
    """A minimal Chrome DevTools Protocol client over one websocket (flattened sessions)."""

    def __init__(self, websocket: aiohttp.ClientWebSocketResponse) -> None:
        self.websocket = websocket
        self.events: list[dict] = []
        self._next_id = 0

    async def call(self, method: str, session: str | None = None, **params) -> dict:
        self._next_id += 1
        request = {"id": self._next_id, "method": method, "params": params}
        if session:
            request["sessionId"] = session
        await self.websocket.send_json(request)
        while True:
            message = json.loads((await self.websocket.receive(timeout=30)).data)
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    async def evaluate(self, session: str, expression: str):
        result = await self.call("Runtime.evaluate", session, expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")


async def _start_chromium(binary: str, profile: Path) -> tuple[asyncio.subprocess.Process, str]:
    process = await asyncio.create_subprocess_exec(
        binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
        "--disable-extensions", "--disable-background-networking", f"--user-data-dir={profile}",
        "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", "--window-size=1280,900", "about:blank",
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    assert process.stderr is not None
    seen = []
    while True:
        line = await asyncio.wait_for(process.stderr.readline(), timeout=60)
        if not line:
            raise AssertionError(f"chromium exited before DevTools listened: {b''.join(seen)!r}")
        seen.append(line)
        if match := re.search(rb"DevTools listening on (ws://\S+)", line):
            # Keep draining its stderr so it never blocks on a full pipe.
            asyncio.ensure_future(process.stderr.read())
            return process, match.group(1).decode()


# The terminal is drawn on a canvas: the DOM holds no text. Its xterm.js Terminal is a
# local of textual.js, so the test finds it on the heap (Runtime.queryObjects) by its
# public API and reads the screen from its buffer: what the user sees, row by row.
_SCREEN_OF_TERMINALS = """function () {
    const screens = [];
    for (const candidate of this) {
        try {
            const buffer = candidate && candidate.buffer && candidate.buffer.active;
            if (!buffer || typeof buffer.getLine !== "function" || typeof candidate.cols !== "number") continue;
            const rows = [];
            for (let y = 0; y < candidate.rows; y++) {
                const line = buffer.getLine(buffer.viewportY + y);
                rows.push(line ? line.translateToString(true) : "");
            }
            screens.push(rows.join("\\n"));
        } catch (error) { /* not a terminal */ }
    }
    return screens;
}"""


async def _screen_text(devtools: DevTools, session: str) -> str:
    prototype = await devtools.call("Runtime.evaluate", session, expression="Object.prototype")
    objects = await devtools.call("Runtime.queryObjects", session, prototypeObjectId=prototype["result"]["objectId"])
    screens = await devtools.call(
        "Runtime.callFunctionOn", session, objectId=objects["objects"]["objectId"],
        functionDeclaration=_SCREEN_OF_TERMINALS, returnByValue=True,
    )
    return "\n\n".join(screens["result"].get("value") or [])


@pytest.mark.slow
async def test_chromium_renders_the_console_through_the_prefixing_proxy(proxy: PrefixProxy, tmp_path: Path) -> None:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        backend_unavailable("Chromium", "not on PATH; install Debian's chromium")
    process, browser_url = await _start_chromium(binary, tmp_path / "profile")
    try:
        async with aiohttp.ClientSession() as client, client.ws_connect(browser_url, max_msg_size=0) as websocket:
            devtools = DevTools(websocket)
            target = await devtools.call("Target.createTarget", url="about:blank")
            session = (await devtools.call("Target.attachToTarget", targetId=target["targetId"], flatten=True))["sessionId"]
            await devtools.call("Network.enable", session)
            await devtools.call("Page.navigate", session, url=f"{proxy.url}{PREFIX}/")
            screen, first_byte = "", False
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                first_byte = await devtools.evaluate(session, "!!document.body && document.body.classList.contains('-first-byte')")
                screen = await _screen_text(devtools, session) if first_byte else ""
                if ENVIRONMENT_NAME.decode() in screen:
                    break
                await asyncio.sleep(1)
            socket_url = await devtools.evaluate(session, "document.getElementById('terminal').dataset.sessionWebsocketUrl")
            frames = [e for e in devtools.events if e.get("method") == "Network.webSocketFrameReceived"]
    finally:
        if process.returncode is None:
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()

    assert socket_url == f"{proxy.url.replace('http:', 'ws:')}{PREFIX}/ws"
    assert first_byte, "textual.js never wrote console output to the terminal"
    assert ENVIRONMENT_NAME.decode() in screen, f"the terminal's screen:\n{screen}"
    assert frames and any(
        ENVIRONMENT_NAME in base64.b64decode(f["params"]["response"]["payloadData"]) for f in frames if f["params"]["response"]["opcode"] == 2
    )
    assert proxy.outside_prefix == []
