"""``.github/trunkline.yml``: model, loader with precise errors, org defaults/extends, JSON Schema.

Public API::

    parse_config(text, filename=".github/trunkline.yml") -> ConfigResult          (pure)
    merge_layers(layers) -> dict                                                 (pure)
    resolve_config(owner, repo, fetch) -> ResolvedConfig       (fetch reads default branches)
    config_json_schema() -> dict
    config_check_output(resolved_or_result) -> CheckOutput                       (pure)
"""

from trunkline.config.loader import ConfigIssue, ConfigResult, parse_config
from trunkline.config.model import (
    CONFIG_PATH,
    CommandsSection,
    MergeSection,
    Section,
    TrunklineConfig,
    parse_extends,
    permission_allows,
)
from trunkline.config.report import Annotation, CheckOutput, config_check_output
from trunkline.config.resolve import Fetch, ResolvedConfig, Source, merge_layers, resolve_config


def config_json_schema() -> dict:
    """JSON Schema of the configuration file (see :mod:`trunkline.config.schema`)."""
    # Imported lazily so `python -m trunkline.config.schema` does not find itself pre-imported.
    from trunkline.config.schema import config_json_schema as build

    return build()


__all__ = [
    "CONFIG_PATH",
    "Annotation",
    "CheckOutput",
    "CommandsSection",
    "ConfigIssue",
    "ConfigResult",
    "Fetch",
    "MergeSection",
    "ResolvedConfig",
    "Section",
    "Source",
    "TrunklineConfig",
    "config_check_output",
    "config_json_schema",
    "merge_layers",
    "parse_config",
    "parse_extends",
    "permission_allows",
    "resolve_config",
]
