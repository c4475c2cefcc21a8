from __future__ import annotations

from collections.abc import Callable, Iterator

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
