"""Canary deploys: probes, rules and the latency judge (``probes``, ``rules``, ``judge``), the embedded
local deployer (``local``), and the controller that drives them. See ``docs/deploy.md``."""

# The configuration model embeds the deploy section, which embeds ProbeSpec and RulesSpec from this
# package: load the model first, so that importing any trunkline.deploy module first is not circular.
import trunkline.config.model  # noqa: E402, F401
