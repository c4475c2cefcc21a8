"""Where a webhook may go: only to public internet addresses, checked at registration and
again at every send.

A URL is refused unless it is plain http or https with a host and no user information, its
host is not a local or internal name, and every address the host resolves to is public.
Loopback is allowed only where ``allow_loopback`` says so (a developer's machine, the test
suite); private ranges and cloud metadata addresses never are. A send connects to the very
address that was checked, so a name that resolves elsewhere a moment later (DNS rebinding)
cannot move it, while the Host header, TLS SNI and the certificate check keep the name.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

import urllib3
from requests.certs import where as ca_bundle

MAX_URL_LENGTH = 500

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Checked in order, so a narrow range comes before the wide one that holds it.
_FORBIDDEN_NETWORKS = tuple(
    (ipaddress.ip_network(cidr), kind)
    for cidr, kind in (
        ("0.0.0.0/8", "unspecified"),
        ("10.0.0.0/8", "private"),
        ("100.64.0.0/10", "shared (carrier-grade NAT)"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),
        ("172.16.0.0/12", "private"),
        ("192.0.0.0/24", "reserved"),
        ("192.0.2.0/24", "for documentation"),
        ("192.88.99.0/24", "reserved"),
        ("192.168.0.0/16", "private"),
        ("198.18.0.0/15", "for benchmarking"),
        ("198.51.100.0/24", "for documentation"),
        ("203.0.113.0/24", "for documentation"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved"),
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("::ffff:0:0:0/96", "reserved"),
        ("64:ff9b:1::/48", "private"),
        ("100::/64", "reserved"),
        ("2001:2::/48", "for benchmarking"),
        ("2001::/23", "reserved"),
        ("2001:db8::/32", "for documentation"),
        ("3fff::/20", "for documentation"),
        ("fc00::/7", "private"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "private"),
        ("ff00::/8", "multicast"),
    )
)
# IPv6 forms that carry an IPv4 address in their last 32 bits: judged by that address.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
# Top-level names that only resolve inside a network (cloud metadata among them).
_INTERNAL_TLDS = frozenset(
    {"internal", "local", "localhost", "localdomain", "lan", "home", "corp", "intranet", "arpa"}
)


class RefusedTarget(ValueError):
    """A URL the policy does not send to; the message says why, fit to show its owner."""


class HostNotFound(ValueError):
    """The URL's host name has no address (now): not a policy refusal, it may come back."""


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (``address``) and what to name (``parts``)."""

    parts: SplitResult
    address: IPAddress

    @property
    def host(self) -> str:
        return _host(self.parts)

    @property
    def port(self) -> int:
        return self.parts.port or (443 if self.parts.scheme == "https" else 80)

    @property
    def request_target(self) -> str:
        path = self.parts.path or "/"
        return f"{path}?{self.parts.query}" if self.parts.query else path


def checked_url(url: str, *, allow_loopback: bool) -> SplitResult:
    """The URL's parts if its form and host name are acceptable; no name is resolved."""
    if len(url) > MAX_URL_LENGTH:
        raise RefusedTarget(f"The URL must be at most {MAX_URL_LENGTH} characters long.")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise RefusedTarget("The URL must be an absolute http or https URL.")
    if "@" in parts.netloc:
        raise RefusedTarget("The URL must not contain a user name or password.")
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number in range
    except ValueError as exc:
        raise RefusedTarget("The URL's port must be a number from 1 to 65535.") from exc
    host = _host(parts)
    if not host:
        raise RefusedTarget("The URL must name a host.")
    if _ip_literal(host) is None and _internal_name(host, allow_loopback=allow_loopback):
        raise RefusedTarget(
            "The URL's host must be a public internet name, not a local or internal one."
        )
    return parts


def address_refusal(address: IPAddress, *, allow_loopback: bool) -> str | None:
    """What kind of non-public address ``address`` is, or None when a webhook may go there."""
    if address.is_loopback:
        return None if allow_loopback else "loopback"
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        return address_refusal(embedded, allow_loopback=allow_loopback)
    for network, kind in _FORBIDDEN_NETWORKS:
        if address.version == network.version and address in network:
            return kind
    if address.is_multicast or address.is_reserved or not address.is_global:
        return "not public"
    return None


def target_resolve(url: str, *, allow_loopback: bool) -> Target:
    """Check ``url`` and every address of its host; return the address to connect to."""
    parts = checked_url(url, allow_loopback=allow_loopback)
    addresses = _addresses(_host(parts), parts.port)
    for address in addresses:
        kind = address_refusal(address, allow_loopback=allow_loopback)
        if kind is not None:
            raise RefusedTarget(
                "Webhooks are sent only to public internet addresses; "
                f"the URL's host has an address that is {kind}."
            )
    return Target(parts=parts, address=addresses[0])


def target_post(target: Target, *, body: bytes, headers: dict[str, str], timeout: float) -> int:
    """POST to the checked address, naming the host; return the status, read nothing more.

    Redirects are not followed. Raises urllib3's errors for timeouts, refused connections
    and TLS failures.
    """
    options = {}
    if target.parts.scheme == "https":
        options = {
            "server_hostname": target.host,
            "assert_hostname": target.host,
            "cert_reqs": "CERT_REQUIRED",
            "ca_certs": ca_bundle(),
        }
        pool_class = urllib3.HTTPSConnectionPool
    else:
        pool_class = urllib3.HTTPConnectionPool
    with pool_class(
        str(target.address),
        target.port,
        timeout=urllib3.Timeout(connect=timeout, read=timeout),
        retries=False,
        **options,
    ) as pool:
        response = pool.urlopen(
            "POST",
            target.request_target,
            body=body,
            headers={**headers, "Host": target.parts.netloc},
            redirect=False,
            retries=False,
            assert_same_host=False,
            preload_content=False,
        )
        response.close()
        return response.status


def _host(parts: SplitResult) -> str:
    return (parts.hostname or "").rstrip(".")


def _addresses(host: str, port: int | None) -> list[IPAddress]:
    literal = _ip_literal(host)
    if literal is not None:
        return [literal]
    try:
        answers = socket.getaddrinfo(host, port or 0, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise HostNotFound("The URL's host name does not resolve.") from exc
    addresses = [ipaddress.ip_address(sockaddr[0]) for *_, sockaddr in answers]
    if not addresses:
        raise HostNotFound("The URL's host name does not resolve.")
    return list(dict.fromkeys(addresses))


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _internal_name(host: str, *, allow_loopback: bool) -> bool:
    if host == "localhost":
        return not allow_loopback
    # A single label (``metadata``, ``db``) is completed by the resolver's search domains.
    return "." not in host or host.rsplit(".", 1)[1] in _INTERNAL_TLDS


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    if address.version == 4:
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or address in _IPV4_COMPATIBLE:
        return ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
    return None
