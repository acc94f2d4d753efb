"""Named regression tests: each model here once compiled to a wrong answer or an error it should
not have given. Numerics against PyTorch on the same weights (conftest: rtol 1e-4, atol 1e-5)."""

import torch
import torch.nn.functional as F
from conftest import check_against_torch
from torch import nn


class ChannelsLastBlock(nn.Module):
    """A ConvNeXt block behind a patchify stem: LayerNorm over channels-last views, a depthwise 7x7
    conv, an MLP and a scaled residual. Issue 16: cse merged the residual add's read of `y` with
    the depthwise conv's earlier read, past a transpose that bufferization then placed in `y`'s
    buffer, so the add read the MLP's output twice (relative error 1.0, no error raised)."""

    def __init__(self, c: int = 96):
        super().__init__()
        self.stem, self.n1 = nn.Conv2d(3, c, 4, stride=4), nn.LayerNorm(c, eps=1e-6)
        self.dwc, self.n2 = nn.Conv2d(c, c, 7, padding=3, groups=c), nn.LayerNorm(c, eps=1e-6)
        self.l1, self.l2 = nn.Linear(c, 4 * c), nn.Linear(4 * c, c)
        self.g = nn.Parameter(torch.ones(c, 1, 1) * 1e-6)

    def forward(self, x):
        y = self.n1(self.stem(x).permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        z = self.l2(F.gelu(self.l1(self.n2(self.dwc(y).permute(0, 2, 3, 1))))).permute(0, 3, 1, 2)
        return self.g * z + y


def test_channels_last_residual_block():
    check_against_torch(ChannelsLastBlock(), torch.randn(1, 3, 64, 64))
