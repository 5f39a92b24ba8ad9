"""The client address every address-based rate limit counts under.

Behind a reverse proxy the TCP peer is the proxy, and the client's address arrives in
`X-Forwarded-For`, which anyone can also send. The header is believed only when the peer is a
trusted proxy (`SPECTRAL_TRUSTED_PROXIES`), and then only as far as trusted proxies appended to
it: walking from the right, each hop that is itself a trusted proxy is skipped, and the first
untrusted hop is the client. Whatever a client wrote further left is never read.

IPv6 clients are counted per /64: one subscriber usually holds a whole /64, so counting single
addresses would let one attacker rotate through billions of them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

IPV6_CLIENT_PREFIX = 64
UNKNOWN = "unknown"


def _parse(value: str) -> IPAddress | None:
    text = value.strip()
    # A port or brackets may come with the address ("[2001:db8::1]:443", "203.0.113.7:5123").
    if text.startswith("["):
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: IPAddress, proxies: Sequence[IPNetwork]) -> bool:
    return any(address.version == net.version and address in net for net in proxies)


def source_key(address: IPAddress) -> str:
    """The rate-limit identity of an address: itself for IPv4, its /64 for IPv6."""
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, IPV6_CLIENT_PREFIX), strict=False))
    return str(address)


def client_address(
    peer: str | None, forwarded_for: Iterable[str], trusted_proxies: Sequence[IPNetwork]
) -> IPAddress | None:
    """The client's address; None when the peer is not an IP address at all."""
    peer_address = None if peer is None else _parse(peer)
    if peer_address is None or not _trusted(peer_address, trusted_proxies):
        return peer_address
    hops = [hop for header in forwarded_for for hop in header.split(",") if hop.strip()]
    client = peer_address
    for hop in reversed(hops):
        address = _parse(hop)
        if address is None:
            # Garbage left of the last trusted proxy: that proxy's peer is all we know.
            break
        client = address
        if not _trusted(address, trusted_proxies):
            break
    return client


def client_source(
    peer: str | None, forwarded_for: Iterable[str], trusted_proxies: Sequence[IPNetwork]
) -> str:
    address = client_address(peer, forwarded_for, trusted_proxies)
    return UNKNOWN if address is None else source_key(address)
