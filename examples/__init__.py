"""Example applications Trunkline deploys and probes (see docs/deploy.md)."""
