"""Test names for the .NET formats (TRX, NUnit, xUnit.net), chosen so one test keeps one identity
whichever .NET format uploads it.

Every .NET runner knows two names for a test: the *method* (`TestMethod@name`, `methodname`,
`method`) and a *display name* (`testName`, `name`), which is the method plus data-row arguments
(`Is_Even_Number(i: 2)`), a fully qualified spelling of it (`Ns.Class.Is_Even_Number(i: 2)`), or
a sentence the developer wrote (`[Fact(DisplayName = "Custom Name")]`).

The record's name is:
  - the display name without its `Class.` prefix, when that starts with the method name (the
    method plus its arguments: data rows stay distinct tests);
  - else the method plus the display name's trailing argument list, when it has one (a theory
    row with a custom display name: `Theory_With_Custom_Name(i: 3)`);
  - else the method (a custom sentence changes whenever someone edits it; the method does not);
  - the display name as given when there is no method.
"""

from __future__ import annotations


def strip_class(name: str, classname: str) -> str:
    """`Ns.Class.Method(x)` -> `Method(x)` when `classname` is `Ns.Class`."""
    if classname and name.startswith(classname + "."):
        return name[len(classname) + 1 :]
    return name


def trailing_arguments(display: str) -> str:
    """The balanced `(...)` at the end of `display`, or ''."""
    if not display.endswith(")"):
        return ""
    depth = 0
    for index in range(len(display) - 1, -1, -1):
        char = display[index]
        if char == ")":
            depth += 1
        elif char == "(":
            depth -= 1
            if depth == 0:
                return display[index:] if index > 0 else ""
    return ""


def test_name(method: str, display: str, classname: str) -> str:
    method = strip_class(method.strip(), classname)
    display = strip_class(display.strip(), classname)
    if not method:
        return display
    if not display:
        return method
    if display.startswith(method) and display[len(method) :].lstrip()[:1] in ("", "("):
        return display
    if method.endswith(")"):
        return method
    return method + trailing_arguments(display)


test_name.__test__ = False  # type: ignore[attr-defined]


def split_qualified(name: str) -> tuple[str, str]:
    """`Ns.Class.Method("a.b")` -> (`Ns.Class`, `Method("a.b")`): the dots inside the argument
    list are not separators."""
    arguments = trailing_arguments(name)
    head = name[: len(name) - len(arguments)] if arguments else name
    classname, dot, method = head.rpartition(".")
    if not dot:
        return "", name
    return classname, method + arguments


def clr_type(classname: str) -> str:
    """An assembly-qualified type (`Ns.Class, Assembly, Version=1.0.0.0, ...`, as MSTest writes
    it) reduced to the type name; generic arguments in brackets are kept whole."""
    if "," not in classname:
        return classname.strip()
    depth = 0
    for index, char in enumerate(classname):
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        elif char == "," and depth == 0:
            return classname[:index].strip()
    return classname.strip()
