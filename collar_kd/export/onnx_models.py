"""The run's float teacher and student as ONNX, for vendor tools and other runtimes, each checked
with onnxruntime against PyTorch on the run's own windows.

PyTorch's TorchScript-based exporter writes the student's GRU as one ONNX GRU operator with
`linear_before_reset = 1`: PyTorch's gate algebra (the reset gate multiplies the hidden product
including its bias), which ONNX's default (0) is not. The check would catch either.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from collar_kd.errors import CollarKDError
from collar_kd.training.loop import predict_logits

# Largest |ONNX logit - PyTorch logit| accepted on any window; above it the export is refused.
ONNX_TOLERANCE = 1e-4
OPSET = 17


def _onnx():
    try:
        import onnx
        import onnxruntime
    except ImportError:
        raise CollarKDError("--onnx needs onnx and onnxruntime: pip install 'collar-kd[onnx]'") from None
    return onnx, onnxruntime


def write_onnx(models: dict[str, torch.nn.Module], x: np.ndarray, out: Path, batch: int = 512) -> dict:
    """NAME.onnx for every model; returns per model the file, the opset, the GRU's
    linear_before_reset where there is a GRU, and the largest logit difference on the windows x."""
    onnx, ort = _onnx()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    report = {}
    for name, model in models.items():
        model.eval()
        path = out / f"{name}.onnx"
        example = torch.from_numpy(np.ascontiguousarray(x[:2], dtype=np.float32))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
            torch.onnx.export(model, (example,), str(path), dynamo=False, opset_version=OPSET, input_names=["windows"],
                              output_names=["logits"], dynamic_axes={"windows": {0: "batch"}, "logits": {0: "batch"}})
        graph = onnx.load(str(path))
        onnx.checker.check_model(graph)
        gru = [{a.name: a.i for a in n.attribute if a.name == "linear_before_reset"} for n in graph.graph.node if n.op_type == "GRU"]
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        expected = predict_logits(model, x)
        got = np.concatenate([session.run(None, {"windows": np.ascontiguousarray(x[i : i + batch], dtype=np.float32)})[0]
                              for i in range(0, len(x), batch)])
        diff = float(np.abs(got - expected).max()) if len(x) else 0.0
        if not diff <= ONNX_TOLERANCE:
            raise CollarKDError(f"{name}: ONNX logits differ from PyTorch's by up to {diff:.3g} on the run's windows "
                                f"(tolerance {ONNX_TOLERANCE:g}); nothing was written")
        report[name] = {"file": path.name, "opset": OPSET, "windows_checked": int(len(x)), "max_abs_logit_difference": diff,
                        "tolerance": ONNX_TOLERANCE, "gru_linear_before_reset": [g.get("linear_before_reset") for g in gru],
                        "onnxruntime": ort.__version__}
    return report
