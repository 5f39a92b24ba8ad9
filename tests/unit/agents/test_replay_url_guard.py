"""The SSRF guard's address policy, one class at a time, and the rule that every address a host
resolves to is checked. IPv6 forms that carry an IPv4 address are judged by the IPv4 rules."""

from __future__ import annotations

import ipaddress

import pytest

from spectral.platform.agents.replay_url import (
    IpAddress,
    Resolver,
    UnsafeReplayUrlError,
    check_replay_url,
    refusal_reason,
)

REFUSED = {
    # IPv4
    "loopback": "127.0.0.1",
    "loopback, elsewhere in 127/8": "127.45.6.7",
    "this network": "0.0.0.0",
    "RFC 1918 10/8": "10.1.2.3",
    "RFC 1918 172.16/12": "172.20.0.1",
    "RFC 1918 192.168/16": "192.168.0.10",
    "link-local, cloud metadata": "169.254.169.254",
    "shared address space (CGNAT)": "100.64.0.1",
    "IETF protocol assignments": "192.0.0.8",
    "6to4 relay anycast (deprecated)": "192.88.99.1",
    "documentation": "192.0.2.1",
    "benchmarking": "198.18.0.1",
    "reserved 240/4": "240.0.0.1",
    "broadcast": "255.255.255.255",
    "multicast": "224.0.0.251",
    # IPv6 of its own
    "IPv6 loopback": "::1",
    "IPv6 unspecified": "::",
    "unique local": "fd00::1",
    "link-local": "fe80::1",
    "site-local (deprecated)": "fec0::1",
    "IPv6 multicast": "ff02::1",
    "IPv6 documentation": "2001:db8::1",
    "discard-only": "100::1",
    # IPv6 carrying a private IPv4
    "IPv4-mapped loopback": "::ffff:127.0.0.1",
    "IPv4-mapped metadata": "::ffff:169.254.169.254",
    "IPv4-translated (SIIT) private": "::ffff:0:10.0.0.1",
    "IPv4-compatible loopback": "::127.0.0.1",
    "IPv4-compatible private": "::192.168.1.1",
    "NAT64 loopback": "64:ff9b::127.0.0.1",
    "NAT64 private": "64:ff9b::10.0.0.1",
    "NAT64 metadata": "64:ff9b::a9fe:a9fe",
    "local-use NAT64, even around a public IPv4": "64:ff9b:1::808:808",
    "6to4 around loopback": "2002:7f00:1::1",
    "6to4 around private": "2002:c0a8:101::1",
    "Teredo with a private client": "2001:0:4136:e378:8000:63bf:f5ff:fefe",  # client 10.0.1.1
    "Teredo with a private server": "2001:0:a00:1:8000:63bf:f7f7:f7f7",  # server 10.0.0.1
    "Teredo with a documentation client": "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # client 192.0.2.45
}

ALLOWED = {
    "public IPv4": "93.184.215.14",
    "public IPv6": "2606:4700:4700::1111",
    "IPv4-mapped public": "::ffff:8.8.8.8",
    "IPv4-compatible public": "::8.8.8.8",
    "NAT64 public": "64:ff9b::8.8.8.8",
    "6to4 around public": "2002:808:808::1",
    "Teredo with public server and client": "2001:0:4136:e378:8000:63bf:f7f7:f7f7",  # client 8.8.8.8
}


@pytest.mark.parametrize("address", REFUSED.values(), ids=REFUSED.keys())
def test_refused_address_classes(address: str) -> None:
    assert refusal_reason(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ALLOWED.values(), ids=ALLOWED.keys())
def test_allowed_address_classes(address: str) -> None:
    assert refusal_reason(ipaddress.ip_address(address)) is None


def test_the_reason_names_the_embedded_ipv4() -> None:
    reason = refusal_reason(ipaddress.ip_address("64:ff9b::7f00:1"))
    assert reason is not None
    assert "IPv4 127.0.0.1 inside the IPv6 address" in reason


@pytest.mark.parametrize(
    "url",
    [
        "http://[::ffff:127.0.0.1]:8080/replay",
        "http://[64:ff9b::7f00:1]/replay",
        "http://[2002:a9fe:a9fe::1]/latest/meta-data",
        "http://[::10.0.0.1]/replay",
        "https://[fe80::1%25eth0]/replay",
    ],
)
async def test_ipv6_literals_embedding_private_ipv4_are_refused(url: str) -> None:
    with pytest.raises(UnsafeReplayUrlError):
        await check_replay_url(url, allow_private=False)


def _resolving_to(*answers: str) -> tuple[list[str], Resolver]:
    asked: list[str] = []

    async def resolver(host: str, port: int) -> list[IpAddress]:
        asked.append(f"{host}:{port}")
        return [ipaddress.ip_address(answer) for answer in answers]

    return asked, resolver


async def test_every_resolved_address_is_checked() -> None:
    asked, resolver = _resolving_to("93.184.215.14", "2606:4700:4700::1111", "::ffff:10.0.0.7")
    with pytest.raises(UnsafeReplayUrlError) as caught:
        await check_replay_url("https://replay.example.com/x", allow_private=False, resolver=resolver)
    assert "IPv4 10.0.0.7" in str(caught.value)
    assert asked == ["replay.example.com:443"]


async def test_a_host_with_only_public_addresses_passes_and_returns_them() -> None:
    asked, resolver = _resolving_to("93.184.215.14", "2606:4700:4700::1111")
    addresses = await check_replay_url(
        "http://replay.example.com:8080/x",
        allow_private=False,
        resolver=resolver,
    )
    assert [str(a) for a in addresses] == ["93.184.215.14", "2606:4700:4700::1111"]
    assert asked == ["replay.example.com:8080"]


async def test_allowing_private_targets_skips_resolution_at_write_time() -> None:
    asked, resolver = _resolving_to("10.0.0.1")
    assert await check_replay_url("http://replay.internal/x", allow_private=True, resolver=resolver) == []
    assert asked == []


@pytest.mark.parametrize("url", ["ftp://example.com/x", "http:///nohost", "http://[::1/x", "not a url"])
async def test_malformed_urls_are_refused(url: str) -> None:
    with pytest.raises(UnsafeReplayUrlError):
        await check_replay_url(url, allow_private=True)
