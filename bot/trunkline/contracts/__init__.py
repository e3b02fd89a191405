"""Contracts engine: code generated from OpenAPI/AsyncAPI files, drift checks, breaking-change diff,
contract tests, and the ``trunkline/contracts`` check run.

Modules (each importable on its own; nothing heavy is imported here):

- ``config``    — the ``contracts:`` section (models in ``trunkline.config.sections_contracts``),
  contract kind detection, loading the section from a checkout;
- ``generate``  — ``trunkline contracts generate [--check]``: hash headers, drift states (pure over a
  file reader, so the bot checks drift from files fetched through the GitHub API), generators;
- ``tools``     — the generator tools (datamodel-code-generator; node tools in a project-local prefix);
- ``testing``   — ``trunkline contracts test``: schemathesis tiers, baseline ratchet, JUnit;
- ``signing``   — schemathesis hooks that sign requests like GitHub webhooks;
- ``diff``, ``sources``, ``cli_diff`` — the breaking-change diff engine;
- ``cli``       — the ``trunkline contracts`` command group.
"""
