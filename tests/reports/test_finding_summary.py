"""The one-line summaries of findings that pages, reports and emails show."""

from __future__ import annotations

from reports.selectors import finding_summary


def _flaky(**evidence):
    base = {
        "status": "confirmed",
        "flaky_results_in_window": 3,
        "decided_in_window": 40,
        "flake_rate": 0.075,
        "passing_streak": 2,
        "reasons": {"retry": 2, "same_commit": 1},
    }
    return finding_summary("flaky", {**base, **evidence})


def test_a_flaky_summary_gives_its_reasons_and_window_rate() -> None:
    text = _flaky()
    assert text.startswith("confirmed: ")
    assert "2× passed on retry" in text and "1× passed on the same commit elsewhere" in text
    assert text.endswith("flake rate 7.5%")


def test_a_flaky_test_kept_open_by_older_results_says_so_rather_than_a_zero_rate() -> None:
    text = _flaky(flaky_results_in_window=0, flake_rate=0.0, passing_streak=1)
    assert "0.0%" not in text
    assert "none in the flaky window, not cleared yet (passing streak 1)" in text


def test_a_cascade_summary_tells_follower_failures_from_follower_tests() -> None:
    text = finding_summary("cascade", {"count": 4, "followers": 12, "follower_tests": 9})
    assert text == "4 cascades: 12 failures of 9 following tests"
    assert finding_summary("cascade", {"count": 1, "followers": 3, "follower_tests": 3}) == (
        "1 cascade: 3 failures of 3 following tests"
    )
    # Evidence stored before follower tests were counted.
    assert finding_summary("cascade", {"count": 2, "followers": 6}) == (
        "2 cascades: 6 failures of following tests"
    )


def test_a_regression_summary_says_where_its_failures_were_counted() -> None:
    text = finding_summary(
        "regression", {"confirmed": True, "first_failing_commit": "1eb1daf0e2aa", "failures": 131}
    )
    assert text == "confirmed, failing since 1eb1daf0e2 (131 failures on the reference branch)"
