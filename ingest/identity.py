"""Test identity: which records, from any format and any run, are the same test.

A test is identified within its project by (scope, name), both computed from the normalized
record, never from which format it came in:

* Text: Unicode NFC, trimmed, and every tab or line break one space, as an XML parser reads an
  attribute: JUnit's `name="a&#10;b"` arrives as `a b` while CTRF's JSON keeps `a\nb`, and the
  same test must not split on that. Runs of spaces are kept: `a  b` and `a b` can be two tests.
* name: the record's name, parameters included (`test_get[a-1]`, `Is_Even(i: 2)`,
  `TestParse/empty`): different parameters are different tests. Values that change on every
  run are masked so a test's history does not fragment: Python object addresses
  (`<Foo object at 0x7f3a…>`, and any `0x` with 12 or more hex digits) become `0x…`; date-times
  with microsecond (or finer) precision, as clocks print them, and Unix times with 6 or more
  decimals become `<time>`.
* scope, the first that applies:
  1. the classname, when the format gives one (JUnit `classname`, a Go package, a .NET class);
  2. a pytest node id given as the name (`tests/a/test_b.py::TestB::test_c[x]`, some CTRF
     reporters): split the way pytest's own JUnit writer does, `tests.a.test_b.TestB` and
     `test_c[x]`;
  3. the suite path's last element when it is a qualified name (dotted or slashed, no spaces:
     `tests.cache.test_store.TestStore`, `github.com/acme/cache`), after dropping a leading
     element that names the test's file. CTRF has no classname field; pytest and Go reporters
     write `suite: [file, classname]`;
  4. a fully qualified .NET method given as the name with no classname (xUnit's JUnit
     transform, `Ns.Class.Method(args)`): split at the last dot before the arguments;
  5. otherwise the file path followed by the suite path, joined with " / " (a describe chain is
     unique only within its file).
* File paths (used in 3 and 5): backslashes become `/`, a leading `./` and doubled slashes go.

The file is deliberately not part of the identity when a classname is known: `go test -json`
has no file, and .NET formats report the test assembly under different paths.

The database id is a 63-bit BLAKE2b hash of (project id, scope, name), so every writer computes
the same id without a lookup. docs/identity.md explains the rules to users.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass

from ingest.parsers.records import TestRecord

_SEP = "\x1f"
_XML_SPACE = str.maketrans("\t\n\r", "   ")
# Suite paths are joined " / " by the parsers; legacy CTRF writes one string "file > describe".
_SUITE_SPLIT = re.compile(r"\s+(?:/|>)\s+")
# A qualified class or package name: identifier characters with `.`, `/`, `\`, `::`, `+`, `$`
# or `-` between them, no spaces, and at least one separator.
_QUALIFIED = re.compile(r"^[\w$+`-]+(?:(?:\.|/|\\|::)[\w$+`-]+)+$")
# A .NET method named with its namespace and class: at least Ns.Class.Method.
_DOTNET_QUALIFIED = re.compile(r"^[A-Za-z_][\w`+]*(?:\.[A-Za-z_][\w`+]*){2,}$")

_ADDRESS = re.compile(
    r"(?<=\bat )0x[0-9a-fA-F]+(?![0-9a-fA-F])"  # Python's repr: <Foo object at 0x...>
    r"|(?<![0-9A-Za-z])0x[0-9a-fA-F]{12,}(?![0-9a-fA-F])"  # a 64-bit pointer
)
_ADDRESS_MASK = "0x…"
_TIMESTAMP = re.compile(
    r"(?<!\d)\d{4}-\d{2}-\d{2}[T _]\d{2}[:_.-]\d{2}[:_.-]\d{2}[.,]\d{6,}(?:Z|[+-]\d{2}:?\d{2})?"
    r"|(?<!\d)1\d{9}\.\d{6,}(?!\d)"
)
_TIMESTAMP_MASK = "<time>"
# Every _TIMESTAMP match holds six digits in a row (the fraction, or a Unix time's seconds): a
# cheap test that spares most names the full pattern.
_SIX_DIGITS = re.compile(r"\d{6}")
_ID_MASK = 0x7FFF_FFFF_FFFF_FFFF


@dataclass(frozen=True, slots=True)
class Identity:
    """The normalized identity of a record: `scope` and `name` make the id; `file` is the
    record's normalized file path (part of the scope only when there is no classname)."""

    scope: str
    name: str
    file: str

    def key(self) -> tuple[str, str]:
        return self.scope, self.name


def text(value: str) -> str:
    """NFC, trimmed, tabs and line breaks read as spaces (an XML attribute's normalisation)."""
    if not value:
        return ""
    value = unicodedata.normalize("NFC", value)
    if "\n" in value or "\r" in value or "\t" in value:
        value = value.replace("\r\n", "\n").translate(_XML_SPACE)
    return value.strip()


def path(value: str) -> str:
    """A file path written the same way on every platform and by every tool."""
    value = text(value).replace("\\", "/")
    while "//" in value:
        value = value.replace("//", "/")
    while value.startswith("./"):
        value = value[2:]
    return value.replace("/./", "/")


def stable_name(name: str) -> str:
    """The name with per-run values (object addresses, clock readings) masked."""
    name = text(name)
    if "0x" in name:
        name = _ADDRESS.sub(_ADDRESS_MASK, name)
    if _SIX_DIGITS.search(name):
        name = _TIMESTAMP.sub(_TIMESTAMP_MASK, name)
    return name


def resolve(record: TestRecord) -> Identity:
    """The record's normalized identity (see the module docstring for the rules)."""
    name = text(record.name)
    file = path(record.file)
    classname = text(record.classname)
    if not classname:
        classname, name = _derived_classname(name, file, record.suite)
    if classname:
        return Identity(classname, stable_name(name), file)
    suite = _suite_parts(record.suite, file)
    scope = " / ".join([file, *suite] if file else suite)
    return Identity(scope, stable_name(name), file)


def identity(record: TestRecord) -> tuple[str, str]:
    """(scope, name): equal for the same test whichever format reported it."""
    return resolve(record).key()


def test_id(project_id: int, ident: tuple[str, str]) -> int:
    digest = hashlib.blake2b(
        f"{project_id}{_SEP}{ident[0]}{_SEP}{ident[1]}".encode(), digest_size=8
    ).digest()
    return int.from_bytes(digest, "big") & _ID_MASK


test_id.__test__ = False  # type: ignore[attr-defined]


class TestIds:
    """`test_id(project_id, identity(record))` for the many records of one load, doing once
    per classname what repeats: the classname's normalisation and a BLAKE2b state already fed
    (project, scope), so each record costs its name's normalisation and one hash update.
    Records without a classname take the general path (`identity`). Memory is bounded: the
    cache is dropped when it reaches CACHE_SIZE classnames."""

    __test__ = False  # not a pytest test class, despite the name
    CACHE_SIZE = 10_000

    def __init__(self, project_id: int) -> None:
        self.project_id = project_id
        self._hashers: dict[str, hashlib.blake2b] = {}

    def __call__(self, record: TestRecord) -> int:
        hasher = self._hashers.get(record.classname)
        if hasher is None:
            hasher = self._hasher(record.classname)
            if hasher is None:  # no classname: scope derived from name, suite or file
                return test_id(self.project_id, identity(record))
        hasher = hasher.copy()
        hasher.update(stable_name(record.name).encode())
        return int.from_bytes(hasher.digest(), "big") & _ID_MASK

    def _hasher(self, classname: str) -> hashlib.blake2b | None:
        scope = text(classname)
        hasher = None
        if scope:
            hasher = hashlib.blake2b(
                f"{self.project_id}{_SEP}{scope}{_SEP}".encode(), digest_size=8
            )
            if len(self._hashers) >= self.CACHE_SIZE:
                self._hashers.clear()
            self._hashers[classname] = hasher
        return hasher


def _derived_classname(name: str, file: str, suite: str) -> tuple[str, str]:
    """(classname, name) for a record the format gave no classname; classname '' when none can
    be told apart from a free-text suite."""
    nodeid = _pytest_nodeid(name)
    if nodeid is not None:
        return nodeid
    parts = _suite_parts(suite, file)
    if parts and _QUALIFIED.match(parts[-1]):
        return parts[-1], name
    return _dotnet_split(name)


def _pytest_nodeid(name: str) -> tuple[str, str] | None:
    """`tests/a/test_b.py::TestB::test_c[x]` -> (`tests.a.test_b.TestB`, `test_c[x]`), the
    classname and name pytest's JUnit writer gives the same test; None for other names."""
    address, bracket, params = name.partition("[")
    if "::" not in address:
        return None
    names = address.split("::")
    module = path(names[0])
    if not module.endswith(".py") or not all(names[1:]):
        return None
    names[0] = module[: -len(".py")].replace("/", ".")
    return ".".join(names[:-1]), names[-1] + bracket + params


def _dotnet_split(name: str) -> tuple[str, str]:
    """`Ns.Class.Method(args)` -> (`Ns.Class`, `Method(args)`); ('', name) for anything else."""
    head, paren, args = name.partition("(")
    if not _DOTNET_QUALIFIED.match(head) or (paren and not name.endswith(")")):
        return "", name
    classname, _, method = head.rpartition(".")
    return classname, method + paren + args


def _suite_parts(suite: str, file: str) -> list[str]:
    """The suite path's elements, without a leading one that names the file (CTRF reporters
    repeat the file there: `tests/a.py`, or just `a.test.ts` for `tests/a.test.ts`)."""
    suite = text(suite)
    if not suite:
        return []
    parts = [p for p in (text(s) for s in _SUITE_SPLIT.split(suite)) if p]
    if parts and file:
        first = path(parts[0])
        if first == file or file.endswith("/" + first):
            parts = parts[1:]
    return parts
