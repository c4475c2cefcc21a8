"""Host names under the test's control, answered by the OS resolver's entry point."""

from __future__ import annotations

import ipaddress
import socket


def fake_resolver(monkeypatch) -> dict[str, list[str]]:
    """Names the returned dict maps resolve to its addresses (as they are when looked up).

    Address literals and ``localhost`` go to the real resolver; any other name does not
    resolve, so no test reaches the outside world's DNS.
    """
    records: dict[str, list[str]] = {}
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else host
        if name in records:
            return [
                (
                    socket.AF_INET6 if ":" in address else socket.AF_INET,
                    socket.SOCK_STREAM,
                    socket.IPPROTO_TCP,
                    "",
                    (address, port or 0),
                )
                for address in records[name]
            ]
        try:
            ipaddress.ip_address(name)
        except ValueError:
            if name != "localhost":
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return records
