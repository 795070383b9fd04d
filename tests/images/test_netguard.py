"""The URL-import address policy: every spelling of a non-public address is refused."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imgpro.images.netguard import (
    Host,
    Refused,
    check_host,
    is_public,
    parse_host,
    parse_legacy_ipv4,
    refusal,
)

NON_PUBLIC_V4 = [
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
]
NON_PUBLIC_V6 = [
    "::/128",
    "::1/128",
    "::/96",
    "64:ff9b:1::/48",
    "100::/64",
    "2001::/32",
    "2001:2::/48",
    "2001:db8::/32",
    "3fff::/20",
    "fc00::/7",
    "fe80::/10",
    "fec0::/10",
    "ff00::/8",
]
PUBLIC = ["8.8.8.8", "1.1.1.1", "93.184.215.14", "2606:4700:4700::1111", "2a00:1450:4001::200e"]
FULLWIDTH = str.maketrans("0123456789abcdefxX.", "０１２３４５６７８９ａｂｃｄｅｆｘＸ。")


def addresses_in(networks: list[str]) -> st.SearchStrategy:
    def pick(net_text: str) -> st.SearchStrategy:
        net = ip_network(net_text)
        first = int(net.network_address)
        return st.integers(first, first + net.num_addresses - 1).map(
            lambda n: ip_address(n) if net.version == 4 else IPv6Address(n)
        )

    return st.sampled_from(networks).flatmap(pick)


@st.composite
def number(draw: st.DrawFn, value: int) -> str:
    """One inet_aton number: decimal, octal or hex, with leading zeros and any case."""
    style = draw(st.sampled_from(["dec", "oct", "hex"]))
    if style == "dec" or (style == "oct" and value == 0 and draw(st.booleans())):
        return str(value)
    zeros = "0" * draw(st.integers(0, 3))
    if style == "oct":
        return "0" + zeros + format(value, "o")
    digits = format(value, draw(st.sampled_from(["x", "X"])))
    return draw(st.sampled_from(["0x", "0X"])) + zeros + digits


@st.composite
def legacy_spelling(draw: st.DrawFn, ip: IPv4Address) -> str:
    """A legacy IPv4 spelling of ``ip``: 1 to 4 parts, the last filling the remaining bytes."""
    octets = ip.packed
    count = draw(st.integers(1, 4))
    values = list(octets[: count - 1]) + [int.from_bytes(octets[count - 1 :], "big")]
    text = ".".join(draw(number(value)) for value in values)
    if draw(st.booleans()):
        text += "."
    if draw(st.integers(0, 4)) == 0:
        text = text.translate(FULLWIDTH)
    return text


@st.composite
def ipv6_wrapping(draw: st.DrawFn, ip: IPv4Address) -> str:
    """``ip`` inside an IPv6 literal: mapped, compatible, NAT64 or 6to4, in a few notations."""
    high, low = divmod(int(ip), 1 << 16)
    forms = [
        f"::ffff:{ip}",
        f"::ffff:{high:x}:{low:x}",
        f"0:0:0:0:0:FFFF:{ip}",
        f"::{ip}",
        f"64:ff9b::{ip}",
        f"64:FF9B:0:0:0:0:{high:x}:{low:x}",
        f"64:ff9b:1::{ip}",
        f"2002:{high:x}:{low:x}::1",
    ]
    return f"[{draw(st.sampled_from(forms))}]"


@given(addresses_in(NON_PUBLIC_V4).flatmap(lambda ip: st.tuples(st.just(ip), legacy_spelling(ip))))
def test_every_legacy_spelling_of_a_non_public_ipv4_is_refused(case) -> None:
    ip, spelling = case
    parsed = parse_host(spelling)
    assert parsed == Host(name=str(ip), ip=ip)
    assert isinstance(check_host(spelling), Refused)


@given(addresses_in(NON_PUBLIC_V4).flatmap(ipv6_wrapping))
def test_ipv6_forms_embedding_a_non_public_ipv4_are_refused(spelling: str) -> None:
    assert isinstance(check_host(spelling), Refused)


@given(addresses_in(NON_PUBLIC_V6))
def test_non_public_ipv6_is_refused(ip: IPv6Address) -> None:
    assert not is_public(ip)
    assert isinstance(check_host(f"[{ip}]"), Refused)
    assert isinstance(check_host(f"[{ip.exploded.upper()}]"), Refused)


@given(
    st.sampled_from(PUBLIC).map(ip_address).flatmap(lambda ip: st.tuples(st.just(ip), st.data()))
)
def test_public_addresses_are_allowed_in_any_spelling(case) -> None:
    ip, data = case
    spelling = f"[{ip}]" if ip.version == 6 else data.draw(legacy_spelling(ip))
    assert is_public(ip)
    assert check_host(spelling) == Host(name=f"[{ip}]" if ip.version == 6 else str(ip), ip=ip)


@given(st.ip_addresses())
def test_public_means_globally_reachable_for_the_stdlib_too(ip) -> None:
    if is_public(ip):
        assert ip.is_global and not ip.is_multicast


@given(st.text())
def test_arbitrary_hosts_parse_or_are_refused_with_a_reason(raw: str) -> None:
    verdict = check_host(raw)
    if isinstance(verdict, Refused):
        assert verdict.reason
    else:
        assert verdict.name.isascii() and verdict.name
        assert verdict.ip is None or is_public(verdict.ip)


@pytest.mark.parametrize(
    ("spelling", "address"),
    [
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("0x7f.0.0x0.01", "127.0.0.1"),
        ("127.0.0.1.", "127.0.0.1"),
        ("0x", "0.0.0.0"),
        ("１２７。０。０。１", "127.0.0.1"),
    ],
)
def test_legacy_ipv4_spellings(spelling: str, address: str) -> None:
    assert parse_host(spelling) == Host(name=address, ip=IPv4Address(address))


@pytest.mark.parametrize(
    "raw", ["256.0.0.1", "1.2.3.4.5", "08.0.0.1", "4294967296", "1.2.65536", "foo.127", "a..b", ""]
)
def test_malformed_numeric_hosts_are_refused(raw: str) -> None:
    assert isinstance(parse_host(raw), Refused)
    assert parse_legacy_ipv4(raw) is None


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("Example.COM.", "example.com"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("cdn_1.example.org", "cdn_1.example.org"),
        ("[::FFFF:127.0.0.1]", "[::ffff:7f00:1]"),
    ],
)
def test_host_names_are_normalised(raw: str, name: str) -> None:
    parsed = parse_host(raw)
    assert isinstance(parsed, Host) and parsed.name == name


@pytest.mark.parametrize(
    "raw", ["ex ample.com", "-bad.example", "a/b", "[::1", "::1", "[fe80::1%eth0]"]
)
def test_invalid_host_names_are_refused(raw: str) -> None:
    assert isinstance(check_host(raw), Refused)


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("169.254.169.254", False),
        ("255.255.255.255", False),
        ("64:ff9b::8.8.8.8", True),
        ("64:ff9b::10.0.0.1", False),
        ("2002:808:808::1", True),
        ("2002:a9fe:a9fe::1", False),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False),
        ("::8.8.8.8", False),
        ("::ffff:8.8.8.8", True),
    ],
)
def test_embedded_ipv4_decides(address: str, public: bool) -> None:
    assert is_public(ip_address(address)) is public


def test_refusals_name_the_reason() -> None:
    verdict = check_host("0x7f000001")
    assert isinstance(verdict, Refused)
    assert "127.0.0.1 is loopback" in verdict.reason
    assert "only public addresses can be imported" in verdict.reason
    assert "embeds 169.254.169.254" in (refusal(ip_address("::ffff:169.254.169.254")) or "")


def test_allow_networks_is_an_exact_escape_hatch() -> None:
    allowed = [ip_network("127.0.0.2/32")]
    assert refusal(ip_address("127.0.0.2"), allowed) is None
    assert refusal(ip_address("127.0.0.1"), allowed) is not None
    assert refusal(ip_address("::ffff:127.0.0.2"), allowed) is not None
    assert check_host("127.0.0.2", allowed) == Host(name="127.0.0.2", ip=ip_address("127.0.0.2"))
