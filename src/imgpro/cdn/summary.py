"""Answers summed into one log line a second instead of an access log line each."""

from __future__ import annotations

import asyncio

from imgpro.logs import log


class SummaryLog:
    """Answers logged as one `event` line per `every` seconds in which there were any, instead
    of a `request` line each (a JSON line per hit cost as much CPU as serving it): `cdn_hits`
    for the hits `HitPath` answers, `cdn_misses` for the misses `Misses` answers 200. The line
    counts the answers (`ok`, `not_modified`), the bytes sent and the mean and longest time
    in imgpro."""

    def __init__(self, event: str = "cdn_hits", every: float = 1.0) -> None:
        self.event = event
        self.every = every
        self._flush: asyncio.TimerHandle | None = None
        self._clear()

    def _clear(self) -> None:
        self.ok = self.not_modified = self.bytes = 0
        self.seconds = self.longest = 0.0

    def add(self, status: int, size: int, seconds: float) -> None:
        if status == 304:
            self.not_modified += 1
        else:
            self.ok += 1
        self.bytes += size
        self.seconds += seconds
        self.longest = max(self.longest, seconds)
        if self._flush is None:
            self._flush = asyncio.get_running_loop().call_later(self.every, self.flush)

    def flush(self) -> None:
        """Write the line for the answers so far (the timer does; so does shutdown)."""
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        count = self.ok + self.not_modified
        if count:
            log.info(
                self.event,
                ok=self.ok,
                not_modified=self.not_modified,
                bytes=self.bytes,
                ms_mean=round(self.seconds / count * 1000, 2),
                ms_max=round(self.longest * 1000, 1),
                every_s=self.every,
            )
        self._clear()
