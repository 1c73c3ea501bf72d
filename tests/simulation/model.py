"""Configuration of a simulated project: services, profiles, and the catalogue of tests.

Everything here is plain data. The catalogue (names, files, lines, typical durations) is drawn
from the seed so that two services never share a test and the same seed always yields the same
names.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from typing import NamedTuple

import numpy as np

UTC = dt.UTC

# A fixed end for the test and bench profiles, so the same seed gives the same bytes on any day.
# A Friday evening, ISO week 2026-W44.
DEFAULT_NOW = dt.datetime(2026, 10, 30, 18, 0, tzinfo=UTC)

# "Never": an index past every commit, used for open-ended ranges.
NEVER = 1 << 30

STYLES = ("pytest", "java", "go")
FORMATS = ("junit", "ctrf")


class TestId(NamedTuple):
    """A test's identity as every writer reports it (see the package docstring for the mapping)."""

    __test__ = False  # not a pytest test class, despite the name

    classname: str
    name: str
    file: str

    def as_dict(self) -> dict[str, str]:
        return {"classname": self.classname, "name": self.name, "file": self.file}

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> TestId:
        return cls(data["classname"], data["name"], data["file"])

    def __str__(self) -> str:
        return f"{self.classname}::{self.name}"


@dataclass(frozen=True)
class Recipe:
    """How many of each behaviour to plant in one service.

    Counts are per service over the whole history. Tests holding a behaviour exist for the whole
    history, so every behaviour is observable from its start to its end.
    """

    flaky: int = 2  # plain non-determinism, failure rate drawn from flaky_rates
    flaky_rates: tuple[float, float] = (0.03, 0.30)
    od_pairs: int = 0  # a victim with one polluter
    od_two_polluters: int = 0  # a victim with two polluters
    od_cleaned: int = 0  # a victim whose polluter has a cleaner
    od_fail_probability: float = 0.9  # victim fails when a polluter ran earlier on its worker
    cascades: int = 0  # a leaking test whose failure breaks the next tests on its worker
    cascade_rates: tuple[float, float] = (0.08, 0.18)
    cascade_span: tuple[int, int] = (3, 5)  # followers broken by one leak, inclusive
    regressions: int = 0  # start failing at a main commit, never fixed
    fixed_regressions: int = 0  # start failing at a main commit, fixed at a later one
    broken: int = 0  # fail from their first run, fixed later (the first one exists from the start)
    slowdowns: int = 0  # duration x1.5..x2.5 from a main commit on
    speedups: int = 0  # duration x0.5 from a main commit on
    added: int = 2  # tests that appear mid-history (nothing planted on them)
    removed: int = 1  # tests that disappear mid-history
    renamed: int = 0  # tests whose identity changes mid-history

    def scaled(self, factor: int) -> Recipe:
        """The same recipe for a history `factor` times longer: more events, same population."""
        if factor <= 1:
            return self
        return replace(
            self,
            regressions=self.regressions * factor,
            fixed_regressions=self.fixed_regressions * factor,
            broken=self.broken * factor,
            slowdowns=self.slowdowns * factor,
            speedups=self.speedups * factor,
            added=self.added * factor,
            removed=self.removed * factor,
            renamed=self.renamed * factor,
        )


@dataclass(frozen=True)
class ServiceSpec:
    """One service of the project: its suite's language, report format and CI set-up.

    style:   "pytest" (module/class/function names), "java" (JUnit 5 classes and methods) or
             "go" (packages and TestX/sub names; one timeline per package, as `go test` runs
             each package in its own process).
    format:  "junit" (JUnit XML; pytest shape, or gotestsum shape for go) or "ctrf" (CTRF JSON).
    workers: parallel workers (timelines) for pytest and java; go uses its packages instead.
    retries: per-test retries within a run (pytest-rerunfailures --reruns N); 0 = none.
    """

    name: str
    style: str = "pytest"
    format: str = "junit"
    gzip: bool = False
    tests: int = 40
    workers: int = 4
    retries: int = 0
    recipe: Recipe = field(default_factory=Recipe)

    def __post_init__(self) -> None:
        if self.style not in STYLES:
            raise ValueError(f"style must be one of {STYLES}, not {self.style!r}")
        if self.format not in FORMATS:
            raise ValueError(f"format must be one of {FORMATS}, not {self.format!r}")
        if self.tests < 12:
            raise ValueError("a service needs at least 12 tests to hold its behaviours")


# The five services of the media-server backend, with the behaviours the metric tests rely on.
# Between them they hold every behaviour DESIGN.md defines a finding for.
_MEDIA_RECIPES: dict[str, Recipe] = {
    # Regressions live in services without a cascade, so that a follower failure never muddies
    # the five passes before them.
    "cache": Recipe(
        flaky=2,
        od_pairs=1,
        od_two_polluters=1,
        fixed_regressions=1,
        slowdowns=1,
        added=2,
        removed=1,
    ),
    "plex": Recipe(flaky=2, od_cleaned=1, cascades=1, speedups=1, added=1, removed=1),
    "youtube": Recipe(flaky=2, cascades=1, broken=1, slowdowns=1, added=2, renamed=1),
    "jwt": Recipe(flaky=2, regressions=1, broken=1, added=1, removed=1),
    "device-session": Recipe(flaky=2, od_pairs=1, slowdowns=1, speedups=1, added=1),
}


def media_services(sizes: dict[str, int] | None = None) -> tuple[ServiceSpec, ...]:
    """The demo project's services: three pytest suites, one Go suite, one Java suite."""
    sizes = sizes or {}
    return (
        ServiceSpec(
            "cache", "pytest", "junit", False, sizes.get("cache", 40), 4, 2, _MEDIA_RECIPES["cache"]
        ),
        ServiceSpec(
            "plex", "pytest", "ctrf", False, sizes.get("plex", 40), 3, 2, _MEDIA_RECIPES["plex"]
        ),
        ServiceSpec(
            "youtube",
            "pytest",
            "junit",
            True,
            sizes.get("youtube", 40),
            4,
            0,
            _MEDIA_RECIPES["youtube"],
        ),
        ServiceSpec("jwt", "go", "junit", False, sizes.get("jwt", 40), 1, 0, _MEDIA_RECIPES["jwt"]),
        ServiceSpec(
            "device-session",
            "java",
            "ctrf",
            True,
            sizes.get("device-session", 40),
            3,
            1,
            _MEDIA_RECIPES["device-session"],
        ),
    )


# Names for the services of large benchmark projects, beyond the five media ones.
_MORE_SERVICES = (
    "transcoder",
    "library",
    "metadata",
    "subtitles",
    "thumbnails",
    "playback",
    "accounts",
    "search",
    "recommendations",
    "notifications",
    "billing",
    "analytics",
    "scheduler",
    "storage",
    "gateway",
    "profiles",
    "downloads",
    "live-tv",
    "artwork",
    "webhooks",
    "sync",
    "catalog",
)


@dataclass(frozen=True)
class SimConfig:
    """Everything that shapes a simulated history. All randomness derives from `seed`.

    The history covers `weeks` ISO weeks, the last one being the week of `now`; nothing happens
    after `now`. Main receives commits on weekdays (about `commits_per_weekday`, 08:00-18:00 UTC)
    and every commit, on main or a feature branch, runs CI: one run (upload) per service.
    """

    seed: int = 0
    project: str = "mediaserver"
    profile: str = "test"
    now: dt.datetime = DEFAULT_NOW
    weeks: int = 6
    services: tuple[ServiceSpec, ...] = field(default_factory=media_services)
    reference_branch: str = "main"
    commits_per_weekday: float = 4.0
    feature_branches_per_week: float = 1.5
    feature_commits: tuple[int, int] = (2, 5)  # commits per feature branch, inclusive
    job_rerun_probability: float = 0.35  # a failed job is re-run on the same commit
    outage_rerun_probability: float = 0.85  # a job hit by an outage is re-run on the same commit
    max_job_reruns: int = 2
    outages: int = 2  # CI runs hit by infrastructure trouble, over the whole history
    skip_share: float = 0.03  # tests that are always skipped (platform marks and the like)
    ci_url: str = "https://ci.example.com"

    def __post_init__(self) -> None:
        if self.now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        if self.weeks < 1:
            raise ValueError("weeks must be at least 1")
        names = [s.name for s in self.services]
        if len(set(names)) != len(names):
            raise ValueError("service names must be unique")

    @property
    def start(self) -> dt.datetime:
        """Monday 00:00 UTC of the first week of the history."""
        now = self.now.astimezone(UTC)
        monday = now.date() - dt.timedelta(days=now.weekday())
        first = monday - dt.timedelta(weeks=self.weeks - 1)
        return dt.datetime.combine(first, dt.time(0, 0), tzinfo=UTC)

    # --- Profiles -------------------------------------------------------------------------------

    @classmethod
    def test(cls, seed: int = 0, now: dt.datetime | None = None, **overrides: object) -> SimConfig:
        """Sized for tests: 5 services x 40 tests x 6 weeks, ~4 CI runs a weekday; a few seconds."""
        base = cls(seed=seed, profile="test", now=now or DEFAULT_NOW)
        return replace(base, **overrides)

    @classmethod
    def demo(cls, now: dt.datetime, seed: int = 2026, **overrides: object) -> SimConfig:
        """The `make run` demo: the media-server backend, 7 weeks ending in the week of `now`."""
        sizes = {"cache": 48, "plex": 56, "youtube": 44, "jwt": 36, "device-session": 40}
        base = cls(
            seed=seed,
            profile="demo",
            now=now,
            weeks=7,
            services=media_services(sizes),
            outages=2,
        )
        return replace(base, **overrides)

    @classmethod
    def bench(
        cls,
        scale: float = 1.0,
        seed: int = 0,
        now: dt.datetime | None = None,
        services: int = 20,
        weeks: int = 52,
        **overrides: object,
    ) -> SimConfig:
        """Large histories for benchmarks: by default 20 services x 200 tests x 52 weeks.

        `scale` multiplies the tests per service (1.0 -> 200, ~5 million results); the services'
        shapes cycle through the five media services so every format and behaviour appears.
        """
        tests = max(12, int(round(200 * scale)))
        factor = max(1, weeks // 6)
        media = media_services()
        names = [s.name for s in media] + list(_MORE_SERVICES)
        while len(names) < services:
            names.append(f"service-{len(names):02d}")
        specs = []
        for i in range(services):
            shape = media[i % len(media)]
            recipe = replace(
                shape.recipe.scaled(factor),
                flaky=max(shape.recipe.flaky, tests // 25),
            )
            workers = shape.workers if shape.style == "go" else max(shape.workers, tests // 40)
            specs.append(replace(shape, name=names[i], tests=tests, workers=workers, recipe=recipe))
        base = cls(
            seed=seed,
            profile="bench",
            now=now or DEFAULT_NOW,
            weeks=weeks,
            services=tuple(specs),
            outages=max(2, weeks // 3),
        )
        return replace(base, **overrides)

    @classmethod
    def profile_named(
        cls, name: str, seed: int | None = None, now: dt.datetime | None = None, scale: float = 1.0
    ) -> SimConfig:
        """The profile a CLI name stands for; `demo` defaults `now` to the current time."""
        kwargs: dict[str, object] = {} if seed is None else {"seed": seed}
        if name == "test":
            return cls.test(now=now, **kwargs)
        if name == "demo":
            return cls.demo(now=now or dt.datetime.now(UTC), **kwargs)
        if name == "bench":
            return cls.bench(scale=scale, now=now, **kwargs)
        raise ValueError(f"unknown profile {name!r} (test, demo, bench)")


# --- The catalogue of tests ---------------------------------------------------------------------


@dataclass(slots=True)
class TestDef:
    """One test of a service's catalogue, with what it does when nothing is planted on it."""

    __test__ = False

    idx: int
    ident: TestId
    line: int
    group: int  # module / class file (pytest, java) or package (go); go's timeline
    median_ms: float
    cv: float  # coefficient of variation of its log-normal duration
    skip: str = ""  # reason, for tests that are always skipped
    added: int = 0  # first main commit index whose code holds the test
    removed: int = NEVER  # first main commit index whose code no longer holds it


# Domain words per service: modules (or packages / classes) and the things tests talk about.
_DOMAINS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "cache": (
        (
            "store",
            "eviction",
            "ttl",
            "serializer",
            "backend",
            "namespace",
            "warmup",
            "invalidation",
        ),
        (
            "oldest_entry",
            "expired_keys",
            "large_values",
            "binary_payload",
            "missing_key",
            "hot_keys",
            "key_prefix",
            "stale_reads",
            "concurrent_writes",
            "empty_cache",
            "compressed_values",
            "batch_get",
            "negative_ttl",
            "lock_timeout",
        ),
    ),
    "plex": (
        (
            "library",
            "metadata",
            "scanner",
            "transcode",
            "sessions",
            "webhooks",
            "sections",
            "client",
        ),
        (
            "movie_metadata",
            "tv_episodes",
            "missing_poster",
            "duplicate_guid",
            "section_refresh",
            "server_token",
            "media_parts",
            "watch_state",
            "unicode_titles",
            "paged_results",
            "stale_items",
            "hub_search",
            "direct_play",
            "bandwidth_limit",
        ),
    ),
    "youtube": (
        ("search", "playlists", "oauth", "quota", "thumbnails", "captions", "resolver", "channels"),
        (
            "video_ids",
            "playlist_items",
            "refresh_token",
            "quota_exceeded",
            "live_streams",
            "age_restricted",
            "caption_tracks",
            "short_urls",
            "next_page_token",
            "region_lock",
            "channel_uploads",
            "deleted_videos",
            "shorts",
            "rate_limit",
        ),
    ),
    "jwt": (
        ("token", "claims", "signer", "keys", "middleware", "jwks"),
        (
            "Expiry",
            "Audience",
            "Issuer",
            "NotBefore",
            "KeyRotation",
            "Signature",
            "Header",
            "Algorithm",
            "ClockSkew",
            "Refresh",
            "Revocation",
            "KeyID",
        ),
    ),
    "device-session": (
        ("SessionStore", "Heartbeat", "Pairing", "DeviceRegistry", "SessionTokens", "Presence"),
        (
            "IdleSession",
            "PairingCode",
            "DeviceLimit",
            "Heartbeat",
            "ConcurrentLogin",
            "StaleDevice",
            "RemoteLogout",
            "SessionTransfer",
            "ExpiredToken",
            "DeviceName",
            "PushChannel",
            "ResumePosition",
        ),
    ),
}
_GENERIC_MODULES = (
    "api",
    "models",
    "handlers",
    "jobs",
    "storage",
    "client",
    "validation",
    "events",
    "permissions",
    "pagination",
)
_GENERIC_THINGS = (
    "empty_payload",
    "unknown_id",
    "duplicate_request",
    "large_batch",
    "unicode_input",
    "missing_field",
    "stale_cache",
    "retry_budget",
    "partial_failure",
    "concurrent_update",
    "expired_credentials",
    "slow_backend",
    "pagination_cursor",
    "soft_delete",
)
_VERBS = (
    "returns",
    "rejects",
    "expires",
    "evicts",
    "refreshes",
    "parses",
    "stores",
    "retries",
    "streams",
    "resolves",
    "validates",
    "serializes",
    "handles",
    "skips",
    "rotates",
    "revokes",
    "lists",
    "paginates",
    "caches",
    "merges",
    "updates",
    "deletes",
    "creates",
    "loads",
    "signs",
    "encodes",
    "decodes",
    "limits",
    "reports",
    "recovers",
)
_PARAMS = (
    ("lru", "lfu"),
    ("json", "msgpack"),
    ("utf8", "latin1"),
    ("1", "2", "10"),
    ("small", "large"),
    ("sqlite", "postgres"),
    ("http", "https"),
    ("en", "de", "ja"),
)
_GO_CASES = (
    "valid",
    "expired",
    "wrong_audience",
    "missing_kid",
    "future_iat",
    "empty",
    "malformed",
    "rotated_key",
    "unknown_alg",
    "leeway",
)
_SKIP_REASONS = (
    "requires ffmpeg",
    "needs a GPU runner",
    "flaky on arm64 runners, see #412",
    "only runs against a live Plex server",
    "Windows only",
)


def _camel(word: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in word.replace("-", "_").split("_"))


def _lower_camel(word: str) -> str:
    camel = _camel(word)
    return camel[:1].lower() + camel[1:]


def build_catalogue(
    spec: ServiceSpec, total: int, rng: np.random.Generator, skip_share: float
) -> list[TestDef]:
    """`total` distinct tests for `spec`, grouped by file, in a stable order.

    The first `spec.tests` entries are the suite at the start of the history; planting adds the
    rest (tests added or renamed mid-history).
    """
    modules, things = _DOMAINS.get(spec.name, (_GENERIC_MODULES, _GENERIC_THINGS))
    pkg = spec.name.replace("-", "_")
    seen: set[tuple[str, str]] = set()
    raw: list[tuple[int, str, str, str]] = []  # (group, classname, name, file)
    attempts = 0
    while len(raw) < total:
        attempts += 1
        if attempts > total * 200:
            raise ValueError(f"cannot name {total} distinct tests for service {spec.name!r}")
        g = int(rng.integers(len(modules)))
        module = modules[g]
        verb = _VERBS[int(rng.integers(len(_VERBS)))]
        thing = things[int(rng.integers(len(things)))]
        variants: tuple[str, ...] = ("",)
        if spec.style == "pytest" and rng.random() < 0.2:
            variants = _PARAMS[int(rng.integers(len(_PARAMS)))]
        elif spec.style == "go" and rng.random() < 0.5:
            k = int(rng.integers(2, 4))
            start = int(rng.integers(len(_GO_CASES)))
            variants = tuple(_GO_CASES[(start + i) % len(_GO_CASES)] for i in range(k))
        for variant in variants:
            if len(raw) >= total:
                break
            if spec.style == "pytest":
                file = f"tests/{pkg}/test_{module}.py"
                classname = f"tests.{pkg}.test_{module}"
                if g % 3 != 2:  # most modules group tests in a class, some use bare functions
                    classname += f".Test{_camel(module)}"
                name = f"test_{verb}_{thing}" + (f"[{variant}]" if variant else "")
            elif spec.style == "java":
                cls = f"{_camel(module)}Test"
                file = f"src/test/java/com/mediaserver/{pkg.replace('_', '')}/{cls}.java"
                classname = f"com.mediaserver.{pkg.replace('_', '')}.{cls}"
                name = f"{verb}{_camel(thing)}()"
            else:
                file = f"{module}/{module}_test.go"
                classname = f"github.com/mediaserver/{spec.name}/{module}"
                name = f"Test{_camel(verb)}{_camel(thing)}" + (f"/{variant}" if variant else "")
            if (classname, name) in seen:
                continue
            seen.add((classname, name))
            raw.append((g, classname, name, file))
    # The start-of-history suite is grouped by file, as a collector would list it; later
    # additions keep their order so planting can rely on indices >= spec.tests being extra.
    initial = sorted(raw[: spec.tests], key=lambda r: (r[3], r[1]))
    ordered = initial + raw[spec.tests :]
    defs: list[TestDef] = []
    next_line: dict[str, int] = {}
    style_median = {"pytest": (30.0, 1.1), "java": (60.0, 1.0), "go": (6.0, 1.3)}[spec.style]
    for idx, (g, classname, name, file) in enumerate(ordered):
        line = next_line.get(file, 12)
        next_line[file] = line + int(rng.integers(8, 30))
        median = float(np.clip(rng.lognormal(np.log(style_median[0]), style_median[1]), 1, 6000))
        cv = 0.03 + 0.27 * float(rng.beta(1.5, 4.0))
        skip = ""
        if idx < spec.tests and rng.random() < skip_share:
            skip = _SKIP_REASONS[int(rng.integers(len(_SKIP_REASONS)))]
        defs.append(TestDef(idx, TestId(classname, name, file), line, g, median, cv, skip))
    return defs


def renamed_ident(spec: ServiceSpec, old: TestId) -> TestId:
    """The identity a renamed test takes: same class and file, a new name."""
    if spec.style == "pytest":
        base, bracket, rest = old.name.partition("[")
        return old._replace(name=f"{base}_when_cold{bracket}{rest}")
    if spec.style == "java":
        return old._replace(name=old.name.replace("()", "WhenCold()"))
    base, slash, rest = old.name.partition("/")
    return old._replace(name=f"{base}WhenCold{slash}{rest}")
