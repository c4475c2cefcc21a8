"""A provider's session takes its proxy from the environment as requests would, NO_PROXY
included, and reads the environment once per host instead of on every request."""

from __future__ import annotations

import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from integrations import http


class _Echo(BaseHTTPRequestHandler):
    """Answers every POST with the request target it was sent: an absolute URL when the
    client took it for a proxy, a path when it was the server itself."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = self.path.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def echo_address():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def environment_read_afresh(monkeypatch):
    for name in ("HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    http.environment_settings.cache_clear()
    yield
    http.environment_settings.cache_clear()


def test_the_proxy_in_the_environment_carries_the_request(monkeypatch, echo_address):
    monkeypatch.setenv("HTTP_PROXY", f"http://{echo_address}")

    answer = http.SessionPerThread().post("http://provider.example/gateway.do", data=b"x")

    assert answer.text == "http://provider.example/gateway.do"


def test_a_host_in_no_proxy_is_reached_directly(monkeypatch, echo_address):
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens: would fail
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")

    answer = http.SessionPerThread().post(f"http://{echo_address}/gateway.do", data=b"x")

    assert answer.text == "/gateway.do"


def test_the_environment_is_read_once_per_host(monkeypatch, echo_address):
    reads = []
    read = urllib.request.getproxies_environment
    monkeypatch.setattr(urllib.request, "getproxies_environment", lambda: reads.append(1) or read())
    session = http.SessionPerThread()
    url = f"http://{echo_address}/gateway.do"

    session.post(url, data=b"x", timeout=5)
    read_by_the_first = len(reads)
    for _ in range(4):
        session.post(url, data=b"x", timeout=5)

    assert read_by_the_first > 0
    assert len(reads) == read_by_the_first
