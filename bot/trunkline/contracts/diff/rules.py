"""The rule table: every finding id the engine can emit, with its level, direction, area and check.

Ids and levels are oasdiff's wherever the meaning is the same (``checker/rules.go``). Levels follow the
oasdiff commit whose test pairs form our corpus (``../shared/corpus/oasdiff/SOURCE``) where those tests
state a level, and oasdiff's current registry otherwise; deliberate differences are listed in
``LEVEL_NOTES`` and in ``docs/contracts-rules.md``. Ids starting with ``asyncapi-`` are ours (oasdiff has
no AsyncAPI support).

Schema rules come in families: one *kind* (``max-length-decreased``) is emitted once by the schema
comparer and becomes a concrete id by prefixing the place it was found (``request-body``,
``request-property``, ``request-parameter``, ``response-property``, ...). A family row lists the prefixes
for which the id exists; a kind found where no prefix row exists is simply not a rule there.
"""

from __future__ import annotations

from dataclasses import dataclass

from .model import Level

ERR, WARN, INFO = Level.ERR, Level.WARN, Level.INFO

# prefix -> (direction, area)
PREFIXES: dict[str, tuple[str, str]] = {
    "request-body": ("request", "request-body"),
    "request-property": ("request", "schema-property"),
    "request-read-only-property": ("request", "schema-property"),
    "request-parameter": ("request", "parameters"),
    "request-parameter-property": ("request", "parameters"),
    "response-body": ("response", "responses"),
    "response-property": ("response", "schema-property"),
    "response-write-only-property": ("response", "schema-property"),
    "response-header": ("response", "headers"),
}


@dataclass(frozen=True)
class Rule:
    id: str
    level: Level
    direction: str  # request | response | none
    area: str  # paths, operations, parameters, request-body, responses, headers, schema-property, ...
    check: str  # the check function (module.function) that emits this id
    message: str  # str.format template; ``{subject}`` names the place
    kind: str | None = None  # schema family kind, for prefix-composed ids
    oasdiff: bool = True  # same id (and meaning) as oasdiff


RULES: dict[str, Rule] = {}
# (prefix, kind) -> id, for ids whose name is not simply f"{prefix}-{kind}"
ALIASES: dict[tuple[str, str], str] = {}


def _add(rule: Rule) -> None:
    if rule.id in RULES:
        raise ValueError(f"duplicate rule id {rule.id}")
    RULES[rule.id] = rule


def _family(kind: str, check: str, message: str, **levels: Level) -> None:
    """Rows for one schema kind; keyword names are prefixes with ``_`` for ``-``."""
    for key, level in levels.items():
        prefix = key.replace("_", "-")
        direction, area = PREFIXES[prefix]
        _add(Rule(f"{prefix}-{kind}", level, direction, area, check, message, kind=kind))


def _one(rule_id: str, level: Level, direction: str, area: str, check: str, message: str,
         *, oasdiff: bool = True) -> None:
    _add(Rule(rule_id, level, direction, area, check, message, oasdiff=oasdiff))


# --------------------------------------------------------------------------------------------------
# Schema families (emitted by trunkline.contracts.diff.schema)
# request_* narrowing is ERR, widening INFO; response_* widening is ERR, narrowing INFO.
Q = dict(request_body=ERR, request_property=ERR, request_parameter=ERR)
QI = dict(request_body=INFO, request_property=INFO, request_parameter=INFO)
QW = dict(request_body=WARN, request_property=WARN, request_parameter=WARN)
S = dict(response_body=ERR, response_property=ERR)
SI = dict(response_body=INFO, response_property=INFO)
BP = dict(request_body=ERR, request_property=ERR)  # body/property only (no parameter variant)
BPI = dict(request_body=INFO, request_property=INFO)

_T = "schema.type"
_family("type-changed", _T, "{subject}: {what} changed from {old} to {new}",
        **Q, request_parameter_property=WARN, **S, response_header=ERR)
_family("type-generalized", _T, "{subject}: {what} widened from {old} to {new}",
        **QI, request_parameter_property=INFO, **S, response_header=ERR)
_family("type-specialized", _T, "{subject}: {what} narrowed from {old} to {new}",
        request_parameter_property=ERR, **SI, response_header=INFO)
_family("type-compatible", _T, "{subject}: {what} changed from {old} to {new} (compatible: the media "
        "type carries text)", **BPI, **SI, response_header=INFO)
_family("list-of-types-widened", _T, "{subject}: list of types widened from {old} to {new}",
        **QI, request_parameter_property=INFO, **S)
_family("list-of-types-narrowed", _T, "{subject}: list of types narrowed from {old} to {new}",
        **Q, request_parameter_property=ERR, **SI)

_N = "schema.nullable"
_family("became-nullable", _N, "{subject} became nullable",
        **QI, request_parameter_property=INFO, **S, response_header=ERR)
_family("became-not-nullable", _N, "{subject} became not nullable",
        **Q, request_parameter_property=ERR, **SI, response_header=INFO)

_E = "schema.enum"
_family("enum-value-removed", _E, "{subject}: enum value {value} removed",
        **Q, request_parameter_property=ERR, request_read_only_property=INFO, response_property=INFO)
ALIASES[("response-body", "enum-value-removed")] = "response-mediatype-enum-value-removed"
_one("response-mediatype-enum-value-removed", INFO, "response", "responses", _E,
     "{subject}: enum value {value} removed")
_family("enum-value-added", _E, "{subject}: enum value {value} added",
        request_property=INFO, request_parameter=INFO, request_parameter_property=INFO,
        response_property=WARN, response_write_only_property=INFO)
_family("became-enum", _E, "{subject} was restricted to the enum values {new}", **Q)
_family("x-extensible-enum-value-removed", _E, "{subject}: x-extensible-enum value {value} removed",
        request_property=ERR, request_parameter=ERR)

_C = "schema.values"
_family("const-added", _C, "{subject}: const {new} added", **BP, **SI)
_family("const-removed", _C, "{subject}: const {old} removed", **BPI, **S)
_family("const-changed", _C, "{subject}: const changed from {old} to {new}", **BP, **S)
_family("default-value-added", _C, "{subject}: default value {new} added", **QI, **SI)
_family("default-value-removed", _C, "{subject}: default value {old} removed", **QI, **SI)
# the corpus' oasdiff commit rates a changed parameter default as ERR (clients that omit it change meaning)
_family("default-value-changed", _C, "{subject}: default value changed from {old} to {new}",
        request_body=INFO, request_property=INFO, request_parameter=ERR, **SI)

_B = "schema.bounds"
for _kw, _label in (("max", "maximum"), ("exclusive-max", "exclusiveMaximum"), ("max-length", "maxLength"),
                    ("max-items", "maxItems"), ("max-properties", "maxProperties")):
    _q = dict(Q) if _kw != "max-properties" else dict(BP)
    _qi = dict(QI) if _kw != "max-properties" else dict(BPI)
    _qw = dict(QW) if _kw != "max-properties" else dict(request_body=WARN, request_property=WARN)
    _family(f"{_kw}-decreased", _B, "{subject}: " + _label + " decreased from {old} to {new}",
            **_q, request_read_only_property=INFO)
    _family(f"{_kw}-increased", _B, "{subject}: " + _label + " increased from {old} to {new}", **_qi, **S)
    # the corpus' oasdiff commit rates newly set bounds as WARN (ERR in later oasdiff releases)
    _family(f"{_kw}-set", _B, "{subject}: " + _label + " set to {new}", **_qw)
_family("max-length-unset", _B, "{subject}: maxLength {old} removed", **S)
for _kw, _label in (("min", "minimum"), ("exclusive-min", "exclusiveMinimum"), ("min-length", "minLength"),
                    ("min-items", "minItems"), ("min-properties", "minProperties")):
    _q = dict(Q) if _kw != "min-properties" else dict(BP)
    _qi = dict(QI) if _kw != "min-properties" else dict(BPI)
    _qw = dict(QW) if _kw != "min-properties" else dict(request_body=WARN, request_property=WARN)
    _family(f"{_kw}-increased", _B, "{subject}: " + _label + " increased from {old} to {new}",
            **_q, request_read_only_property=INFO)
    _family(f"{_kw}-decreased", _B, "{subject}: " + _label + " decreased from {old} to {new}", **_qi, **S)
    if _kw in ("min", "exclusive-min", "min-items"):
        _family(f"{_kw}-set", _B, "{subject}: " + _label + " set to {new}", **_qw)
_family("min-items-unset", _B, "{subject}: minItems {old} removed", **S)
_family("min-contains-increased", _B, "{subject}: minContains increased from {old} to {new}", **BP, **SI)
_family("min-contains-decreased", _B, "{subject}: minContains decreased from {old} to {new}", **BPI, **S)
_family("max-contains-decreased", _B, "{subject}: maxContains decreased from {old} to {new}", **BP, **SI)
_family("max-contains-increased", _B, "{subject}: maxContains increased from {old} to {new}", **BPI, **S)
_family("unique-items-set", _B, "{subject}: uniqueItems set", **BP)
_family("unique-items-unset", _B, "{subject}: uniqueItems removed", **BPI, **S)
_family("multiple-of-set", _B, "{subject}: multipleOf {new} set", **BP)
_family("multiple-of-unset", _B, "{subject}: multipleOf {old} removed", **BPI, **S)
_family("multiple-of-changed", _B, "{subject}: multipleOf changed from {old} to {new}", **BP, **S)
_family("multiple-of-generalized", _B, "{subject}: multipleOf generalized from {old} to {new}", **BPI)
_family("multiple-of-specialized", _B, "{subject}: multipleOf specialized from {old} to {new}", **SI)

_P = "schema.pattern"
_family("pattern-added", _P, "{subject}: pattern {new} added",
        request_property=ERR, request_parameter=ERR, response_property=INFO)
_family("pattern-removed", _P, "{subject}: pattern {old} removed",
        request_property=INFO, request_parameter=INFO, response_property=ERR)
_family("pattern-changed", _P, "{subject}: pattern changed from {old} to {new}",
        request_property=WARN, request_parameter=WARN, response_property=WARN)
_family("pattern-generalized", _P, "{subject}: pattern changed from {old} to the more general {new}",
        request_property=INFO, request_parameter=INFO)

_X = "schema.composition"
_family("one-of-added", _X, "{subject}: {branch} added to oneOf", **BPI, **S)
_family("one-of-removed", _X, "{subject}: {branch} removed from oneOf", **BP, **SI)
# the corpus' oasdiff commit rates response anyOf additions INFO
_family("any-of-added", _X, "{subject}: {branch} added to anyOf", **BPI, **SI)
_family("any-of-removed", _X, "{subject}: {branch} removed from anyOf", **BP, **SI)
# allOf list edits: the merged result is compared too (and reported with precise ids), so the
# list edit itself is WARN in requests, INFO in responses, as in the corpus' oasdiff commit
_family("all-of-added", _X, "{subject}: {branch} added to allOf",
        request_body=WARN, request_property=WARN, **SI)
_family("all-of-removed", _X, "{subject}: {branch} removed from allOf",
        request_body=WARN, request_property=WARN, **SI)
_family("all-of-added-annotation-only", _X, "{subject}: annotation-only {branch} added to allOf", **BPI, **SI)
_family("all-of-removed-annotation-only", _X, "{subject}: annotation-only {branch} removed from allOf",
        **BPI, **SI)
_family("wrapped-in-one-of", _X, "{subject} was restructured into a oneOf; a value valid before may not "
        "match exactly one alternative", request_body=ERR, response_body=ERR)
_one("request-property-wrapped-in-one-of", ERR, "request", "schema-property", _X,
     "{subject} was restructured into a oneOf; a value valid before may not match exactly one alternative",
     oasdiff=False)
_one("response-property-wrapped-in-one-of", ERR, "response", "schema-property", _X,
     "{subject} was restructured into a oneOf; a field guaranteed before may no longer be present",
     oasdiff=False)
_family("wrapped-in-one-of-original-preserved", _X, "{subject} was restructured into a oneOf that keeps "
        "the original schema as an alternative", request_body=INFO, response_body=INFO)
for _op, _msg in (("added", "added"), ("removed", "removed")):
    _family(f"discriminator-{_op}", _X, "{subject}: discriminator " + _msg, **BPI, **SI)
_family("discriminator-property-name-changed", _X,
        "{subject}: discriminator property name changed from {old} to {new}", **BPI, **SI)
_family("discriminator-mapping-added", _X, "{subject}: discriminator mapping keys {keys} added", **BPI, **SI)
_family("discriminator-mapping-deleted", _X, "{subject}: discriminator mapping keys {keys} removed",
        **BPI, **SI)
_family("discriminator-mapping-changed", _X,
        "{subject}: discriminator mapping {key} changed from {old} to {new}", **BPI, **SI)

_K = "schema.keywords"
# JSON Schema 2020-12 applicators: adding a constraint narrows (request ERR), removing widens (response ERR)
for _kw, _label in (("if", "if"), ("then", "then"), ("else", "else"), ("contains", "contains"),
                    ("property-names", "propertyNames"), ("unevaluated-items", "unevaluatedItems"),
                    ("unevaluated-properties", "unevaluatedProperties"),
                    ("content-schema", "contentSchema")):
    _family(f"{_kw}-added", _K, "{subject}: " + _label + " added", **BP, **SI)
    _family(f"{_kw}-removed", _K, "{subject}: " + _label + " removed", **BPI, **S)
_family("dependent-required-added", _K, "{subject}: dependentRequired for {key} added", **BP, **SI)
_family("dependent-required-removed", _K, "{subject}: dependentRequired for {key} removed", **BPI, **S)
_family("dependent-required-changed", _K, "{subject}: dependentRequired for {key} changed from {old} to "
        "{new}", **BP, **S)
_family("dependent-schema-added", _K, "{subject}: dependentSchemas for {key} added", **BP, **SI)
_family("dependent-schema-removed", _K, "{subject}: dependentSchemas for {key} removed", **BPI, **S)
_family("pattern-property-added", _K, "{subject}: patternProperties {key} added", **BP, **SI)
_family("pattern-property-removed", _K, "{subject}: patternProperties {key} removed", **BPI, **S)
_family("prefix-items-added", _K, "{subject}: prefixItems entry {key} added", **BPI, **S)
_family("prefix-items-removed", _K, "{subject}: prefixItems entry {key} removed", **BP, **SI)
_family("content-media-type-changed", _K, "{subject}: contentMediaType changed from {old} to {new}", **BP, **S)
_family("content-encoding-changed", _K, "{subject}: contentEncoding changed from {old} to {new}", **BP, **S)

# -- property-level schema rules with fixed ids --------------------------------------------------
_PR = "schema.properties"
_one("new-required-request-property", ERR, "request", "schema-property", _PR,
     "new required request property `{prop}`{where}")
_one("new-optional-request-property", INFO, "request", "schema-property", _PR,
     "new optional request property `{prop}`{where}")
_one("request-property-removed", WARN, "request", "schema-property", _PR,
     "request property `{prop}` removed{where}; clients that still send it may be rejected")
_one("request-property-became-required", ERR, "request", "schema-property", _PR,
     "request property `{prop}` became required{where}")
_one("request-property-became-optional", INFO, "request", "schema-property", _PR,
     "request property `{prop}` became optional{where}")
_one("new-required-request-header-property", ERR, "request", "parameters", _PR,
     "new required property `{prop}` in {where}")
_one("request-header-property-became-required", ERR, "request", "parameters", _PR,
     "property `{prop}` of {where} became required")
_one("response-required-property-removed", ERR, "response", "schema-property", _PR,
     "required response property `{prop}` removed{where}")
_one("response-optional-property-removed", WARN, "response", "schema-property", _PR,
     "optional response property `{prop}` removed{where}")
_one("response-required-write-only-property-removed", INFO, "response", "schema-property", _PR,
     "required write-only response property `{prop}` removed{where}")
_one("response-optional-write-only-property-removed", INFO, "response", "schema-property", _PR,
     "optional write-only response property `{prop}` removed{where}")
_one("response-required-property-added", INFO, "response", "schema-property", _PR,
     "required response property `{prop}` added{where}")
_one("response-optional-property-added", INFO, "response", "schema-property", _PR,
     "optional response property `{prop}` added{where}")
_one("response-required-write-only-property-added", INFO, "response", "schema-property", _PR,
     "required write-only response property `{prop}` added{where}")
_one("response-optional-write-only-property-added", INFO, "response", "schema-property", _PR,
     "optional write-only response property `{prop}` added{where}")
_one("response-property-became-optional", ERR, "response", "schema-property", _PR,
     "response property `{prop}` became optional{where}")
_one("response-write-only-property-became-optional", INFO, "response", "schema-property", _PR,
     "write-only response property `{prop}` became optional{where}")
_one("response-property-became-required", INFO, "response", "schema-property", _PR,
     "response property `{prop}` became required{where}")
_one("response-write-only-property-became-required", INFO, "response", "schema-property", _PR,
     "write-only response property `{prop}` became required{where}")
_RW = "schema.access"
for _dir in ("request", "response"):
    for _req in ("required", "optional"):
        for _what, _label in (("write-only", "write-only"), ("not-write-only", "not write-only"),
                              ("read-only", "read-only"), ("not-read-only", "not read-only")):
            _lvl = WARN if (_dir, _req, _what) == ("response", "required", "not-write-only") else INFO
            _one(f"{_dir}-{_req}-property-became-{_what}", _lvl, _dir, "schema-property", _RW,
                 f"{_dir} {_req} property `{{prop}}` became {_label}{{where}}")
_D = "schema.deprecation"
for _dir in ("request", "response"):
    _one(f"{_dir}-property-deprecated", INFO, _dir, "schema-property", _D,
         f"{_dir} property `{{prop}}` deprecated{{where}}")
    _one(f"{_dir}-property-deprecated-with-sunset", INFO, _dir, "schema-property", _D,
         f"{_dir} property `{{prop}}` deprecated with sunset date {{date}}{{where}}")
    _one(f"{_dir}-property-reactivated", INFO, _dir, "schema-property", _D,
         f"{_dir} property `{{prop}}` reactivated{{where}}")

# --------------------------------------------------------------------------------------------------
# OpenAPI document rules (emitted by trunkline.contracts.diff.openapi)
_PA = "openapi.paths"
_one("endpoint-added", INFO, "none", "paths", _PA, "endpoint {operation} added")
_one("api-path-removed-without-deprecation", ERR, "none", "paths", _PA,
     "path {path} removed without deprecation ({operation})")
_one("api-path-removed-with-deprecation", INFO, "none", "paths", _PA,
     "path {path} removed after deprecation ({operation})")
_one("api-path-removed-before-sunset", ERR, "none", "paths", _PA,
     "path {path} removed before its sunset date {date} ({operation})")
_one("api-path-sunset-parse", ERR, "none", "paths", _PA, "{operation}: cannot parse sunset date {date}")
_one("api-removed-without-deprecation", ERR, "none", "paths", _PA,
     "operation {operation} removed without deprecation")
_one("api-removed-with-deprecation", INFO, "none", "paths", _PA, "operation {operation} removed after deprecation")
_one("api-removed-before-sunset", ERR, "none", "paths", _PA,
     "operation {operation} removed before its sunset date {date}")
_DE = "openapi.deprecation"
_one("endpoint-deprecated", INFO, "none", "paths", _DE, "endpoint {operation} deprecated")
_one("endpoint-deprecated-with-sunset", INFO, "none", "paths", _DE,
     "endpoint {operation} deprecated with sunset date {date}")
_one("endpoint-reactivated", INFO, "none", "paths", _DE, "endpoint {operation} reactivated")
_one("api-deprecated-sunset-missing", ERR, "none", "paths", _DE,
     "endpoint {operation} deprecated without a sunset date (policy requires {days} days)")
_one("api-deprecated-sunset-parse", ERR, "none", "paths", _DE, "{operation}: cannot parse sunset date {date}")
_one("api-sunset-date-too-small", ERR, "none", "paths", _DE,
     "{operation}: sunset date {date} is less than {days} days away")
_one("sunset-deleted", ERR, "none", "paths", _DE, "{operation}: sunset date removed while still deprecated")
_one("api-sunset-date-changed-too-small", ERR, "none", "paths", _DE,
     "{operation}: sunset date moved earlier, from {old} to {new}")
_one("api-stability-decreased", ERR, "none", "paths", _DE,
     "{operation}: stability level decreased from {old} to {new}")
_one("api-stability-increased", INFO, "none", "paths", _DE,
     "{operation}: stability level increased from {old} to {new}")
_one("api-invalid-stability-level", ERR, "none", "paths", _DE,
     "{operation}: invalid stability level {new}")
_OP = "openapi.operation"
_one("api-operation-id-removed", INFO, "none", "paths", _OP,
     "{operation}: operationId {old} removed (now {new})")
_one("api-operation-id-added", INFO, "none", "paths", _OP, "{operation}: operationId {new} added")
_one("api-tag-removed", INFO, "none", "tags", _OP, "{operation}: tag {value} removed")
_one("api-tag-added", INFO, "none", "tags", _OP, "{operation}: tag {value} added")

_PM = "openapi.parameters"
_one("new-required-request-parameter", ERR, "request", "parameters", _PM,
     "new required {in} request parameter `{name}`")
_one("new-optional-request-parameter", INFO, "request", "parameters", _PM,
     "new optional {in} request parameter `{name}`")
_one("new-request-path-parameter", ERR, "request", "parameters", _PM, "new path request parameter `{name}`")
_one("new-required-request-default-parameter-to-existing-path", ERR, "request", "parameters", _PM,
     "new required {in} request parameter `{name}` added to every operation of {path}")
_one("new-optional-request-default-parameter-to-existing-path", INFO, "request", "parameters", _PM,
     "new optional {in} request parameter `{name}` added to every operation of {path}")
_one("request-parameter-removed", WARN, "request", "parameters", _PM,
     "{in} request parameter `{name}` removed; clients that still send it may be rejected")
_one("request-parameter-removed-with-deprecation", INFO, "request", "parameters", _PM,
     "{in} request parameter `{name}` removed after deprecation")
_one("request-parameter-removed-before-sunset", ERR, "request", "parameters", _PM,
     "{in} request parameter `{name}` removed before its sunset date {date}")
_one("request-parameter-sunset-parse", ERR, "request", "parameters", _PM,
     "{in} request parameter `{name}`: cannot parse sunset date {date}")
_one("request-parameter-became-required", ERR, "request", "parameters", _PM,
     "{in} request parameter `{name}` became required")
_one("request-parameter-became-optional", INFO, "request", "parameters", _PM,
     "{in} request parameter `{name}` became optional")
_one("request-parameter-deprecated", INFO, "request", "parameters", _PM,
     "{in} request parameter `{name}` deprecated")
_one("request-parameter-reactivated", INFO, "request", "parameters", _PM,
     "{in} request parameter `{name}` reactivated")
_one("request-parameter-sunset-deleted", ERR, "request", "parameters", _PM,
     "{in} request parameter `{name}`: sunset date removed while still deprecated")
_one("request-parameter-sunset-date-changed-too-small", ERR, "request", "parameters", _PM,
     "{in} request parameter `{name}`: sunset date moved earlier, from {old} to {new}")

_RB = "openapi.request_body"
_one("request-body-added-required", ERR, "request", "request-body", _RB, "required request body added")
_one("request-body-added-optional", INFO, "request", "request-body", _RB, "optional request body added")
_one("request-body-removed", ERR, "request", "request-body", _RB, "request body removed")
_one("request-body-became-required", ERR, "request", "request-body", _RB, "request body became required")
_one("request-body-became-optional", INFO, "request", "request-body", _RB, "request body became optional")
_one("request-body-media-type-added", INFO, "request", "request-body", _RB,
     "media type {media} added to the request body")
_one("request-body-media-type-removed", ERR, "request", "request-body", _RB,
     "media type {media} removed from the request body")

_RS = "openapi.responses"
_one("response-success-status-removed", ERR, "response", "responses", _RS, "success response {status} removed")
_one("response-success-status-added", INFO, "response", "responses", _RS, "success response {status} added")
_one("response-non-success-status-removed", INFO, "response", "responses", _RS,
     "non-success response {status} removed")
_one("response-non-success-status-added", INFO, "response", "responses", _RS,
     "non-success response {status} added")
_one("response-media-type-removed", ERR, "response", "responses", _RS,
     "media type {media} removed from response {status}")
_one("response-media-type-added", INFO, "response", "responses", _RS,
     "media type {media} added to response {status}")
_one("response-media-type-name-changed", INFO, "response", "responses", _RS,
     "response {status}: media type {old} changed to {new}")
_one("response-media-type-name-generalized", ERR, "response", "responses", _RS,
     "response {status}: media type {old} changed to the more general {new}")
_one("response-media-type-name-specialized", INFO, "response", "responses", _RS,
     "response {status}: media type {old} changed to the more specific {new}")
_HD = "openapi.headers"
_one("required-response-header-removed", ERR, "response", "headers", _HD,
     "required response header `{name}` removed from response {status}")
_one("optional-response-header-removed", WARN, "response", "headers", _HD,
     "optional response header `{name}` removed from response {status}")
_one("response-header-added", INFO, "response", "headers", _HD,
     "response header `{name}` added to response {status}")
_one("response-header-became-optional", ERR, "response", "headers", _HD,
     "response header `{name}` became optional for response {status}")

_SE = "openapi.security"
# security requirement objects are alternatives: removing one (or adding a scope to one) can lock
# clients out. oasdiff rates these ERR now; the corpus' older commit rated them INFO (see LEVEL_NOTES).
_one("api-security-removed", ERR, "none", "security", _SE, "{operation}: security requirement {name} removed")
_one("api-security-added", INFO, "none", "security", _SE, "{operation}: security requirement {name} added")
_one("api-security-scope-added", ERR, "none", "security", _SE,
     "{operation}: scope {value} added to security requirement {name}")
_one("api-security-scope-removed", INFO, "none", "security", _SE,
     "{operation}: scope {value} removed from security requirement {name}")
_one("api-global-security-removed", ERR, "none", "security", _SE, "global security requirement {name} removed")
_one("api-global-security-added", INFO, "none", "security", _SE, "global security requirement {name} added")
_one("api-global-security-scope-added", ERR, "none", "security", _SE,
     "scope {value} added to global security requirement {name}")
_one("api-global-security-scope-removed", INFO, "none", "security", _SE,
     "scope {value} removed from global security requirement {name}")
_CS = "openapi.components"
_one("api-security-component-added", INFO, "none", "security", _CS, "security scheme {name} added")
_one("api-security-component-removed", INFO, "none", "security", _CS, "security scheme {name} removed")
_one("api-security-component-type-changed", INFO, "none", "security", _CS,
     "security scheme {name}: type changed from {old} to {new}")
_one("api-security-component-oauth-url-changed", INFO, "none", "security", _CS,
     "security scheme {name}: authorizationUrl changed from {old} to {new}")
_one("api-security-component-oauth-token-url-changed", INFO, "none", "security", _CS,
     "security scheme {name}: tokenUrl changed from {old} to {new}")
_one("api-security-component-oauth-scope-added", INFO, "none", "security", _CS,
     "security scheme {name}: OAuth scope {value} added")
_one("api-security-component-oauth-scope-removed", INFO, "none", "security", _CS,
     "security scheme {name}: OAuth scope {value} removed")
_one("api-security-component-oauth-scope-changed", INFO, "none", "security", _CS,
     "security scheme {name}: OAuth scope {value} description changed")
_one("api-schema-removed", INFO, "none", "components", _CS, "schema {name} removed from components")
_WH = "openapi.webhooks"
_one("webhook-added", INFO, "none", "webhooks", _WH, "webhook {name} added")
_one("webhook-removed", ERR, "none", "webhooks", _WH, "webhook {name} removed")

# --------------------------------------------------------------------------------------------------
# AsyncAPI rules (ours; emitted by trunkline.contracts.diff.asyncapi). Payload and header schema
# findings reuse the schema ids above: request-* = a message the application receives,
# response-* = a message it sends.
_AA = "asyncapi.structure"
_one("asyncapi-channel-removed", ERR, "none", "channels", _AA, "channel {name} ({address}) removed",
     oasdiff=False)
_one("asyncapi-channel-added", INFO, "none", "channels", _AA, "channel {name} ({address}) added", oasdiff=False)
_one("asyncapi-channel-address-changed", ERR, "none", "channels", _AA,
     "channel {name}: address changed from {old} to {new}", oasdiff=False)
_one("asyncapi-operation-removed", ERR, "none", "operations", _AA, "operation {operation} removed",
     oasdiff=False)
_one("asyncapi-operation-added", INFO, "none", "operations", _AA, "operation {operation} added", oasdiff=False)
_one("asyncapi-operation-action-changed", ERR, "none", "operations", _AA,
     "operation {name}: action changed from {old} to {new}", oasdiff=False)
_one("asyncapi-operation-channel-changed", ERR, "none", "operations", _AA,
     "operation {operation}: channel changed from {old} to {new}", oasdiff=False)
_one("asyncapi-message-removed", ERR, "none", "messages", _AA,
     "message {name} removed from operation {operation}", oasdiff=False)
_one("asyncapi-message-added", INFO, "request", "messages", _AA,
     "operation {operation} now also receives message {name}", oasdiff=False)
_one("asyncapi-sent-message-added", WARN, "response", "messages", _AA,
     "operation {operation} now also sends message {name}; consumers may not handle it", oasdiff=False)
_one("asyncapi-message-content-type-changed", ERR, "none", "messages", _AA,
     "message {name} of {operation}: contentType changed from {old} to {new}", oasdiff=False)
_one("asyncapi-message-payload-removed", ERR, "none", "messages", _AA,
     "message {name} of {operation}: payload schema removed", oasdiff=False)
_one("asyncapi-message-headers-removed", ERR, "none", "messages", _AA,
     "message {name} of {operation}: headers schema removed", oasdiff=False)
_one("asyncapi-message-headers-added", WARN, "none", "messages", _AA,
     "message {name} of {operation}: headers schema added", oasdiff=False)

# Family combinations we emit that oasdiff has no id for (same naming scheme, marked *ours* in the docs).
for _rid in ("request-parameter-max-items-set", "request-read-only-property-min-length-increased",
             "request-read-only-property-min-items-increased", "request-read-only-property-min-properties-increased",
             "request-body-min-properties-decreased", "request-property-min-properties-decreased"):
    if _rid in RULES:
        RULES[_rid] = Rule(**{**RULES[_rid].__dict__, "oasdiff": False})

# Where our level deliberately differs from the corpus' oasdiff commit (and why).
LEVEL_NOTES: dict[str, str] = {
    "api-security-removed": "ERR as in current oasdiff (corpus commit: INFO): removing an alternative "
    "security requirement locks out clients that used it.",
    "api-global-security-removed": "ERR as in current oasdiff (corpus commit: INFO).",
    "api-security-scope-added": "ERR as in current oasdiff (corpus commit: INFO): a token without the "
    "new scope is refused.",
    "api-global-security-scope-added": "ERR as in current oasdiff (corpus commit: INFO).",
}


def rule(rule_id: str) -> Rule:
    return RULES[rule_id]


def family_id(prefix: str, kind: str) -> str | None:
    """The concrete id for ``kind`` found at ``prefix``, or None when that combination is no rule."""
    alias = ALIASES.get((prefix, kind))
    if alias is not None:
        return alias
    rid = f"{prefix}-{kind}"
    return rid if rid in RULES else None


def counts_by_level() -> dict[str, int]:
    out = {lvl.value: 0 for lvl in (ERR, WARN, INFO)}
    for r in RULES.values():
        out[r.level.value] += 1
    return out
