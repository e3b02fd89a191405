"""``trunkline sandbox``: run the local GitHub, list its routes, or act on a running one.

    trunkline sandbox [--host 127.0.0.1] [--port 8765] [--data-dir DIR]   # foreground, Ctrl-C stops
    trunkline sandbox --list-routes                                        # METHOD /path per route
    trunkline sandbox actor [--url URL] <op> ...                           # play a user / CI system

Actor ops call the ``/_sandbox/actions`` control routes of a running sandbox and print the result
as JSON, e.g. ``trunkline sandbox actor push acme/widgets feat --file app.py=@./app.py -m wip --as dev``.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

DEFAULT_PORT = 8765
DEFAULT_URL = f"http://127.0.0.1:{DEFAULT_PORT}"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("sandbox", help="run the local sandbox GitHub (or act on a running one)",
                                   description="A local, faithful GitHub: REST routes, git, signed webhooks.")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 = any)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="where bare git repositories live (default: a fresh temporary directory)")
    parser.add_argument("--list-routes", action="store_true",
                        help="print every served GitHub route (METHOD /path/{template}) and exit")
    parser.set_defaults(func=run_server)
    sub = parser.add_subparsers(dest="sandbox_command", metavar="SUBCOMMAND")
    actor = sub.add_parser("actor", help="act on a running sandbox (create repos, push, open PRs, ...)")
    actor.add_argument("--url", default=DEFAULT_URL, help=f"sandbox URL (default {DEFAULT_URL})")
    _register_actor_ops(actor.add_subparsers(dest="op", metavar="OP", required=True))


# ---- the server ---------------------------------------------------------------------------------------
def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def list_routes_lines() -> list[str]:
    from .server import create_app, list_routes
    from .world import World

    with tempfile.TemporaryDirectory(prefix="trunkline-routes-") as tmp:
        app = create_app(World(Path(tmp)))
        routes = list_routes(app)
    return [f"{method} {path}" for method, path in sorted(routes, key=lambda mt: (mt[1], mt[0]))]


def run_server(args: argparse.Namespace) -> int:
    if args.list_routes:
        for line in list_routes_lines():
            print(line)
        return 0
    if not _is_loopback(args.host):
        print(f"error: --host {args.host} is not a loopback address; the sandbox only serves this machine "
              "(use 127.0.0.1)", file=sys.stderr)
        return 2
    own_dir = args.data_dir is None  # a temporary directory we made is removed on exit
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="trunkline-sandbox-"))
    git_dir = data_dir / "git"
    if git_dir.exists() and any(git_dir.iterdir()):
        # The World lives in memory; old bare repos in the same place would clash with new ones.
        print(f"error: {data_dir} holds repositories from an earlier sandbox run; "
              "pass an empty --data-dir (nothing was changed)", file=sys.stderr)
        return 2
    from .actors import Sandbox

    sandbox = Sandbox(data_dir, host=args.host, port=args.port)
    try:
        sandbox.start()
    except OSError as exc:
        if own_dir:
            shutil.rmtree(data_dir, ignore_errors=True)
        print(f"error: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}"
              " (another sandbox running? use --port 0 for a free port)", file=sys.stderr)
        return 1
    print(f"Sandbox GitHub listening on {sandbox.url}", flush=True)
    print(f"  data: {data_dir}   state: {sandbox.url}/_sandbox/   stop: Ctrl-C", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("stopping sandbox", flush=True)
    finally:
        sandbox.stop()
        if own_dir:
            shutil.rmtree(data_dir, ignore_errors=True)
    return 0


# ---- actor ops ----------------------------------------------------------------------------------------
def _files(specs: list[str] | None, deletes: list[str] | None = None) -> dict[str, str | None]:
    """``PATH=CONTENT`` or ``PATH=@local-file``; ``--delete PATH`` maps to None (deletion)."""
    files: dict[str, str | None] = {}
    for spec in specs or []:
        path, sep, value = spec.partition("=")
        if not sep or not path:
            raise SystemExit(f"error: --file wants PATH=CONTENT or PATH=@FILE, got {spec!r}")
        if value.startswith("@"):
            source = Path(value[1:])
            if not source.is_file():
                raise SystemExit(f"error: {source} is not a file")
            value = source.read_text()
        files[path] = value
    for path in deletes or []:
        files[path] = None
    return files


def _op(sub: Any, name: str, help: str, build: Any) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=help)
    parser.set_defaults(func=run_actor, build=build)
    return parser


def _register_actor_ops(sub: Any) -> None:
    p = _op(sub, "create-app", "register a GitHub App (prints its id and private key)",
            lambda a: ("create_app", {"slug": a.slug, "owner": a.owner, "webhook_url": a.webhook_url,
                                      "secret": a.secret, "events": a.events or ["*"]}))
    p.add_argument("slug")
    p.add_argument("--owner", required=True)
    p.add_argument("--webhook-url", default=None)
    p.add_argument("--secret", required=True)
    p.add_argument("--event", dest="events", action="append", help="subscribe to EVENT (default: all)")

    p = _op(sub, "install", "install an App on an account",
            lambda a: ("install", {"app": a.app, "account": a.account, "repos": a.repos or None}))
    p.add_argument("app", help="app slug")
    p.add_argument("account")
    p.add_argument("--repo", dest="repos", action="append", help="only this OWNER/NAME (repeatable)")

    p = _op(sub, "create-repo", "create OWNER/NAME with an initial commit from a folder and/or files",
            lambda a: ("create_repo", {"owner": a.repo.partition("/")[0], "name": a.repo.partition("/")[2],
                                       "folder": str(Path(a.folder).resolve()) if a.folder else None,
                                       "files": _files(a.files) or None, "default_branch": a.default_branch,
                                       "private": a.private}))
    p.add_argument("repo", metavar="OWNER/NAME")
    p.add_argument("--folder", help="initial contents (every file under it)")
    p.add_argument("--file", dest="files", action="append", metavar="PATH=CONTENT|PATH=@FILE")
    p.add_argument("--default-branch", default="main")
    p.add_argument("--private", action="store_true")

    p = _op(sub, "grant", "give LOGIN a permission on the repo",
            lambda a: ("grant", {"repo": a.repo, "login": a.login, "level": a.level}))
    p.add_argument("repo", metavar="OWNER/NAME")
    p.add_argument("login")
    p.add_argument("level", choices=["read", "triage", "write", "maintain", "admin"])

    p = _op(sub, "protect", "protect a branch (required checks, approvals)",
            lambda a: ("protect", {"repo": a.repo, "branch": a.branch, "required_checks": a.checks or [],
                                   "strict": not a.not_strict, "approvals": a.approvals}))
    p.add_argument("repo", metavar="OWNER/NAME")
    p.add_argument("branch", nargs="?", default=None)
    p.add_argument("--check", dest="checks", action="append", help="required check context (repeatable)")
    p.add_argument("--not-strict", action="store_true", help="do not require up-to-date branches")
    p.add_argument("--approvals", type=int, default=0)

    p = _op(sub, "push", "push one commit to a branch (created from the default branch if missing)",
            lambda a: ("push", {"repo": a.repo, "branch": a.branch, "files": _files(a.files, a.deletes),
                                "message": a.message, "as_user": a.as_user}))
    p.add_argument("repo", metavar="OWNER/NAME")
    p.add_argument("branch")
    p.add_argument("--file", dest="files", action="append", metavar="PATH=CONTENT|PATH=@FILE")
    p.add_argument("--delete", dest="deletes", action="append", metavar="PATH")
    p.add_argument("-m", "--message", required=True)
    p.add_argument("--as", dest="as_user", required=True, metavar="LOGIN")

    p = _op(sub, "open-pr", "open a pull request",
            lambda a: ("open_pr", {"repo": a.repo, "head": a.head, "base": a.base, "title": a.title or a.head,
                                   "body": a.body, "as_user": a.as_user, "draft": a.draft}))
    p.add_argument("repo", metavar="OWNER/NAME")
    p.add_argument("head")
    p.add_argument("--base", default=None)
    p.add_argument("--title", default="")
    p.add_argument("--body", default="")
    p.add_argument("--draft", action="store_true")
    p.add_argument("--as", dest="as_user", required=True, metavar="LOGIN")

    p = _op(sub, "comment", "comment on an issue or pull request",
            lambda a: ("comment", {"repo": a.repo, "number": a.number, "body": a.body, "as_user": a.as_user}))
    p.add_argument("repo", metavar="OWNER/NAME")
    p.add_argument("number", type=int)
    p.add_argument("body")
    p.add_argument("--as", dest="as_user", required=True, metavar="LOGIN")

    p = _op(sub, "label", "add labels to an issue or pull request",
            lambda a: ("label", {"repo": a.repo, "number": a.number, "labels": a.labels, "as_user": a.as_user}))
    p.add_argument("repo", metavar="OWNER/NAME")
    p.add_argument("number", type=int)
    p.add_argument("labels", nargs="+")
    p.add_argument("--as", dest="as_user", required=True, metavar="LOGIN")

    p = _op(sub, "unlabel", "remove a label",
            lambda a: ("unlabel", {"repo": a.repo, "number": a.number, "label": a.label, "as_user": a.as_user}))
    p.add_argument("repo", metavar="OWNER/NAME")
    p.add_argument("number", type=int)
    p.add_argument("label")
    p.add_argument("--as", dest="as_user", required=True, metavar="LOGIN")

    p = _op(sub, "review", "review a pull request (APPROVE, REQUEST_CHANGES, COMMENT)",
            lambda a: ("review", {"repo": a.repo, "number": a.number, "as_user": a.as_user, "event": a.event,
                                  "body": a.body}))
    p.add_argument("repo", metavar="OWNER/NAME")
    p.add_argument("number", type=int)
    p.add_argument("--event", default="APPROVE", choices=["APPROVE", "REQUEST_CHANGES", "COMMENT"])
    p.add_argument("--body", default="")
    p.add_argument("--as", dest="as_user", required=True, metavar="LOGIN")

    p = _op(sub, "merge", "merge a pull request",
            lambda a: ("merge", {"repo": a.repo, "number": a.number, "as_user": a.as_user, "sha": a.sha,
                                 "method": a.method}))
    p.add_argument("repo", metavar="OWNER/NAME")
    p.add_argument("number", type=int)
    p.add_argument("--sha", default=None, help="only merge if the head is still SHA")
    p.add_argument("--method", default="merge", choices=["merge", "squash", "rebase"])
    p.add_argument("--as", dest="as_user", required=True, metavar="LOGIN")

    p = _op(sub, "ci", "play a CI system: report a check run on a commit",
            lambda a: ("ci", {"repo": a.repo, "sha": a.sha, "name": a.name, "conclusion": a.conclusion,
                              "status": a.status, "as_app": a.app}))
    p.add_argument("repo", metavar="OWNER/NAME")
    p.add_argument("sha")
    p.add_argument("name")
    p.add_argument("--conclusion", default=None,
                   choices=["success", "failure", "neutral", "cancelled", "skipped", "timed_out",
                            "action_required"])
    p.add_argument("--status", default="completed", choices=["queued", "in_progress", "completed"])
    p.add_argument("--app", default=None, help="CI App slug (default: the sandbox's own CI App)")

    p = _op(sub, "status", "post a commit status",
            lambda a: ("status", {"repo": a.repo, "sha": a.sha, "context": a.context, "state": a.state,
                                  "as_user": a.as_user}))
    p.add_argument("repo", metavar="OWNER/NAME")
    p.add_argument("sha")
    p.add_argument("context")
    p.add_argument("state", choices=["error", "failure", "pending", "success"])
    p.add_argument("--as", dest="as_user", required=True, metavar="LOGIN")

    p = _op(sub, "token", "print a personal access token for LOGIN",
            lambda a: ("token_for", {"login": a.login}))
    p.add_argument("login")

    sub.add_parser("state", help="print the sandbox state (repos, PRs, check runs)").set_defaults(
        func=run_actor, build=None)


def run_actor(args: argparse.Namespace) -> int:
    import httpx

    from .actors import ActorError, RemoteSandbox

    remote = RemoteSandbox(args.url)
    try:
        if args.build is None:
            result = remote.state()
        else:
            name, kwargs = args.build(args)
            result = remote.action(name, **kwargs)
    except ActorError as exc:
        print(f"error: {exc.message or exc}", file=sys.stderr)
        return 1
    except (OSError, httpx.HTTPError) as exc:
        print(f"error: no sandbox at {args.url} ({exc}); start one with `trunkline sandbox`", file=sys.stderr)
        return 1
    finally:
        remote.close()
    print(json.dumps(result, indent=2, sort_keys=True))
    return 0
