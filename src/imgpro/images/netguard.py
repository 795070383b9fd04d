"""Which hosts a URL import may reach: parsing URL hosts and the public-address policy.

Pure functions, no I/O. The fetcher (:mod:`imgpro.images.fetch`) parses the host with
:func:`check_host`, resolves hostnames itself, and asks :func:`refusal` about every address
before it connects.

Policy: IPv4 must lie outside every special-purpose block below. IPv6 must be global unicast
(2000::/3) and outside the special blocks inside it. Three IPv6 forms carry a recoverable IPv4
address and are judged by that address: IPv4-mapped ``::ffff:0:0/96``, 6to4 ``2002::/16`` and
well-known NAT64 ``64:ff9b::/96`` (DNS64 networks hand these out for every public site).
Refused outright, because their IPv4 is obfuscated, deprecated or locally defined:
IPv4-compatible ``::/96``, Teredo ``2001::/32`` and local-use NAT64 ``64:ff9b:1::/48``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_network

import idna

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network


def _blocks(*rows: tuple[str, str]) -> tuple[tuple[IPNetwork, str], ...]:
    return tuple((ip_network(net), reason) for net, reason in rows)


# IANA special-purpose registries; the first match names the reason.
IPV4_BLOCKED = _blocks(
    ("0.0.0.0/8", "unspecified ('this network')"),
    ("10.0.0.0/8", "private network"),
    ("100.64.0.0/10", "carrier-grade NAT shared space"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local, incl. cloud metadata"),
    ("172.16.0.0/12", "private network"),
    ("192.0.0.0/24", "IETF protocol assignment"),
    ("192.0.2.0/24", "documentation"),
    ("192.88.99.0/24", "deprecated 6to4 relay"),
    ("192.168.0.0/16", "private network"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation"),
    ("203.0.113.0/24", "documentation"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved or broadcast"),
)

IPV6_BLOCKED = _blocks(
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("::/96", "deprecated IPv4-compatible"),
    ("64:ff9b:1::/48", "local-use NAT64"),
    ("100::/64", "discard-only"),
    ("fc00::/7", "unique local (private network)"),
    ("fe80::/10", "link-local"),
    ("fec0::/10", "deprecated site-local"),
    ("ff00::/8", "multicast"),
    ("2001::/32", "Teredo tunnel"),
    ("2001:2::/48", "benchmarking"),
    ("2001::/23", "IETF protocol assignment"),
    ("2001:db8::/32", "documentation"),
    ("3fff::/20", "documentation"),
)

_GLOBAL_UNICAST = IPv6Network("2000::/3")
_IPV4_MAPPED = IPv6Network("::ffff:0:0/96")
_NAT64 = IPv6Network("64:ff9b::/96")
_SIX_TO_FOUR = IPv6Network("2002::/16")

_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_NUMBER = re.compile(r"(?:0[xX][0-9a-fA-F]*|[0-9]+)")


@dataclass(frozen=True)
class Host:
    """A URL host that parsed: a hostname to resolve, or an IP literal (in any spelling)."""

    name: str  # ASCII form for the Host header and TLS: IDNA hostname or canonical IP text
    ip: IPAddress | None  # set when the URL names an address, not a hostname


@dataclass(frozen=True)
class Refused:
    """Why a host may not be fetched, worded for the person who sent the URL."""

    reason: str


def embedded_ipv4(ip: IPv6Address) -> IPv4Address | None:
    """The IPv4 address carried by a mapped, NAT64 or 6to4 IPv6 address, else None."""
    if ip in _IPV4_MAPPED or ip in _NAT64:
        return IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _SIX_TO_FOUR:
        return IPv4Address((int(ip) >> 80) & 0xFFFFFFFF)
    return None


def why_not_public(ip: IPAddress) -> str | None:
    """Why ``ip`` is not a public address (e.g. "loopback"), or None when it is public."""
    if isinstance(ip, IPv4Address):
        return next((reason for net, reason in IPV4_BLOCKED if ip in net), None)
    inner = embedded_ipv4(ip)
    if inner is not None:
        inner_reason = why_not_public(inner)
        return f"embeds {inner}, {inner_reason}" if inner_reason else None
    if ip not in _GLOBAL_UNICAST:
        return next((reason for net, reason in IPV6_BLOCKED if ip in net), "reserved")
    return next((reason for net, reason in IPV6_BLOCKED if ip in net), None)


def is_public(ip: IPAddress) -> bool:
    """Whether ``ip`` is a globally reachable unicast address an import may connect to."""
    return why_not_public(ip) is None


def refusal(ip: IPAddress, allow_networks: Sequence[IPNetwork] = ()) -> str | None:
    """Why connecting to ``ip`` is refused, or None when it is public or operator-allowed."""
    if any(ip.version == net.version and ip in net for net in allow_networks):
        return None
    reason = why_not_public(ip)
    return None if reason is None else f"{ip} is {reason}"


def parse_legacy_ipv4(text: str) -> IPv4Address | None:
    """Parse the IPv4 spellings inet_aton and browsers accept, or None when ``text`` is not one.

    One to four dot-separated numbers, each decimal, octal (leading 0) or hex (0x); the last
    number fills the remaining bytes: ``2130706433``, ``0x7f000001``, ``0177.0.0.1``, ``127.1``.
    """
    parts = text.split(".")
    if not 1 <= len(parts) <= 4 or not all(_NUMBER.fullmatch(part) for part in parts):
        return None
    numbers = []
    for part in parts:
        if part[:2] in ("0x", "0X"):
            numbers.append(int(part[2:] or "0", 16))
        elif len(part) > 1 and part[0] == "0":
            if not set(part) <= set("01234567"):
                return None
            numbers.append(int(part, 8))
        else:
            numbers.append(int(part))
    *leading, last = numbers
    if any(n > 255 for n in leading) or last >= 256 ** (5 - len(numbers)):
        return None
    value = last
    for index, n in enumerate(leading):
        value += n << (8 * (3 - index))
    return IPv4Address(value)


def parse_host(raw: str) -> Host | Refused:
    """Normalise a URL host: bracketed IPv6, legacy IPv4 spellings, trailing dot, IDNA."""
    if raw.startswith("[") and raw.endswith("]"):
        try:
            ip6 = IPv6Address(raw[1:-1])
        except ValueError:
            return Refused(f"{raw} is not a valid IPv6 address.")
        if ip6.scope_id is not None:
            return Refused("IPv6 zone identifiers are not allowed in import URLs.")
        return Host(name=f"[{ip6.compressed}]", ip=ip6)
    try:
        mapped = idna.uts46_remap(raw, std3_rules=False, transitional=False)
    except (idna.IDNAError, ValueError):
        return Refused(f"{raw!r} is not a valid host name.")
    if mapped.endswith("."):
        mapped = mapped[:-1]
    labels = mapped.split(".")
    if _NUMBER.fullmatch(labels[-1]):
        # a host ending in a number is an IPv4 address or nothing, as for browsers
        ip4 = parse_legacy_ipv4(mapped)
        if ip4 is None:
            return Refused(f"{raw!r} is not a valid IPv4 address or host name.")
        return Host(name=str(ip4), ip=ip4)
    ascii_labels = []
    for label in labels:
        try:
            ascii_label = label if label.isascii() else idna.alabel(label).decode("ascii")
        except (idna.IDNAError, UnicodeError, ValueError):
            return Refused(f"{raw!r} is not a valid host name.")
        if not _LABEL.fullmatch(ascii_label):
            return Refused(f"{raw!r} is not a valid host name.")
        ascii_labels.append(ascii_label)
    name = ".".join(ascii_labels)
    if len(name) > 253:
        return Refused("The host name is longer than 253 characters.")
    return Host(name=name, ip=None)


def check_host(raw: str, allow_networks: Sequence[IPNetwork] = ()) -> Host | Refused:
    """Parse a URL host and refuse IP literals that are not public; never raises.

    A hostname passes here; its resolved addresses still have to pass :func:`refusal`.
    """
    try:
        host = parse_host(raw)
    except Exception:  # a host parser bug must refuse, never let an odd URL through
        return Refused(f"{raw!r} is not a valid host name.")
    if isinstance(host, Host) and host.ip is not None:
        reason = refusal(host.ip, allow_networks)
        if reason is not None:
            return Refused(private_address_message(raw, reason))
    return host


def private_address_message(host: str, reason: str) -> str:
    """The user-facing refusal for a host written as a non-public address (the caller wrote
    it, so naming its kind tells them nothing new; resolved names get no such detail)."""
    return (
        f"The host {host} resolves to a private or reserved address ({reason}); "
        "only public addresses can be imported."
    )
