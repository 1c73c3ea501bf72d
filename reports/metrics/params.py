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
    # An open regression whose test stopped running on the reference branch (deleted, renamed)
    # is resolved as removed once both hold since its last result: this many days, and runs of
    # its service on this many other commits without it.
    removed_after_days: int = 14
    removed_after_commits: int = 5

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> MetricParams:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})  # type: ignore[arg-type]


def history_days(params: MetricParams) -> int:
    """How many days before `as_of` a recompute reads so every window ending then is complete.

    Flaky results at the start of the flaky window look back same_commit_days for evidence; a
    test's flaky status needs its flaky results from before the clearing period."""
    return max(
        params.od_window_days,
        params.cascade_window_days,
        params.flaky_window_days + params.same_commit_days,
        params.clear_days + params.flaky_window_days,
    )


# The values a project may set (inclusive). Windows are bounded so a recompute reads a bounded
# history; shares and p-values are probabilities.
PARAM_BOUNDS: dict[str, tuple[float, float]] = {
    "same_commit_days": (1, 28),
    "flaky_window_days": (1, 90),
    "suspect_runs": (2, 500),
    "suspect_min_runs": (2, 500),
    "suspect_flip_rate": (0.0, 1.0),
    "suspect_min_failures": (1, 500),
    "clear_days": (0, 90),
    "clear_passes": (1, 500),
    "od_window_days": (1, 90),
    "od_min_failures": (1, 1000),
    "od_min_passes": (1, 1000),
    "od_q": (0.0, 1.0),
    "od_min_risk_difference": (0.0, 1.0),
    "od_min_cooccurrence": (1, 1000),
    "od_max_polluters": (1, 10),
    "cascade_min_length": (2, 1000),
    "cascade_alpha": (0.0, 1.0),
    "cascade_window_days": (1, 90),
    "outage_share": (0.0, 1.0),
    "p50_min_n": (1, 10000),
    "p95_min_n": (1, 10000),
    "cp_window": (10, 1000),
    "cp_pvalue": (0.0, 1.0),
    "cp_min_points": (2, 500),
    "cp_min_ratio": (1.0, 100.0),
    "cp_min_shift_ms": (0.0, 3_600_000.0),
    "cp_improvement_ratio": (0.0, 1.0),
    "cp_mwu_pvalue": (0.0, 1.0),
    "budget_min_n": (1, 10000),
    "budget_min_over": (1, 10000),
    "regression_baseline_runs": (1, 100),
    "fixed_passes": (1, 100),
    "regression_read_back_weeks": (1, 104),
    "removed_after_days": (1, 365),
    "removed_after_commits": (1, 1000),
}


def params_problems(overrides: dict[str, object]) -> dict[str, str]:
    """What is wrong with a project's overrides, by parameter: a value out of PARAM_BOUNDS, or a
    regression read-back shorter than the history window (an episode going on at the window's
    start would then be cut short and its regression lost)."""
    problems: dict[str, str] = {}
    for name, value in overrides.items():
        bounds = PARAM_BOUNDS.get(name)
        if bounds is None or not isinstance(value, int | float) or isinstance(value, bool):
            continue
        lo, hi = bounds
        if not lo <= value <= hi:
            problems[name] = f"must be between {lo:g} and {hi:g}"
    if problems:
        return problems
    params = MetricParams.from_dict(overrides)
    if params.suspect_min_runs > params.suspect_runs:
        problems["suspect_min_runs"] = f"must not exceed suspect_runs ({params.suspect_runs})"
    if params.cp_window < 2 * params.cp_min_points:
        problems["cp_min_points"] = f"must not exceed half of cp_window ({params.cp_window})"
    window_days = history_days(params)
    weeks = -(-window_days // 7)
    if params.regression_read_back_weeks < weeks:
        problems["regression_read_back_weeks"] = (
            f"must be at least {weeks}: the history window is {window_days} days"
        )
    return problems
