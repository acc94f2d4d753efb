"""Small whole video networks of each family of bench/video.py (bench/video_networks.py: C3D,
R3D-18, MC3-18, R(2+1)D-18, S3D: every kind of layer, a few channels wide and a few blocks deep,
on a short small clip), with random BatchNorm statistics, dense and pruned by prune.project (KGS
and Vanilla, 4x4 groups), compiled for the host and compared with PyTorch on the same weights
(RTOL, ATOL of conftest). bench/video.py checks the full networks the same way at any clip size."""

import importlib.util
import os
from pathlib import Path

import pytest
import torch

from conftest import check_against_torch
from fretsaw import prune
from fretsaw.examples import randomize_batchnorm

_spec = importlib.util.spec_from_file_location(
    "video_networks", Path(__file__).resolve().parents[2] / "bench" / "video_networks.py")
video_networks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(video_networks)

# name -> (frames, size, blocks): the smallest clip each network's pools allow; one block per stage
# of the video ResNets, three of S3D's nine inception blocks with both its pools between them.
CLIPS = {"c3d": (16, 16, {}), "r3d_18": (4, 16, {"blocks": 1}), "mc3_18": (4, 16, {"blocks": 1}),
         "r2plus1d_18": (4, 16, {"blocks": 1}),
         "s3d": (5, 17, {"blocks": video_networks.S3D_BLOCKS[:1] + ("M",) + video_networks.S3D_BLOCKS[3:4] + ("m",)
                         + video_networks.S3D_BLOCKS[-1:]})}
WIDTH = 8  # channels of the first stage (64 published); every other count scales with it
# A conv-FLOPs cut every small network reaches (its dense first conv weighs more at 8 channels
# than at 64): these tests check numerics, bench/video.py the 3.6x cut.
FLOPS = 1.5
# Every family dense, and KGS and Vanilla on the two headline networks, keep `make test`
# short (each case is a whole compile); FRETSAW_VIDEO_ALL=1 prunes every family.
ALL = os.environ.get("FRETSAW_VIDEO_ALL") == "1"
PRUNED = ("c3d", "r2plus1d_18")


def cases():
    for name in CLIPS:
        for scheme in ("dense", "kgs", "vanilla"):
            skip = scheme != "dense" and name not in PRUNED and not ALL
            yield pytest.param(name, scheme, id=f"{name}-{scheme}",
                               marks=pytest.mark.skipif(skip, reason="FRETSAW_VIDEO_ALL=1 prunes every family"))


def small_network(name: str, scheme: str) -> tuple[torch.nn.Module, torch.Tensor]:
    frames, size, blocks = CLIPS[name]
    model = randomize_batchnorm(video_networks.NETWORKS[name][0](frames, size, WIDTH, classes=10, **blocks)).eval()
    x = torch.randn(1, 3, frames, size, size)
    if scheme != "dense":
        model = prune.project(model, scheme, FLOPS, group_shape=(4, 4), inputs=x)
    return model, x


@pytest.mark.parametrize("name", CLIPS)
def test_small_video_networks_prune(name):
    # Every family reaches the cut (the comparison below prunes C3D and R(2+1)D only, by default).
    for scheme in ("kgs", "vanilla"):
        model, x = small_network(name, scheme)
        assert prune.report(model, inputs=x)["flops_reduction"] >= FLOPS


@pytest.mark.parametrize("name, scheme", cases())
def test_video_network_matches_torch(name, scheme):
    model, x = small_network(name, scheme)
    stats, report = check_against_torch(model, x).stats(), prune.report(model, inputs=x)
    # Every Conv3d raised into pconv with its weights' sparsity: the FLOPs compiled are the weights'.
    assert stats["conv_layers"] == len(report["layers"])
    assert stats["sparse_flops"] == report["sparse_flops"]
