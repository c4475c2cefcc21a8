"""The webhook URL policy on its own: which URLs and addresses a webhook may go to."""

from __future__ import annotations

import ipaddress

import pytest

from billing.webhook_targets import (
    MAX_URL_LENGTH,
    HostNotFound,
    RefusedTarget,
    address_refusal,
    checked_url,
    target_resolve,
)
from tests.billing.resolver import fake_resolver


@pytest.fixture
def dns(monkeypatch):
    return fake_resolver(monkeypatch)


def refusal(address: str, *, allow_loopback: bool = False) -> str | None:
    return address_refusal(ipaddress.ip_address(address), allow_loopback=allow_loopback)


# The probe's targets and their relatives


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://metadata.google.internal./computeMetadata/v1/",
        "http://METADATA.GOOGLE.INTERNAL/computeMetadata/v1/",
        "http://metadata/computeMetadata/v1/",
        "http://127.0.0.1:8000/sandbox/public_platform/_control/reset",
        "http://127.0.0.2:5432/",
        "http://[::1]:15672/",
        "http://localhost:8000/sandbox/",
        "http://db.localhost/",
        "http://2130706433/",
        "http://10.0.0.5/hooks",
        "http://172.16.3.4/hooks",
        "http://172.31.255.255/hooks",
        "http://192.168.1.1/hooks",
        "http://100.64.0.1/hooks",
        "http://[fc00::1]/hooks",
        "http://[fe80::1]/hooks",
        "http://0.0.0.0:8000/",
        "http://[::]:8000/",
        "http://224.0.0.1/",
        "http://[ff02::1]/",
        "http://240.0.0.1/",
        "http://255.255.255.255/",
        "http://198.18.0.1/",
        "http://192.0.2.10/",
        "http://198.51.100.10/",
        "http://203.0.113.10/",
        "http://[2001:db8::1]/",
        "http://[::ffff:169.254.169.254]/",
        "http://[::ffff:127.0.0.1]:8000/",
        "http://[::ffff:10.0.0.1]/",
        "http://[::ffff:a9fe:a9fe]/",
        "http://[::169.254.169.254]/",
        "http://[::127.0.0.1]/",
        "http://[64:ff9b::169.254.169.254]/",
        "http://[64:ff9b::a00:1]/",
        "http://[2002:a9fe:a9fe::1]/",
        "http://[2002:7f00:1::1]/",
        "http://printer.local/hooks",
        "http://billing.corp/hooks",
    ],
)
def test_the_probes_targets_are_refused(url):
    with pytest.raises(RefusedTarget):
        target_resolve(url, allow_loopback=False)


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://10.0.0.5/hooks",
        "http://100.64.0.1/hooks",
        "http://[::ffff:169.254.169.254]/",
        "http://[64:ff9b::a9fe:a9fe]/",
    ],
)
def test_allowing_loopback_allows_nothing_else(url):
    with pytest.raises(RefusedTarget):
        target_resolve(url, allow_loopback=True)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hooks",
        "http://[::1]:8000/hooks",
        "http://localhost:8000/hooks",
        "http://[::ffff:127.0.0.1]:8000/hooks",
    ],
)
def test_a_developers_receiver_on_loopback_is_allowed_where_loopback_is(url):
    target = target_resolve(url, allow_loopback=True)

    assert target.address.is_loopback or target.address.ipv4_mapped.is_loopback


@pytest.mark.parametrize(
    "address",
    ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"],
)
def test_public_addresses_are_allowed(address):
    assert refusal(address) is None


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("169.254.169.254", "link-local"),
        ("fd00:ec2::254", "private"),
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("100.100.100.200", "shared (carrier-grade NAT)"),
        ("198.19.0.1", "for benchmarking"),
        ("2001:2::1", "for benchmarking"),
        ("3fff::1", "for documentation"),
        ("::ffff:192.168.0.1", "private"),
        ("64:ff9b::7f00:1", "loopback"),
        ("2002:c0a8:1::1", "private"),
    ],
)
def test_a_forbidden_address_is_named_by_its_kind(address, kind):
    assert refusal(address) == kind


# The URL's form


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("ftp://hooks.portal.example/", "http or https"),
        ("file:///etc/passwd", "http or https"),
        ("gopher://hooks.portal.example:70/", "http or https"),
        ("hooks.portal.example/hooks", "http or https"),
        ("http:///hooks", "name a host"),
        ("https://user:secret@hooks.portal.example/", "user name or password"),
        ("https://hooks.portal.example@169.254.169.254/", "user name or password"),
        ("https://hooks.portal.example:99999/", "port"),
        (f"https://hooks.portal.example/{'a' * MAX_URL_LENGTH}", "at most"),
    ],
)
def test_a_url_of_the_wrong_form_is_refused_with_the_reason(url, says):
    with pytest.raises(RefusedTarget, match=says):
        checked_url(url, allow_loopback=True)


# Names and what they resolve to


def test_a_name_whose_every_address_is_public_connects_to_the_first(dns):
    dns["hooks.portal.example"] = ["93.184.215.14", "2606:4700:4700::1111"]

    target = target_resolve("https://hooks.portal.example/a/b?c=1", allow_loopback=False)

    assert target.address == ipaddress.ip_address("93.184.215.14")
    assert target.host == "hooks.portal.example"
    assert (target.port, target.request_target) == (443, "/a/b?c=1")


def test_a_name_with_one_private_address_among_public_ones_is_refused(dns):
    dns["hooks.portal.example"] = ["93.184.215.14", "10.0.0.7"]

    with pytest.raises(RefusedTarget, match="private") as refused:
        target_resolve("https://hooks.portal.example/", allow_loopback=False)

    assert "10.0.0.7" not in str(refused.value)


def test_a_public_looking_name_that_resolves_to_the_metadata_service_is_refused(dns):
    dns["metadata.portal.example"] = ["169.254.169.254"]

    with pytest.raises(RefusedTarget, match="link-local"):
        target_resolve("http://metadata.portal.example/", allow_loopback=True)


def test_a_name_that_does_not_resolve_is_not_found(dns):
    with pytest.raises(HostNotFound):
        target_resolve("https://nowhere.portal.example/", allow_loopback=False)
