"""What the ``trunkline/config`` check run shows. Pure: a parse/resolve result in, check output out.

GitHub annotations can only point at files of the repository the check run belongs to, so issues
in the repository's own files become annotations (at most 50: the API's per-request limit) while
issues in org-default or ``extends`` files are listed in the summary — every issue appears in the
summary list regardless, so nothing is lost when annotations are capped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from trunkline.config.loader import ConfigIssue, ConfigResult
from trunkline.config.model import DEFAULT_COMMAND_LEVEL, TrunklineConfig
from trunkline.config.resolve import ResolvedConfig

CHECK_NAME = "trunkline/config"
MAX_ANNOTATIONS = 50  # GitHub accepts at most 50 annotations per create/update request
MAX_LISTED_ISSUES = 100  # keeps the summary far below GitHub's 65535-character limit

_ANNOTATION_LEVEL = {"error": "failure", "warning": "warning"}


@dataclass(frozen=True)
class Annotation:
    """A check-run annotation, field names as in GitHub's REST API."""

    path: str
    start_line: int
    end_line: int
    annotation_level: Literal["notice", "warning", "failure"]
    message: str
    title: str | None = None
    start_column: int | None = None  # only allowed when start_line == end_line
    end_column: int | None = None

    def to_api(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "path": self.path,
            "start_line": self.start_line,
            "end_line": self.end_line,
            "annotation_level": self.annotation_level,
            "message": self.message,
        }
        if self.title:
            out["title"] = self.title
        if self.start_line == self.end_line and self.start_column is not None:
            out["start_column"] = self.start_column
            out["end_column"] = self.end_column if self.end_column is not None else self.start_column
        return out


@dataclass(frozen=True)
class CheckOutput:
    """Conclusion plus the ``output`` object of a check run."""

    conclusion: Literal["success", "failure"]
    title: str
    summary: str
    annotations: list[Annotation] = field(default_factory=list)
    name: str = CHECK_NAME

    def to_api(self) -> dict[str, Any]:
        """The ``output`` dict for POST/PATCH ``/repos/{owner}/{repo}/check-runs``."""
        return {
            "title": self.title,
            "summary": self.summary,
            "annotations": [a.to_api() for a in self.annotations],
        }


def config_check_output(result: ResolvedConfig | ConfigResult) -> CheckOutput:
    """Build the check-run output for a resolved configuration or a single parsed file."""
    if isinstance(result, ResolvedConfig):
        local = {s.label for s in result.sources if s.local} | {result.file}
        sources = [s.label for s in result.sources]
    else:
        local = {result.file}
        sources = [result.file]
    issues = list(result.issues)
    errors = [i for i in issues if i.level == "error"]
    if result.config is not None and not errors:
        return CheckOutput("success", _valid_title(issues), _valid_summary(result.config, sources, issues))
    annotatable = [i for i in issues if i.file in local]
    annotations = [_annotation(i) for i in annotatable[:MAX_ANNOTATIONS]]
    summary = _problem_summary(issues, sources, len(annotatable) - len(annotations))
    return CheckOutput("failure", _problem_title(issues), summary, annotations)


def _annotation(issue: ConfigIssue) -> Annotation:
    level = _ANNOTATION_LEVEL.get(issue.level, "notice")
    title = f"Trunkline config: {issue.key}" if issue.key else "Trunkline config"
    return Annotation(
        path=issue.file,
        start_line=issue.line,
        end_line=issue.line,
        annotation_level=level,  # type: ignore[arg-type]
        message=issue.message,
        title=title,
        start_column=issue.column,
        end_column=issue.column,
    )


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _problem_title(issues: list[ConfigIssue]) -> str:
    files = list(dict.fromkeys(i.file for i in issues))
    where = files[0] if len(files) == 1 else _plural(len(files), "file")
    return f"{_plural(len(issues), 'problem')} in {where}" if issues else "Configuration invalid"


def _valid_title(issues: list[ConfigIssue]) -> str:
    return "Configuration valid" if not issues else f"Configuration valid ({_plural(len(issues), 'warning')})"


def _code(text: object) -> str:
    """Inline code that survives backticks in the value."""
    value = str(text).replace("\n", " ")
    fence = "``" if "`" in value else "`"
    return f"{fence} {value} {fence}" if fence == "``" else f"`{value}`"


def _sources_block(sources: list[str]) -> list[str]:
    lines = ["**Sources** (later ones override earlier ones):", "", "1. built-in defaults"]
    lines += [f"{n}. {_code(label)}" for n, label in enumerate(sources, start=2)]
    return lines


def _valid_summary(config: TrunklineConfig, sources: list[str], warnings: list[ConfigIssue]) -> str:
    merge, commands = config.merge, config.commands
    hold = ", ".join(_code(label) for label in merge.hold_labels) or "none"
    checks = ", ".join(_code(name) for name in merge.required_checks) or "none beyond branch protection"
    lines = [
        *_sources_block(sources),
        "",
        "**Effective settings**",
        "",
        f"- merge method: {_code(merge.method)}, when labelled {_code(merge.label)}"
        f" (priority: {_code(merge.priority_label)})",
        f"- required approvals: {merge.required_approvals}",
        f"- branch must be up to date: {'yes' if merge.require_up_to_date else 'no'}",
        f"- delete branch after merge: {'yes' if merge.delete_branch else 'no'}",
        f"- hold labels: {hold}",
        f"- required checks: {checks}",
        f"- command permissions: {_permissions(commands.permissions)}",
        f"- command prefix: {_code(commands.prefix)}"
        + (", edited comments ignored" if commands.ignore_edited else ", edited comments re-run commands"),
    ]
    if config.extends:
        lines.insert(0, f"Extends {_code(config.extends)}.\n")
    if warnings:
        lines += ["", "**Warnings**", "", *(_issue_line(i) for i in warnings)]
    return "\n".join(lines)


def _permissions(permissions: dict[str, str]) -> str:
    listed = ", ".join(f"{_code(name)} {level}" for name, level in sorted(permissions.items()))
    rest = f"other commands need {DEFAULT_COMMAND_LEVEL}"
    return f"{listed}; {rest}" if listed else rest


def _issue_line(issue: ConfigIssue) -> str:
    where = f"{issue.file}:{issue.line}:{issue.column}"
    return f"- {_code(where)} {_code(issue.key) + ': ' if issue.key else ''}{issue.message}"


def _problem_summary(issues: list[ConfigIssue], sources: list[str], unannotated_local: int) -> str:
    lines = [
        f"Trunkline found {_plural(len(issues), 'problem')} in its configuration; "
        "the configuration cannot be used until they are fixed.",
        "",
    ]
    lines += [_issue_line(i) for i in issues[:MAX_LISTED_ISSUES]]
    if len(issues) > MAX_LISTED_ISSUES:
        lines.append(f"- ... and {len(issues) - MAX_LISTED_ISSUES} more")
    if unannotated_local > 0:
        lines += ["", f"Only the first {MAX_ANNOTATIONS} problems are annotated on the file."]
    if sources:
        lines += ["", *_sources_block(sources)]
    return "\n".join(lines)
