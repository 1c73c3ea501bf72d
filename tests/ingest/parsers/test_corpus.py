"""Every file of the sample corpus parses to exactly what its expectation says, or is refused
with the expected error and position."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from ingest.identity import identity
from ingest.parsers.records import ParseError
from ingest.reading import read_all
from tests.conftest import SAMPLES
from tests.ingest.parsers.expectations import Expect, Refused, load

EXPECTED, ERRORS = load()
NOT_RESULTS = {"MANIFEST.md", "FORMATS.md"}
LIMIT = 64 * 2**20


def corpus_files() -> list[str]:
    return sorted(
        str(p.relative_to(SAMPLES))
        for p in SAMPLES.rglob("*")
        if p.is_file() and p.name not in NOT_RESULTS and p.parts[-2] != "schemas"
    )


def test_it_finds_the_corpus() -> None:
    assert len(corpus_files()) >= 60


@pytest.mark.parametrize("path", corpus_files())
def test_it_has_an_expectation_for_every_sample(path: str) -> None:
    assert path in EXPECTED or path in ERRORS, f"no expectation declared for sample {path}"


@pytest.mark.parametrize("path", sorted(EXPECTED))
def test_it_parses_sample_exactly(path: str) -> None:
    _, exp = EXPECTED[path]
    assert isinstance(exp, Expect)
    with (SAMPLES / path).open("rb") as raw:
        fmt, numbered = read_all(raw, limit=LIMIT)
    assert fmt == exp.format
    outcomes = Counter(r.outcome.label for _, r in numbered)
    assert dict(outcomes) == exp.outcomes
    assert len(numbered) == exp.attempts
    idents = Counter(identity(r) for _, r in numbered)
    assert len(idents) == exp.tests
    assert sum(1 for n in idents.values() if n > 1) == exp.retried
    assert {r.timeline for _, r in numbered} == set(exp.timelines)
    for want in exp.records:
        assert any(_matches(attempt, rec, want) for attempt, rec in numbered), (
            f"no record matches {want}"
        )


@pytest.mark.parametrize("path", sorted(ERRORS))
def test_it_refuses_broken_sample_with_position(path: str) -> None:
    _, ref = ERRORS[path]
    assert isinstance(ref, Refused)
    with (SAMPLES / path).open("rb") as raw, pytest.raises(ParseError) as caught:
        read_all(raw, limit=LIMIT)
    err = caught.value
    assert err.code == ref.code
    if ref.line is not None:
        assert (err.line, err.column) == (ref.line, ref.column)
    assert ref.detail_contains in err.detail


def _matches(attempt: int, record, want: dict) -> bool:
    for key, value in want.items():
        if key == "attempt":
            got = attempt
        elif key == "outcome":
            got = record.outcome.label
        else:
            got = getattr(record, key)
        if got != value:
            return False
    return True


def test_sample_paths_are_relative_to_the_corpus() -> None:
    for path in list(EXPECTED) + list(ERRORS):
        assert (SAMPLES / path).is_file(), f"expectation for missing sample {path}"
        assert not Path(path).is_absolute()
