"""Sending one HTTP request to an outside party, with its failures in our vocabulary, and
the sessions the adapters send them with.

No answer at all (a refused connection, a timeout, a body cut short) leaves the call's
outcome unknown and raises ProviderUnavailable, as does a 5xx answer; any other failure
to send raises ProviderError.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import requests

from integrations.errors import ProviderError, ProviderUnavailable

_NO_ANSWER = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)


def send(what: str, request: Callable[[], requests.Response]) -> requests.Response:
    """The answer to ``request()``, whatever its status; ``what`` names the call in errors."""
    try:
        return request()
    except _NO_ANSWER as exc:
        raise ProviderUnavailable(f"{what}: no answer ({type(exc).__name__})") from exc
    except requests.RequestException as exc:
        raise ProviderError(f"{what}: the request failed ({type(exc).__name__})") from exc


def send_answered(what: str, request: Callable[[], requests.Response]) -> requests.Response:
    """The answer to ``request()``; a 5xx answer, like no answer, is ProviderUnavailable."""
    response = send(what, request)
    if response.status_code >= 500:
        raise ProviderUnavailable(
            f"{what}: HTTP {response.status_code}", http_status=response.status_code
        )
    return response


class SessionPerThread:
    """A provider's HTTP session, one ``requests.Session`` per thread that calls it.

    Each thread keeps its connections to the provider open between calls (a Session pools
    them); no Session is shared between threads, as requests does not promise that to be
    safe. Offers the Session methods the channels call.
    """

    def __init__(self) -> None:
        self._local = threading.local()

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def request(self, method: str, url: str, **options) -> requests.Response:
        return self._session().request(method, url, **options)

    def get(self, url: str, **options) -> requests.Response:
        return self.request("GET", url, **options)

    def post(self, url: str, **options) -> requests.Response:
        return self.request("POST", url, **options)
