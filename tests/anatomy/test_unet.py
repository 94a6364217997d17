"""deepbet's networks run in Python (benchmark.anatomy.unet) give their TorchScript modules' numbers bit for bit."""

import pytest
import torch
import torch.nn.functional as F

from benchmark.anatomy.unet import UNet, _Conv, _max_pool


@pytest.fixture
def threads(request):
    before = torch.get_num_threads()
    torch.set_num_threads(request.param)
    yield request.param
    torch.set_num_threads(before)


def _head(size: int) -> torch.Tensor:
    """The template head as deepbet feeds its networks: resampled to ``size``^3, scaled to [0, 1]."""
    import numpy as np

    from benchmark.anatomy.template import template_image

    x = torch.from_numpy(np.asarray(template_image().dataobj, dtype=np.float32).copy())
    x = F.interpolate(x[None, None], (size,) * 3, mode="nearest-exact")
    return (x - x.min()) / (x.max() - x.min())


@pytest.mark.parametrize("threads", [1, 2], indirect=True)
@pytest.mark.parametrize("name,size", [("bbox_model", 128), ("model", 256)])
def test_unet_equals_deepbets_torchscript_network(name, size, threads):
    from benchmark.anatomy.brainmask import _deepbet

    script = getattr(_deepbet(True), name)
    x = _head(size)
    with torch.no_grad():
        expected = script(x)
    got = UNet(script)(x)
    assert torch.equal(got, expected)
    assert 0.01 < (got[0, 1] > 0.5).float().mean() < 0.5  # a brain, not an empty or full map


@pytest.mark.parametrize("shape", [(1, 16, 128, 128, 128), (1, 3, 7, 8, 9), (1, 2, 5, 6, 1), (1, 1, 2, 3, 4)])
def test_max_pool_equals_torchs(shape):
    x = torch.randn(shape, generator=torch.Generator().manual_seed(sum(shape)))
    assert torch.equal(_max_pool(x), F.max_pool3d(x, 3, 2, 1))


@pytest.mark.parametrize("threads", [1, 2], indirect=True)
@pytest.mark.parametrize("transposed,stride,padding,output_padding,shape", [
    (False, 1, 1, 0, (1, 16, 32, 32, 32)),
    (False, 2, 1, 0, (1, 64, 16, 16, 16)),
    (False, 1, 0, 0, (1, 5, 7, 9, 11)),
    (False, 2, 1, 0, (1, 3, 9, 8, 7)),
    (True, 2, 1, 1, (1, 8, 32, 32, 32)),
    (True, 1, 1, 0, (1, 4, 64, 64, 64)),
    (True, 2, 0, 1, (1, 3, 5, 6, 7)),
])
def test_native_convolutions_equal_torchs(transposed, stride, padding, output_padding, shape, threads):
    """The bias-free 3x3x3 convolutions torch runs on its native path, computed by _Conv as that path does."""
    g = torch.Generator().manual_seed(shape[1])
    x = torch.randn(shape, generator=g)
    c_out = 2 * shape[1] if not transposed else max(1, shape[1] // 2)
    weight = torch.randn((shape[1], c_out, 3, 3, 3) if transposed else (c_out, shape[1], 3, 3, 3), generator=g)
    conv = _Conv(weight, None, [stride] * 3, [padding] * 3, [1, 1, 1], transposed, [output_padding] * 3, 1)
    assert conv._native(x)  # the path replaced, not the one passed through
    expected = torch.convolution(x, weight, None, conv.stride, conv.padding, conv.dilation, transposed,
                                 conv.output_padding, 1)
    got = conv(x)
    assert got.shape == expected.shape and got.is_contiguous()
    assert torch.equal(got, expected)
