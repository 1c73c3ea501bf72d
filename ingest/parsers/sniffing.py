"""Shared helpers for the parsers' sniff() functions."""

from __future__ import annotations

import re

_XML_PROLOGUE = re.compile(
    rb"\A(?:\s|<\?xml[^>]*\?>|<!--.*?-->|<\?[^>]*\?>|<!DOCTYPE[^>\[]*(?:\[.*?\])?\s*>)*",
    re.DOTALL,
)
_ROOT = re.compile(rb"<([A-Za-z_][\w.\-]*:)?([A-Za-z_][\w.\-]*)")


def xml_root_name(head: bytes) -> str | None:
    """Local name of the first element in an XML head (declaration, comments, PIs, DOCTYPE skipped)."""
    rest = head[_XML_PROLOGUE.match(head).end() :]  # type: ignore[union-attr]
    if not rest.startswith(b"<"):
        return None
    match = _ROOT.match(rest)
    return match.group(2).decode("ascii", "replace") if match else None


def has_doctype(head: bytes) -> bool:
    return b"<!DOCTYPE" in head[:4096] or b"<!doctype" in head[:4096]
