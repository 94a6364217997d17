"""deepbet's two networks (one residual 3D U-Net architecture, TorchScript files in its package) run op for op
in Python, bit for bit what the TorchScript graph computes, in about 15% less time on one thread.

Every op is the one the graph calls with the graph's arguments (read from the graph, not restated), but two:

* The max pool after the first convolution (kernel 3, stride 2, padding 1): torch's CPU kernel also
  computes the argmax it then discards, 0.29 s of a 1.45 s forward on 256^3. Here it is taken one axis at a
  time, ``y[i] = max(x[2i-1], x[2i], x[2i+1])`` (out of range = -inf, as torch pads): a maximum is the
  same whatever order its operands come in (50 ms).
* The bias-free 3x3x3 convolutions, plain and transposed, that torch sends to its native path
  (``slow_conv3d``, ``slow_conv_transpose3d``: batch 1 with ``C * D * H <= 20480``, its "native is faster"
  rule in ``ConvParams::use_mkldnn``; the deeper levels of both networks) are computed as that path computes
  them, with the same GEMM call on the same numbers and the same order of additions, without its slower
  unfolding and folding.

``tests/anatomy/test_unet.py`` checks both networks against their TorchScript modules at the input sizes
deepbet gives them, on one thread and on two.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from benchmark.core.errors import BenchmarkError

#: torch's rule for a batch-1 float convolution with a kernel of at most 3 (``ConvParams::use_mkldnn``):
#: oneDNN when ``C * D * H`` of the input exceeds this, its native ``slow_conv3d`` otherwise.
_NATIVE_MAX_ELEMENTS = 20480


def _graph_node(module: torch.jit.ScriptModule, kind: str) -> torch._C.Node:
    nodes = [n for n in module.graph.nodes() if n.kind() == kind]
    if len(nodes) != 1:
        raise BenchmarkError(f"deepbet's network is not the one this code runs: {len(nodes)} {kind} in a submodule")
    return nodes[0]


def _value(v: torch._C.Value):
    """A constant argument of a graph node (an int, a bool, a float, None, or a list of ints)."""
    node = v.node()
    if node.kind() == "prim::ListConstruct":
        return [i.toIValue() for i in node.inputs()]
    if node.kind() != "prim::Constant":
        raise BenchmarkError(f"deepbet's network has a computed argument ({node.kind()}) where a constant was expected")
    return v.toIValue()


@dataclass(frozen=True)
class _Conv:
    weight: torch.Tensor
    bias: torch.Tensor | None
    stride: list[int]
    padding: list[int]
    dilation: list[int]
    transposed: bool
    output_padding: list[int]
    groups: int

    @classmethod
    def of(cls, module: torch.jit.ScriptModule) -> "_Conv":
        args = [_value(v) for v in list(_graph_node(module, "aten::_convolution").inputs())[3:9]]
        params = {name: p.detach() for name, p in module.named_parameters()}
        return cls(params["weight"], params.get("bias"), *args)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if not self._native(x):
            return torch.convolution(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                                     self.transposed, self.output_padding, self.groups)
        return self._transposed(x) if self.transposed else self._unfolded(x)

    def _native(self, x: torch.Tensor) -> bool:
        """Whether torch runs this convolution on its native path, for a bias-free 3x3x3 kernel (the case handled)."""
        return (x.device.type == "cpu" and x.dtype == torch.float32 and self.groups == 1 and self.bias is None
                and x.shape[0] == 1 and tuple(self.weight.shape[2:]) == (3, 3, 3) and self.dilation == [1, 1, 1]
                and x.shape[1] * x.shape[2] * x.shape[3] <= _NATIVE_MAX_ELEMENTS)

    def _unfolded(self, x: torch.Tensor) -> torch.Tensor:
        """``slow_conv3d``: ``columns[c, a, b, d, i, j, k] = x_padded[c, a + s i, b + s j, d + s k]``, then
        ``out = W @ columns`` (one GEMM)."""
        p, s = self.padding, self.stride
        padded = torch.nn.functional.pad(x[0], (p[2], p[2], p[1], p[1], p[0], p[0]))
        shape = [(x.shape[2 + i] + 2 * p[i] - 3) // s[i] + 1 for i in range(3)]
        columns = torch.empty((x.shape[1], 3, 3, 3, *shape), dtype=x.dtype)
        for a, b, d in _OFFSETS:
            columns[:, a, b, d] = padded[_window(a, b, d, s, shape)]
        out = torch.mm(self.weight.reshape(self.weight.shape[0], -1), columns.reshape(-1, shape[0] * shape[1] * shape[2]))
        return out.reshape(1, -1, *shape)

    def _transposed(self, x: torch.Tensor) -> torch.Tensor:
        """``slow_conv_transpose3d``: ``columns = W^T @ x`` (one GEMM), then each output voxel sums what the
        kernel offsets bring it in their order (``col2vol``): ``out[c, a + s i, b + s j, d + s k] +=
        columns[c, a, b, d, i, j, k]`` from zero, on a grid padded by ``padding`` that is cut off after."""
        p, s, q = self.padding, self.stride, self.output_padding
        n_in = x.shape[2:]
        shape = [(n_in[i] - 1) * s[i] - 2 * p[i] + 3 + q[i] for i in range(3)]
        columns = torch.mm(self.weight.reshape(self.weight.shape[0], -1).t(), x[0].reshape(x.shape[1], -1))
        columns = columns.reshape(-1, 3, 3, 3, *n_in)
        grid = torch.zeros((columns.shape[0], *[shape[i] + 2 * p[i] for i in range(3)]), dtype=x.dtype)
        for a, b, d in _OFFSETS:
            grid[_window(a, b, d, s, n_in)] += columns[:, a, b, d]
        return grid[:, p[0]:p[0] + shape[0], p[1]:p[1] + shape[1], p[2]:p[2] + shape[2]].contiguous()[None]


_OFFSETS = [(a, b, d) for a in range(3) for b in range(3) for d in range(3)]  # kernel offsets in memory order


def _window(a: int, b: int, d: int, stride: list[int], shape: list[int]) -> tuple[slice, ...]:
    """``[:, a + s i, b + s j, d + s k]`` for ``(i, j, k) < shape``."""
    return (slice(None), *(slice(o, o + st * (n - 1) + 1, st) for o, st, n in zip((a, b, d), stride, shape)))


@dataclass(frozen=True)
class _Norm:
    """``torch.instance_norm`` without affine parameters or running statistics, as the graph calls it."""

    momentum: float
    eps: float

    @classmethod
    def of(cls, module: torch.jit.ScriptModule) -> "_Norm":
        args = [_value(v) for v in list(_graph_node(module, "aten::instance_norm").inputs())[1:]]
        if args[:5] != [None, None, None, None, True]:
            raise BenchmarkError("deepbet's network normalises differently from the instance norm this code runs")
        return cls(momentum=args[5], eps=args[6])

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.instance_norm(x, None, None, None, None, True, self.momentum, self.eps,
                                   torch.backends.cudnn.enabled)


def _max_pool(x: torch.Tensor) -> torch.Tensor:
    """``max_pool3d(x, kernel 3, stride 2, padding 1)``, one axis after the other (depth first: whole planes)."""
    for dim in (2, 3, 4):
        n = x.shape[dim]
        size = (n - 1) // 2 + 1
        even = x[(slice(None),) * dim + (slice(0, None, 2),)]  # x[2i]
        odd = x[(slice(None),) * dim + (slice(1, None, 2),)]  # x[2i + 1]
        if odd.shape[dim] == size:
            out = torch.maximum(even, odd)
        else:  # n odd: the last window has no x[2i + 1]
            out = even.clone()
            head = out.narrow(dim, 0, size - 1)
            torch.maximum(head, odd, out=head)
        if size > 1:  # x[2i - 1] for i >= 1
            tail = out.narrow(dim, 1, size - 1)
            torch.maximum(tail, odd.narrow(dim, 0, size - 1), out=tail)
        x = out
    return x


def _check_pool(module: torch.jit.ScriptModule) -> None:
    args = [_value(v) for v in list(_graph_node(module, "aten::max_pool3d").inputs())[1:]]
    if args != [[3, 3, 3], [2, 2, 2], [1, 1, 1], [1, 1, 1], False]:
        raise BenchmarkError(f"deepbet's max pool has arguments {args}; this code runs kernel 3, stride 2, padding 1")


class _ConvNormRelu:
    """A ``Sequential`` of a convolution, an instance norm and (with ``relu``) an in-place ReLU."""

    def __init__(self, seq: torch.jit.ScriptModule, relu: bool = True):
        self.conv, self.norm, self.relu = _Conv.of(getattr(seq, "0")), _Norm.of(getattr(seq, "1")), relu

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        y = self.norm(self.conv(x))
        return torch.relu_(y) if self.relu else y


class _Block:
    """Residual block: ``relu(norm(conv(relu(norm(conv(x))))) + shortcut(x))``, the shortcut a strided 1x1
    convolution and a norm where the block downsamples, else ``x``."""

    def __init__(self, block: torch.jit.ScriptModule):
        dc = block.double_conv
        self.conv1, self.norm1 = _Conv.of(getattr(dc, "0")), _Norm.of(getattr(dc, "1"))
        self.conv2, self.norm2 = _Conv.of(getattr(dc, "3")), _Norm.of(getattr(dc, "4"))
        names = dict(block.named_children())
        self.shortcut = _ConvNormRelu(block.downsample, relu=False) if "downsample" in names else None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        y = self.norm2(self.conv2(torch.relu_(self.norm1(self.conv1(x)))))
        return torch.relu_(y.add_(x if self.shortcut is None else self.shortcut(x)))


class UNet:
    """deepbet's network from its TorchScript module: ``UNet(bet.model)(x) == bet.model(x)`` bit for bit."""

    def __init__(self, script: torch.jit.ScriptModule):
        _check_pool(getattr(script.init, "3"))
        self.init = _ConvNormRelu(script.init)
        self.down = [[_Block(d.block1), _Block(d.block2)] for d in (script.down0, script.down1, script.down2, script.down3)]
        self.up = [[_ConvNormRelu(u.conv1), _ConvNormRelu(u.tp_conv), _ConvNormRelu(u.conv2)]
                   for u in (script.up0, script.up1, script.up2, script.up3)]
        self.tp_conv1, self.conv = _ConvNormRelu(script.tp_conv1), _ConvNormRelu(script.conv)
        self.tp_conv2 = _Conv.of(script.tp_conv2)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            skips = [_max_pool(self.init(x))]
            for block1, block2 in self.down:
                skips.append(block2(block1(skips[-1])))
            y = skips.pop()
            for (conv1, tp_conv, conv2), skip in zip(self.up, reversed(skips)):
                y = torch.add(conv2(tp_conv(conv1(y))), skip)
            return torch.softmax(self.tp_conv2(self.conv(self.tp_conv1(y))), 1)
