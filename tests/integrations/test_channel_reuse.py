"""A channel is built once per process and configuration, and keeps its connections per thread."""

from __future__ import annotations

import threading

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


def test_a_thread_reuses_its_connection_and_threads_do_not_share_one(echo_address):
    session = http.SessionPerThread()
    url = f"http://{echo_address}/"

    def ports() -> list[int]:
        return [session.post(url, data=b"x", timeout=5).json()["client_port"] for _ in range(3)]

    here = ports()
    there: list[int] = []
    other = threading.Thread(target=lambda: there.extend(ports()))
    other.start()
    other.join()

    assert len(set(here)) == 1  # one connection, kept alive between calls
    assert len(set(there)) == 1
    assert set(here) != set(there)
