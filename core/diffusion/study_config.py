"""The settings of AutoBuild's SD study (:mod:`core.diffusion.study` runs it, :mod:`core.diffusion.study_report`
summarises it): how many random architectures, picks, tiles, DDIM steps and predictor epochs."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StudyConfig:
    n_random: int = 68
    n_pick: int = 4
    tiles_per_photo: int = 32
    steps: int = 25
    seed: int = 0
    predictor_epochs: int = 200
    exhaustive_pool: int | None = None  # None: score the whole space (884,736)
    max_images: int | None = None  # None: every evaluation tile
    predictor_min_steps: int = 1000
    device: str = "cpu"
    matched_per_pick: int = 2  # random architectures per AutoBuild pick, each removing as many blocks
    kid_subsets: int = 100

    def set_labels(self) -> dict[str, str]:
        """Kind -> set label, as in the paper's table ("Random 68", "ES 4", "AutoBuild 4") plus the random
        architectures matched to AutoBuild's picks by the number of blocks they remove (no count in that label:
        a pick's block count may have too few architectures, e.g. none but the full network removes 0)."""
        return {"random": f"Random {self.n_random}", "es": f"ES {self.n_pick}",
                "autobuild": f"AutoBuild {self.n_pick}", "matched_random": "Random, as many blocks removed"}

    def __post_init__(self) -> None:
        if self.n_random < 10:
            raise ValueError(f"n_random must be at least 10 (the predictor's minimum table), not {self.n_random}")
        if min(self.n_pick, self.tiles_per_photo, self.steps, self.predictor_epochs, self.matched_per_pick,
               self.kid_subsets) < 1:
            raise ValueError("n_pick, tiles_per_photo, steps, predictor_epochs, matched_per_pick and kid_subsets "
                             "must be positive")


#: The CPU profile (benchmarks/sd_cpu_run.sh, 16 x 16 model): sized so that the whole study fits about 45
#: minutes of 2 CPU cores, where Inception features (about 0.25 s per image) cost more than the sampling:
#: 128 held-out tiles (KID subsets of 64), 10 DDIM steps, 36 random architectures (the paper: 68), and the
#: exhaustive-search baseline over 100,000 random architectures instead of all 884,736.
CPU_STUDY = StudyConfig(n_random=36, n_pick=4, tiles_per_photo=16, steps=10, exhaustive_pool=100_000)

#: The toy size used on a CPU and by the tests: a plumbing check, not a result.
TOY_STUDY = StudyConfig(n_random=10, n_pick=1, tiles_per_photo=1, steps=1, predictor_epochs=2, exhaustive_pool=16,
                        max_images=4, predictor_min_steps=0, matched_per_pick=1, kid_subsets=5)
