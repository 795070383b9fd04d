"""Pure rules of the app registry: app names that must not pass for img.pro's own."""

from __future__ import annotations

import pytest

from imgpro.apps.rules import check_app_name
from imgpro.errors import ApiError


@pytest.mark.parametrize(
    "name",
    [
        "img.pro",
        "My IMG.PRO app",
        "ｉｍｇ.ｐｒｏ",  # fullwidth letters
        "img。pro",  # ideographic full stop
        "img․pro",  # one dot leader
        "ımg.pro",  # dotless i
        "іmg.рro",  # Cyrillic і and р
        "imgpro",
        "img[.]pro",
        "img pro",
        "i-m-g p r o",
        "1mg.pr0",
        "İMG.PRO",
        "ímg.prò",  # accents
        "img\u200b.pro",  # zero-width space
        "Photos by img.pro™",
    ],
)
def test_names_that_read_as_img_pro_are_refused(name: str) -> None:
    with pytest.raises(ApiError) as refused:
        check_app_name(name)
    assert refused.value.code == "validation_error"
    assert "img.pro" in str(refused.value.details)


@pytest.mark.parametrize(
    "name",
    ["Pixel Notes", "Image Pro", "Imaging Professional", "Gallery Maker", "Swimming Progress"],
)
def test_ordinary_names_pass(name: str) -> None:
    assert check_app_name(name) == name
