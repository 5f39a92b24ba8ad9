"""The SSRF guard for an agent's `replay_url`: the platform will POST to it from inside the network,
so private, loopback, link-local and other non-global targets are refused unless the deployment
allows them (`SPECTRAL_REPLAY_ALLOW_PRIVATE`). Host names are resolved and every address checked.

Checking at write time does not stop DNS rebinding: the replay client calls `check_replay_url`
again and connects to the address it returned.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

ALLOWED_SCHEMES = frozenset({"http", "https"})
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeReplayUrlError(ValueError):
    """The URL is malformed or points at a target the platform must not call."""


def _refused(address: IpAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not address.is_global or address.is_multicast


async def _resolve(host: str, port: int) -> list[IpAddress]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeReplayUrlError(f"host {host!r} does not resolve") from exc
    return [ipaddress.ip_address(info[4][0]) for info in infos]


async def check_replay_url(url: str, *, allow_private: bool) -> list[IpAddress]:
    """Validate `url`; returns the addresses it resolves to (empty when private targets are allowed)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeReplayUrlError(f"not a valid URL: {exc}") from exc
    if parts.scheme not in ALLOWED_SCHEMES:
        raise UnsafeReplayUrlError("scheme must be http or https")
    host = parts.hostname
    if not host:
        raise UnsafeReplayUrlError("URL has no host")
    if allow_private:
        return []
    try:
        addresses: list[IpAddress] = [ipaddress.ip_address(host)]
    except ValueError:
        addresses = await _resolve(host, port or (443 if parts.scheme == "https" else 80))
    for address in addresses:
        if _refused(address):
            raise UnsafeReplayUrlError(
                f"{host} resolves to {address}, a private, loopback, link-local or reserved address"
            )
    return addresses
