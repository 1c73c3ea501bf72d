"""The one-line summaries of findings that pages, reports and emails show."""

from __future__ import annotations

from reports.selectors import finding_summary


def _flaky(**evidence):  # type: ignore[no-untyped-def]
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
