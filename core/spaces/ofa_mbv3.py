"""Once-for-All MobileNetV3 (Cai et al., ICLR 2020), the ``ofa_mbv3_d234_e346_k357_w1.0`` supernet.

Spec: OFA's subnet config ``{"ks":[20 kernels],"e":[20 expansions],"d":[5 depths],"r":[224]}``
(see :mod:`core.spaces.ofa_common` for the rules). 5 stages of 2-4 MBConv layers with kernel 3/5/7 and
expansion 3/4/6; squeeze-excite in stages 2, 4, 5 and h-swish from stage 3 on
(:data:`core.spaces.ofa_subnets.MBV3`).

Units: the 5 stages, each 9^2 + 9^3 + 9^4 = 7,371 candidates, 36,855 in all. The space holds
7,371^5 * 25 resolutions, about 5.4e20 subnets (2.2e19 at one resolution).
"""
from __future__ import annotations

from core.spaces import register_space
from core.spaces.ofa_common import OFASpace, UnitDef
from core.spaces.ofa_layouts import MBV3


@register_space
class OFAMobileNetV3Space(OFASpace):
    """OFA MobileNetV3 w1.0 subnets; real latency/params/FLOPs come from building them (no accuracy)."""

    name = "ofa-mbv3"
    description = "Once-for-All MobileNetV3: 5 stages of 2-4 MBConv layers (k 3/5/7, e 3/4/6), resolution 128-224."
    layout = MBV3
    unit_defs = tuple(UnitDef(f"stage{i + 1}", (i,)) for i in range(5))
