"""cutout=1: the u2netp model separates a shaded, textured subject from a non-uniform scene."""

from __future__ import annotations

import time

import numpy as np
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


def test_cutout_time_per_1024px_image():
    photo, _ = sources.product_photo(1024)
    image = pyvips.Image.new_from_buffer(photo, "").copy_memory()
    cutout.cut_out(image).copy_memory()  # warm: the session loads once per process
    runs = []
    for _ in range(3):
        started = time.perf_counter()
        cutout.cut_out(image).copy_memory()
        runs.append((time.perf_counter() - started) * 1000)
    print(f"cutout of a 1024 px image: {min(runs):.0f} ms (best of 3)")
    assert min(runs) < 5000
