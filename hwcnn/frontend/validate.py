"""Checking parsed YAML against :mod:`hwcnn.frontend.schema`, with short one-line messages.

The validator is JSON Schema draft 2020-12 with three hwcnn rules: integers are Python ints (YAML's
``3.0`` is a float and no size), numbers are finite, and a ``pattern`` must match the whole string
(``re.fullmatch``: Python's ``$`` would accept a trailing newline, ECMA-262's does not). Every value
a message echoes is shortened (:func:`hwcnn.errors.shorten`), so a huge value or name never makes a
huge message.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from typing import Any

import jsonschema

from ..errors import SpecError, shorten
from .yamlload import LocatedDict


def _is_int(checker: Any, value: Any) -> bool:
    # YAML's 3.0 is a float: sizes must be written as integers.
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(checker: Any, value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))


def _fullmatch_pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[Any]:
    if isinstance(instance, str) and re.fullmatch(pattern, instance) is None:
        yield jsonschema.ValidationError(f"{shorten(instance)} does not match {pattern!r}")


_TYPES = jsonschema.Draft202012Validator.TYPE_CHECKER.redefine_many(
    {"integer": _is_int, "number": _is_number})
_Validator = jsonschema.validators.extend(jsonschema.Draft202012Validator, type_checker=_TYPES,
                                          validators={"pattern": _fullmatch_pattern})
#: id(schema) -> (schema, validator); the schema is kept so that its id is never reused.
_VALIDATORS: dict[int, tuple[Mapping[str, Any], Any]] = {}


def _field(err: jsonschema.ValidationError) -> str:
    return ".".join(shorten(str(p), quote=False) for p in err.absolute_path)


def schema_error(err: jsonschema.ValidationError) -> str:
    """Turn a jsonschema error into a short sentence."""
    field = _field(err)
    where = f"field {shorten(field, limit=60)}: " if field else ""
    value = shorten(err.instance)
    match err.validator:
        case "additionalProperties":
            extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
            allowed = ", ".join(sorted(err.schema.get("properties", {})))
            return f"{where}unknown field {shorten(extra[0])} (allowed: {allowed})"
        case "required":
            missing = [r for r in err.validator_value if r not in err.instance]
            return f"{where}missing required field {missing[0]!r}"
        case "minimum" | "exclusiveMinimum" if isinstance(err.instance, (int, float)):
            return f"{where}{value} is too small (minimum {err.validator_value})"
        case "maximum" | "exclusiveMaximum" if isinstance(err.instance, (int, float)):
            return f"{where}{value} is too large (maximum {err.validator_value:,})"
        case "oneOf" | "anyOf" | "type" | "enum":
            return f"{where}invalid value {value} ({expectation(err.schema)})"
        case "minItems":
            return f"{where}needs at least {err.validator_value} item(s)"
        case "maxItems":
            return f"{where}has more than {err.validator_value} items"
        case "maxLength":
            return f"{where}{value} is longer than {err.validator_value} characters"
        case "pattern":
            return f"{where}{value} is not a valid name ({name_rule(err.validator_value)})"
    return f"{where}{shorten(err.message, limit=120, quote=False)}"


def name_rule(pattern: str) -> str:
    """The rule a name pattern of :mod:`.schema` states, in words."""
    if "/" in pattern:
        return "letters, digits, _ . - and /, starting with a letter or _, no empty, . or .. part"
    if "." in pattern:
        return "letters, digits, _ . -, starting with a letter or _"
    return "letters, digits, _, starting with a letter or _"


def expectation(schema: Mapping[str, Any]) -> str:
    """What a schema node accepts, in words."""
    if "description" in schema:
        return str(schema["description"])
    if "enum" in schema:
        return "expected one of " + ", ".join(repr(v) for v in schema["enum"] if v is not None)
    if "oneOf" in schema:
        return " or ".join(expectation(s) for s in schema["oneOf"])
    kind = schema.get("type")
    if kind == "string":
        return "a string"
    if kind == "boolean":
        return "true or false"
    if kind == "number":
        return "a number"
    if kind == "integer":
        lo = schema.get("minimum", 0)
        return "a positive integer" if lo == 1 else "a non-negative integer" if lo == 0 else "an integer"
    if kind == "array":
        return "a list of " + expectation(schema.get("items", {})).removeprefix("a ").removeprefix("an ") + "s"
    return f"expected {kind}"


def validate(instance: Any, schema: Mapping[str, Any], line: int | None, layer: str | None) -> None:
    """Raise a one-line :class:`SpecError` for the shallowest problem of ``instance``."""
    cached = _VALIDATORS.get(id(schema))
    if cached is None or cached[0] is not schema:  # schemas are constants: one validator each
        cached = _VALIDATORS[id(schema)] = (schema, _Validator(schema))
    validator = cached[1]
    errors = sorted(validator.iter_errors(instance), key=lambda e: (len(e.absolute_path), str(e.absolute_path)))
    if errors:
        err = errors[0]
        if isinstance(instance, LocatedDict):
            if err.absolute_path:
                line = instance.line_of(str(err.absolute_path[0])) or line
            elif err.validator == "additionalProperties":
                extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
                line = instance.line_of(extra[0]) or line
        raise SpecError(schema_error(err), layer=layer, line=line)
