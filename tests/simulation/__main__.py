"""Write a simulated CI history to a directory.

    python -m tests.simulation --out DIR [--seed N] [--profile test|demo|bench] [--now ISO]
                               [--scale F]

DIR/runs/<seq>-<service>.<ext> are the upload files, DIR/manifest.json lists each run's upload
fields and files in upload order, DIR/truth.json is the planted ground truth.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time

from tests.simulation.model import SimConfig
from tests.simulation.simulator import write_history


def _parse_now(text: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.simulation",
        description="Write a simulated CI history with its truth.",
    )
    parser.add_argument("--out", required=True, help="directory to write into")
    parser.add_argument("--seed", type=int, default=None, help="random seed (profile default)")
    parser.add_argument("--profile", choices=("test", "demo", "bench"), default="test")
    parser.add_argument(
        "--now",
        type=_parse_now,
        default=None,
        help="end of the history, ISO 8601 (demo: the current time; test and bench: a fixed date)",
    )
    parser.add_argument(
        "--scale", type=float, default=1.0, help="bench only: multiplies the 200 tests per service"
    )
    args = parser.parse_args(argv)
    config = SimConfig.profile_named(args.profile, seed=args.seed, now=args.now, scale=args.scale)
    began = time.perf_counter()
    truth = write_history(config, args.out)
    took = time.perf_counter() - began
    runs, results = truth.totals["runs"], truth.totals["results"]
    print(
        f"{config.profile}: {runs} runs, {results} results, {len(truth.weeks)} weeks, "
        f"{len(config.services)} services in {took:.1f}s ({results / took:,.0f} results/s) "
        f"-> {args.out}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
