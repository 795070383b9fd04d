"""How imgpro listens: one uvicorn configuration for `imgpro serve` and the tests' servers.

uvicorn's httptools protocol puts no limit on a request's header section and no deadline on
finishing it, so one client could hold memory (a 20 MB header) or sockets (slowloris: half a
header, then silence) at will. `GuardedHttpTools` adds both: a header section over
`max_header_bytes` is answered 431 and the connection closed; a connection that has not finished
its headers `header_timeout` seconds after opening, or after a request's first byte, is closed.
Bodies are not its concern (http.BodyLimit caps them, the routes read them)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from imgpro.errors import ApiError
from imgpro.settings import Settings


class ServerConfig(uvicorn.Config):
    """uvicorn's Config plus the header limits; a module-level class, so workers can unpickle it."""

    def __init__(self, app: Any, settings: Settings, **options: Any) -> None:
        super().__init__(
            app,
            http=GuardedHttpTools,
            ws="none",
            # imgpro reads X-Forwarded-For itself (http.client_ip): from the right, trusting
            # only IMGPRO_TRUSTED_PROXIES
            proxy_headers=False,
            **options,
        )
        self.max_header_bytes = settings.max_header_bytes
        self.header_timeout = settings.header_timeout


def serve(app: str, settings: Settings, *, workers: int, **options: Any) -> None:
    """uvicorn.run with our config: `app` is an import string, so workers can load it."""
    config = ServerConfig(app, settings, workers=workers, **options)
    server = uvicorn.Server(config)
    if config.workers > 1:
        from uvicorn.supervisors import Multiprocess

        Multiprocess(config, sockets=[config.bind_socket()]).run()
    else:
        config.load_app()
        server.run()
        if not server.started:
            raise SystemExit(3)  # uvicorn's STARTUP_FAILURE: e.g. production settings refused


class GuardedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol with a size limit and a deadline on each header section."""

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        assert isinstance(config, ServerConfig)
        self.max_header_bytes = config.max_header_bytes
        self.header_timeout = config.header_timeout
        # bytes received since the last request ended: the next header section's, until it ends
        self.reading_headers = True
        self.header_bytes = 0
        self.header_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self._start_header_clock()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_header_clock()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if not self.reading_headers:
            super().data_received(data)
            return
        # feed no more than the limit allows; if the headers end inside it, go on with the rest
        room = self.max_header_bytes - self.header_bytes
        self.header_bytes += min(len(data), room)
        if room > 0:
            super().data_received(data[:room])
        if len(data) <= room or self.transport.is_closing():
            return
        if self.reading_headers:
            self._refuse_large_headers()
        else:
            self.data_received(data[room:])

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self.header_deadline is None:
            self._start_header_clock()

    def on_headers_complete(self) -> None:
        self.reading_headers = False
        self._stop_header_clock()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self.reading_headers = True
        self.header_bytes = 0

    def _start_header_clock(self) -> None:
        self.header_deadline = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _stop_header_clock(self) -> None:
        if self.header_deadline is not None:
            self.header_deadline.cancel()
            self.header_deadline = None

    def _headers_too_slow(self) -> None:
        self.header_deadline = None
        if not self.transport.is_closing():
            self.transport.close()

    def _refuse_large_headers(self) -> None:
        self._stop_header_clock()
        limit_kb = self.max_header_bytes // 1024
        error = ApiError("headers_too_large", f"Send at most {limit_kb} KB of request headers.")
        body = json.dumps(error.envelope()).encode()
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"content-type: application/json\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\n"
            b"connection: close\r\n\r\n" + body
        )
        self.transport.close()
