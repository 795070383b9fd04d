"""u2netp, float32 against onnxruntime's dynamic int8 quantisation (issue 16, item 6): the mask
IoU of each against the other on photo-like fixtures, and CPU per inference of each, in one run.

The quantised model is made here with `onnxruntime.quantization.quantize_dynamic` (it needs the
`onnx` package: `pip install onnx`), once per weight type, into a temporary directory.

Usage: python bench/cutout_int8.py [--runs N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime
import pyvips

try:
    from onnxruntime.quantization import QuantType, quantize_dynamic
except ImportError:  # it imports `onnx`, which imgpro does not need
    sys.exit("this bench needs the onnx package: pip install onnx")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.factories import sources  # noqa: E402

from imgpro.media import cutout  # noqa: E402


def session(path: Path) -> onnxruntime.InferenceSession:
    """The same options as imgpro's render processes (media/cutout.py)."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 2
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    options.enable_cpu_mem_arena = False
    options.enable_mem_pattern = False
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def model_input(rgb: np.ndarray) -> np.ndarray:
    """cutout.mask's normalisation of a 320×320×3 uint8 array."""
    pixels = rgb.astype(np.float32)
    pixels /= max(float(pixels.max()), 1.0)
    pixels = (pixels - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    return pixels.astype(np.float32).transpose(2, 0, 1)[np.newaxis]


def predict(model: onnxruntime.InferenceSession, batch: np.ndarray) -> np.ndarray:
    prediction = model.run(None, {model.get_inputs()[0].name: batch})[0][0, 0]
    low, high = float(prediction.min()), float(prediction.max())
    return (prediction - low) / max(high - low, 1e-6) >= 0.5  # the subject: alpha ≥ 128


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def to_model_side(image: pyvips.Image) -> pyvips.Image:
    return image.resize(320 / image.width, vscale=320 / image.height).extract_area(0, 0, 320, 320)


def fixtures() -> list[tuple[str, np.ndarray, np.ndarray | None]]:
    """(name, 320×320 model input, true subject mask or None): the tests' product photos of
    several seeds and sizes, and the bench's 1 MP photo (a busy scene, no single subject)."""
    inputs: list[tuple[str, bytes, np.ndarray | None]] = []
    for seed in (1, 7, 11, 23, 42):
        for side in (512, 1024):
            data, truth = sources.product_photo(side, seed=seed)
            inputs.append((f"product {side} px seed {seed}", data, truth))
    bench = Path(tempfile.gettempdir()) / "imgpro-bench-sources" / "1mp.jpg"
    if bench.exists():
        inputs.append(("bench 1 MP photo", bench.read_bytes(), None))
    out = []
    for name, data, truth in inputs:
        image = pyvips.Image.new_from_buffer(data, "").colourspace("srgb")
        true_mask = None
        if truth is not None:
            drawn = pyvips.Image.new_from_array(truth.astype(np.uint8) * 255)
            true_mask = to_model_side(drawn).numpy() >= 128
        out.append((name, to_model_side(image).numpy()[..., :3], true_mask))
    return out


def cpu_ms(model: onnxruntime.InferenceSession, batch: np.ndarray, runs: int) -> float:
    started = time.process_time()
    for _ in range(runs):
        model.run(None, {model.get_inputs()[0].name: batch})
    return (time.process_time() - started) / runs * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=6, help="inferences per model per fixture")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="imgpro-int8-"))
    models = {"float32": cutout.model_path()}
    variants = {  # name: (weight type, per channel with reduced range, as advised for x86)
        "uint8": (QuantType.QUInt8, False),
        "int8": (QuantType.QInt8, False),
        "uint8 per channel": (QuantType.QUInt8, True),
    }
    for name, (weights, per_channel) in variants.items():
        path = workdir / f"u2netp.{name.replace(' ', '-')}.onnx"
        quantize_dynamic(
            str(models["float32"]),
            str(path),
            weight_type=weights,
            per_channel=per_channel,
            reduce_range=per_channel,
        )
        models[name] = path
    sessions = {name: session(path) for name, path in models.items()}
    sizes = ", ".join(f"{name} {path.stat().st_size / 1e6:.1f} MB" for name, path in models.items())
    print(f"models: {sizes}")
    cpu: dict[str, list[float]] = {name: [] for name in sessions}
    ious: dict[str, list[float]] = {name: [] for name in sessions if name != "float32"}
    for fixture, rgb, truth in fixtures():
        batch = model_input(rgb)
        reference = predict(sessions["float32"], batch)
        line = [f"{fixture:<26}"]
        if truth is not None:
            line.append(f"float32 IoU against the true subject {iou(reference, truth):.3f}")
        for name, model in sessions.items():  # interleaved: each fixture times every model
            cpu[name].append(cpu_ms(model, batch, args.runs))
            line.append(f"{name} {cpu[name][-1]:6.1f} ms")
            if name in ious:
                ious[name].append(iou(predict(model, batch), reference))
                line.append(f"IoU {ious[name][-1]:.3f}")
        print("  ".join(line), flush=True)
    base = float(np.mean(cpu["float32"]))
    print(f"\nfloat32: {base:.1f} ms CPU per inference (mean over fixtures)")
    for name, values in ious.items():
        mean = float(np.mean(cpu[name]))
        verdict = "take it" if min(values) >= 0.97 and mean < base else "keep float32"
        print(
            f"{name}: {mean:.1f} ms ({mean / base:.2f}× float32), mask IoU against float32"
            f" min {min(values):.3f} mean {np.mean(values):.3f} -> {verdict}"
            " (goal: IoU ≥ 0.97 on every fixture and faster)"
        )


if __name__ == "__main__":
    main()
