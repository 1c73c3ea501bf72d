"""A CI-history simulator with planted ground truth, writing real upload files.

It plays a project's CI history (commits on `main` and feature branches, one CI run per commit
with one upload per service, job re-runs, per-test retries, outages) over a suite whose tests
carry planted behaviours: flaky tests, order-dependent victims with their polluters (and a
cleaner), a leaking test that breaks the tests after it (a cascade), regressions (one fixed),
tests broken from their first run and later fixed, duration slowdowns and speed-ups, tests added,
removed and renamed. Every other test passes with a noisy but stable log-normal duration.

The output is the files a CI job would upload and a `Truth` of what was planted and of what
DESIGN.md's definitions should find in the generated data (see `tests.simulation.truth`). It
produces files only; uploading them is the caller's business, and nothing here imports Django
or the product's code.

Public API::

    config = SimConfig.test(seed=0)                  # or .demo(now=...), .bench(scale=1.0)
    history = simulate(config)                       # History(config, runs, truth), in memory
    history.runs[0].files                            # ((filename, bytes),)
    history.runs[0].form_fields()                    # project, service, commit, branch, ...
    history.truth.expected_findings("flaky", week="2026-W40")
    history.truth.pass_rates("cache", "2026-W40").pass_rate

    sim = Simulator(config)                          # streaming, for large histories
    for run in sim.runs(): ...                       # one SimRun at a time, in upload order
    sim.truth

    write_history(config, "out/")                    # runs/, manifest.json, truth.json

    python -m tests.simulation --out DIR [--seed N] [--profile test|demo|bench] [--now ISO]

Identity of a test, the same in every format (TestId = classname, name, file):

* JUnit XML, pytest shape: <testcase classname=CLASSNAME name=NAME file=FILE line=...>, inside
  <testsuites><testsuite name="pytest">; the timeline is <property name="worker" value="gwN"/>
  inside each <testcase>; the start time is the testcase's `timestamp` attribute.
* JUnit XML, gotestsum shape (go services): one <testsuite name=PACKAGE> per package holding
  <testcase classname=PACKAGE name=TestX/sub file=FILE>; the timeline is a `worker` property on
  the <testsuite> (its value is the package: go test runs each package in its own process).
* CTRF JSON: `name` = NAME, `suite` = [FILE, CLASSNAME] (the classname always last),
  `filePath` = FILE, `line`; the timeline is `threadId`; `start`/`stop` are epoch ms.

Outcomes: pytest reports fixture-setup failures (infrastructure outages and cascade followers)
as <error>; everything else fails with <failure>. CTRF has no error status: it says "failed"
with `rawStatus: "error"`. Retries within a run: JUnit repeats the <testcase> once per attempt,
in order; CTRF keeps one entry whose `status` and `duration` are the final attempt's, with
`retries` = attempts - 1, `retryAttempts` listing every attempt (attempt 1 = the first
execution, as in CTRF 1.0) and `flaky` when a failed attempt was followed by a pass.
"""

from tests.simulation.model import DEFAULT_NOW, Recipe, ServiceSpec, SimConfig, TestId
from tests.simulation.simulator import (
    History,
    SimRun,
    Simulator,
    iter_runs,
    simulate,
    write_history,
)
from tests.simulation.truth import (
    KINDS,
    ExpectedFinding,
    PassRates,
    PlantedEntry,
    TestInfo,
    Truth,
    week_label,
)

__all__ = [
    "DEFAULT_NOW",
    "KINDS",
    "ExpectedFinding",
    "History",
    "PassRates",
    "PlantedEntry",
    "Recipe",
    "ServiceSpec",
    "SimConfig",
    "SimRun",
    "Simulator",
    "TestId",
    "TestInfo",
    "Truth",
    "iter_runs",
    "simulate",
    "week_label",
    "write_history",
]
