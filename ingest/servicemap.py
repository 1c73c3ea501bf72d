"""Which service a test belongs to: the upload's `service` field if given, else the first
ServiceRule (by order) whose glob matches the test's file path (or its classname when the file is
unknown), else the service `default`."""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    service: str
    pattern: str

    def matches(self, subject: str) -> bool:
        return _compiled(self.pattern).match(subject) is not None


def _compiled(pattern: str) -> re.Pattern[str]:
    return _CACHE.setdefault(pattern, re.compile(fnmatch.translate(pattern)))


_CACHE: dict[str, re.Pattern[str]] = {}


def service_for(*, upload_service: str, rules: list[Rule], file: str, classname: str) -> str:
    if upload_service:
        return upload_service
    subject = file or classname
    if subject:
        for rule in rules:
            if rule.matches(subject):
                return rule.service
    return "default"
