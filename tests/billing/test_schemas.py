"""The checkout body: the model that parses it and the one /openapi.json documents agree."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from imgpro.billing.schemas import MAX_RETURN_URL, RETURN_URL_PATTERN, CheckoutBody, CheckoutIn
from imgpro.billing.service import check_return_url


def test_the_parser_reads_exactly_the_documented_fields() -> None:
    assert CheckoutIn.model_fields.keys() == CheckoutBody.model_fields.keys()
    assert CheckoutIn.model_config == CheckoutBody.model_config  # extra fields refused alike


@given(st.from_regex(RETURN_URL_PATTERN, fullmatch=True).filter(lambda u: len(u) <= MAX_RETURN_URL))
def test_every_return_url_the_document_allows_is_accepted(url: str) -> None:
    # the parser leaves return_url to check_return_url (a bad one is invalid_target_url), so a
    # URL valid by the documented pattern must pass that rule, or a valid body is refused
    assert check_return_url(url) == url


def test_the_documented_pattern_refuses_a_port_out_of_range() -> None:
    assert re.fullmatch(RETURN_URL_PATTERN, "https://app.example:65535/done")
    assert not re.fullmatch(RETURN_URL_PATTERN, "https://app.example:65536/done")
