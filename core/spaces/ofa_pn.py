"""Once-for-All ProxylessNAS (Cai et al., ICLR 2020), the ``ofa_proxyless_d234_e346_k357_w1.3`` supernet.

Spec: OFA's subnet config ``{"ks":[21 kernels],"e":[21 expansions],"d":[6 depths],"r":[224]}``: OFA's
ProxylessNAS has 5 stages of 2-4 MBConv layers plus a 6th stage of exactly one elastic layer (the
416-channel one, kernel and expansion still chosen), so ``ks``/``e`` have 5 * 4 + 1 = 21 slots and
``d`` has 6 entries whose last is always 1, as ``OFAProxylessNASNets.sample_active_subnet`` writes it.
ReLU6 everywhere, no squeeze-excite (:data:`core.spaces.ofa_subnets.PROXYLESS`).

Units: as in the paper, the one-layer last stage is merged into the stage before it, so there are 5
units: stages 1-4 with 9^2 + 9^3 + 9^4 = 7,371 candidates each (29,484), and the merged unit of
2-4 + 1 = 3-5 layers with 9^3 + 9^4 + 9^5 = 66,339; 95,823 in all. The merged unit's choice lists its
stage-5 layers, then the stage-6 layer; node features keep the real stage (6 for the last layer) so
that layer never looks like a 248-channel stage-5 layer.
"""
from __future__ import annotations

from core.spaces import register_space
from core.spaces.ofa_common import OFASpace, UnitDef
from core.spaces.ofa_layouts import PROXYLESS


@register_space
class OFAProxylessSpace(OFASpace):
    """OFA ProxylessNAS w1.3 subnets; real latency/params/FLOPs come from building them (no accuracy)."""

    name = "ofa-pn"
    description = "Once-for-All ProxylessNAS: 5 stages of 2-4 MBConv layers + 1 (k 3/5/7, e 3/4/6), resolution 128-224."
    layout = PROXYLESS
    unit_defs = tuple(UnitDef(f"stage{i + 1}", (i,)) for i in range(4)) + (UnitDef("stage5", (4, 5)),)
