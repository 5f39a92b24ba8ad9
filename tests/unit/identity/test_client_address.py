"""The client address behind (or without) reverse proxies, and the SPECTRAL_TRUSTED_PROXIES setting."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from pydantic import ValidationError

from spectral.platform.identity.client_address import client_source
from spectral.platform.shared.settings import Environment, Settings

PROXIES = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("2001:db8:ffff::/48")]


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "expected"),
    [
        # No proxy trusted for this peer: the header is whatever the client wrote, ignored.
        ("203.0.113.5", ["198.51.100.1"], "203.0.113.5"),
        # A trusted proxy: the hop it appended is the client.
        ("10.0.0.2", ["198.51.100.1"], "198.51.100.1"),
        # Forged hops on the left are never read; trusted hops on the right are skipped.
        ("10.0.0.2", ["1.2.3.4, 198.51.100.1, 10.9.9.9"], "198.51.100.1"),
        # Several header lines are one list, in order.
        ("10.0.0.2", ["1.2.3.4", "198.51.100.1"], "198.51.100.1"),
        # Only trusted hops: the left-most of them is as far as anyone can tell.
        ("10.0.0.2", ["10.1.1.1, 10.2.2.2"], "10.1.1.1"),
        # A trusted proxy that sent no header is itself the client.
        ("10.0.0.2", [], "10.0.0.2"),
        # Garbage where the client should be: the last proxy's own peer is all we know.
        ("10.0.0.2", ["198.51.100.1, not-an-address, 10.3.3.3"], "10.3.3.3"),
        # Ports and brackets are dropped; IPv4-mapped IPv6 is IPv4.
        ("10.0.0.2", ["198.51.100.1:5123"], "198.51.100.1"),
        ("10.0.0.2", ["[2001:db8:1:2::9]:443"], "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.5", [], "203.0.113.5"),
        # IPv6 clients are one source per /64; an IPv6 proxy range is honoured too.
        ("2001:db8:1:2:aaaa::1", [], "2001:db8:1:2::/64"),
        ("2001:db8:ffff::1", ["2001:db8:7:7::1"], "2001:db8:7:7::/64"),
        # Not an IP peer at all (a Unix socket): one shared bucket, never an error.
        (None, ["198.51.100.1"], "unknown"),
        ("testclient", [], "unknown"),
    ],
)
def test_client_source(peer: str | None, forwarded_for: list[str], expected: str) -> None:
    assert client_source(peer, forwarded_for, PROXIES) == expected


def _settings(tmp_path: Path, proxies: str) -> Settings:
    return Settings(env=Environment.TEST, data_dir=tmp_path, trusted_proxies=proxies)


@pytest.mark.parametrize("text", ["10.0.0.0/8, 2001:db8::/32", '["10.0.0.0/8", "2001:db8::/32"]'])
def test_trusted_proxies_read_from_a_comma_list_or_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    monkeypatch.setenv("SPECTRAL_TRUSTED_PROXIES", text)
    settings = Settings(env=Environment.TEST, data_dir=tmp_path)
    assert settings.trusted_proxies == [
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("2001:db8::/32"),
    ]


def test_trusted_proxies_default_to_none(tmp_path: Path) -> None:
    assert Settings(env=Environment.TEST, data_dir=tmp_path).trusted_proxies == []


@pytest.mark.parametrize("text", ["10.0.0.1/8", "proxy.example.com"])
def test_a_wrong_trusted_proxy_refuses_to_start(tmp_path: Path, text: str) -> None:
    # 10.0.0.1/8 has host bits set: almost always a typo for a single address or a network.
    with pytest.raises(ValidationError):
        _settings(tmp_path, text)
