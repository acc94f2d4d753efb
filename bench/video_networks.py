"""The video networks of bench/video.py, written here (torchvision need not be installed): C3D,
R3D-18, MC3-18, R(2+1)D-18 and S3D, random weights, for inputs of N x 3 x frames x size x size.

The video ResNets and S3D follow torchvision.models.video layer for layer (BatchNorm3d after every
conv, no bias); C3D follows Tran et al. (conv biases, no BatchNorm). `width` is the first stage's
channel count (64 as published): every channel count scales with it. With `blocks` (the video
ResNets' blocks per stage, S3D's inception blocks) the tests build small networks of each family,
a few channels wide and a few blocks deep. Dropout is left out (these run in inference only).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

CLASSES = 400  # Kinetics-400, torchvision's pretrained heads


def pooled(n: int, kernel: int, stride: int, padding: int = 0) -> int:
    """Output length of a conv or pool along one axis (floor rounding)."""
    return (n + 2 * padding - kernel) // stride + 1


def scaled(channels: int, width: int) -> int:
    return max(1, channels * width // 64)


def conv_bn_relu(cin: int, cout: int, kernel, stride=1, padding=0, eps: float = 1e-5) -> list[nn.Module]:
    return [nn.Conv3d(cin, cout, kernel, stride, padding, bias=False), nn.BatchNorm3d(cout, eps=eps), nn.ReLU()]


def c3d(frames: int = 16, size: int = 112, width: int = 64, classes: int = CLASSES) -> nn.Module:
    """C3D (Tran et al., ICCV 2015): eight 3x3x3 convs with ReLU, max pools 1x2x2 then 2x2x2 (the
    last padded 0x1x1, as in the Sports-1M model), then fc6 / fc7 of 4096 and the classifier. fc6
    takes the flattened pool5 output: 8192 features at 16x112x112, as published. Layers named as
    in the paper (conv1a, pool1, ..., fc8), so that per-layer profiles read like it."""
    layers, cin = {}, 3
    d, h, smallest = frames, size, min(frames, size)
    for stage, convs in enumerate(("a", "a", "ab", "ab", "ab"), 1):
        for conv in convs:
            layers[f"conv{stage}{conv}"] = nn.Conv3d(cin, width * min(2 ** (stage - 1), 8), 3, padding=1)
            layers[f"relu{stage}{conv}"] = nn.ReLU()
            cin = layers[f"conv{stage}{conv}"].out_channels
        if stage == 1:
            layers["pool1"] = nn.MaxPool3d((1, 2, 2), (1, 2, 2))
            h = pooled(h, 2, 2)
        else:
            pad = 1 if stage == 5 else 0
            layers[f"pool{stage}"] = nn.MaxPool3d(2, 2, (0, pad, pad))
            d, h = pooled(d, 2, 2), pooled(h, 2, 2, pad)
        smallest = min(smallest, d, h)
    if smallest < 1:
        raise ValueError(f"c3d: {frames} frames of {size}x{size} pool to nothing (a 1x2x2 max pool then four 2x2x2 "
                         f"ones): give it at least 16 frames and 16x16")
    hidden = 64 * width
    layers.update(flatten=nn.Flatten(), fc6=nn.Linear(cin * d * h * h, hidden), relu6=nn.ReLU(),
                  fc7=nn.Linear(hidden, hidden), relu7=nn.ReLU(), fc8=nn.Linear(hidden, classes))
    return nn.Sequential(OrderedDict(layers))


# The video ResNets' block convs (torchvision's Conv3DSimple, Conv3DNoTemporal, Conv2Plus1D):
# (cin, cout, midplanes, stride) -> modules, and the stride of the block's 1x1x1 shortcut.
def conv3x3x3(cin: int, cout: int, midplanes: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv3d(cin, cout, 3, stride, 1, bias=False)]


def conv1x3x3(cin: int, cout: int, midplanes: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv3d(cin, cout, (1, 3, 3), (1, stride, stride), (0, 1, 1), bias=False)]


def conv2plus1d(cin: int, cout: int, midplanes: int, stride: int = 1) -> list[nn.Module]:
    """A 1x3x3 spatial conv to `midplanes` channels, BatchNorm, ReLU, then a 3x1x1 temporal conv."""
    return [nn.Conv3d(cin, midplanes, (1, 3, 3), (1, stride, stride), (0, 1, 1), bias=False),
            nn.BatchNorm3d(midplanes), nn.ReLU(),
            nn.Conv3d(midplanes, cout, (3, 1, 1), (stride, 1, 1), (1, 0, 0), bias=False)]


SHORTCUT_STRIDE = {conv3x3x3: lambda s: (s, s, s), conv1x3x3: lambda s: (1, s, s), conv2plus1d: lambda s: (s, s, s)}


class BasicBlock(nn.Module):
    """torchvision's video BasicBlock: conv, BN, ReLU, conv, BN, plus the shortcut, ReLU. The
    (2+1)D blocks' midplanes keep the parameter count of a 3x3x3 conv: (cin*cout*27)//(cin*9+3*cout),
    computed once and used by both convs, as torchvision does."""

    def __init__(self, cin: int, cout: int, conv, stride: int = 1):
        super().__init__()
        midplanes = (cin * cout * 27) // (cin * 9 + 3 * cout)
        self.conv1 = nn.Sequential(*conv(cin, cout, midplanes, stride), nn.BatchNorm3d(cout), nn.ReLU())
        self.conv2 = nn.Sequential(*conv(cout, cout, midplanes), nn.BatchNorm3d(cout))
        self.shortcut = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv3d(cin, cout, 1, SHORTCUT_STRIDE[conv](stride), bias=False),
                                          nn.BatchNorm3d(cout))

    def forward(self, x):
        return torch.relu(self.conv2(self.conv1(x)) + self.shortcut(x))


def video_resnet(stem: list[nn.Module], convs, width: int = 64, classes: int = CLASSES, blocks: int = 2) -> nn.Module:
    """torchvision's VideoResNet, `blocks` BasicBlocks per stage (2: the -18 networks): `convs`
    gives each stage's block conv; global average pool, then the classifier."""
    layers, cin = list(stem), width
    for stage, conv in enumerate(convs):
        cout = width * 2 ** stage
        layers += [BasicBlock(cin if i == 0 else cout, cout, conv, 2 if stage and i == 0 else 1) for i in range(blocks)]
        cin = cout
    return nn.Sequential(*layers, nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(cin, classes))


def r3d_18(frames: int = 16, size: int = 112, width: int = 64, classes: int = CLASSES, blocks: int = 2) -> nn.Module:
    """R3D-18 (Tran et al., CVPR 2018): a 3x7x7 stride 1x2x2 stem, 3x3x3 convs throughout."""
    stem = conv_bn_relu(3, width, (3, 7, 7), (1, 2, 2), (1, 3, 3))
    return video_resnet(stem, [conv3x3x3] * 4, width, classes, blocks)


def mc3_18(frames: int = 16, size: int = 112, width: int = 64, classes: int = CLASSES, blocks: int = 2) -> nn.Module:
    """MC3-18: R3D-18's stem and 3x3x3 convs in the first stage, 1x3x3 (2-D) convs in the others."""
    stem = conv_bn_relu(3, width, (3, 7, 7), (1, 2, 2), (1, 3, 3))
    return video_resnet(stem, [conv3x3x3] + [conv1x3x3] * 3, width, classes, blocks)


def r2plus1d_18(frames: int = 16, size: int = 112, width: int = 64, classes: int = CLASSES,
                blocks: int = 2) -> nn.Module:
    """R(2+1)D-18: every 3x3x3 conv factorised into 1x3x3 then 3x1x1 (midplanes between); the stem
    a 1x7x7 stride 1x2x2 conv to 45 channels then a 3x1x1 one."""
    mid = scaled(45, width)
    stem = conv_bn_relu(3, mid, (1, 7, 7), (1, 2, 2), (0, 3, 3)) + conv_bn_relu(mid, width, (3, 1, 1), 1, (1, 0, 0))
    return video_resnet(stem, [conv2plus1d] * 4, width, classes, blocks)


EPS = 1e-3  # S3D's BatchNorm3d (torchvision: eps 0.001)


def sep_conv(cin: int, cout: int, kernel: int, stride: int, padding: int) -> list[nn.Module]:
    """S3D's temporal separable conv: 1xkxk then kx1x1, each with BatchNorm and ReLU."""
    return conv_bn_relu(cin, cout, (1, kernel, kernel), (1, stride, stride), (0, padding, padding), EPS) + \
        conv_bn_relu(cout, cout, (kernel, 1, 1), (stride, 1, 1), (padding, 0, 0), EPS)


class SepInception(nn.Module):
    """S3D's separable inception block: four branches (1x1x1; 1x1x1 then a separable 3x3x3, twice;
    a 3x3x3 max pool then 1x1x1) concatenated along the channels."""

    def __init__(self, cin: int, b0: int, b1_mid: int, b1: int, b2_mid: int, b2: int, b3: int):
        super().__init__()
        self.branch0 = nn.Sequential(*conv_bn_relu(cin, b0, 1, eps=EPS))
        self.branch1 = nn.Sequential(*conv_bn_relu(cin, b1_mid, 1, eps=EPS), *sep_conv(b1_mid, b1, 3, 1, 1))
        self.branch2 = nn.Sequential(*conv_bn_relu(cin, b2_mid, 1, eps=EPS), *sep_conv(b2_mid, b2, 3, 1, 1))
        self.branch3 = nn.Sequential(nn.MaxPool3d(3, 1, 1), *conv_bn_relu(cin, b3, 1, eps=EPS))
        self.channels = b0 + b1 + b2 + b3

    def forward(self, x):
        return torch.cat([self.branch0(x), self.branch1(x), self.branch2(x), self.branch3(x)], 1)


# torchvision's S3D blocks: (b0, b1_mid, b1, b2_mid, b2, b3); "M" a 3x3x3 stride 2 max pool, "m" 2x2x2.
S3D_BLOCKS = ((64, 96, 128, 16, 32, 32), (128, 128, 192, 32, 96, 64), "M",
              (192, 96, 208, 16, 48, 64), (160, 112, 224, 24, 64, 64), (128, 128, 256, 24, 64, 64),
              (112, 144, 288, 32, 64, 64), (256, 160, 320, 32, 128, 128), "m",
              (256, 160, 320, 32, 128, 128), (384, 192, 384, 48, 128, 128))


class S3D(nn.Module):
    """S3D (Xie et al., ECCV 2018), torchvision's layout: a separable 7x7x7 stride-2 stem, two 1x3x3
    stride 1x2x2 max pools around a 1x1x1 and a separable 3x3x3 conv, nine separable inception
    blocks with two max pools between, an average pool over the final feature map, a 1x1x1 conv
    classifier (with bias) and the mean over what is left of time and space. torchvision's average
    pool is a fixed 2x7x7, the final map of its 16x224x224 inputs: here the window is the final map's
    shape, which is that 2x7x7 at 16x224x224 and lets smaller inputs run too. `blocks`: the inception
    blocks (channel counts) and the pools between them, S3D_BLOCKS as published."""

    def __init__(self, frames: int = 16, size: int = 224, width: int = 64, classes: int = CLASSES, blocks=S3D_BLOCKS):
        super().__init__()
        c = lambda n: scaled(n, width)  # noqa: E731
        layers = sep_conv(3, c(64), 7, 2, 3) + [nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1))] + \
            conv_bn_relu(c(64), c(64), 1, eps=EPS) + sep_conv(c(64), c(192), 3, 1, 1) + \
            [nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1))]
        d, h, cin = pooled(frames, 7, 2, 3), pooled(pooled(pooled(size, 7, 2, 3), 3, 2, 1), 3, 2, 1), c(192)
        for block in blocks:
            if block == "M":
                layers.append(nn.MaxPool3d(3, 2, 1))
                d, h = pooled(d, 3, 2, 1), pooled(h, 3, 2, 1)
            elif block == "m":
                layers.append(nn.MaxPool3d(2, 2))
                d, h = pooled(d, 2, 2), pooled(h, 2, 2)
            else:
                layers.append(SepInception(cin, *(c(n) for n in block)))
                cin = layers[-1].channels
        if min(d, h) < 1:
            raise ValueError(f"s3d: {frames} frames of {size}x{size} pool to nothing (time / 8, space / 32, "
                             f"floored): give it at least 5 frames and 17x17")
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AvgPool3d((d, h, h), 1)
        self.classifier = nn.Conv3d(cin, classes, 1)

    def forward(self, x):
        return self.classifier(self.avgpool(self.features(x))).mean(dim=(2, 3, 4))


# name -> (builder(frames, size, width, classes), default frame size)
NETWORKS = {"c3d": (c3d, 112), "r3d_18": (r3d_18, 112), "mc3_18": (mc3_18, 112),
            "r2plus1d_18": (r2plus1d_18, 112), "s3d": (S3D, 224)}
