from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLES = Path(
    __import__("os").environ.get("SUITEHEALTH_SAMPLES", str(REPO.parent / "shared" / "samples"))
)


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    if not SAMPLES.is_dir():
        pytest.fail(f"sample corpus not found at {SAMPLES} (set SUITEHEALTH_SAMPLES)")
    return SAMPLES
