"""URL import against real local HTTP servers: the happy path, redirects, limits and SSRF."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from ipaddress import ip_network
from pathlib import Path

import pytest

from imgpro.errors import ApiError
from imgpro.images.fetch import Fetched, fetch_to_file

ALLOWED = [ip_network("127.0.0.2/32")]
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 2000

Route = Callable[[asyncio.StreamWriter], Awaitable[None]]


@dataclass
class Served:
    """One request a local server saw."""

    target: str
    headers: dict[str, str]


@dataclass
class LocalServer:
    """A tiny HTTP/1.1 server on a loopback address; routes map a path to a responder."""

    host: str
    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[Served] = field(default_factory=list)
    connections: int = 0
    port: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: set[asyncio.Task] = field(default_factory=set)

    @property
    def origin(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def reply(self, path: str, status: int = 200, body: bytes = b"", **headers: str) -> None:
        async def respond(writer: asyncio.StreamWriter) -> None:
            await send(writer, status, body, headers)

        self.routes[path] = respond

    def redirect(self, path: str, location: str, status: int = 302) -> None:
        self.reply(path, status, b"", Location=location)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._tasks.add(asyncio.current_task())  # type: ignore[arg-type]
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            request_line, *lines = head.split("\r\n")
            headers = dict(line.split(": ", 1) for line in lines if ": " in line)
            target = request_line.split(" ")[1]
            self.requests.append(Served(target, {k.lower(): v for k, v in headers.items()}))
            route = self.routes.get(target)
            if route is None:
                await send(writer, 404, b"not here", {})
            else:
                await route(writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
            self._tasks.discard(asyncio.current_task())  # type: ignore[arg-type]


async def send(writer: asyncio.StreamWriter, status: int, body: bytes, headers: dict) -> None:
    lines = [f"HTTP/1.1 {status} Whatever", f"Content-Length: {len(body)}", "Connection: close"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    await writer.drain()


@contextlib.asynccontextmanager
async def serving(host: str) -> AsyncIterator[LocalServer]:
    local = LocalServer(host)
    server = await asyncio.start_server(local.handle, host, 0)
    local.port = server.sockets[0].getsockname()[1]
    try:
        yield local
    finally:
        local.release.set()
        server.close()
        await server.wait_closed()
        if local._tasks:
            await asyncio.gather(*local._tasks, return_exceptions=True)


@pytest.fixture
async def origin() -> AsyncIterator[LocalServer]:
    """The allowed image server on 127.0.0.2."""
    async with serving("127.0.0.2") as server:
        yield server


@pytest.fixture
async def trap() -> AsyncIterator[LocalServer]:
    """A server on 127.0.0.1 that no import may ever reach."""
    async with serving("127.0.0.1") as server:
        yield server


@pytest.fixture
async def trap6() -> AsyncIterator[LocalServer]:
    """A server on ::1 that no import may ever reach."""
    async with serving("::1") as server:
        yield server


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    return tmp_path / "download"


async def fetch(url: str, dest: Path, **options) -> Fetched:
    options.setdefault("max_bytes", 10_000)
    options.setdefault("allow_networks", ALLOWED)
    options.setdefault("timeout", 5.0)
    return await fetch_to_file(url, dest, **options)


async def refused(url: str, dest: Path, **options) -> str:
    """Fetch and expect a 422 validation error on "url"; return its message."""
    with pytest.raises(ApiError) as caught:
        await fetch(url, dest, **options)
    assert caught.value.code == "validation_error"
    assert caught.value.status == 422
    assert caught.value.details is not None
    [message] = caught.value.details["url"]
    return message


async def failed(url: str, dest: Path, status: int = 502, **options) -> str:
    """Fetch and expect fetch_failed: 502 (the source failed) unless told 504 (timed out)."""
    with pytest.raises(ApiError) as caught:
        await fetch(url, dest, **options)
    assert caught.value.code == "fetch_failed"
    assert caught.value.status == status
    return caught.value.message


def resolving(table: dict[str, list[str]]) -> Callable[[str, int], Awaitable[list[str]]]:
    async def resolver(host: str, port: int) -> list[str]:
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return table[host]

    return resolver


# -- the happy path


async def test_an_image_is_downloaded_to_dest(origin: LocalServer, dest: Path) -> None:
    origin.reply("/photos/cat%20one.png?size=large", body=PNG, Content_Type="image/png")

    fetched = await fetch(f"{origin.origin}/photos/cat%20one.png?size=large", dest)

    assert fetched == Fetched(
        path=dest, filename="cat one.png", content_type="image/png", bytes=len(PNG)
    )
    assert dest.read_bytes() == PNG
    [request] = origin.requests
    assert request.headers["user-agent"] == "imgpro-fetch/1"
    assert request.headers["host"] == f"127.0.0.2:{origin.port}"
    assert "cookie" not in request.headers and "authorization" not in request.headers


async def test_a_url_without_a_file_name_gives_an_empty_filename(
    origin: LocalServer, dest: Path
) -> None:
    origin.reply("/", body=PNG)

    fetched = await fetch(origin.origin, dest)

    assert fetched.filename == "" and fetched.content_type is None and fetched.bytes == len(PNG)


async def test_a_host_name_is_resolved_once_and_sent_as_host(
    origin: LocalServer, dest: Path
) -> None:
    origin.reply("/a.png", body=PNG)
    answers = [["127.0.0.2"], ["127.0.0.1"]]  # a rebinding resolver: public first, then not
    asked: list[tuple[str, int]] = []

    async def rebinding(host: str, port: int) -> list[str]:
        asked.append((host, port))
        return answers.pop(0)

    await fetch(f"http://Images.Example.:{origin.port}/a.png", dest, resolver=rebinding)

    assert asked == [("images.example", origin.port)]
    assert origin.requests[0].headers["host"] == f"images.example:{origin.port}"


async def test_redirects_are_followed_up_to_the_limit(origin: LocalServer, dest: Path) -> None:
    origin.redirect("/hop0", "/hop1", status=307)
    origin.redirect("/hop1", f"{origin.origin}/hop2", status=301)
    origin.redirect("/hop2", "hop3", status=303)
    origin.redirect("/hop3", f"//127.0.0.2:{origin.port}/hop4", status=308)
    origin.redirect("/hop4", "/final/img.png")
    origin.reply("/final/img.png", body=PNG)

    fetched = await fetch(f"{origin.origin}/hop0", dest, max_redirects=5)

    assert fetched.filename == "img.png" and dest.read_bytes() == PNG
    assert [r.target for r in origin.requests] == [f"/hop{n}" for n in range(5)] + [
        "/final/img.png"
    ]


async def test_cookies_set_on_a_redirect_are_not_sent_on(origin: LocalServer, dest: Path) -> None:
    origin.reply("/login", 302, Location="/img.png", Set_Cookie="session=secret; Path=/")
    origin.reply("/img.png", body=PNG)

    await fetch(f"{origin.origin}/login", dest)

    assert "cookie" not in origin.requests[1].headers


# -- redirects that are refused


async def test_six_redirects_are_too_many(origin: LocalServer, dest: Path) -> None:
    for hop in range(6):
        origin.redirect(f"/hop{hop}", f"/hop{hop + 1}")
    origin.reply("/hop6", body=PNG)

    message = await failed(f"{origin.origin}/hop0", dest)

    assert "more than 5 times" in message
    assert len(origin.requests) == 6 and not dest.exists()


@pytest.mark.parametrize(
    "location",
    ["http://127.0.0.1:{trap}/", "http://2130706433:{trap}/", "http://[::1]:{trap6}/"],
)
async def test_a_redirect_to_a_private_address_is_refused(
    origin: LocalServer, trap: LocalServer, trap6: LocalServer, dest: Path, location: str
) -> None:
    origin.redirect("/go", location.format(trap=trap.port, trap6=trap6.port))

    message = await refused(f"{origin.origin}/go", dest)

    assert message.startswith("The URL redirects to ")
    assert "private or reserved address" in message
    assert "only public addresses can be imported" in message
    assert trap.connections == 0 and trap6.connections == 0


async def test_a_redirect_to_another_scheme_is_refused(origin: LocalServer, dest: Path) -> None:
    origin.redirect("/go", "file:///etc/passwd")

    assert "Only http and https" in await refused(f"{origin.origin}/go", dest)


# -- size limits


async def test_a_declared_length_over_the_limit_is_refused_before_reading(
    origin: LocalServer, dest: Path
) -> None:
    origin.reply("/big.png", body=b"x" * 20_000)

    message = await refused(f"{origin.origin}/big.png", dest, max_bytes=10_000)

    assert message.startswith("The file at this URL is larger than 9.8 KB")
    assert not dest.exists()


async def test_a_chunked_body_growing_past_the_limit_is_cut_off(
    origin: LocalServer, dest: Path
) -> None:
    sent: list[int] = []

    async def endless(writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"y" * 4096
        while not origin.release.is_set() and sum(sent) < 10_000_000:
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            await writer.drain()
            sent.append(len(chunk))
            await asyncio.sleep(0)

    origin.routes["/stream"] = endless

    message = await refused(f"{origin.origin}/stream", dest, max_bytes=1024 * 1024)

    assert message.startswith("The file at this URL is larger than 1 MB")
    assert not dest.exists()
    assert sum(sent) < 10_000_000  # stopped reading long before the server gave up


async def test_a_body_of_exactly_max_bytes_is_accepted(origin: LocalServer, dest: Path) -> None:
    origin.reply("/exact.png", body=b"z" * 10_000)

    assert (await fetch(f"{origin.origin}/exact.png", dest, max_bytes=10_000)).bytes == 10_000


# -- sources that fail


async def test_a_404_is_a_fetch_failure_naming_the_status(origin: LocalServer, dest: Path) -> None:
    message = await failed(f"{origin.origin}/missing.png", dest)

    assert "HTTP 404" in message and not dest.exists()


async def test_a_server_that_never_answers_times_out(origin: LocalServer, dest: Path) -> None:
    async def silent(writer: asyncio.StreamWriter) -> None:
        await origin.release.wait()

    origin.routes["/slow.png"] = silent
    started = asyncio.get_running_loop().time()

    message = await failed(f"{origin.origin}/slow.png", dest, status=504, timeout=0.5)

    assert "did not answer within 0.5 seconds" in message
    assert asyncio.get_running_loop().time() - started < 3


async def test_a_closed_port_is_a_fetch_failure(dest: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.2", 0))
        port = probe.getsockname()[1]

    assert "Could not connect" in await failed(f"http://127.0.0.2:{port}/", dest)


async def test_an_unknown_host_is_a_fetch_failure(dest: Path) -> None:
    message = await failed("http://nowhere.example/a.png", dest, resolver=resolving({}))

    assert "could not be found" in message


# -- hosts that resolve to private addresses


async def test_a_name_resolving_to_loopback_is_refused(trap: LocalServer, dest: Path) -> None:
    resolver = resolving({"evil.example": ["127.0.0.1"]})

    message = await refused(f"http://evil.example:{trap.port}/", dest, resolver=resolver)

    # only that it is not public: where a name points inside our network is not the caller's
    assert message == (
        "The host evil.example does not resolve to a public address; "
        "only public addresses can be imported."
    )
    assert trap.connections == 0


async def test_one_private_address_among_public_ones_is_refused(
    trap: LocalServer, dest: Path
) -> None:
    resolver = resolving({"mixed.example": ["93.184.215.14", "127.0.0.1"]})

    message = await refused(f"http://mixed.example:{trap.port}/", dest, resolver=resolver)
    assert "not resolve to a public address" in message
    assert "127.0.0.1" not in message and "loopback" not in message
    assert trap.connections == 0


async def test_localhost_is_refused_after_real_resolution(trap: LocalServer, dest: Path) -> None:
    message = await refused(f"http://localhost:{trap.port}/", dest)

    assert "localhost does not resolve to a public address" in message
    assert "127.0.0.1" not in message and "::1" not in message
    assert trap.connections == 0


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "0.0.0.0",
        "10.0.0.1",
        "100.64.0.1",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "2130706433",
        "0x7f000001",
        "169.254.169.254",
        "127.1",
    ],
)
async def test_private_addresses_are_refused_without_connecting(
    trap: LocalServer, trap6: LocalServer, dest: Path, host: str
) -> None:
    async def no_lookups(host: str, port: int) -> list[str]:
        raise AssertionError("IP literals are never looked up")

    port = trap6.port if host == "[::1]" else trap.port

    message = await refused(f"http://{host}:{port}/latest/meta-data/", dest, resolver=no_lookups)

    assert "only public addresses can be imported" in message
    assert trap.connections == 0 and trap6.connections == 0


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("ftp://example.com/a.png", "Only http and https"),
        ("file:///etc/passwd", "Only http and https"),
        ("http://user:pw@example.com/a.png", "user name or password"),
        ("http://@example.com/", "user name or password"),
        ("not a url", "spaces"),
        ("example.com/a.png", "Only http and https"),
        ("http:///a.png", "no host"),
        ("http://example.com:99999/", "port"),
        ("http://[::1/", "not a valid URL"),
        ("http://[::1]x/", "IPv6"),
        ("http://exa mple.com/", "spaces"),
        ("http://evil.com\\@127.0.0.1/", "backslashes"),
        ("", "http or https URL"),
    ],
)
async def test_malformed_urls_are_invalid(dest: Path, url: str, complaint: str) -> None:
    assert complaint in await refused(url, dest, resolver=resolving({}))


# -- https


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for images.example, made with the openssl command."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=images.example", "-addext", "subjectAltName=DNS:images.example",
         "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


async def test_https_sends_the_host_name_as_sni_to_the_pinned_address(
    self_signed: tuple[Path, Path], dest: Path
) -> None:
    server_names: list[str | None] = []
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*self_signed)
    context.sni_callback = lambda _socket, name, _context: server_names.append(name)
    local = LocalServer("127.0.0.2")
    server = await asyncio.start_server(local.handle, "127.0.0.2", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    try:
        message = await failed(
            f"https://images.example:{port}/a.png",
            dest,
            resolver=resolving({"images.example": ["127.0.0.2"]}),
        )
    finally:
        server.close()
        await server.wait_closed()

    assert server_names == ["images.example"]
    assert "certificate" in message.lower()  # verified against the name, and untrusted
    assert local.requests == []
