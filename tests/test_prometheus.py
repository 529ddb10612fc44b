"""The Prometheus adapter (adapters.prometheus) against a real Prometheus.

Prometheus is Debian's binary on a loopback port (tests/prometheus_backend.py),
scraping a real HTTP endpoint and, in one test, the busybox ``web`` test image. Where
a test must see what the client sent, or needs TLS or a token check, a real reverse
proxy stands in front of the real Prometheus. Nothing is mocked.
"""

from __future__ import annotations

import http.server
import math
import re
import shutil
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.base import AdapterError, ErrorKind
from adapters.prometheus import Alert, PrometheusSource, named_query, promql_regex_escape, promql_string_escape
from tests.backends import backend_unavailable, wait_for, wait_for_health
from tests.prometheus_backend import (  # noqa: F401 - fixtures are found by name in this module
    FIRING_ALERT,
    PENDING_ALERT,
    AuthProxy,
    PrometheusServer,
    free_port,
    metrics_endpoint,
    private_prometheus,
    prometheus,
)

# Label values as Kubernetes and Docker never allow them, but an attacker-named or
# careless one might be: quotes, backslashes, braces, newlines, PromQL operators.
# (Surrogates cannot travel as UTF-8; Prometheus drops a label set to "".)
label_values = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40)


@pytest.fixture
def source(prometheus: PrometheusServer) -> PrometheusSource:
    return PrometheusSource(prometheus.url, timeout=5)


def error_of(call, *args, **kwargs) -> AdapterError:
    with pytest.raises(AdapterError) as caught:
        call(*args, **kwargs)
    return caught.value


# ------------------------------------------------------------------------ instant queries


def test_instant_returns_each_series_with_its_labels_and_value(source, metrics_endpoint):
    samples = source.instant('wf_test_ratio{job="fixed"}')

    by_workload = {labels["workload"]: (labels, value) for labels, value in samples}
    assert set(by_workload) == {"web", "api"}
    assert by_workload["web"][1] == 0.25
    assert by_workload["api"][1] == 0.75
    assert by_workload["web"][0]["__name__"] == "wf_test_ratio"
    assert by_workload["web"][0]["instance"] == metrics_endpoint.address


def test_instant_keeps_nan_and_infinity_as_floats(source, metrics_endpoint):
    [(_, not_a_number)] = source.instant('wf_test_not_a_number{job="fixed"}')
    [(_, infinite)] = source.instant('wf_test_infinite{job="fixed"}')
    [(_, minus_infinite)] = source.instant('-wf_test_infinite{job="fixed"}')

    assert math.isnan(not_a_number)
    assert infinite == math.inf
    assert minus_infinite == -math.inf


def test_instant_of_a_scalar_is_one_value_without_labels(source):
    assert source.instant("scalar(vector(42))") == [({}, 42.0)]


def test_instant_of_a_query_that_matches_nothing_is_empty(source):
    assert source.instant('wf_test_ratio{workload="no-such-workload"}') == []


def test_instant_at_a_past_time_evaluates_then(source):
    at = time.time() - 3600

    [(_, value)] = source.instant("time()", at=at)

    assert value == pytest.approx(at, abs=0.01)


# -------------------------------------------------------------------------- range queries


def test_range_returns_one_point_per_step_oldest_first(source, metrics_endpoint, prometheus):
    prometheus.wait_for_result('count_over_time(wf_test_ratio{job="fixed",workload="web"}[10s]) >= 4')
    end = time.time()

    [(labels, points)] = source.range('wf_test_ratio{job="fixed",workload="web"}', end - 3, end, 1)

    assert labels["workload"] == "web"
    assert [round(ts - points[0][0], 3) for ts, _ in points] == [0.0, 1.0, 2.0, 3.0]
    assert points[0][0] == pytest.approx(end - 3, abs=0.002)
    assert {value for _, value in points} == {0.25}


def test_range_of_a_zero_step_is_bad_input(source):
    error = error_of(source.range, "vector(1)", time.time() - 60, time.time(), 0)

    assert error.kind is ErrorKind.BAD_INPUT


def test_range_with_too_many_points_is_bad_input_with_prometheus_words(source):
    error = error_of(source.range, "vector(1)", 0, 1_000_000, 1)

    assert error.kind is ErrorKind.BAD_INPUT
    assert "11,000 points" in error.summary


# ------------------------------------------------------------------------------- alerts


def test_alerts_lists_the_firing_and_the_pending_alert(source, prometheus):
    prometheus.wait_for_result(f'ALERTS{{alertname="{FIRING_ALERT}",alertstate="firing"}}')

    alerts = {alert.name: alert for alert in source.alerts()}

    firing, pending = alerts[FIRING_ALERT], alerts[PENDING_ALERT]
    assert firing.state == "firing"
    assert firing.labels == {"severity": "page", "workload": "web"}
    assert firing.annotations == {"summary": "always firing, for the tests"}
    assert firing.value == 1.0
    assert pending.state == "pending"
    assert pending.labels == {"severity": "ticket", "workload": "api"}
    assert pending.value == 2.0
    for alert in (firing, pending):
        assert isinstance(alert, Alert)
        assert alert.active_at is not None and alert.active_at.tzinfo is not None
        assert 0 <= time.time() - alert.active_at.timestamp() < 3600


# ------------------------------------------------------------------------------ errors


def test_a_query_prometheus_cannot_parse_is_bad_input_naming_the_position(source):
    error = error_of(source.instant, 'rate(http_requests_total{job="web"[5m])')

    assert error.kind is ErrorKind.BAD_INPUT
    assert "parse error" in error.summary
    assert re.search(r"\d+:\d+", error.summary), error.summary  # Prometheus's line:column


def test_a_range_selector_in_an_instant_query_is_bad_input(source, metrics_endpoint):
    error = error_of(source.instant, 'wf_test_ratio{job="fixed"}[1m]')

    assert error.kind is ErrorKind.BAD_INPUT
    assert "range vector" in error.summary


def test_an_evaluation_failure_is_a_backend_error_with_prometheus_text(source):
    two_series = 'label_replace(vector(1), "a", "x", "", "") or label_replace(vector(1), "a", "y", "", "")'

    error = error_of(source.instant, f"vector(1) + on() ({two_series})")

    assert error.kind is ErrorKind.BACKEND
    assert "HTTP 422" in error.summary
    assert "duplicate series" in error.summary or "many-to-many" in error.summary


def test_check_names_the_server_and_its_version(source):
    assert re.fullmatch(r"Prometheus 2\.\d+\.\d+.*", source.check())


def test_a_wrong_path_prefix_is_not_found(prometheus):
    error = error_of(PrometheusSource(f"{prometheus.url}/no-such-prefix").check)

    assert error.kind is ErrorKind.NOT_FOUND
    assert "/no-such-prefix/api/v1/status/buildinfo" in error.summary


def test_nothing_listening_is_unreachable_not_a_crash():
    source = PrometheusSource(f"http://127.0.0.1:{free_port()}", timeout=2)

    for call in (source.check, source.alerts, lambda: source.instant("up"), lambda: source.range("up", 0, 60, 15)):
        error = error_of(call)
        assert error.kind is ErrorKind.UNREACHABLE
        assert "connection refused" in error.summary


def test_a_stopped_prometheus_is_unreachable_and_the_same_source_recovers(private_prometheus):
    source = PrometheusSource(private_prometheus.url, timeout=2)
    assert source.instant("vector(7)")[0][1] == 7.0

    private_prometheus.stop()
    error = error_of(source.instant, "vector(7)")
    private_prometheus.start()
    answer = source.instant("vector(7)")

    assert error.kind is ErrorKind.UNREACHABLE
    assert private_prometheus.url in error.summary
    assert answer[0][1] == 7.0


def test_credentials_in_the_url_never_reach_a_message():
    source = PrometheusSource(f"http://admin:hunter2@127.0.0.1:{free_port()}", timeout=2)

    error = error_of(source.check)

    assert "hunter2" not in source.url
    assert "hunter2" not in f"{error.summary} {error.admin_detail} {error.developer_detail}"


def test_a_proxy_whose_prometheus_is_down_is_unreachable():
    proxy = AuthProxy(f"http://127.0.0.1:{free_port()}")
    try:
        error = error_of(PrometheusSource(proxy.url).instant, "vector(1)")
    finally:
        proxy.close()

    assert error.kind is ErrorKind.UNREACHABLE
    assert "HTTP 502 from the proxy" in error.summary


class CannedAnswers:
    """Answers every GET with one fixed status and body.

    A stand-in, because no real part can play it: a real Prometheus never sends a login
    page or a result of the wrong shape, but a misconfigured proxy or a half-compatible
    store can, and the adapter must turn that into an AdapterError too.
    """

    def __init__(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.mark.parametrize(
    ("status", "body", "summary"),
    [
        (200, b"<html><body>Please log in</body></html>", "not Prometheus's JSON"),
        (200, b'{"status":"success","data":{"resultType":"vector","result":[1,2]}}', "in a shape watchfloor does not know"),
        (200, b'{"status":"success","data":{"resultType":"vector","result":[{"metric":[]}]}}', "in a shape"),
        (500, b"Internal Server Error", "failed (HTTP 500): Internal Server Error"),
        (503, b'{"status":"error","errorType":"unavailable","error":"too busy"}', "failed (HTTP 503 unavailable): too busy"),
    ],
)
def test_an_answer_that_is_not_prometheus_is_a_backend_error(status, body, summary):
    server = CannedAnswers(status, body)
    try:
        error = error_of(PrometheusSource(server.url).instant, "up")
    finally:
        server.close()

    assert error.kind is ErrorKind.BACKEND
    assert summary in error.summary


# ---------------------------------------------------------------------- token, headers


def test_the_bearer_token_and_extra_headers_are_sent(prometheus):
    proxy = AuthProxy(prometheus.url, token="s3cret-token")
    try:
        source = PrometheusSource(proxy.url, bearer_token="s3cret-token\n", headers={"X-Scope-OrgID": "team-a"})

        answer = source.instant("vector(3)")
    finally:
        proxy.close()

    assert answer == [({}, 3.0)]
    assert proxy.requests[-1]["authorization"] == "Bearer s3cret-token"
    assert proxy.requests[-1]["x-scope-orgid"] == "team-a"


def test_a_refused_token_is_forbidden_and_not_repeated(prometheus):
    proxy = AuthProxy(prometheus.url, token="the-right-one")
    try:
        error = error_of(PrometheusSource(proxy.url, bearer_token="a-wrong-one").instant, "vector(1)")
    finally:
        proxy.close()

    assert error.kind is ErrorKind.FORBIDDEN
    assert "HTTP 401" in error.summary
    assert "a-wrong-one" not in f"{error.summary} {error.admin_detail} {error.developer_detail}"


@pytest.mark.parametrize("token", ["two words", "line\nbreak", "", "   ", "caf\u00e9-token"])
def test_an_unusable_token_is_refused_up_front_without_echoing_it(token):
    error = error_of(PrometheusSource, "http://127.0.0.1:9090", bearer_token=token)

    assert error.kind is ErrorKind.BAD_INPUT
    assert token.strip() == "" or token not in error.summary


def test_a_header_value_with_a_line_break_is_refused():
    error = error_of(PrometheusSource, "http://127.0.0.1:9090", headers={"X-Tenant": "a\r\nX-Evil: 1"})

    assert error.kind is ErrorKind.BAD_INPUT
    assert "X-Evil" not in error.summary


# -------------------------------------------------------------------------------- TLS


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Path:
    """A CA and a server certificate for 127.0.0.1 signed by it (made by the openssl CLI)."""
    if shutil.which("openssl") is None:
        backend_unavailable("openssl CLI", "needed to make test certificates")
    directory = tmp_path_factory.mktemp("pki")
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl(
        "req", "-x509", *ec, "-days", "2", "-subj", "/CN=watchfloor test CA", "-keyout", "ca.key", "-out", "ca.crt",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=directory,
    )  # fmt: skip
    (directory / "server.ext").write_text(
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
        "subjectAltName=IP:127.0.0.1\n"
    )
    _openssl("req", "-new", *ec, "-subj", "/CN=prometheus", "-keyout", "server.key", "-out", "server.csr", cwd=directory)
    _openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-set_serial", "7",
        "-days", "2", "-extfile", "server.ext", "-out", "server.crt",
        cwd=directory,
    )  # fmt: skip
    return directory


@pytest.fixture
def tls_proxy(prometheus, pki):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki / "server.crt", pki / "server.key")
    proxy = AuthProxy(prometheus.url, tls=context)
    yield proxy
    proxy.close()


def test_tls_is_verified_by_default_and_an_unknown_ca_is_refused(tls_proxy):
    source = PrometheusSource(tls_proxy.url, timeout=3)

    error = error_of(source.instant, "vector(1)")

    assert error.kind is ErrorKind.UNREACHABLE
    assert "certificate not trusted" in error.summary
    context = source._pool.connection_pool_kw["ssl_context"]  # the pool every request uses
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname


def test_tls_with_the_right_ca_answers(tls_proxy, pki):
    source = PrometheusSource(tls_proxy.url, verify_tls=str(pki / "ca.crt"), timeout=3)

    assert source.instant("vector(5)") == [({}, 5.0)]


def test_tls_verification_can_be_turned_off(tls_proxy):
    source = PrometheusSource(tls_proxy.url, verify_tls=False, timeout=3)

    assert source.instant("vector(6)") == [({}, 6.0)]


# ------------------------------------------------------------------------ named queries


def test_named_query_fills_each_placeholder_and_leaves_promql_braces_alone():
    template = 'sum(rate(http_requests_total{job="{workload}",namespace="{namespace}",service=\'{service}\'}[1m]))'

    query = named_query(template, workload="web", namespace="shop", service="web-svc")

    assert query == 'sum(rate(http_requests_total{job="web",namespace="shop",service=\'web-svc\'}[1m]))'


def test_named_query_escapes_quotes_and_backslashes():
    query = named_query('up{job="{workload}"}', workload='a"} or vector(1) #\\')

    assert query == 'up{job="a\\"} or vector(1) #\\\\"}'


def test_named_query_regex_escapes_after_a_regex_matcher():
    query = named_query('up{job=~"{workload}-.*", instance!~ "{service}"}', workload="web.1", service="a|b")

    assert query == 'up{job=~"web\\\\.1-.*", instance!~ "a\\\\|b"}'


def test_named_query_refuses_a_placeholder_outside_a_string():
    with pytest.raises(ValueError, match=r"\{workload\} at position 9 is outside a quoted string"):
        named_query("sum by ({workload}) (up)", workload="web")


def test_named_query_refuses_a_backtick_in_a_raw_string():
    with pytest.raises(ValueError, match="backtick"):
        named_query("up{job=`{workload}`}", workload="a`b")


def _read_promql_string(text: str, quote: str) -> tuple[str, int]:
    """Decode the PromQL (Go-escaped) string literal starting at text[0] == quote.

    Returns the decoded value and the index just after the closing quote. Written from
    the PromQL lexer's rules, independently of the code under test.
    """
    assert text[0] == quote
    out, i = [], 1
    simple = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", quote: quote, "a": "\a", "b": "\b", "f": "\f", "v": "\v"}
    while True:
        ch = text[i]
        assert ch != "\n", "a raw newline ends a PromQL string with an error"
        if ch == quote:
            return "".join(out), i + 1
        if ch == "\\":
            escape = text[i + 1]
            if escape == "x":
                out.append(chr(int(text[i + 2 : i + 4], 16)))
                i += 4
                continue
            assert escape in simple, f"PromQL rejects the escape \\{escape}"
            out.append(simple[escape])
            i += 2
            continue
        out.append(ch)
        i += 1


@given(value=label_values, quote=st.sampled_from(['"', "'"]))
def test_no_value_breaks_out_of_its_label_string(value, quote):
    query = named_query(f"up{{job={quote}{{workload}}{quote}}} + 1", workload=value)

    prefix = "up{job="
    assert query.startswith(prefix)
    decoded, end = _read_promql_string(query[len(prefix) :], quote)
    assert decoded == value
    assert query[len(prefix) + end :] == "} + 1"


@given(value=label_values)
def test_a_regex_placeholder_matches_exactly_its_value(value):
    query = named_query('up{job=~"{workload}"}', workload=value)

    pattern, end = _read_promql_string(query[len("up{job=~") :], '"')
    assert query[len("up{job=~") + end :] == "}"
    assert re.fullmatch(pattern, value, re.DOTALL)


@settings(max_examples=40, deadline=None)
@given(value=label_values)
def test_prometheus_reads_back_every_escaped_value_exactly(prometheus, value):
    # Prometheus's own parser is the judge: the value must arrive whole, as the
    # separator of label_join (a plain string: label_replace's replacement would expand
    # $1), and its regex form must match exactly it (label_replace anchors the regex).
    source = PrometheusSource(prometheus.url)
    two_labels = 'label_replace(label_replace(vector(1), "a", "<", "", ""), "b", ">", "", "")'
    joined = named_query(f'label_join({two_labels}, "in", "{{workload}}", "a", "b")', workload=value)
    regex = promql_string_escape("<" + promql_regex_escape(value) + ">")
    query = f'label_replace({joined}, "matched", "yes", "in", "{regex}")'

    [(labels, _)] = source.instant(query)

    assert labels["in"] == f"<{value}>"
    assert labels.get("matched") == "yes"


# ----------------------------------------------------------------- the busybox web image


@pytest.mark.docker
def test_prometheus_scrapes_the_web_test_image(prometheus, container_factory):
    port = free_port()
    web = container_factory("web:1", network_mode="host", environment={"PORT": str(port), "ERROR_RATE": "25"})
    wait_for_health(web, timeout=30)
    for _ in range(8):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/cgi-bin/work", timeout=5).read()
        except urllib.error.HTTPError as answer:
            assert answer.code == 500
    target = prometheus.scrape(f"127.0.0.1:{port}", labels={"job": f"web-{port}"}, metrics_path="/cgi-bin/metrics")
    source = PrometheusSource(prometheus.url)
    try:
        query = f'sum by (code) (http_requests_total{{job="web-{port}"}})'
        counts = wait_for(
            lambda: {labels["code"]: value for labels, value in source.instant(query)} or None,
            "Prometheus to scrape the web container",
            timeout=20,
        )
        [(_, version)] = source.instant(f'app_version_info{{job="web-{port}"}}')
    finally:
        prometheus.unscrape(target)

    assert counts == {"200": 6.0, "500": 2.0}
    assert version == 1.0
