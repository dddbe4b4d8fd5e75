"""OFA subnets in plain PyTorch: OFA's channel rounding, block and network sizes by hand, FLOPs, latency."""
from __future__ import annotations

import math

import pandas as pd
import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from core.cli import main
from core.model_measure import (
    count_flops,
    count_params,
    measure_latency,
    pinned_threads,
)
from core.spaces.ofa_layouts import (
    MBV3,
    PROXYLESS,
    HeadConv,
    Layout,
    Stage,
    SubnetConfig,
    make_divisible,
)
from core.spaces.ofa_subnets import MBConv, build_subnet, profile_subnet
from core.tables.validated import load_table


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: this 2-core machine is shared, and oversubscribed OpenMP threads crawl."""
    with pinned_threads(1):
        yield


def smallest(layout: Layout, r: int = 64) -> SubnetConfig:
    n = layout.num_layers
    return SubnetConfig(ks=(3,) * n, e=(3,) * n, d=tuple(min(s.depths) for s in layout.stages), r=r)


def test_make_divisible_is_ofas_rounding():
    # ProxylessNAS w1.3 widths: 32, 16, 24, 40, 80, 96, 192, 320, 1280 times 1.3.
    assert [make_divisible(w * 1.3) for w in (32, 16, 24, 40, 80, 96, 192, 320, 1280)] == [
        40, 24, 32, 56, 104, 128, 248, 416, 1664]
    assert make_divisible(12) == 16  # rounds half up
    assert make_divisible(4) == 8  # never below the divisor
    assert make_divisible(9) == 16  # 8 would be more than 10% below 9


def test_layouts_match_ofa():
    assert [s.width for s in MBV3.stages] == [24, 40, 80, 112, 160]
    assert [s.se for s in MBV3.stages] == [False, True, False, True, True]
    assert [s.act for s in MBV3.stages] == ["relu", "relu", "h_swish", "h_swish", "h_swish"]
    assert MBV3.num_layers == 20
    assert [s.width for s in PROXYLESS.stages] == [32, 56, 104, 128, 248, 416]
    assert [s.stride for s in PROXYLESS.stages] == [2, 2, 2, 1, 2, 1]
    assert PROXYLESS.stages[-1].depths == (1,)
    assert PROXYLESS.num_layers == 21


def test_mbconv_parameters_by_hand():
    # 16 -> 24, k3, e3: mid = 48. expand 16*48 + BN 2*48; depthwise 48*9 + BN 96; project 48*24 + BN 48.
    plain = MBConv(16, 24, kernel=3, stride=2, expand=3, act="relu")
    assert count_params(plain) == 768 + 96 + 432 + 96 + 1152 + 48 == 2592
    # SE on 48 channels: hidden div8(48 // 4 = 12) = 16; reduce 48*16 + 16, expand 16*48 + 48.
    se = MBConv(16, 24, kernel=3, stride=2, expand=3, act="relu", se=True)
    assert count_params(se) == 2592 + (768 + 16) + (768 + 48)
    # Expansion 1 (the fixed first block) has no 1x1 expansion conv: depthwise 16*9 + 32, project 16*16 + 32.
    assert count_params(MBConv(16, 16, 3, 1, 1, "relu")) == 144 + 32 + 256 + 32


def test_residual_only_where_ofa_has_a_shortcut():
    mbv3 = build_subnet(MBV3, smallest(MBV3))
    pn = build_subnet(PROXYLESS, smallest(PROXYLESS))
    # First blocks: MobileNetV3 16 -> 16 keeps its shortcut, ProxylessNAS 40 -> 24 cannot have one.
    assert mbv3.blocks[0].residual and not pn.blocks[0].residual
    # Two layers per stage: the first changes width or stride, the second is residual.
    assert [b.residual for b in mbv3.blocks[1:]] == [False, True] * 5
    assert [b.residual for b in pn.blocks[1:]] == [False, True] * 5 + [False]


def tiny_layout() -> Layout:
    return Layout(
        name="tiny", stem_width=8, stem_act="relu", first_block_width=8, first_block_act="relu",
        stages=(Stage(16, 2, "relu", True, (1, 2)),),
        head_before_pool=(HeadConv(32, True, "h_swish"),),
        head_after_pool=(HeadConv(24, False, "h_swish"),),
        num_classes=10,
    )


def test_whole_network_parameters_by_hand():
    model = build_subnet(tiny_layout(), SubnetConfig(ks=(3, 5), e=(3, 4), d=(2,), r=32))
    stem = 3 * 8 * 9 + 2 * 8
    first = 8 * 9 + 16 + 8 * 8 + 16
    # 8 -> 16, k3, e3: mid 24, SE hidden div8(6) = 8.
    layer0 = (8 * 24 + 48) + (24 * 9 + 48) + (24 * 8 + 8 + 8 * 24 + 24) + (24 * 16 + 32)
    # 16 -> 16, k5, e4: mid 64, SE hidden 16.
    layer1 = (16 * 64 + 128) + (64 * 25 + 128) + (64 * 16 + 16 + 16 * 64 + 64) + (64 * 16 + 32)
    head = (16 * 32 + 64) + 32 * 24 + (24 * 10 + 10)  # the conv after pooling has no BN and no bias
    assert count_params(model) == stem + first + layer0 + layer1 + head == 9394


@pytest.mark.slow
def test_forward_shapes():
    for layout in (MBV3, PROXYLESS):
        model = build_subnet(layout, smallest(layout))
        with torch.inference_mode():
            assert model(torch.zeros(2, 3, 64, 64)).shape == (2, 1000)
    tiny = build_subnet(tiny_layout(), SubnetConfig(ks=(7, 3), e=(6, 3), d=(1,), r=32))
    assert tiny(torch.zeros(1, 3, 32, 32)).shape == (1, 10)


def test_same_config_same_weights():
    a, b = (build_subnet(MBV3, smallest(MBV3)) for _ in range(2))
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_flops_of_one_conv_by_hand():
    conv = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1, bias=False))
    # 2 FLOPs per MAC: 8 outputs x 3 inputs x 3x3 taps at 16x16 output positions.
    assert count_flops(conv, 32) == 2 * 8 * 3 * 9 * 16 * 16


@pytest.mark.parametrize("layout", [MBV3, PROXYLESS], ids=["mbv3", "pn"])
@pytest.mark.slow
def test_layerwise_flops_equal_the_counter_on_the_whole_model(layout):
    n = layout.num_layers
    config = SubnetConfig(ks=tuple([7, 5, 3] * 7)[:n], e=tuple([6, 3, 4] * 7)[:n],
                          d=tuple(max(s.depths) for s in layout.stages), r=96)
    model = build_subnet(layout, config)
    counter = FlopCounterMode(display=False)
    with counter, torch.inference_mode():
        model(torch.zeros(1, 3, 96, 96))
    assert count_flops(model, 96) == counter.get_total_flops() > 0
    assert count_flops(model, 96) == counter.get_total_flops()  # and again from the cache


@pytest.mark.slow
def test_flops_and_params_grow_with_the_subnet():
    small, large = smallest(MBV3, 128), SubnetConfig((7,) * 20, (6,) * 20, (4,) * 5, 128)
    ms, ml = build_subnet(MBV3, small), build_subnet(MBV3, large)
    assert count_params(ms) < count_params(ml)
    assert count_flops(ms, 128) < count_flops(ml, 128) < count_flops(ml, 160)


def test_latency_is_a_positive_median_and_threads_are_restored():
    model = build_subnet(tiny_layout(), SubnetConfig(ks=(3, 3), e=(3, 3), d=(2,), r=32))
    before = torch.get_num_threads()
    with pinned_threads(1) as used:
        assert used == torch.get_num_threads() == 1
        timing = measure_latency(model, 32, warmup=1, repeats=3)
    assert torch.get_num_threads() == before
    assert math.isfinite(timing.wall_ms) and timing.wall_ms > 0
    assert math.isfinite(timing.cpu_ms) and timing.cpu_ms > 0


def test_profile_has_the_table_columns():
    row = profile_subnet(MBV3, smallest(MBV3), threads=1, warmup=0, repeats=1)
    assert set(row) == {"latency_ms", "cpu_ms", "params_m", "flops_m", "threads", "device"}
    assert row["threads"] == 1 and row["device"] == "cpu"
    assert row["params_m"] == pytest.approx(count_params(build_subnet(MBV3, smallest(MBV3))) / 1e6)


# ----------------------------------------------------------------------------- the latency sampler

@pytest.mark.slow
def test_sample_measure_latency_writes_positive_finite_rows(tmp_path, capsys):
    out = tmp_path / "lat.csv"
    code = main(["sample", "--space", "ofa-mbv3", "--n", "2", "--seed", "3", "--measure", "latency",
                 "--threads", "1", "--warmup", "0", "--repeats", "1", "--out", str(out)])
    assert code == 0
    table = pd.read_csv(out)
    assert list(table.columns) == ["arch", "latency_ms", "cpu_ms", "params_m", "flops_m", "threads", "device"]
    assert len(table) == 2
    for column in ("latency_ms", "cpu_ms", "params_m", "flops_m"):
        assert (table[column] > 0).all() and table[column].map(math.isfinite).all()
    assert (table["threads"] == 1).all() and (table["device"] == "cpu").all()
    # The table is a valid AutoBuild table of the space (canonical specs, numeric metrics).
    loaded = load_table(out, "ofa-mbv3")
    assert list(loaded.frame["arch"]) == list(table["arch"])
    assert "wrote" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["--space", "nasbench201", "--measure", "latency"], "cannot build networks"),
    (["--space", "ofa-mbv3", "--measure", "accuracy"], "not 'accuracy'"),
    (["--space", "ofa-mbv3", "--measure", "latency", "--device", "tpu"], "tpu"),
    (["--space", "ofa-mbv3", "--measure", "latency", "--threads", "0"], "threads"),
    (["--space", "ofa-mbv3", "--measure", "latency", "--dataset", "cifar10"], "--dataset"),
])
def test_sample_measure_errors_are_one_line(tmp_path, capsys, argv, message):
    out = tmp_path / "t.csv"
    assert main(["sample", "--n", "1", "--out", str(out), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not out.exists()
