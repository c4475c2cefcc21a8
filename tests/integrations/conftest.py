from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.integrations.helpers import StubServer, key_pems, new_key


@pytest.fixture
def stub_server() -> Iterator[Callable[..., StubServer]]:
    """Starts local HTTP servers (see StubServer for the options) and stops them afterwards.

    A test module overrides this fixture to give its provider's defaults.
    """
    servers: list[StubServer] = []

    def start(answers: list[tuple[int, bytes]] = (), **options: object) -> StubServer:
        servers.append(StubServer(answers, **options))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def receiver(stub_server) -> StubServer:
    """The service's notify endpoint, acknowledging every notification."""
    return stub_server()


@pytest.fixture(scope="module")
def stranger_pems() -> tuple[str, str]:
    """A key pair (private and public PEM) that neither the provider nor the merchant holds."""
    return key_pems(new_key())


class _Echo(BaseHTTPRequestHandler):
    """Answers every POST with what it saw of it: the client's port (one per connection
    used) and the request target (an absolute URL when the client took it for a proxy)."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.dumps({"client_port": self.client_address[1], "target": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def echo_address() -> Iterator[str]:
    """host:port of a local server answering each POST with what it saw of it (_Echo)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
