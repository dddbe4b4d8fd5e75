"""Feature-embedding MLP (FE-MLP): the interpretable hop-0 node embedding of AutoBuild.

Mills et al., CVPR 2024, Sec. 3: every node feature gets its own small embedding that outputs ONE
scalar; the scalars are concatenated and passed through ``abs``:

    h_v^0 = | [ e_1(x_v,1), e_2(x_v,2), ..., e_F(x_v,F) ] |        shape [N, F]

so entry ``f`` of a node's hop-0 embedding is directly "how much feature value x_v,f contributes"
(e.g. kernel 7 vs kernel 3). Categorical features use a lookup table of scalars (a one-hot followed
by a linear layer, which is the same thing); numeric features use a 1 -> hidden -> 1 MLP.
"""
from __future__ import annotations

import pandas as pd
import torch
from torch import nn

from core.features import FeatureSchema


class FeatureEmbedding(nn.Module):
    """Hop-0 node embeddings: one non-negative scalar per node feature.

    Args:
        schema: the space's node features (categorical first, then numeric).
        hidden: width of the per-feature MLP of numeric features.

    Shapes:
        x_cat [N, C] long, x_num [N, M] float  ->  [N, C + M] float, all entries >= 0.
    """

    def __init__(self, schema: FeatureSchema, hidden: int = 16) -> None:
        super().__init__()
        self.schema = schema
        self.categorical = nn.ModuleList(nn.Embedding(len(f.vocab), 1) for f in schema.categorical)
        self.numeric = nn.ModuleList(
            nn.Sequential(nn.Linear(1, hidden), nn.ReLU(), nn.Linear(hidden, 1)) for _ in schema.numeric
        )
        for emb in self.categorical:
            # Positive-leaning start so no feature begins "switched off" by abs() near zero.
            nn.init.uniform_(emb.weight, 0.5, 1.5)
        # Row of feature i's first value in the stacked tables, so all lookups are one index_select.
        sizes = [len(f.vocab) for f in schema.categorical]
        offsets = torch.tensor([sum(sizes[:i]) for i in range(len(sizes))], dtype=torch.long)
        self.register_buffer("_table_offsets", offsets, persistent=False)

    @property
    def out_dim(self) -> int:
        return len(self.categorical) + len(self.numeric)

    def forward(self, x_cat: torch.Tensor, x_num: torch.Tensor) -> torch.Tensor:
        parts = []
        if self.categorical:
            # One lookup in the stacked tables instead of one embedding call per feature: the same
            # values, and a backward that is an index_add rather than one embedding backward each.
            table = torch.cat([emb.weight for emb in self.categorical]).squeeze(1)  # [sum of vocab sizes]
            parts.append(table.index_select(0, (x_cat + self._table_offsets).reshape(-1)).view(x_cat.shape))
        parts += [mlp(x_num[:, i : i + 1]) for i, mlp in enumerate(self.numeric)]
        return (torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]).abs()

    @torch.no_grad()
    def importance_table(self, numeric_points: int = 5) -> pd.DataFrame:
        """The 0-hop contribution of every feature value: columns ``feature``, ``value``, ``importance``.

        Categorical features list every vocabulary value; numeric features are evaluated at
        ``numeric_points`` evenly spaced values over the schema's range (in the feature's own units).
        """
        rows = []
        for spec, emb in zip(self.schema.categorical, self.categorical):
            weights = emb.weight[:, 0].abs().cpu().tolist()
            rows += [(spec.name, value, w) for value, w in zip(spec.vocab, weights)]
        for spec, mlp in zip(self.schema.numeric, self.numeric):
            grid = torch.linspace(0.0, 1.0, numeric_points).unsqueeze(1)
            device = next(mlp.parameters()).device
            out = mlp(grid.to(device))[:, 0].abs().cpu().tolist()
            for g, w in zip(grid[:, 0].tolist(), out):
                value = spec.low + g * (spec.high - spec.low)
                rows.append((spec.name, f"{value:g}", w))
        return pd.DataFrame(rows, columns=["feature", "value", "importance"])
