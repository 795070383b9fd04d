"""cutout=1: the u2netp model separates a shaded, textured subject from a non-uniform scene."""

from __future__ import annotations

import numpy as np
import pytest
import pyvips

from imgpro.media import cutout
from imgpro.media.render import render
from imgpro.media.transform import parse
from tests.factories import sources


def iou(predicted: np.ndarray, truth: np.ndarray) -> float:
    return float((predicted & truth).sum() / (predicted | truth).sum())


def test_model_comes_from_the_installed_package():
    path = cutout.model_path()
    assert path.name == "u2netp.onnx" and path.parent.name == "rembg"
    assert 4_000_000 < path.stat().st_size < 6_000_000


def test_cutout_matches_the_true_mask_of_a_photo():
    photo, truth = sources.product_photo(512)
    result = render(photo, "jpg", parse("cutout=1&bg=transparent&format=png"))
    alpha = pyvips.Image.new_from_buffer(result.data, "").numpy()[..., 3]
    score = iou(alpha > 127, truth)
    print(f"cutout IoU on the product photo: {score:.3f}")
    assert score >= 0.9


def test_subject_lands_on_white_by_default_and_on_bg():
    photo, truth = sources.product_photo(256)
    on_white = pyvips.Image.new_from_buffer(render(photo, "jpg", parse("cutout=1")).data, "")
    corner = on_white.numpy()[:20, :20]
    assert on_white.bands == 3 and corner.min() > 235
    on_red = render(photo, "jpg", parse("cutout=1&bg=ff0000&format=webp"))
    pixels = pyvips.Image.new_from_buffer(on_red.data, "").numpy()
    assert pixels.shape[2] == 3  # opaque bg: no alpha even where the format has it
    assert pixels[:20, :20, 0].mean() > 230 and pixels[:20, :20, 1].mean() < 25
    # transparent requested but JPEG has no alpha: white
    jpeg = pyvips.Image.new_from_buffer(
        render(photo, "jpg", parse("cutout=1&bg=transparent")).data, ""
    )
    assert jpeg.bands == 3 and jpeg.numpy()[:20, :20].min() > 235


def test_the_model_sees_320_px_whatever_the_size_and_its_mask_covers_every_pixel(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the cost of a cutout is one 320 px inference, not one that grows with the image (its time
    # per image is measured in bench/transform.py's cutout section)
    seen: list[tuple[int, ...]] = []
    model = cutout.mask

    def recorded(rgb: np.ndarray) -> np.ndarray:
        seen.append(rgb.shape)
        return model(rgb)

    monkeypatch.setattr(cutout, "mask", recorded)
    photo, truth = sources.product_photo(1024)
    result = cutout.cut_out(pyvips.Image.new_from_buffer(photo, ""))
    assert seen == [(320, 320, 3)]
    assert (result.width, result.height, result.bands) == (1024, 1024, 4)
    assert iou(result.numpy()[..., 3] > 127, truth) >= 0.9
