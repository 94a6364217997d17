"""An ONNX face recogniser as a trainable torch module, for the semi-informed attacker.

``onnx2torch`` is the usual tool for this, but it imports torchvision, and PyPI's torchvision does
not load beside the CPU build of torch 2.13 that the project pins (``operator torchvision::nms does
not exist``), so this module runs the graph itself: the ArcFace recognisers of insightface (ResNet
and MobileFaceNet) use only Conv, PRelu, Add, Flatten, Gemm and BatchNormalization (plus Mul/Sub on
some exports), each mapped to its torch functional with the initialisers as parameters. Any other
operator is refused with a clear error. Outputs agree with onnxruntime to float32 precision (tested).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from benchmark.core.errors import BenchmarkError

SUPPORTED = {"Conv", "PRelu", "Add", "Mul", "Sub", "Flatten", "Gemm", "BatchNormalization", "Relu", "Identity"}


class OnnxGraphModule(nn.Module):
    """Runs a feed-forward ONNX graph with torch ops; initialisers become ``nn.Parameter``s."""

    def __init__(self, path: str | Path):
        super().__init__()
        import onnx
        from onnx import numpy_helper

        model = onnx.load(str(path))
        graph = model.graph
        bad = sorted({n.op_type for n in graph.node} - SUPPORTED)
        if bad:
            raise BenchmarkError(f"cannot adapt this recogniser: unsupported ONNX operators {bad}", path)
        self.params = nn.ParameterDict()
        self._names: dict[str, str] = {}
        for i, init in enumerate(graph.initializer):
            key = f"p{i}"
            self._names[init.name] = key
            self.params[key] = nn.Parameter(torch.from_numpy(numpy_helper.to_array(init).copy()).float())
        inits = {i.name for i in graph.initializer}
        self.input_name = next(i.name for i in graph.input if i.name not in inits)
        self.output_name = graph.output[0].name
        self.nodes = [(n.op_type, list(n.input), list(n.output),
                       {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}) for n in graph.node]

    def _value(self, env: dict[str, torch.Tensor], name: str) -> torch.Tensor:
        return env[name] if name in env else self.params[self._names[name]]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        env = {self.input_name: x}
        for op, inputs, outputs, attrs in self.nodes:
            args = [self._value(env, n) for n in inputs if n]
            env[outputs[0]] = apply_op(op, args, attrs)
        return env[self.output_name]


def apply_op(op: str, a: list[torch.Tensor], attrs: dict) -> torch.Tensor:
    if op == "Conv":
        pads = attrs.get("pads", [0, 0, 0, 0])
        x = a[0]
        if pads[0] != pads[2] or pads[1] != pads[3]:
            x = F.pad(x, (pads[1], pads[3], pads[0], pads[2]))
            pads = [0, 0, 0, 0]
        return F.conv2d(x, a[1], a[2] if len(a) > 2 else None, stride=attrs.get("strides", [1, 1]),
                        padding=(pads[0], pads[1]), dilation=attrs.get("dilations", [1, 1]),
                        groups=attrs.get("group", 1))
    if op == "PRelu":
        slope = a[1]
        return torch.where(a[0] >= 0, a[0], a[0] * (slope.reshape(1, -1, 1, 1) if slope.dim() == 3 else slope))
    if op == "Add":
        return a[0] + a[1]
    if op == "Mul":
        return a[0] * a[1]
    if op == "Sub":
        return a[0] - a[1]
    if op == "Relu":
        return F.relu(a[0])
    if op == "Identity":
        return a[0]
    if op == "Flatten":
        return torch.flatten(a[0], start_dim=attrs.get("axis", 1))
    if op == "Gemm":
        w = a[1].t() if attrs.get("transB", 0) else a[1]
        x = a[0].t() if attrs.get("transA", 0) else a[0]
        out = attrs.get("alpha", 1.0) * (x @ w)
        return out + attrs.get("beta", 1.0) * a[2] if len(a) > 2 else out
    if op == "BatchNormalization":
        return F.batch_norm(a[0], a[3].detach(), a[4].detach(), a[1], a[2], training=False, eps=attrs.get("epsilon", 1e-5))
    raise BenchmarkError(f"unsupported ONNX operator {op}")  # pragma: no cover (checked at load)


def arcface_preprocess(aligned_bgr: np.ndarray) -> torch.Tensor:
    """insightface's ArcFace input: (N, 112, 112, 3) BGR uint8 -> (N, 3, 112, 112) RGB, (x - 127.5) / 127.5."""
    x = torch.from_numpy(np.ascontiguousarray(aligned_bgr[..., ::-1])).float()
    return ((x - 127.5) / 127.5).permute(0, 3, 1, 2).contiguous()
