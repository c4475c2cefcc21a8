"""A provider's session takes its proxy from the environment as requests would, NO_PROXY
included, and reads the environment once per host instead of on every request."""

from __future__ import annotations

import urllib.request

import pytest

from integrations import http


@pytest.fixture(autouse=True)
def environment_read_afresh(monkeypatch):
    proxies = ("HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy")
    for name in (*proxies, "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    http.environment_settings.cache_clear()
    yield
    http.environment_settings.cache_clear()


def test_the_proxy_in_the_environment_carries_the_request(monkeypatch, echo_address):
    monkeypatch.setenv("HTTP_PROXY", f"http://{echo_address}")

    answer = http.SessionPerThread().post("http://provider.example/gateway.do", data=b"x")

    assert answer.json()["target"] == "http://provider.example/gateway.do"


def test_a_host_in_no_proxy_is_reached_directly(monkeypatch, echo_address):
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens: would fail
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")

    answer = http.SessionPerThread().post(f"http://{echo_address}/gateway.do", data=b"x")

    assert answer.json()["target"] == "/gateway.do"


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


def test_the_ca_bundle_in_the_environment_verifies_the_provider(monkeypatch):
    monkeypatch.setenv("CURL_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")

    assert http.environment_settings("https", "provider.example").ca_bundle == (
        "/etc/ssl/certs/ca-certificates.crt"
    )
