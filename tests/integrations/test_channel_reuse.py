"""A channel is built once per process and configuration, and keeps its connections per thread."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from core.outside import get_channel
from integrations import http
from integrations.payments.registry import CHANNEL_CODES


@pytest.mark.parametrize("code", CHANNEL_CODES)
def test_a_channel_is_built_once_while_its_settings_stay_the_same(code):
    assert get_channel(code) is get_channel(code)


def test_a_channel_is_built_again_when_its_settings_change(settings):
    before = get_channel("public_platform")
    settings.PUBLIC_PLATFORM = {**settings.PUBLIC_PLATFORM, "base_url": "https://pay.example/"}

    after = get_channel("public_platform")

    assert after is not before
    assert after.base_url == "https://pay.example"
    assert get_channel("public_platform") is after


class _Peers(BaseHTTPRequestHandler):
    """Answers every POST with the client's port: one port per connection used."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = str(self.client_address[1]).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def peers_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Peers)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_a_thread_reuses_its_connection_and_threads_do_not_share_one(peers_url):
    session = http.SessionPerThread()

    def ports() -> list[str]:
        return [session.post(peers_url, data=b"x", timeout=5).text for _ in range(3)]

    here = ports()
    there: list[str] = []
    other = threading.Thread(target=lambda: there.extend(ports()))
    other.start()
    other.join()

    assert len(set(here)) == 1  # one connection, kept alive between calls
    assert len(set(there)) == 1
    assert set(here) != set(there)
