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

    def set_labels(self) -> dict[str, str]:
        """Kind -> set label, as in the paper's table ("Random 68", "ES 4", "AutoBuild 4") plus the random picks."""
        return {"random": f"Random {self.n_random}", "es": f"ES {self.n_pick}",
                "autobuild": f"AutoBuild {self.n_pick}", "picked_random": f"{self.n_pick} more random"}

    def __post_init__(self) -> None:
        if self.n_random < 10:
            raise ValueError(f"n_random must be at least 10 (the predictor's minimum table), not {self.n_random}")
        if self.n_pick < 1 or self.tiles_per_photo < 1 or self.steps < 1 or self.predictor_epochs < 1:
            raise ValueError("n_pick, tiles_per_photo, steps and predictor_epochs must be positive")


#: The toy size used on a CPU and by the tests: a plumbing check, not a result.
TOY_STUDY = StudyConfig(n_random=10, n_pick=1, tiles_per_photo=1, steps=1, predictor_epochs=2, exhaustive_pool=16,
                        max_images=3, predictor_min_steps=0)
