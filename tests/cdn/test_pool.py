"""The render pool's process upkeep: a render process gives memory back only once it has grown."""

from __future__ import annotations

from imgpro.cdn import pool


def test_a_render_process_trims_only_past_the_slack() -> None:
    resident = pool._resident()
    assert resident is not None and resident > 0
    assert pool._grown(0)  # holds more than the slack over nothing
    assert not pool._grown(resident)  # just trimmed: small renders reuse their pages
    assert pool._grown(resident - pool.TRIM_SLACK - 1)
