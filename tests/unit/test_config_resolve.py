"""resolve_config over in-memory repositories: org defaults, extends chains, cycles, attribution."""

from __future__ import annotations

import inspect

from trunkline.config import TrunklineConfig, resolve_config
from trunkline.config.resolve import MAX_EXTENDS_DEPTH

CFG = ".github/trunkline.yml"


class FakeGitHub:
    """Default-branch file contents per (owner, repo, path); records every read."""

    def __init__(self, files: dict[tuple[str, str, str], str]) -> None:
        self.files = files
        self.reads: list[tuple[str, str, str]] = []

    def __call__(self, owner: str, repo: str, path: str) -> str | None:
        self.reads.append((owner, repo, path))
        return self.files.get((owner, repo, path))


def test_no_files_at_all_gives_defaults():
    fetch = FakeGitHub({})
    resolved = resolve_config("acme", "app", fetch)
    assert resolved.ok and resolved.issues == [] and resolved.sources == []
    assert resolved.config == TrunklineConfig()
    assert fetch.reads == [("acme", ".github", CFG), ("acme", "app", CFG)]


def test_org_defaults_apply_when_the_repo_has_no_file():
    fetch = FakeGitHub({("acme", ".github", CFG): "merge:\n  method: rebase\n  required_approvals: 2\n"})
    resolved = resolve_config("acme", "app", fetch)
    assert resolved.ok
    assert resolved.config.merge.method == "rebase" and resolved.config.merge.required_approvals == 2
    assert [(s.label, s.role, s.local) for s in resolved.sources] == [
        ("acme/.github:.github/trunkline.yml", "org", False)
    ]


def test_repo_overrides_org_and_lists_replace():
    fetch = FakeGitHub(
        {
            (
                "acme",
                ".github",
                CFG,
            ): "merge:\n  method: rebase\n  hold_labels: [hold, wip]\n  required_approvals: 2\n",
            ("acme", "app", CFG): "merge:\n  hold_labels: [blocked]\n  required_approvals: 1\n",
        }
    )
    config = resolve_config("acme", "app", fetch).config
    assert config.merge.method == "rebase"  # inherited
    assert config.merge.required_approvals == 1  # overridden
    assert config.merge.hold_labels == ["blocked"]  # replaced, not concatenated


def test_extends_chain_precedence_and_sources():
    fetch = FakeGitHub(
        {
            (
                "acme",
                ".github",
                CFG,
            ): "merge:\n  method: merge\n  label: org-label\n  priority_label: org-prio\n",
            ("acme", "base", CFG): "extends: acme/root:conf/root.yml\nmerge:\n  label: base-label\n",
            ("acme", "root", "conf/root.yml"): "merge:\n  label: root-label\n  priority_label: root-prio\n"
            "  method: rebase\n",
            ("acme", "app", CFG): "extends: acme/base\ncommands:\n  prefix: '!'\n",
        }
    )
    resolved = resolve_config("acme", "app", fetch)
    assert resolved.ok, resolved.issues
    merge = resolved.config.merge
    # org < root < base < repo
    assert merge.method == "rebase" and merge.priority_label == "root-prio" and merge.label == "base-label"
    assert resolved.config.commands.prefix == "!"
    assert resolved.config.extends == "acme/base"
    assert [(s.label, s.role) for s in resolved.sources] == [
        ("acme/.github:.github/trunkline.yml", "org"),
        ("acme/root:conf/root.yml", "extends"),
        ("acme/base:.github/trunkline.yml", "extends"),
        (".github/trunkline.yml", "repo"),
    ]


def test_extends_cycle_is_reported_where_it_closes():
    fetch = FakeGitHub(
        {
            ("acme", "app", CFG): "extends: acme/base\n",
            ("acme", "base", CFG): "# shared\nmerge:\n  method: rebase\nextends: acme/app\n",
        }
    )
    resolved = resolve_config("acme", "app", fetch)
    assert resolved.config is None
    assert [str(i) for i in resolved.issues] == [
        "acme/base:.github/trunkline.yml:4:10 extends: extends cycle: "
        ".github/trunkline.yml -> acme/base:.github/trunkline.yml -> .github/trunkline.yml"
    ]


def test_extending_yourself_is_a_cycle():
    fetch = FakeGitHub({("acme", "app", CFG): "extends: ACME/App\n"})
    (issue,) = resolve_config("acme", "app", fetch).issues
    assert (
        str(issue)
        == ".github/trunkline.yml:1:10 extends: extends cycle: .github/trunkline.yml -> .github/trunkline.yml"
    )


def _chain(length: int) -> FakeGitHub:
    """acme/app extends acme/r1 extends ... acme/r<length>."""
    files = {("acme", "app", CFG): "extends: acme/r1\n"}
    for n in range(1, length + 1):
        files[("acme", f"r{n}", CFG)] = (
            f"extends: acme/r{n + 1}\n" if n < length else ""
        ) + f"merge:\n  label: l{n}\n"
    return FakeGitHub(files)


def test_extends_depth_limit():
    ok = resolve_config("acme", "app", _chain(MAX_EXTENDS_DEPTH))
    assert ok.ok and ok.config.merge.label == "l1" and len(ok.sources) == MAX_EXTENDS_DEPTH + 1

    fetch = _chain(MAX_EXTENDS_DEPTH + 1)
    too_deep = resolve_config("acme", "app", fetch)
    assert too_deep.config is None
    assert [str(i) for i in too_deep.issues] == [
        "acme/r5:.github/trunkline.yml:1:10 extends: extends chain is deeper than 5 levels: "
        ".github/trunkline.yml -> acme/r1:.github/trunkline.yml -> acme/r2:.github/trunkline.yml -> "
        "acme/r3:.github/trunkline.yml -> acme/r4:.github/trunkline.yml -> acme/r5:.github/trunkline.yml -> "
        "acme/r6:.github/trunkline.yml"
    ]
    assert ("acme", "r6", CFG) not in fetch.reads  # the limit stops fetching, not just merging


def test_missing_extends_target_is_an_error_in_the_declaring_file():
    fetch = FakeGitHub({("acme", "app", CFG): "merge:\n  method: squash\nextends: acme/nowhere:x.yml\n"})
    resolved = resolve_config("acme", "app", fetch)
    assert resolved.config is None
    assert [str(i) for i in resolved.issues] == [
        ".github/trunkline.yml:3:10 extends: 'acme/nowhere:x.yml' not found: acme/nowhere has no x.yml "
        "on its default branch (or Trunkline cannot read that repository)"
    ]


def test_errors_are_attributed_to_the_file_they_come_from():
    fetch = FakeGitHub(
        {
            ("acme", ".github", CFG): "merge:\n  method: squosh\n",
            ("acme", "app", CFG): "commands:\n  ignore_edited: 1\n",
        }
    )
    resolved = resolve_config("acme", "app", fetch)
    assert resolved.config is None and not resolved.ok
    assert [str(i) for i in resolved.issues] == [
        ".github/trunkline.yml:2:18 commands.ignore_edited: expected true or false, got 1",
        "acme/.github:.github/trunkline.yml:2:11 merge.method: 'squosh' is not one of merge, squash, rebase",
    ]


def test_a_broken_org_file_fails_safe_instead_of_falling_back_to_defaults():
    fetch = FakeGitHub(
        {("acme", ".github", CFG): "merge: [\n", ("acme", "app", CFG): "merge: {method: merge}\n"}
    )
    resolved = resolve_config("acme", "app", fetch)
    assert resolved.config is None
    assert [i.file for i in resolved.issues] == ["acme/.github:.github/trunkline.yml"]


def test_cross_file_conflicts_are_found_after_merging():
    fetch = FakeGitHub(
        {
            ("acme", ".github", CFG): "merge:\n  hold_labels: [ship-it]\n",
            ("acme", "app", CFG): "merge:\n  label: ship-it\n",
        }
    )
    resolved = resolve_config("acme", "app", fetch)
    assert resolved.config is None
    (issue,) = resolved.issues
    assert issue.file == "acme/.github:.github/trunkline.yml" and (issue.line, issue.column) == (2, 16)
    assert issue.message == "'ship-it' is also merge.label; a label cannot both request and block merging"


def test_the_org_repo_is_not_layered_on_itself():
    fetch = FakeGitHub({("acme", ".github", CFG): "merge:\n  method: merge\n"})
    resolved = resolve_config("acme", ".github", fetch)
    assert resolved.ok and resolved.config.merge.method == "merge"
    assert [(s.label, s.role, s.local) for s in resolved.sources] == [(".github/trunkline.yml", "repo", True)]
    assert fetch.reads == [("acme", ".github", CFG)]


def test_extends_inside_the_same_repository_is_local():
    fetch = FakeGitHub(
        {
            ("acme", "app", CFG): "extends: acme/app:config/base.yml\n",
            ("acme", "app", "config/base.yml"): "merge:\n  method: bogus\n",
        }
    )
    resolved = resolve_config("acme", "app", fetch)
    (issue,) = resolved.issues
    assert str(issue) == "config/base.yml:2:11 merge.method: 'bogus' is not one of merge, squash, rebase"
    assert [s.local for s in resolved.sources] == [True, True]


def test_api_reads_default_branches_only():
    # No ref anywhere: configuration must never come from a pull request's head.
    assert list(inspect.signature(resolve_config).parameters) == ["owner", "repo", "fetch"]
    fetch = FakeGitHub({("acme", "app", CFG): "extends: acme/base\n", ("acme", "base", CFG): ""})
    resolve_config("acme", "app", fetch)
    assert all(len(read) == 3 for read in fetch.reads)
