"""GitHub access: App JWT auth, installation-token cache, retries and request counting over PyGithub.

See :mod:`trunkline.github.client` (``AppClient``, ``InstallationClient``) and
:mod:`trunkline.github.retry` (the retry decision and the urllib3 policy).
"""

from .client import AppClient, CachedToken, DeliveryPage, InstallationClient, InstallationInfo
from .retry import GitHubRetry, RetryOptions, RetryPlan, plan_retry

__all__ = ["AppClient", "CachedToken", "DeliveryPage", "GitHubRetry", "InstallationClient", "InstallationInfo",
           "RetryOptions", "RetryPlan", "plan_retry"]
