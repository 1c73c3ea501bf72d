"""Every threshold of DESIGN.md's metric definitions, with its default.

A project stores overrides; each computed row records ALGORITHM_VERSION and the params it used
(as_dict), so changing a setting never silently rewrites history.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

ALGORITHM_VERSION = "1"


@dataclass(frozen=True)
class MetricParams:
    reference_branch: str = "main"
    # Flakiness
    same_commit_days: int = 7
    flaky_window_days: int = 14
    suspect_runs: int = 30
    suspect_min_runs: int = 10
    suspect_flip_rate: float = 0.2
    suspect_min_failures: int = 2
    clear_days: int = 14
    clear_passes: int = 5
    # Order dependence
    od_window_days: int = 28
    od_min_failures: int = 5
    od_min_passes: int = 5
    od_q: float = 0.05
    od_min_risk_difference: float = 0.3
    od_min_cooccurrence: int = 3
    od_max_polluters: int = 3
    # Cascades and outages
    cascade_min_length: int = 3
    cascade_alpha: float = 1e-3
    cascade_window_days: int = 28
    outage_share: float = 0.5
    # Durations
    p50_min_n: int = 5
    p95_min_n: int = 20
    cp_window: int = 50
    cp_pvalue: float = 0.001
    cp_min_points: int = 5
    cp_min_ratio: float = 1.10
    cp_min_shift_ms: float = 25.0
    cp_improvement_ratio: float = 0.9
    cp_mwu_pvalue: float = 0.01
    budget_min_n: int = 20
    budget_min_over: int = 3
    # Regressions
    regression_baseline_runs: int = 5
    fixed_passes: int = 3
    # How far before a recompute's window an episode going on at its start is followed back:
    # one that began earlier is reported as broken since before the earliest run read.
    regression_read_back_weeks: int = 26

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> MetricParams:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})  # type: ignore[arg-type]
