"""Changed lines → functions → mutmut globs; changed tests → functions they reach (trunkline.mutation.scope)."""

from __future__ import annotations

import difflib
import fnmatch
import subprocess
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trunkline.mutation.scope import (
    FileChange,
    FunctionRef,
    affected_tests,
    changed_functions,
    expand_globs,
    function_spans,
    functions_reached,
    is_test_path,
    mangle,
    mangled_of,
    module_name,
    parse_unified_diff,
    readable,
    split_mangled,
    touched_functions,
)

REPO = Path(__file__).resolve().parents[2]

SAMPLE = textwrap.dedent('''\
    """doc"""
    import enum

    LIMIT = 3


    def top(a):
        def inner(b):
            return b + 1
        return inner(a) * 2


    @decorate
    def decorated(x):
        return x


    async def fetch(x):
        return x - 1


    class Box:
        size = 2

        def __init__(self, v):
            self.v = v

        @staticmethod
        def make(v):
            return Box(v + 0)

        class Inner:
            def deep(self):
                return 1


    class Color(enum.Enum):
        RED = 1

        def label(self):
            return self.name.lower()
    ''')


def test_function_spans_names_functions_the_way_mutmut_does() -> None:
    spans = {s.key: s for s in function_spans(SAMPLE)}
    assert set(spans) == {"x_top", "x_decorated", "x_fetch", "xǁBoxǁ__init__", "xǁBoxǁmake", "xǁColorǁlabel"}
    assert spans["x_top"].qualname == "top"
    assert (spans["x_top"].start, spans["x_top"].end) == (7, 10)  # nested def belongs to top
    assert spans["x_decorated"].start == 13  # the decorator line counts
    assert spans["xǁBoxǁmake"].qualname == "Box.make"
    # a nested class's methods are not mutated by mutmut, so they are no function of their own
    assert not any("deep" in key for key in spans)


def _mutmut_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str) -> set[str]:
    """The mangled function keys of every mutant mutmut itself generates for ``source``."""
    import mutmut.configuration as mutmut_config
    from mutmut.mutation.file_mutation import mutate_file_contents

    (tmp_path / "pyproject.toml").write_text('[tool.mutmut]\nsource_paths = ["m.py"]\n')
    monkeypatch.chdir(tmp_path)
    mutmut_config.reset_config()
    try:
        generated = mutate_file_contents("m.py", source)
    finally:
        mutmut_config.reset_config()
    return {mangled_of(name) for name in generated.mutant_names}


# (mutmut's generator takes seconds per hundred mutants: two real modules with classes, methods,
# decorators and validators keep this quick)
@pytest.mark.slow
@pytest.mark.parametrize("path", ["bot/trunkline/config/model.py", "bot/trunkline/sandbox/mergeability.py"])
def test_every_mutant_mutmut_makes_belongs_to_a_function_we_find(path: str, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    source = (REPO / path).read_text()
    ours = {s.key for s in function_spans(source)}
    theirs = _mutmut_keys(tmp_path, monkeypatch, source)
    assert theirs, "mutmut made no mutants: the comparison would prove nothing"
    assert theirs <= ours, f"mutmut mutates functions we do not map: {sorted(theirs - ours)}"


@pytest.mark.slow
def test_sample_agrees_with_mutmut(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    theirs = _mutmut_keys(tmp_path, monkeypatch, SAMPLE.replace("@decorate\n", "@decorate\n"))
    # decorated functions (other than staticmethod/classmethod) and Enum hooks are left alone by mutmut;
    # everything mutmut does mutate is one of ours
    assert theirs <= {s.key for s in function_spans(SAMPLE)}
    assert {"x_top", "x_fetch", "xǁBoxǁmake"} <= theirs


def test_module_names_follow_mutmut() -> None:
    assert module_name("pkg/mod.py") == "pkg.mod"
    assert module_name("pkg/__init__.py") == "pkg"
    assert module_name("pkg/sub/__init__.py") == "pkg.sub"
    assert module_name("single.py") == "single"


def test_parse_unified_diff_reads_git_headers() -> None:
    text = textwrap.dedent("""\
        diff --git a/pkg/a.py b/pkg/a.py
        index 1..2 100644
        --- a/pkg/a.py
        +++ b/pkg/a.py
        @@ -3 +3 @@ def f():
        -    return 1
        +    return 2
        @@ -10,2 +9,0 @@ def g():
        -    x = 1
        -    y = 2
        @@ -20,0 +19,3 @@
        +def h():
        +    pass
        +
        diff --git a/old.py b/new.py
        similarity index 90%
        rename from old.py
        rename to new.py
        diff --git a/gone.py b/gone.py
        deleted file mode 100644
        --- a/gone.py
        +++ /dev/null
        @@ -1,2 +0,0 @@
        -x = 1
        -y = 2
        diff --git a/img.png b/img.png
        Binary files a/img.png and b/img.png differ
        """)
    changes = {c.any_path: c for c in parse_unified_diff(text)}
    a = changes["pkg/a.py"]
    assert a.added == [(3, 3), (19, 21)]
    assert a.deleted_after == [9]
    assert changes["new.py"].old_path == "old.py" and changes["new.py"].added == []
    gone = changes["gone.py"]
    assert gone.deleted and gone.old_path == "gone.py"
    assert "img.png" in changes


def _difflib_u0(old: list[str], new: list[str]) -> str:
    body = "".join(difflib.unified_diff(old, new, "a/f.py", "b/f.py", n=0))
    return "diff --git a/f.py b/f.py\n" + body


lines_strategy = st.lists(st.sampled_from(["a\n", "b\n", "c\n", "d\n", "e\n"]), max_size=25)


@settings(max_examples=150, deadline=None)
@given(old=lines_strategy, new=lines_strategy)
def test_parsed_hunks_are_exactly_the_new_lines_outside_matching_blocks(old: list[str], new: list[str]) -> None:
    changes = parse_unified_diff(_difflib_u0(old, new))
    added = {n for c in changes for (s, e) in c.added for n in range(s, e + 1)}
    matcher = difflib.SequenceMatcher(None, old, new)
    expected: set[int] = set()
    deletions: list[int] = []
    for tag, _i1, _i2, j1, j2 in matcher.get_opcodes():
        if tag in ("replace", "insert"):
            expected.update(range(j1 + 1, j2 + 1))
        if tag == "delete":
            deletions.append(j1)  # removed after new-side line j1
    assert added == expected
    assert sorted(d for c in changes for d in c.deleted_after) == sorted(deletions)
    assert all(1 <= n <= len(new) for n in added)


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def test_parse_real_git_diff_with_rename_new_file_and_unicode_path(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "a.py").write_text("def f():\n    return 1\n\n\ndef g():\n    x = 1\n    return x\n")
    (tmp_path / "pkg" / "moved.py").write_text("".join(f"v{i} = {i}\n" for i in range(30)))
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "base")
    (tmp_path / "pkg" / "a.py").write_text("def f():\n    return 2\n\n\ndef g():\n    return x\n")
    _git(tmp_path, "mv", "pkg/moved.py", "pkg/renamed.py")
    (tmp_path / "pkg" / "renamed.py").write_text("".join(f"v{i} = {i}\n" for i in range(30)) + "v30 = 30\n")
    (tmp_path / "pkg" / "tést.py").write_text("def h():\n    return 0\n")
    _git(tmp_path, "add", "-A")
    text = _git(tmp_path, "-c", "core.quotePath=false", "diff", "--unified=0", "--find-renames", "HEAD", "--cached")
    changes = {c.path: c for c in parse_unified_diff(text)}
    assert changes["pkg/a.py"].added == [(2, 2)]
    assert changes["pkg/a.py"].deleted_after == [5]
    assert changes["pkg/renamed.py"].old_path == "pkg/moved.py"
    assert changes["pkg/renamed.py"].added == [(31, 31)]
    assert changes["pkg/tést.py"].added == [(1, 2)] and changes["pkg/tést.py"].old_path == ""
    funcs, notes = changed_functions(changes.values(), {p: (tmp_path / p).read_text() for p in changes}, "")
    assert [f.mangled for f in funcs] == ["pkg.a.x_f", "pkg.a.x_g", "pkg.tést.x_h"]
    assert notes == []


def test_touched_functions_lines_and_deletions() -> None:
    spans = function_spans(SAMPLE)
    by_key = {s.key: s for s in spans}

    def keys(change: FileChange) -> set[str]:
        return {s.key for s in touched_functions(spans, change)}

    assert keys(FileChange("m.py", added=[(9, 9)])) == {"x_top"}  # inside the nested def
    assert keys(FileChange("m.py", added=[(4, 4)])) == set()  # module constant
    assert keys(FileChange("m.py", added=[(10, 14)])) == {"x_top", "x_decorated"}
    assert keys(FileChange("m.py", deleted_after=[by_key["x_fetch"].end])) == {"x_fetch"}  # dropped tail
    assert keys(FileChange("m.py", deleted_after=[0])) == set()
    assert keys(FileChange("m.py", added=[(23, 23)])) == set()  # class attribute `size`


@st.composite
def modules(draw: st.DrawFn) -> tuple[str, list[tuple[str, int, int]]]:
    """A module of functions and classes, with the line span of each function mutmut would mutate."""
    lines: list[str] = ["import os", ""]
    expected: list[tuple[str, int, int]] = []
    for i in range(draw(st.integers(1, 6))):
        if draw(st.booleans()):
            start = len(lines) + 1
            body = draw(st.integers(1, 4))
            lines += [f"def f{i}(x):"] + [f"    x = x + {j}" for j in range(body)] + ["    return x", ""]
            expected.append((f"x_f{i}", start, start + body + 1))
        else:
            lines += [f"class C{i}:", "    attr = 1", ""]
            for k in range(draw(st.integers(0, 3))):
                start = len(lines) + 1
                lines += [f"    def m{k}(self):", f"        return {k}", ""]
                expected.append((f"xǁC{i}ǁm{k}", start, start + 1))
        lines.append(f"V{i} = {i}")
    return "\n".join(lines) + "\n", expected


@settings(max_examples=100, deadline=None)
@given(module=modules(), data=st.data())
def test_any_changed_line_maps_to_exactly_its_enclosing_function(module, data) -> None:
    source, expected = module
    spans = function_spans(source)
    assert [(s.key, s.start, s.end) for s in spans] == expected
    total = source.count("\n")
    line = data.draw(st.integers(1, total))
    touched = {s.key for s in touched_functions(spans, FileChange("m.py", added=[(line, line)]))}
    owners = {key for key, start, end in expected if start <= line <= end}
    assert touched == owners and len(owners) <= 1


def test_changed_functions_under_an_import_root_and_globs_match_only_their_mutants() -> None:
    source = "def add(a, b):\n    return a + b\n\n\ndef add_all(xs):\n    return sum(xs)\n"
    change = FileChange("bot/pkg/__init__.py", added=[(2, 2)])
    funcs, _ = changed_functions([change], {"bot/pkg/__init__.py": source}, "bot")
    assert funcs == [FunctionRef("pkg", "x_add", "add", "bot/pkg/__init__.py")]
    glob = funcs[0].glob
    mutants = ["pkg.x_add__mutmut_1", "pkg.x_add__mutmut_12", "pkg.x_add_all__mutmut_1", "pkg.sub.x_add__mutmut_1"]
    assert expand_globs([glob], mutants) == ["pkg.x_add__mutmut_1", "pkg.x_add__mutmut_12"]
    assert all(fnmatch.fnmatchcase(m, glob) == (mangled_of(m) == "pkg.x_add") for m in mutants)


def test_unparsable_changed_file_is_a_note_not_a_crash() -> None:
    funcs, notes = changed_functions([FileChange("p/m.py", added=[(1, 1)])], {"p/m.py": "def (:\n"}, "")
    assert funcs == [] and "not valid Python" in notes[0]


def test_name_helpers() -> None:
    assert mangle("f") == "x_f" and mangle("m", "C") == "xǁCǁm"
    assert split_mangled("a.b.xǁCǁm") == ("a.b", "xǁCǁm")
    assert readable("xǁCǁm") == "C.m" and readable("x_f") == "f"


def test_test_paths() -> None:
    assert is_test_path("tests/unit/test_x.py")
    assert is_test_path("tests/helpers.py")
    assert is_test_path("qa/check.py", ["qa"])
    assert is_test_path("pkg/test_thing.py")
    assert not is_test_path("pkg/thing.py", ["tests"])
    assert not is_test_path("tests/data.json")


def test_changed_tests_reach_functions_through_mutmuts_stats() -> None:
    stats = {
        "pkg.a.x_f": ["tests/test_a.py::test_f", "tests/sub/test_b.py::test_both"],
        "pkg.a.x_g": ["tests/test_a.py::test_g[1]"],
        "pkg.b.x_h": ["tests/sub/test_b.py::test_h"],
        "pkg.b.x_unreached": [],
    }
    known = {t for ts in stats.values() for t in ts}
    only_a = affected_tests(["tests/test_a.py"], known)
    assert only_a == {"tests/test_a.py::test_f", "tests/test_a.py::test_g[1]"}
    assert functions_reached(stats, only_a) == {"pkg.a.x_f", "pkg.a.x_g"}
    sub_conftest = affected_tests(["tests/sub/conftest.py"], known)
    assert functions_reached(stats, sub_conftest) == {"pkg.a.x_f", "pkg.b.x_h"}
    root_conftest = affected_tests(["tests/conftest.py"], known)
    assert functions_reached(stats, root_conftest) == {"pkg.a.x_f", "pkg.a.x_g", "pkg.b.x_h"}
    assert affected_tests(["tests/test_removed.py"], known) == set()
