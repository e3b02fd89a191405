"""The embedded local deployer: stable and canary versions of a repository as real processes on
loopback, from ``git worktree``s of their SHAs, behind a small weighted reverse proxy.

For the sandbox, the demo and single-host users; the ``command`` deployer drives it through
``trunkline local-deploy ...`` (see :mod:`trunkline.deploy.local_cli`).
"""

from .deployer import DEFAULT_APP_COMMAND, DeployError, DeployState, Instance, LocalDeployer

__all__ = ["DEFAULT_APP_COMMAND", "DeployError", "DeployState", "Instance", "LocalDeployer"]
