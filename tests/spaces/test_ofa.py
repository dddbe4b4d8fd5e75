"""OFA MobileNetV3 and ProxylessNAS spaces: config specs, sequence graphs, sampling, units, assembling."""
from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import torch

from core.errors import InputError, SpecError
from core.model_measure import pinned_threads
from core.spaces import get_space
from core.spaces.ofa_common import TOKENS
from core.spaces.ofa_mbv3 import OFAMobileNetV3Space
from core.spaces.ofa_pn import OFAProxylessSpace
from core.spaces.ofa_spec import RESOLUTIONS, SAMPLE_RESOLUTIONS
from core.spaces.ofa_subnets import build_subnet

MBV3_SPEC = json.dumps({
    "ks": [3, 5, 7, 3, 5, 7, 3, 5, 7, 3, 5, 7, 3, 5, 7, 3, 5, 7, 3, 5],
    "e": [3, 4, 6, 3, 4, 6, 3, 4, 6, 3, 4, 6, 3, 4, 6, 3, 4, 6, 3, 4],
    "d": [2, 3, 4, 2, 3],
    "r": [208],
})


def spec(**kw) -> str:
    base = json.loads(MBV3_SPEC)
    base.update(kw)
    return json.dumps(base)


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: this 2-core machine is shared, and oversubscribed OpenMP threads crawl."""
    with pinned_threads(1):
        yield


@pytest.fixture(scope="module")
def mbv3() -> OFAMobileNetV3Space:
    return get_space("ofa-mbv3")


@pytest.fixture(scope="module")
def pn() -> OFAProxylessSpace:
    return get_space("ofa-pn")


def test_registered(mbv3, pn):
    assert isinstance(mbv3, OFAMobileNetV3Space) and isinstance(pn, OFAProxylessSpace)
    assert mbv3.measures == pn.measures == ("latency",)
    assert not mbv3.datasets and not mbv3.enumerable


# ------------------------------------------------------------------------------------------ specs

def test_canonical_form_is_compact_json_with_inactive_slots_filled(mbv3):
    canonical = mbv3.canonical(MBV3_SPEC)
    config = json.loads(canonical)
    assert list(config) == ["ks", "e", "d", "r"] and config["r"] == [208] and " " not in canonical
    # Stage 1 has depth 2: slots 2 and 3 are off and hold the filler e3k3; stage 3 (depth 4) keeps all.
    assert config["ks"][:4] == [3, 5, 3, 3] and config["e"][:4] == [3, 4, 3, 3]
    assert config["ks"][8:12] == [7, 3, 5, 7]
    assert mbv3.canonical(canonical) == canonical


def test_equivalent_specs_share_one_canonical_form(mbv3):
    ks = json.loads(MBV3_SPEC)["ks"]
    other_inactive = ks[:2] + [7, 7] + ks[4:]
    nulls = ks[:2] + [None, None] + ks[4:]
    same = [spec(r=208), spec(ks=other_inactive), spec(ks=nulls), json.dumps({**json.loads(MBV3_SPEC), "wid": None}),
            spec(e=[float(v) for v in json.loads(MBV3_SPEC)["e"]])]
    assert {mbv3.canonical(s) for s in same} == {mbv3.canonical(MBV3_SPEC)}
    assert json.loads(mbv3.canonical(json.dumps({k: v for k, v in json.loads(MBV3_SPEC).items() if k != "r"})))["r"] == [224]


@pytest.mark.parametrize("bad, words", [
    ("not json", "not JSON"),
    ("[1, 2]", "JSON object"),
    (spec(ks=[3] * 19), "ks has 19 entries"),
    (spec(e=[3] * 21), "e has 21 entries"),
    (spec(d=[2, 2, 2, 2]), "d has 4 entries"),
    (spec(ks=[4] + [3] * 19), "ks[0] = 4 is not a kernel size"),
    (spec(e=[3, 3, 3, 3, 5] + [3] * 15), "e[4] = 5 is not an expansion ratio"),
    (spec(ks=[3, None] + [3] * 18), "ks[1] = null"),
    (spec(ks=[3, 3, 9] + [3] * 17), "ks[2] = 9"),  # an inactive slot must still hold a valid value
    (spec(d=[2, 1, 2, 2, 2]), "d[1] = 1 is not a depth of stage 2"),
    (spec(d=[2, 2, 5, 2, 2]), "d[2] = 5"),
    (spec(d=[2, 2, True, 2, 2]), "d[2] = true is not an integer"),
    (spec(r=[225]), "r = 225 is not an OFA resolution"),
    (spec(r=124), "r = 124"),
    (spec(r="224"), 'r = "224"'),
    (spec(wid=1.2), "wid = 1.2"),
    (json.dumps({"ks": [3] * 20, "e": [3] * 20}), "missing key 'd'"),
    (spec(depth=[2] * 5), "unknown key 'depth'"),
])
def test_invalid_specs_fail_with_one_line_naming_the_value(mbv3, bad, words):
    with pytest.raises(SpecError) as err:
        mbv3.canonical(bad)
    message = str(err.value)
    assert words in message and "\n" not in message and message.startswith("invalid ofa-mbv3 spec")


def test_proxyless_spec_has_21_slots_and_a_fixed_last_stage(pn):
    good = json.dumps({"ks": [5] * 21, "e": [6] * 21, "d": [4, 4, 4, 4, 4, 1], "r": 224})
    assert json.loads(pn.canonical(good))["d"] == [4, 4, 4, 4, 4, 1]
    with pytest.raises(SpecError, match=r"d\[5\] = 2 is not a depth of stage 6; choose from \[1\]"):
        pn.canonical(good.replace("4,1]", "4,2]").replace("4, 1]", "4, 2]"))
    with pytest.raises(SpecError, match="ks has 20 entries; ofa-pn needs 21"):
        pn.canonical(json.dumps({"ks": [5] * 20, "e": [6] * 21, "d": [4, 4, 4, 4, 4, 1]}))


def test_resolutions_are_ofas_training_sizes():
    assert RESOLUTIONS == tuple(range(128, 225, 4)) and len(RESOLUTIONS) == 25
    assert SAMPLE_RESOLUTIONS == (192, 196, 200, 204, 208, 212, 216, 220, 224)


def test_size(mbv3, pn):
    assert mbv3.size() == 7371**5 * 25
    assert pn.size() == 7371**4 * (9**3 + 9**4 + 9**5) * 25


# ------------------------------------------------------------------------------------------ graphs

def test_sequence_graph(mbv3):
    graph = mbv3.to_graph(MBV3_SPEC)
    assert graph.num_nodes == 2 + 3 + 4 + 2 + 3
    assert graph.edges == [(i, i + 1) for i in range(13)]
    assert graph.spec == mbv3.canonical(MBV3_SPEC)
    assert graph.nodes[2] == {"stage": 2, "layer": 0, "block": "mbconv-relu-se", "expand": 4, "kernel": 5,
                              "resolution": 208}
    assert graph.labels[:3] == ["s1.0 e3k3", "s1.1 e4k5", "s2.0 e4k5"]  # stage 2 starts at slot 4
    assert [n["block"] for n in graph.nodes][5:] == ["mbconv-h_swish"] * 4 + ["mbconv-h_swish-se"] * 5
    x_cat, x_num, edge_index = graph.encode(mbv3.schema())
    assert x_cat.shape == (14, 5) and x_num.shape == (14, 1) and edge_index.shape == (2, 13)
    assert torch.allclose(x_num, torch.full((14, 1), (208 - 128) / 96))


def test_proxyless_graph_keeps_the_last_stage_apart(pn):
    rng = np.random.default_rng(1)
    graph = pn.to_graph(pn.sample(rng))
    last = graph.nodes[-1]
    assert (last["stage"], last["layer"], last["block"]) == (6, 0, "mbconv-relu6")
    assert pn.schema().names == ("stage", "layer", "block", "expand", "kernel", "resolution")
    graph.encode(pn.schema())


# --------------------------------------------------------------------------------- sample, mutate

@pytest.mark.parametrize("name", ["ofa-mbv3", "ofa-pn"])
@pytest.mark.slow
def test_sample_and_mutate_respect_the_depth_rules(name):
    space = get_space(name)
    rng = np.random.default_rng(0)
    specs = space.sample_distinct(60, rng)
    for s in specs:
        config = space.parse(s)
        assert space.canonical(s) == s and config.r in SAMPLE_RESOLUTIONS
        assert all(d in stage.depths for d, stage in zip(config.d, space.layout.stages))
        child = space.mutate(s, rng)
        assert child != s and space.canonical(child) == child
        before, after = space.to_graph(s), space.to_graph(child)
        # One gene changed: a depth (node count moves), a kernel/expansion (one node), or r (every node).
        changed = sum(a != b for a, b in zip(before.nodes, after.nodes))
        assert before.num_nodes != after.num_nodes or changed == 1 or {
            a["resolution"] for a in after.nodes} != {b["resolution"] for b in before.nodes}
    depths = np.array([space.parse(s).d[0] for s in specs])
    assert set(depths) == {2, 3, 4}  # OFA samples depths uniformly, not weighted by architecture count


# ------------------------------------------------------------------------------------------- units

@pytest.mark.slow
def test_unit_counts_mbv3(mbv3):
    assert mbv3.units() == ("stage1", "stage2", "stage3", "stage4", "stage5")
    counts = {u: sum(1 for _ in mbv3.unit_candidates(u)) for u in mbv3.units()}
    assert counts == {u: 9**2 + 9**3 + 9**4 for u in mbv3.units()}
    assert sum(counts.values()) == 36855


@pytest.mark.slow
def test_unit_counts_proxyless_merge_the_last_two_stages(pn):
    counts = {u: sum(1 for _ in pn.unit_candidates(u)) for u in pn.units() if u != "stage5"}
    lengths, merged, last = set(), 0, None
    for last in pn.unit_candidates("stage5"):
        merged += 1
        lengths.add(len(last.choice))
    assert counts == {"stage1": 7371, "stage2": 7371, "stage3": 7371, "stage4": 7371}
    assert merged == 9**3 + 9**4 + 9**5 == 66339 and lengths == {3, 4, 5}
    assert sum(counts.values()) + merged == 95823
    # The deepest candidate: 4 stage-5 layers, then the stage-6 layer, scored at the latter.
    assert last.choice == ("e6k7",) * 5 and (last.root, last.hops) == (4, 4)
    assert [n["stage"] for n in last.graph.nodes] == [5, 5, 5, 5, 6]


def test_candidates_are_isolated_chains_scored_at_their_last_node(mbv3):
    first = next(iter(mbv3.unit_candidates("stage2")))
    assert first.choice == ("e3k3", "e3k3") and first.label == "e3k3, e3k3"
    assert first.graph.num_nodes == 2 and first.graph.edges == [(0, 1)]
    assert (first.root, first.hops) == (1, 1)
    assert first.graph.nodes[1] == {"stage": 2, "layer": 1, "block": "mbconv-relu-se", "expand": 3, "kernel": 3,
                                    "resolution": 224}
    choices = [c.choice for c in mbv3.unit_candidates("stage1")]
    assert len(set(choices)) == len(choices) and set(choices[0]) <= set(TOKENS)
    json.dumps(choices[100])  # JSON-serialisable for run files


def test_unit_candidates_is_lazy(mbv3):
    gen = mbv3.unit_candidates("stage3")
    assert next(gen).unit == "stage3"
    with pytest.raises(InputError, match="unknown unit 'stage9'"):
        next(mbv3.unit_candidates("stage9"))


@pytest.mark.parametrize("name", ["ofa-mbv3", "ofa-pn"])
@pytest.mark.slow
def test_built_units_assemble_into_a_valid_config_with_the_same_nodes(name):
    space = get_space(name)
    rng = np.random.default_rng(7)
    picked = {}
    for unit in space.units():
        # The first 10,000 candidates hold every depth of every unit (the merged one's 3-5 layers too).
        candidates = list(itertools.islice(space.unit_candidates(unit), 0, 10_000, 97))
        picked[unit] = candidates[int(rng.integers(len(candidates)))]
    assembled = space.assemble({u: c.choice for u, c in picked.items()})
    assert space.canonical(assembled) == assembled and space.parse(assembled).r == 224
    # The whole network's graph is the units' chains joined in order, node for node.
    graph = space.to_graph(assembled)
    expected = [node for u in space.units() for node in picked[u].graph.nodes]
    assert graph.nodes == expected
    # A JSON round trip of the choices (lists instead of tuples) and a resolution are accepted.
    again = space.assemble({**{u: list(c.choice) for u, c in picked.items()}, "r": [192]})
    assert json.loads(again)["r"] == [192] and json.loads(again)["d"] == json.loads(assembled)["d"]


def test_assemble_errors(mbv3):
    ok = {u: ["e6k5", "e4k3"] for u in mbv3.units()}
    with pytest.raises(SpecError, match="no choice for unit 'stage5'"):
        mbv3.assemble({u: c for u, c in ok.items() if u != "stage5"})
    with pytest.raises(SpecError, match="unknown unit 'stage6'"):
        mbv3.assemble({**ok, "stage6": ["e3k3"] * 2})
    with pytest.raises(SpecError, match=r"unit 'stage2': 5 layers chosen; it takes \[2, 3, 4\]"):
        mbv3.assemble({**ok, "stage2": ["e3k3"] * 5})
    with pytest.raises(SpecError, match="'e5k3' is not an expansion|e\\[.*\\] = 5"):
        mbv3.assemble({**ok, "stage1": ["e5k3", "e3k3"]})
    with pytest.raises(SpecError, match="'k3e3' is not a layer token"):
        mbv3.assemble({**ok, "stage1": ["k3e3", "e3k3"]})
    with pytest.raises(SpecError, match="r = 100"):
        mbv3.assemble({**ok, "r": 100})


# ------------------------------------------------------------------------------------- real nets

@pytest.mark.slow
def test_build_module_and_measure(mbv3, pn):
    small = json.dumps({"ks": [3] * 21, "e": [3] * 21, "d": [2, 2, 2, 2, 2, 1], "r": 128})
    model = build_subnet(pn.layout, pn.parse(small))
    with torch.inference_mode():
        assert model(torch.zeros(1, 3, 128, 128)).shape == (1, 1000)
    row = mbv3.measure(spec(d=[2] * 5, r=128), threads=1, warmup=0, repeats=1)
    assert row["latency_ms"] > 0 and row["flops_m"] > 0 and row["threads"] == 1
    with pytest.raises(InputError, match="not 'accuracy'"):
        mbv3.measure(MBV3_SPEC, "accuracy")


def test_latency_is_a_cost_so_the_default_target_negates_it(mbv3):
    assert mbv3.default_target(["latency_ms", "cpu_ms", "params_m"]) == "-latency_ms"
    assert mbv3.default_target(["acc"]) is None  # an uploaded accuracy table has no latency column
    assert get_space("nasbench201").default_target(["baseline_accuracy"]) == "baseline_accuracy"
    assert get_space("sd-unet").default_target(["fid"]) == "-fid"
