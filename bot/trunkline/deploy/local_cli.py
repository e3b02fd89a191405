"""``trunkline local-deploy ACTION --state DIR --repo PATH_OR_URL [--sha SHA] [--weight N]``.

Drives the embedded local deployer (:class:`trunkline.deploy.local.LocalDeployer`): stable and canary
of a git repository as processes on loopback behind a weighted proxy. Every action prints the
resulting state as one JSON object (``stable``/``canary``: ``{sha, url, pid, alive}``, ``weight``,
``proxy_url``) — the ``command`` deployer's status format.

Actions: ``canary`` (--sha, --weight), ``weight`` (--weight), ``promote`` (--sha), ``rollback``
([--sha]: weight 0 + stop the canary; with a SHA other than stable's, deploy it as stable),
``status``, ``stop`` (everything, including the proxy).

Exit status: 0 done; 1 the action failed (``{"error": ...}`` on stdout, the message on stderr);
2 bad input.
"""

from __future__ import annotations

import argparse
import json
import sys

ACTIONS = ("canary", "weight", "promote", "rollback", "status", "stop")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("local-deploy", help="deploy stable/canary of a git repo as local processes",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=ACTIONS, help="what to do")
    parser.add_argument("--state", required=True, help="state directory (record, worktrees, logs)")
    parser.add_argument("--repo", default=None,
                        help="git repository to deploy from (path or URL); remembered in the state")
    parser.add_argument("--sha", default=None, help="commit (SHA, branch or tag)")
    parser.add_argument("--weight", type=int, default=None, help="percent of requests to the canary (0-100)")
    parser.add_argument("--command", dest="app_command", default=None,
                        help="how to start the app in its worktree: placeholders {python} {port} {sha} {host} "
                             "(default: uvicorn examples.service.app:app); remembered in the state")
    parser.add_argument("--health-path", default=None,
                        help="path answered once the app is up (default /health); remembered")
    parser.add_argument("--start-timeout", type=float, default=30.0, help="seconds a version may take to start")
    parser.add_argument("--proxy-port", type=int, default=None, help="port of the proxy (default: a free one, "
                                                                     "then kept)")
    parser.set_defaults(func=_run)


def _bad(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def _run(args: argparse.Namespace) -> int:
    from trunkline.deploy.local import DeployError, LocalDeployer

    needs_sha = args.action in ("canary", "promote")
    if needs_sha and not args.sha:
        return _bad(f"local-deploy {args.action} needs --sha")
    if args.action in ("canary", "weight"):
        if args.weight is None:
            return _bad(f"local-deploy {args.action} needs --weight")
        if not 0 <= args.weight <= 100:
            return _bad(f"--weight must be from 0 to 100, not {args.weight}")
    if args.proxy_port is not None and not 1 <= args.proxy_port <= 65535:
        return _bad(f"--proxy-port {args.proxy_port} is not a port")
    if args.start_timeout <= 0:
        return _bad("--start-timeout must be more than 0")
    try:
        deployer = LocalDeployer(args.state, args.repo, app_command=args.app_command, health_path=args.health_path,
                                 start_timeout=args.start_timeout, proxy_port=args.proxy_port)
        if args.sha and not deployer.repo:
            return _bad("--repo is needed (no repository is remembered in the state yet)")
        if args.action == "canary":
            state = deployer.deploy_canary(args.sha, args.weight)
        elif args.action == "weight":
            state = deployer.set_weight(args.weight)
        elif args.action == "promote":
            state = deployer.promote(args.sha)
        elif args.action == "rollback":
            state = deployer.rollback(args.sha)
        elif args.action == "stop":
            deployer.stop_all()
            state = deployer.status()
        else:
            state = deployer.status()
    except DeployError as exc:
        print(json.dumps({"error": str(exc)}))
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(state.to_dict(), indent=2))
    return 0
