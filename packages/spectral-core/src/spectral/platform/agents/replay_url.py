"""The SSRF guard for an agent's `replay_url`: the platform POSTs to it from inside the network,
so private, loopback, link-local and other non-global targets are refused unless the deployment
allows them (`SPECTRAL_REPLAY_ALLOW_PRIVATE`).

- A host name is resolved once and EVERY address it resolves to is checked: one private answer
  among public ones refuses the URL.
- IPv6 forms that carry an IPv4 address are judged by the IPv4 rules: IPv4-mapped
  `::ffff:a.b.c.d`, IPv4-translated `::ffff:0:a.b.c.d`, IPv4-compatible `::a.b.c.d`, NAT64
  `64:ff9b::/96`, 6to4 `2002::/16` and Teredo `2001::/32` (server and client). The local-use NAT64
  prefix `64:ff9b:1::/48` is refused outright: it only exists inside an operator's network.
  Any other IPv6 address must be global unicast (`2000::/3`) and not special-purpose.
- `GuardedTransport` is what the replay client sends through: for each request it resolves the
  host once, checks the addresses, and connects to a checked address (the URL's host is replaced
  by the IP; the `Host` header and, for https, the TLS server name and certificate check stay on
  the original host name). The client never resolves the name again, so DNS rebinding between the
  check and the connection cannot reach an internal address. Redirects are not followed; if a
  client ever followed one, the next hop would pass through the same check.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

ALLOWED_SCHEMES = frozenset({"http", "https"})
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[IpAddress]]]
"""(host, port) -> every address the host resolves to; raises `UnsafeReplayUrlError` if none."""

_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
_IPV4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
_IPV4_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")
_SIX_TO_FOUR = ipaddress.IPv6Network("2002::/16")
_TEREDO = ipaddress.IPv6Network("2001::/32")
# Not globally reachable per IANA's special-purpose registry, but `is_global` of some Python
# versions says otherwise: IETF protocol assignments and the deprecated 6to4 relay anycast.
_NON_GLOBAL_IPV4 = (ipaddress.IPv4Network("192.0.0.0/24"), ipaddress.IPv4Network("192.88.99.0/24"))


class UnsafeReplayUrlError(ValueError):
    """The URL is malformed or points at a target the platform must not call."""


def _ipv4_refusal(address: ipaddress.IPv4Address) -> str | None:
    if address.is_multicast:
        return "a multicast address"
    if not address.is_global or any(address in network for network in _NON_GLOBAL_IPV4):
        return "a private, loopback, link-local or reserved address"
    return None


def _last_32_bits(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address:
    return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, ...] | None:
    """The IPv4 address(es) an IPv6 address carries, or None when it carries none."""
    if address in _IPV4_MAPPED or address in _IPV4_TRANSLATED or address in _NAT64:
        return (_last_32_bits(address),)
    if address in _IPV4_COMPATIBLE and int(address) > 1:  # :: and ::1 are IPv6's own
        return (_last_32_bits(address),)
    if address in _SIX_TO_FOUR:
        assert address.sixtofour is not None
        return (address.sixtofour,)
    if address in _TEREDO:
        assert address.teredo is not None
        return address.teredo
    return None


def refusal_reason(address: IpAddress) -> str | None:
    """Why the platform must not connect to `address`, or None when it may."""
    if isinstance(address, ipaddress.IPv4Address):
        return _ipv4_refusal(address)
    if address.scope_id:
        return "a scoped (link-local) address"
    if address in _NAT64_LOCAL:
        return "a local-use NAT64 address (64:ff9b:1::/48), which only exists inside one network"
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        for ipv4 in embedded:
            reason = _ipv4_refusal(ipv4)
            if reason is not None:
                return f"{reason} (IPv4 {ipv4} inside the IPv6 address)"
        return None
    if address.is_multicast:
        return "a multicast address"
    if address not in _GLOBAL_UNICAST or not address.is_global:
        return "a private, loopback, link-local or reserved address"
    return None


async def resolve_host(host: str, port: int) -> list[IpAddress]:
    """The system resolver (getaddrinfo, off the event loop)."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeReplayUrlError(f"host {host!r} does not resolve") from exc
    addresses: list[IpAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]))
        if address not in addresses:
            addresses.append(address)
    return addresses


@dataclass(frozen=True, slots=True)
class ReplayTarget:
    scheme: str
    host: str
    port: int

    @property
    def literal(self) -> IpAddress | None:
        try:
            return ipaddress.ip_address(self.host)
        except ValueError:
            return None


def parse_replay_url(url: str) -> ReplayTarget:
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
    return ReplayTarget(parts.scheme, host, port or (443 if parts.scheme == "https" else 80))


async def checked_addresses(
    target: ReplayTarget, *, allow_private: bool, resolver: Resolver = resolve_host
) -> list[IpAddress]:
    """The addresses to connect to: resolved once, every one checked (unless private is allowed)."""
    literal = target.literal
    addresses = [literal] if literal is not None else await resolver(target.host, target.port)
    if not addresses:
        raise UnsafeReplayUrlError(f"host {target.host!r} does not resolve")
    if not allow_private:
        for address in addresses:
            reason = refusal_reason(address)
            if reason is not None:
                raise UnsafeReplayUrlError(f"{target.host} resolves to {address}, {reason}")
    return addresses


async def check_replay_url(
    url: str, *, allow_private: bool, resolver: Resolver = resolve_host
) -> list[IpAddress]:
    """Validate `url` when it is written; returns the checked addresses (empty when private targets
    are allowed: then the host need not resolve yet)."""
    target = parse_replay_url(url)
    if allow_private:
        return []
    return await checked_addresses(target, allow_private=False, resolver=resolver)


class GuardedTransport(httpx.AsyncBaseTransport):
    """Checks every request's URL and connects to a checked address, never resolving it again."""

    def __init__(
        self,
        *,
        allow_private: bool,
        resolver: Resolver = resolve_host,
        inner: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._allow_private = allow_private
        self._resolver = resolver
        self._inner = inner or httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        target = parse_replay_url(str(request.url))
        addresses = await checked_addresses(
            target, allow_private=self._allow_private, resolver=self._resolver
        )
        if target.literal is None:
            # The Host header was set from the original URL when the request was built; TLS must
            # name and verify the original host too, not the IP the request now goes to.
            request.extensions = {**request.extensions, "sni_hostname": target.host}
        original = request.url
        # Several checked addresses (IPv4 and IPv6, say): the next is tried when one refuses.
        for address in addresses[:-1]:
            try:
                return await self._send_to(request, original, address)
            except httpx.ConnectError:
                continue
        return await self._send_to(request, original, addresses[-1])

    async def _send_to(
        self, request: httpx.Request, original: httpx.URL, address: IpAddress
    ) -> httpx.Response:
        request.url = original.copy_with(host=str(address))
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()
