"""Sending one HTTP request to an outside party, with its failures in our vocabulary, and
the sessions the adapters send them with.

No answer at all (a refused connection, a timeout, a body cut short) leaves the call's
outcome unknown and raises ProviderUnavailable, as does a 5xx answer; any other failure
to send raises ProviderError.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from functools import lru_cache
from typing import NamedTuple
from urllib.parse import urlsplit

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
    safe. What the environment says of a host (its proxy, or none under NO_PROXY; a CA
    bundle) is read once per process (``environment_settings``). Offers the Session methods
    the channels call.
    """

    def __init__(self) -> None:
        self._local = threading.local()

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            session.trust_env = False  # environment_settings instead, and no ~/.netrc
        return session

    def request(self, method: str, url: str, **options) -> requests.Response:
        address = urlsplit(url)
        environment = environment_settings(address.scheme, address.netloc)
        options.setdefault("proxies", dict(environment.proxies))
        if environment.ca_bundle:
            options.setdefault("verify", environment.ca_bundle)
        return self._session().request(method, url, **options)

    def get(self, url: str, **options) -> requests.Response:
        return self.request("GET", url, **options)

    def post(self, url: str, **options) -> requests.Response:
        return self.request("POST", url, **options)


class EnvironmentSettings(NamedTuple):
    proxies: tuple[tuple[str, str], ...]  # scheme, proxy URL
    ca_bundle: str | None


@lru_cache(maxsize=256)
def environment_settings(scheme: str, host: str) -> EnvironmentSettings:
    """The proxies (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY, unless NO_PROXY names the host) and
    the CA bundle (REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE) that requests would take from the
    environment for ``scheme://host``, read once. A Session that trusts the environment reads
    every variable of it twice on each request: half a millisecond of CPU a payment attempt.
    The environment is that of the process when it started: it does not change under it."""
    proxies = requests.utils.get_environ_proxies(f"{scheme}://{host}/")
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    return EnvironmentSettings(tuple(proxies.items()), bundle or None)
