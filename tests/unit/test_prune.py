"""fretsaw.prune: pattern libraries, projections (exact structure, requested rates), the training
methods (ADMM residual, masked fine-tuning), the report, the CLI, and compiling a pruned model."""

import json
import re

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from conftest import check_against_torch
from fretsaw import prune
from fretsaw.cli import main as cli_main
from fretsaw.examples import SmallVGG, randomize_batchnorm
from fretsaw.prune import PruneError


def net2d(c1=8, c2=12, c3=10, c4=6):
    """3x3 convs around a 1x1 conv; the first conv stays dense by default."""
    return nn.Sequential(nn.Conv2d(3, c1, 3, padding=1), nn.ReLU(), nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(c2, c3, 1), nn.ReLU(), nn.Conv2d(c3, c4, 3, stride=2, padding=1))


def net3d(c=6):
    """Conv3d layers with channel counts that do not divide into 4x4 groups (ragged edges)."""
    return nn.Sequential(nn.Conv3d(1, c, 3, padding=1), nn.ReLU(), nn.Conv3d(c, 10, 3, padding=1), nn.ReLU(),
                         nn.Conv3d(10, c, 3, padding=1))


def kernel_codes(weight):
    """Which positions of each kernel are nonzero: a bool Cout x Cin x positions tensor."""
    return weight.detach().reshape(*weight.shape[:2], -1) != 0


def unit_cost_bound(report, pruned_names, taps):
    """The FLOPs of one unit in each pruned layer: how far below the target a layer may stop."""
    return sum(2 * (layer["dense_flops"] // (2 * int(np.prod(layer["weight_shape"])))) * taps(layer)
               for layer in report["layers"] if layer["name"] in pruned_names)


def test_candidates_and_default_library():
    candidates = prune.candidate_patterns()
    assert candidates.shape == (56, 3, 3)
    assert candidates[:, 1, 1].all() and (candidates.reshape(56, 9).sum(axis=1) == 4).all()
    assert len({prune.pattern_key(m) for m in candidates}) == 56
    library = prune.default_library(8)
    assert len({prune.pattern_key(m) for m in library}) == 8


def test_extract_library_finds_the_most_frequent_patterns():
    candidates = prune.candidate_patterns()
    planted = [candidates[i] for i in (40, 7, 23)]
    counts = (50, 30, 20)
    rng = np.random.default_rng(0)
    kernels = []
    for mask, count in zip(planted, counts):
        big = rng.uniform(1.0, 2.0, size=(count, 3, 3)) * mask
        kernels.append(big + rng.uniform(-0.1, 0.1, size=(count, 3, 3)) * ~mask)
    weight = torch.from_numpy(np.concatenate(kernels)[rng.permutation(100)].reshape(10, 10, 3, 3))
    library = prune.extract_library([weight], 3)
    assert [prune.pattern_key(m) for m in library] == [prune.pattern_key(m) for m in planted]


def test_user_library_forms_and_errors():
    keys = ["010/111/010", "110/110/000"]
    assert (prune.check_library(keys) == prune.check_library([prune.check_library(k)[0] for k in keys])).all()
    with pytest.raises(PruneError, match="more than once"):
        prune.check_library(keys + keys[:1])
    with pytest.raises(PruneError, match="at least one weight"):
        prune.check_library(["000/000/000"])
    with pytest.raises(PruneError, match="not a 3x3 pattern"):
        prune.check_library(["0101/111/010"])
    with pytest.raises(PruneError, match="3x3 masks"):
        prune.check_library(np.ones((2, 2, 2)))


@settings(max_examples=12, deadline=None)
@given(flops=st.floats(1.0, 5.0), connectivity=st.sampled_from(["layer", "global"]),
       widths=st.tuples(*[st.integers(2, 12)] * 4), seed=st.integers(0, 100))
def test_pattern_projection_is_exact_and_meets_the_rate(flops, connectivity, widths, seed):
    torch.manual_seed(seed)
    model, x = net2d(*widths), torch.randn(1, 3, 8, 8)
    library = prune.default_library(8)
    try:
        pruned = prune.project(model, "pattern", flops, library=library, connectivity=connectivity, inputs=x)
    except PruneError as error:  # a request above what the dense first conv allows: refused only then
        reachable = re.search(r"at most ([0-9.]+)x is reachable", str(error))
        assert reachable and flops > float(reachable.group(1)) - 0.005, error  # (the limit printed to 2 decimals)
        pruned = None
    assume(pruned is not None)  # the checks below need a pruned model
    report = prune.report(pruned, x, library)
    convs = [m for m in model if isinstance(m, nn.Conv2d)]
    pruned_convs = [m for m in pruned if isinstance(m, nn.Conv2d)]
    assert torch.equal(convs[0].weight, pruned_convs[0].weight)  # first conv left dense
    library_codes = {tuple(m.flatten()) for m in library}
    for before, after in zip(convs[1:], pruned_convs[1:]):
        kept = after.weight != 0
        assert torch.equal(after.weight[kept], before.weight[kept])  # kept weights unchanged
        if after.kernel_size == (3, 3):
            for code in kernel_codes(after.weight).reshape(-1, 9).tolist():
                assert not any(code) or tuple(code) in library_codes
    # rates: at least the requested cut, and short of the target by less than one unit per layer
    assert report["flops_reduction"] >= flops * (1 - 1e-9)
    names = {layer["name"] for layer in report["layers"][1:]}
    if any(layer["connectivity"] < 1 for layer in report["layers"][1:]):
        slack = unit_cost_bound(report, names, lambda layer: 4 if layer["weight_shape"][2] == 3 else 1)
        assert report["dense_flops"] / flops - report["sparse_flops"] <= slack


def test_connectivity_keeps_the_largest_kernels():
    torch.manual_seed(1)
    model, x = net2d(8, 16, 16, 16), torch.randn(1, 3, 8, 8)
    with torch.no_grad():
        model[4].weight.mul_(100.0)  # a layer of another scale: global must not empty the others
    for connectivity in ("layer", "global"):
        plan = prune.make_plan(model, "pattern", 4.0, connectivity=connectivity, inputs=x)
        relative = []
        for layer in plan.pruned:
            allowed = plan.pattern_mask(layer, layer.weight)
            norms = (layer.weight.detach() * allowed).flatten(2).norm(dim=2).flatten()
            kept = plan.mask(layer, layer.weight).flatten(2).any(dim=2).flatten()
            assert 0 < kept.sum() < len(kept)
            assert norms[kept].min() >= norms[~kept].max()  # the largest kernels of each layer stay
            relative.append((norms / norms.square().mean().sqrt(), kept))
        if connectivity == "global":  # one ranking over all layers, on norms relative to the layer
            assert min(r[k].min() for r, k in relative) >= max(r[~k].max() for r, k in relative)


def test_filter_pruning_removes_whole_filters_of_least_l1_norm():
    torch.manual_seed(2)
    model, x = net2d(8, 16, 16, 16), torch.randn(1, 3, 8, 8)
    pruned = prune.project(model, "filter", 2.0, inputs=x)
    report = prune.report(pruned, x)
    assert report["flops_reduction"] >= 2.0
    for before, after in zip(list(model)[2::2], list(pruned)[2::2]):
        alive = after.weight.flatten(1).ne(0).any(dim=1)
        assert torch.equal(after.weight[alive], before.weight[alive])  # whole filters, kept intact
        l1 = before.weight.detach().abs().flatten(1).sum(dim=1)
        assert l1[alive].min() >= l1[~alive].max()


@pytest.mark.parametrize("scheme", ["kgs", "vanilla"])
def test_kgs_and_vanilla_share_the_structure_in_each_group(scheme):
    torch.manual_seed(3)
    model, x = net3d(), torch.randn(1, 1, 4, 6, 6)
    pruned = prune.project(model, scheme, 3.0, inputs=x, group_shape=(4, 4))
    report = prune.report(pruned, x)
    assert report["flops_reduction"] >= 3.0
    for conv in (pruned[2], pruned[4]):
        nz = kernel_codes(conv.weight)  # Cout x Cin x 27
        cout, cin = nz.shape[:2]
        for o in range(0, cout, 4):
            for i in range(0, cin, 4):
                group = nz[o:o + 4, i:i + 4].reshape(-1, 27)
                assert (group == group[0]).all()  # every kernel of the group keeps the same positions
                if scheme == "vanilla":
                    assert group.all() or not group.any()  # whole groups
    assert any(0 < layer["weights_kept"] < 1 for layer in report["layers"][1:])


@pytest.mark.parametrize("scheme", ["kgs", "vanilla"])
def test_kgs_and_vanilla_on_conv2d_compile_to_kernel_groups(scheme):
    # RT3D's schemes on a Conv2d model (block-punched pruning): each 4x4 group of kernels keeps one
    # position set (KGS; 1x1 convs whole groups), the cut is met, and the compiled model matches
    # PyTorch with the pruned convs in the kernel-group lowering (each a conv3d of depth 1)
    torch.manual_seed(5)
    model, x = randomize_batchnorm(SmallVGG(width=8)).eval(), torch.randn(1, 3, 16, 16)
    pruned = prune.project(model, scheme, 3.0, inputs=x, group_shape=(4, 4))
    report = prune.report(pruned, x)
    assert report["flops_reduction"] >= 3.0
    convs = [m for m in pruned.modules() if isinstance(m, nn.Conv2d)]
    for conv in convs[1:]:
        nz = kernel_codes(conv.weight)
        for o in range(0, nz.shape[0], 4):
            for i in range(0, nz.shape[1], 4):
                group = nz[o:o + 4, i:i + 4].reshape(-1, nz.shape[2])
                assert (group == group[0]).all()
                if scheme == "vanilla":
                    assert group.all() or not group.any()
    cm = check_against_torch(pruned, x)
    assert cm.stats()["sparse_flops"] == report["sparse_flops"]  # kept weights, not the masks' kernels
    loops = cm.ir("loops")
    staged = re.findall(r"memref.alloc\(\) \{alignment = 64 : i64\} : memref<1x\d+x1x\d+x\d+xf32>", loops)
    # inputs staged with a depth of 1: every pruned conv's, and the dense stem's too when the next
    # conv reads none of a block of its filters (Vanilla removes whole groups of 4 channels), whose
    # removal leaves the stem with zero filters in aligned blocks
    assert len(staged) >= len(convs) - 1 and "pconv.conv" not in loops


def separable(channels=8):
    """A dense stem, then depthwise 3x3 / pointwise pairs (MobileNet's blocks)."""
    return nn.Sequential(nn.Conv2d(3, channels, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(channels, channels, 3, padding=1, groups=channels), nn.ReLU(),
                         nn.Conv2d(channels, 2 * channels, 1), nn.ReLU(),
                         nn.Conv2d(2 * channels, 2 * channels, 3, padding=1, groups=2 * channels), nn.ReLU(),
                         nn.Conv2d(2 * channels, channels, 1))


@pytest.mark.parametrize("scheme", ["pattern", "filter"])
def test_depthwise_convs_keep_every_kernel_unless_asked(scheme):
    """Removing a depthwise kernel removes a channel (a dense runtime gets that by shrinking the
    model): by default depthwise convs keep every kernel, their 3x3 kernels on library patterns;
    the cut comes from the other convs. depthwise=True lets the scheme remove their kernels."""
    torch.manual_seed(4)
    model, x = separable(16), torch.randn(1, 3, 12, 12)
    depthwise = [2, 6]
    pruned = prune.project(model, scheme, 2.0, inputs=x)
    assert prune.report(pruned, x)["flops_reduction"] >= 2.0
    for i in depthwise:
        codes = kernel_codes(pruned[i].weight)
        assert codes.any(dim=2).all()  # every channel's kernel kept
        if scheme == "pattern":
            assert (codes.sum(dim=2) == 4).all()  # 4-weight library patterns
        else:
            assert torch.equal(pruned[i].weight, model[i].weight)
    assert any(kernel_codes(pruned[i].weight).any(dim=2).float().mean() < 1 for i in (4, 8))
    shrunk = prune.project(model, scheme, 2.0, inputs=x, depthwise=True)
    assert prune.report(shrunk, x)["flops_reduction"] >= 2.0
    assert any(not kernel_codes(shrunk[i].weight).any(dim=2).all() for i in depthwise)


def test_depthwise_only_model_says_how_to_reach_the_cut():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1, groups=8),
                          nn.Conv2d(8, 8, 1))
    with pytest.raises(PruneError, match=r"depthwise convs \(1\) keep every kernel: depthwise=True"):
        prune.project(model, "pattern", 20.0, inputs=torch.randn(1, 3, 8, 8))
    alone = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1, groups=8))  # patterns alone cut 9 -> 4 taps
    pruned = prune.project(alone, "pattern", 2.0, skip_first=False, inputs=torch.randn(1, 8, 6, 6))
    assert (kernel_codes(pruned[0].weight).sum(dim=2) == 4).all()
    with pytest.raises(PruneError, match="at most 2.25x is reachable"):
        prune.project(alone, "pattern", 3.0, skip_first=False, inputs=torch.randn(1, 8, 6, 6))


def test_impossible_requests_say_what_to_do():
    model = net2d()
    with pytest.raises(PruneError, match=r"at most .*x is reachable.*skip_first=False"):
        prune.project(model, "pattern", 1000.0, inputs=torch.randn(1, 3, 8, 8))
    with pytest.raises(PruneError, match="flops"):
        prune.project(model, "pattern", 0.5)
    with pytest.raises(PruneError, match="unknown 'patterns'"):
        prune.project(model, "patterns")
    with pytest.raises(PruneError, match="no conv for scheme 'pattern'"):
        prune.project(nn.Sequential(nn.Flatten(), nn.Linear(4, 2)), "pattern")
    with pytest.raises(PruneError, match="no conv for scheme 'kgs' to prune: it works on Conv2d and Conv3d"):
        prune.project(nn.Sequential(nn.Flatten(), nn.Linear(4, 2)), "kgs")
    with pytest.raises(PruneError, match="uses no pattern library"):
        prune.project(model, "filter", library=["010/111/010"])


def loader_for(model_input_shape, classes=3, samples=96, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(samples, *model_input_shape, generator=gen)
    y = (x.flatten(1)[:, :classes].argmax(dim=1))  # learnable labels
    return DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True, generator=gen)


def small_classifier():
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(),
                          nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(16, 3))


def test_admm_lowers_the_constraint_residual_and_returns_the_structure():
    model, loader = small_classifier(), loader_for((3, 8, 8))
    pruned, report = prune.admm(model, loader, "pattern", 3.0, epochs=6, finetune_epochs=1, lr=1e-2, rho=0.1,
                                rho_growth=2.0, progress=False)
    residual = report["admm"]["residual"]
    assert len(residual) == 7 and residual[-1] < 0.7 * residual[0]
    assert report["flops_reduction"] >= 3.0 and report["library"] and len(report["finetune_losses"]) == 1
    library_codes = {tuple(np.array([c == "1" for c in k.replace("/", "")])) for k in report["library"]}
    for conv in (pruned[2], pruned[4]):
        for code in kernel_codes(conv.weight).reshape(-1, 9).tolist():
            assert not any(code) or tuple(code) in library_codes
    assert (model[2].weight != 0).all()  # the caller's model is not touched


def test_masked_finetuning_keeps_zeros():
    model, loader = small_classifier(), loader_for((3, 8, 8))
    plan = prune.make_plan(model, "pattern", 3.0)
    masks = prune.apply(plan)
    before = {name: model.get_submodule(name).weight.detach().clone() for name in masks}
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-2)
    prune.finetune(model, loader, masks, 3, optimizer=optimizer, progress=False)
    for name, mask in masks.items():
        weight = model.get_submodule(name).weight.detach()
        assert (weight[~mask] == 0).all()
        assert not torch.equal(weight[mask], before[name][mask])  # it did train


@pytest.mark.parametrize("method", [prune.reweighted, prune.oneshot])
def test_reweighted_and_oneshot_share_the_interface(method):
    model, loader = small_classifier(), loader_for((3, 8, 8))
    calls = []
    options = {"epochs": 4} if method is prune.reweighted else {}
    pruned, report = method(model, loader, "pattern", 3.0, finetune_epochs=1, progress=False,
                            evaluate=lambda m: calls.append(m.training) or 0.5, **options)
    assert report["flops_reduction"] >= 3.0 and report["accuracy"] == {"projected": 0.5, "finetuned": 0.5}
    assert calls == [False, False]  # evaluated in eval mode
    if method is prune.reweighted:
        dense_residual = prune.make_plan(model, "pattern", 3.0).residual()
        assert report["reweighted"]["residual"][0] == pytest.approx(dense_residual)
        assert report["reweighted"]["residual"][-1] < dense_residual  # pushed towards the structure


def test_kgs_training_keeps_group_structure():
    model = nn.Sequential(net3d(), nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(6, 3))
    loader = loader_for((1, 4, 6, 6), samples=64)
    pruned, report = prune.reweighted(model, loader, "kgs", 3.0, epochs=2, finetune_epochs=1, progress=False)
    nz = kernel_codes(pruned[0][2].weight)
    assert (nz[:4, :4].reshape(-1, 27) == nz[0, 0]).all() and report["flops_reduction"] >= 3.0


def test_bad_training_arguments():
    model = small_classifier()
    with pytest.raises(PruneError, match="no batches"):
        prune.oneshot(model, [], "pattern", 3.0)
    with pytest.raises(PruneError, match="unexpected argument 'groupshape'"):
        prune.oneshot(model, loader_for((3, 8, 8)), "pattern", 3.0, groupshape=(2, 2))
    with pytest.raises(PruneError, match="no module named"):
        prune.finetune(model, loader_for((3, 8, 8)), {"conv9": torch.ones(1)}, 1)


def test_pruned_model_compiles_and_stats_agree_with_the_report():
    model = randomize_batchnorm(SmallVGG(width=8)).eval()
    x = torch.randn(1, 3, 16, 16)
    library = prune.default_library(6)
    pruned = prune.project(model, "pattern", 3.6, library=library, inputs=x)
    report = prune.report(pruned, x, library)
    cm = check_against_torch(pruned, x)
    stats = cm.stats()
    assert stats["dense_flops"] == report["dense_flops"] and stats["sparse_flops"] == report["sparse_flops"]
    assert stats["flops_reduction"] >= 3.6
    for got, want in zip(stats["layers"], report["layers"]):
        assert got["connectivity"] == pytest.approx(want["connectivity"])
        assert got["pattern_histogram"] == want["pattern_histogram"]
    used = {key for layer in stats["layers"][1:] for key in layer["pattern_histogram"]}
    assert used <= set(report["library"])


def test_report_of_a_dense_model():
    model, x = net2d(), torch.randn(2, 3, 8, 8)
    report = prune.report(model, x)
    assert report["flops_reduction"] == 1.0 and report["library"] is None
    first = report["layers"][0]
    assert first["dense_flops"] == 2 * 2 * 8 * 8 * 8 * 3 * 9  # batch 2, 8x8 outputs, 8 filters of 3x3x3
    assert first["pattern_histogram"] == {"111/111/111": 8 * 3}
    assert json.loads(json.dumps(report)) == report


def test_prune_command(tmp_path, capsys):
    torch.manual_seed(4)
    source, target, report_path = tmp_path / "m.pt", tmp_path / "p.pt", tmp_path / "r.json"
    torch.save(net2d(8, 16, 16, 16), source)
    assert cli_main(["prune", str(source), "-o", str(target), "--flops", "3", "--input-shape", "1,3,8,8",
                     "--patterns", "4", "--report", str(report_path)]) == 0
    report = json.loads(report_path.read_text())
    assert report["flops_reduction"] >= 3.0 and len(report["library"]) == 4
    pruned = torch.load(target, weights_only=False)
    assert prune.report(pruned, torch.zeros(1, 3, 8, 8))["sparse_flops"] == report["sparse_flops"]
    assert "library: " in capsys.readouterr().out
    assert cli_main(["prune", str(source), "-o", str(target), "--flops", "500", "--input-shape", "1,3,8,8"]) == 1
    assert "is reachable" in capsys.readouterr().err
    torch.save(separable(16), source)
    for flag, whole in (([], True), (["--prune-depthwise"], False)):
        assert cli_main(["prune", str(source), "-o", str(target), "--flops", "2", "--input-shape", "1,3,8,8",
                         *flag]) == 0
        pruned = torch.load(target, weights_only=False)
        assert bool(kernel_codes(pruned[2].weight).any(dim=2).all() and
                    kernel_codes(pruned[6].weight).any(dim=2).all()) == whole
    library = tmp_path / "lib.json"
    library.write_text("not json")
    assert cli_main(["prune", str(source), "-o", str(target), "--library", str(library)]) == 1
    assert "JSON list of patterns" in capsys.readouterr().err
