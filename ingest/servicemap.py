"""Which service a test belongs to: the upload's `service` field if given, else the first
ServiceRule (by order) whose glob matches the test's file path (or its classname when the file is
unknown), else the service `default`.

Globs are shell-style (fnmatch): `*` matches any characters including `/`, `?` one character,
`[abc]` one of a set; matching is case-sensitive and covers the whole path. Paths are normalized
as identities normalize them (`\\` -> `/`, no leading `./`), so `tests/cache/*` matches a test
reported from Windows as `.\\tests\\cache\\test_store.py`.

The same function decides at load time (ingest.loading) and when rules change
(ingest.services.tests_remap), so both always agree.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from functools import lru_cache

from ingest.identity import path, text

DEFAULT = "default"


@dataclass(frozen=True)
class Rule:
    service: str
    pattern: str

    def matches(self, subject: str) -> bool:
        return _compiled(self.pattern).match(subject) is not None


@lru_cache(maxsize=1024)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(fnmatch.translate(pattern.strip()))


def subject_of(*, file: str, classname: str) -> str:
    """What the rules are matched against: the normalized file path, else the classname."""
    return path(file) or text(classname)


def service_for(*, upload_service: str, rules: list[Rule], file: str, classname: str) -> str:
    if upload_service:
        return upload_service
    subject = subject_of(file=file, classname=classname)
    if subject:
        for rule in rules:
            if rule.matches(subject):
                return rule.service
    return DEFAULT
