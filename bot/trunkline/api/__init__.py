"""Models generated from Trunkline's own contracts (``trunkline contracts generate``).

- ``ingest`` — from ``contracts/openapi.yaml``: the webhook receiver's request and response bodies;
- ``events`` — from ``contracts/asyncapi.yaml``: the pipeline events Trunkline publishes.

Do not edit the generated modules; change the contract and regenerate. ``make verify-fast`` runs
``trunkline contracts generate --check``.
"""
