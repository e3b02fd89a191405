"""Tiered verify gates: ``tiers:`` in the configuration, ``trunkline verify``, and the bot's
``trunkline/<tier>`` check runs (local and GitHub Actions executors).

Modules: :mod:`.config` (effective tiers), :mod:`.runner` (commands under a budget), :mod:`.junit`,
:mod:`.report` (pure rendering), :mod:`.executors`, :mod:`.service` (the API other parts call),
:mod:`.handlers` (webhooks), :mod:`.cli` (``trunkline verify``).
"""
