"""Downloading an image from a user-supplied URL without reaching private networks (SSRF).

Every hop is parsed and checked from scratch: http(s) only, no userinfo, a host that
:mod:`imgpro.images.netguard` accepts, and every address the name resolves to public. The
request then goes to one of exactly those addresses, so the HTTP library never looks the name
up again (DNS rebinding). Redirects are followed here, not by httpx, so each hop is checked.
Whether the body is an image is for the caller to decide.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from ipaddress import ip_address
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import httpx

from imgpro.errors import ApiError, invalid
from imgpro.images.netguard import (
    Host,
    IPAddress,
    IPNetwork,
    Refused,
    check_host,
    refusal,
)
from imgpro.logs import log
from imgpro.units import size_text

Resolver = Callable[[str, int], Awaitable[list[str]]]

USER_AGENT = "imgpro-fetch/1"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_URL_LENGTH = 8192


@dataclass(frozen=True)
class Fetched:
    """A downloaded URL: where its bytes are and what the final response said about them."""

    path: Path  # the downloaded bytes
    filename: str  # last path segment of the final URL, or "" when none
    content_type: str | None
    bytes: int


class _UrlRefused(Exception):
    """A URL that may not be fetched; ``message`` is for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class _Target:
    """One checked hop: where to connect and what to say to the server."""

    scheme: str
    host: Host
    port: int
    path: str  # path and query, starting with "/"

    @property
    def url(self) -> str:
        """The URL as the user would write it; relative redirects resolve against it."""
        return f"{self.scheme}://{self.host_header}{self.path}"

    @property
    def host_header(self) -> str:
        default = DEFAULT_PORTS[self.scheme] == self.port
        return self.host.name if default else f"{self.host.name}:{self.port}"

    def url_to(self, ip: IPAddress) -> str:
        literal = f"[{ip.compressed}]" if ip.version == 6 else str(ip)
        return f"{self.scheme}://{literal}:{self.port}{self.path}"


async def resolve(host: str, port: int) -> list[str]:
    """The system resolver: every address ``host`` resolves to, as text."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


async def fetch_to_file(
    url: str,
    dest: Path,
    *,
    max_bytes: int,
    timeout: float = 30.0,
    max_redirects: int = 5,
    allow_networks: Sequence[IPNetwork] = (),
    resolver: Resolver | None = None,
) -> Fetched:
    """Download ``url`` into ``dest``, refusing private addresses on every hop.

    Raises ``invalid("url", ...)`` for URLs that may not be fetched or bodies over
    ``max_bytes``, and ``ApiError("fetch_failed")`` for sources that fail: 502 when the source
    answered with an error or could not be reached, 504 when it did not answer in time.
    ``dest`` is removed on any failure. ``allow_networks`` lets an operator (or a test)
    reach addresses that are not public.
    """
    try:
        async with asyncio.timeout(timeout):
            return await _fetch(
                url, dest, max_bytes, timeout, max_redirects, allow_networks, resolver or resolve
            )
    except BaseException as error:
        dest.unlink(missing_ok=True)
        if isinstance(error, TimeoutError | httpx.TimeoutException):
            raise ApiError(
                "fetch_failed",
                f"The URL did not answer within {timeout:g} seconds; "
                "check that it is reachable, or download the image and upload it.",
                status=504,
            ) from None
        raise


async def _fetch(
    url: str,
    dest: Path,
    max_bytes: int,
    timeout: float,
    max_redirects: int,
    allow_networks: Sequence[IPNetwork],
    resolver: Resolver,
) -> Fetched:
    for hop in range(max_redirects + 1):
        try:
            target = _parse(url, allow_networks)
            addresses = await _resolve_checked(target, resolver, allow_networks)
        except _UrlRefused as refused:
            prefix = f"The URL redirects to {url[:200]}. " if hop else ""
            raise invalid("url", prefix + refused.message) from None
        # one client per hop: no cookies carried over, no pooled connection verified for
        # another host name
        async with httpx.AsyncClient(trust_env=False, timeout=timeout) as client:
            response = await _send(client, target, addresses)
            try:
                if response.status_code not in REDIRECT_STATUSES:
                    return await _save(response, target, dest, max_bytes)
                location = response.headers.get("location")
                if not location:
                    raise _failed_status(response)
            finally:
                await response.aclose()
        url = urljoin(target.url, location.strip())
    raise ApiError(
        "fetch_failed",
        f"The URL redirects more than {max_redirects} times; "
        "import the final address of the image instead.",
    )


async def check_url(
    url: str, allow_networks: Sequence[IPNetwork] = (), resolver: Resolver | None = None
) -> None:
    """Refuse, as for an import, a URL that names or resolves to a non-public address:
    ``invalid("url", ...)``, or ``ApiError("fetch_failed")`` when its host is not found."""
    try:
        await _resolve_checked(_parse(url, allow_networks), resolver or resolve, allow_networks)
    except _UrlRefused as refused:
        raise invalid("url", refused.message) from None


async def post(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    timeout: float,
    allow_networks: Sequence[IPNetwork] = (),
    resolver: Resolver | None = None,
) -> int:
    """POST ``body`` to ``url`` under the import address policy, checked again now (DNS may have
    changed); the answer's status. One hop: a redirect is an answer, not followed. Raises
    ``invalid("url")`` for a refused address and ``ApiError("fetch_failed")`` (504 on timeout)
    when there is no answer; the message says why."""
    try:
        async with asyncio.timeout(timeout):
            try:
                target = _parse(url, allow_networks)
                addresses = await _resolve_checked(target, resolver or resolve, allow_networks)
            except _UrlRefused as refused:
                raise invalid("url", refused.message) from None
            async with httpx.AsyncClient(trust_env=False, timeout=timeout) as client:
                response = await _send(client, target, addresses, "POST", headers, body)
                await response.aclose()  # the status is the answer; the body is not read
                return response.status_code
    except (TimeoutError, httpx.TimeoutException):
        raise ApiError(
            "fetch_failed", f"No answer within {timeout:g} seconds.", status=504
        ) from None


def _parse(url: str, allow_networks: Sequence[IPNetwork]) -> _Target:
    if not url or len(url) > MAX_URL_LENGTH:
        raise _UrlRefused(f"Give an http or https URL of at most {MAX_URL_LENGTH} characters.")
    if any(ord(char) <= 0x20 or ord(char) == 0x7F or char == "\\" for char in url):
        raise _UrlRefused(
            "The URL contains spaces, control characters or backslashes; percent-encode them."
        )
    try:
        parts = urlsplit(url)
    except ValueError:
        raise _UrlRefused("This is not a valid URL; give an http or https URL.") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise _UrlRefused("Only http and https URLs can be imported.")
    netloc = parts.netloc
    if not netloc:
        raise _UrlRefused("The URL has no host; give a URL like https://example.com/image.jpg.")
    if "@" in netloc:
        raise _UrlRefused(
            "URLs with a user name or password cannot be imported; remove the 'user@' part."
        )
    raw_host, port = _split_host_port(netloc, DEFAULT_PORTS[scheme])
    host = check_host(raw_host, allow_networks)
    if isinstance(host, Refused):
        raise _UrlRefused(host.reason)
    path = parts.path or "/"
    if not path.startswith("/"):
        raise _UrlRefused("This is not a valid URL; give an http or https URL.")
    return _Target(scheme, host, port, f"{path}?{parts.query}" if parts.query else path)


def _split_host_port(netloc: str, default_port: int) -> tuple[str, int]:
    if netloc.startswith("["):
        end = netloc.find("]")
        raw_host, rest = netloc[: end + 1], netloc[end + 1 :]
        if end < 0 or (rest and not rest.startswith(":")):
            raise _UrlRefused("The URL's IPv6 address is not written as [address].")
        port_text = rest[1:]
    else:
        raw_host, _, port_text = netloc.partition(":")
    if not port_text:
        return raw_host, default_port
    if not (port_text.isascii() and port_text.isdigit()) or not 0 < int(port_text) < 65536:
        raise _UrlRefused("The URL's port must be a number between 1 and 65535.")
    return raw_host, int(port_text)


async def _resolve_checked(
    target: _Target, resolver: Resolver, allow_networks: Sequence[IPNetwork]
) -> list[IPAddress]:
    if target.host.ip is not None:
        return [target.host.ip]  # check_host already refused non-public literals
    name = target.host.name
    try:
        answers = await resolver(name, target.port)
    except OSError:
        answers = []
    if not answers:
        raise ApiError("fetch_failed", f"The host {name} could not be found; check the URL.")
    addresses: list[IPAddress] = []
    for answer in answers:
        try:
            address = ip_address(answer)
        except ValueError:
            raise _UrlRefused(f"The host {name} resolves to an unusable address.") from None
        reason = refusal(address, allow_networks)
        if reason is not None:
            # say only that it is not public: where a name points inside our network is not
            # the caller's to map; the operator's log has the address
            log.info("import_refused", host=name, reason=reason)
            raise _UrlRefused(
                f"The host {name} does not resolve to a public address; "
                "only public addresses can be imported."
            )
        if address not in addresses:
            addresses.append(address)
    return addresses


async def _send(
    client: httpx.AsyncClient,
    target: _Target,
    addresses: list[IPAddress],
    method: str = "GET",
    sent_headers: Mapping[str, str] | None = None,
    content: bytes | None = None,
) -> httpx.Response:
    headers = {
        "Host": target.host_header,
        **(
            sent_headers
            or {
                "User-Agent": USER_AGENT,
                "Accept": "image/*, */*;q=0.5",
                "Accept-Encoding": "identity",  # count the bytes as sent; no decompression bombs
            }
        ),
    }
    # connect to the checked IP literal, never the name (DNS rebinding); the Host header
    # and sni_hostname keep virtual hosting, SNI and certificate checks on the name
    extensions = {"sni_hostname": target.host.name} if target.host.ip is None else {}
    failure: httpx.HTTPError | None = None
    for address in addresses:
        request = httpx.Request(
            method, target.url_to(address), headers=headers, content=content, extensions=extensions
        )
        try:
            return await client.send(request, stream=True, follow_redirects=False)
        except httpx.ConnectError as error:
            failure = error
        except httpx.TimeoutException:
            raise
        except httpx.HTTPError as error:
            raise ApiError(
                "fetch_failed",
                f"The server at {target.host.name} sent an invalid response ({error}); "
                "check the URL or try again later.",
            ) from None
    raise ApiError(
        "fetch_failed",
        f"Could not connect to {target.host.name} ({failure}); "
        "check that the URL is reachable from the internet.",
    )


def _failed_status(response: httpx.Response) -> ApiError:
    status = f"{response.status_code} {response.reason_phrase}".strip()
    if response.status_code in REDIRECT_STATUSES:
        detail = f"a redirect ({status}) without a Location"
    else:
        detail = f"HTTP {status}"
    return ApiError(
        "fetch_failed",
        f"The URL answered with {detail}; check that the image is publicly accessible.",
    )


async def _save(response: httpx.Response, target: _Target, dest: Path, max_bytes: int) -> Fetched:
    if not 200 <= response.status_code < 300:
        raise _failed_status(response)
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)
    received = 0
    with dest.open("wb") as file:
        async for chunk in response.aiter_raw():
            received += len(chunk)
            if received > max_bytes:
                raise _too_large(max_bytes)
            file.write(chunk)
    return Fetched(
        path=dest,
        filename=_filename(target.path),
        content_type=response.headers.get("content-type"),
        bytes=received,
    )


def _filename(path: str) -> str:
    """The decoded last path segment, with no separators or control characters left."""
    segment = unquote(path.split("?", 1)[0].rsplit("/", 1)[-1])
    segment = segment.replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(char for char in segment if char.isprintable())


def _too_large(max_bytes: int) -> ApiError:
    return invalid(
        "url",
        f"The file at this URL is larger than {size_text(max_bytes)}; "
        "import a smaller image or resize it first.",
    )
