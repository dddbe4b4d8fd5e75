"""sd-unet space: rules, size, canonical specs, the graph (data flow + skip connections) and the units."""
import itertools
import json

import numpy as np
import pytest

from core.errors import InputError, SpecError
from core.spaces import get_space
from core.spaces.sd_unet import (
    FULL_SPEC,
    STAGES,
    SdUnetSpace,
    removed_blocks,
    stage_masks,
)

FULL = json.loads(FULL_SPEC)


@pytest.fixture(scope="module")
def space() -> SdUnetSpace:
    return get_space("sd-unet")


def spec(**masks: str) -> str:
    return json.dumps({**FULL, **masks})


def test_registered_with_schema(space):
    assert isinstance(space, SdUnetSpace)
    assert space.default_metric == "fid"
    assert space.schema().names == ("stage", "position", "kind", "channels", "level")


def test_size_and_per_stage_counts(space):
    counts = {s.name: len(stage_masks(s.name)) for s in STAGES}
    assert counts == {"down0": 6, "down1": 6, "down2": 6, "down3": 2, "mid": 4,
                      "up0": 1, "up1": 8, "up2": 8, "up3": 8}
    assert space.size() == 6**3 * 2 * 4 * 8**3 == 884_736


@pytest.mark.slow
def test_enumeration_is_complete_distinct_and_canonical(space):
    specs = list(space.enumerate())
    assert len(specs) == len(set(specs)) == space.size()
    assert specs[0] == FULL_SPEC
    assert all(space.canonical(s) == s for s in specs[::9973])


def test_canonical_forms(space):
    assert space.canonical("{}") == FULL_SPEC
    listed = '{"down0": ["R0", "R1"], "mid": ["R0", "R1"]}'
    assert space.canonical(listed) == space.canonical(spec(down0="R-R-", mid="R-R"))
    assert space.canonical(' {"up3":"R-RARA"} ') == spec(up3="R-RARA").replace(" ", "")


@pytest.mark.parametrize("bad, why", [
    ('{"down1": "-ARA"}', "first R"),          # channel-changing ResNet
    ('{"down0": "-ARA"}', "first R"),          # first R of every stage
    ('{"up1": "RAR--A"}', "up-stage R"),       # fuses a skip connection
    ('{"down0": "RA-A"}', "its R R1 is removed"),
    ('{"down0": "RAR"}', "needs 4 characters"),
    ('{"down0": "RRRA"}', "must follow layout"),
    ('{"down9": "RARA"}', "unknown stage"),
    ('{"down0": ["R0", "A7"]}', "has no block 'A7'"),
    ('{"down0": 3}', "mask string or a list"),
    ('[1, 2]', "JSON object"),
    ("not json", "not JSON"),
])
def test_invalid_specs_give_one_line_errors(space, bad, why):
    with pytest.raises(SpecError, match=why) as info:
        space.canonical(bad)
    assert "\n" not in str(info.value)


def test_removed_blocks_name_diffusers_modules(space):
    masks = space.parse(spec(down0="R-R-", down3="R-", mid="RA-", up2="R-RARA"))
    paths = [stage.module_path(p) for stage, p in removed_blocks(masks)]
    assert paths == ["down_blocks.0.attentions.0", "down_blocks.0.attentions.1", "down_blocks.3.resnets.1",
                     "mid_block.resnets.1", "up_blocks.2.attentions.0"]


def skip_edges(graph):
    return [(graph.labels[a], graph.labels[b]) for a, b in graph.edges if b != a + 1]


def test_full_graph_follows_diffusers_data_flow(space):
    g = space.to_graph("{}")
    assert g.num_nodes == 1 + 22 + 16 + 1  # conv_in, 22 R, 16 A, conv_out
    assert g.labels[0] == "conv_in" and g.labels[-1] == "conv_out"
    chain = [(a, b) for a, b in g.edges if b == a + 1]
    assert len(chain) == g.num_nodes - 1
    # diffusers pops the encoder's skips last-in first-out: 3 per up stage, 12 in all.
    assert skip_edges(g) == [
        ("down3 R1", "up0 R0"), ("down3 R0", "up0 R1"), ("down2 A1", "up0 R2"),
        ("down2 A1", "up1 R0"), ("down2 A0", "up1 R1"), ("down1 A1", "up1 R2"),
        ("down1 A1", "up2 R0"), ("down1 A0", "up2 R1"), ("down0 A1", "up2 R2"),
        ("down0 A1", "up3 R0"), ("down0 A0", "up3 R1"), ("conv_in", "up3 R2"),
    ]
    channels = {g.labels[i]: n["channels"] for i, n in enumerate(g.nodes)}
    assert channels["down1 R0"] == 640 and channels["up3 A2"] == 320


def test_removed_layer_passes_its_input_as_skip(space):
    g = space.to_graph(spec(down0="R---", down3="R-"))
    skips = dict((dst, src) for src, dst in skip_edges(g))
    assert skips["up0 R0"] == skips["up0 R1"] == "down3 R0"
    assert skips["up3 R0"] == skips["up3 R1"] == skips["up2 R2"] == "down0 R0"
    assert "down0 A0" not in g.labels


@pytest.mark.slow
def test_graphs_encode_with_the_schema(space):
    schema = space.schema()
    for s in itertools.islice(space.enumerate(), 0, 884_736, 50_000):
        x_cat, x_num, edge_index = space.to_graph(s).encode(schema)
        assert x_cat.shape[1] == 3 and x_num.shape[1] == 2 and edge_index.shape[0] == 2
        assert float(x_num.max()) <= 1.0


def test_units_cover_the_space(space):
    assert space.units() == tuple(s.name for s in STAGES)
    product = 1
    for unit in space.units():
        candidates = list(space.unit_candidates(unit))
        product *= len(candidates)
        for c in candidates:
            assert c.graph.num_nodes == c.root + 1 == c.hops + 1
            assert all(node["stage"] == unit for node in c.graph.nodes)
    assert product == space.size()
    with pytest.raises(InputError, match="no unit"):
        list(space.unit_candidates("bottleneck"))


def test_assemble_round_trip(space):
    rng = np.random.default_rng(0)
    for _ in range(20):
        s = space.sample(rng)
        assert space.assemble(space.parse(s)) == s
    with pytest.raises(SpecError, match="no choice for stage"):
        space.assemble({"down0": "RARA"})


def test_mutate_is_a_valid_different_neighbour(space):
    rng = np.random.default_rng(1)
    s = FULL_SPEC
    for _ in range(200):
        t = space.mutate(s, rng)
        assert t != s and space.canonical(t) == t
        a, b = space.parse(s), space.parse(t)
        assert sum(a[k] != b[k] for k in a) == 1  # one stage changes
        s = t


@pytest.mark.slow
def test_sample_is_uniform_per_stage(space):
    rng = np.random.default_rng(2)
    masks = [space.parse(space.sample(rng))["up1"] for _ in range(1600)]
    counts = np.unique(masks, return_counts=True)[1]
    assert len(counts) == 8 and counts.min() > 140  # 200 expected each


@pytest.mark.parametrize("space_name", ["sd-unet", "ofa-mbv3"])
def test_sample_cli_writes_distinct_specs_without_metrics(tmp_path, capsys, space_name):
    """The paper's first step: 68 random architectures of a space with no shipped metrics."""
    import pandas as pd

    from core.cli import main

    out = tmp_path / "archs.csv"
    assert main(["sample", "--space", space_name, "--n", "68", "--seed", "0", "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert list(table.columns) == ["arch"] and len(table) == 68 and table["arch"].is_unique
    space = get_space(space_name)
    assert all(space.canonical(a) == a for a in table["arch"])
    again = tmp_path / "again.csv"
    assert main(["sample", "--space", space_name, "--n", "68", "--seed", "0", "--out", str(again)]) == 0
    assert list(pd.read_csv(again)["arch"]) == list(table["arch"])
    assert "68 distinct architectures" in capsys.readouterr().out


def test_sample_removing_is_uniform_over_architectures_of_that_size(space):
    import collections

    rng = np.random.default_rng(0)
    for removed in (0, 3, 21):
        assert space.removed_count(space.sample_removing(removed, rng)) == removed
    # 18 architectures remove exactly one block; 1800 draws should see each about 100 times
    counts = collections.Counter(space.sample_removing(1, rng) for _ in range(1800))
    assert len(counts) == 18 and min(counts.values()) > 60 and max(counts.values()) < 140
    with pytest.raises(InputError, match="removes exactly 22"):
        space.sample_removing(22, rng)
