"""A small Laravel-style validator with Laravel's English messages.

Supported rules: ``required``, ``sometimes``, ``nullable``, ``string``, ``integer``, ``boolean``,
``array``, ``in:a,b``, ``min:n``, ``max:n``, ``regex:pattern``. Attribute keys may be nested
(``config.uri``) or wildcards (``run_ids.*``). Input is normalised first like Laravel's global
``TrimStrings`` + ``ConvertEmptyStringsToNull`` middleware.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

_MISSING = object()


def normalise_input(value: Any) -> Any:
    """Trim strings and turn empty strings into ``None``, recursively."""
    if isinstance(value, str):
        stripped = value.strip()
        return None if stripped == "" else stripped
    if isinstance(value, dict):
        return {k: normalise_input(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise_input(v) for v in value]
    return value


def displayable(attribute: str) -> str:
    return attribute.replace("_", " ")


def _lookup(data: Any, dotted: str) -> Any:
    current = data
    for part in dotted.split("."):
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return _MISSING
    return current


def _expand(data: Any, attribute: str) -> list[str]:
    if "*" not in attribute:
        return [attribute]
    head, _, tail = attribute.partition(".*")
    container = _lookup(data, head)
    if isinstance(container, list):
        keys = [str(i) for i in range(len(container))]
    elif isinstance(container, dict):
        keys = list(container)
    else:
        return []
    out: list[str] = []
    for key in keys:
        out.extend(_expand(data, f"{head}.{key}{tail}"))
    return out


def as_integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value):
        return int(value)
    return None


def as_boolean(value: Any) -> bool | None:
    if value in (True, 1, "1") and not isinstance(value, float):
        return True
    if value in (False, 0, "0") and not isinstance(value, float):
        return False
    return None


def _size_kind(rules: Sequence[str], value: Any) -> str:
    if "integer" in rules and as_integer(value) is not None:
        return "numeric"
    if isinstance(value, list | dict):
        return "array"
    return "string"


def _size(value: Any, kind: str) -> int:
    if kind == "numeric":
        return as_integer(value) or 0
    if kind == "array":
        return len(value)
    return len(str(value))


def _check(rule: str, rules: Sequence[str], name: str, value: Any) -> str | None:
    rule_name, _, param = rule.partition(":")
    if rule_name == "string" and not isinstance(value, str):
        return f"The {name} field must be a string."
    if rule_name == "integer" and as_integer(value) is None:
        return f"The {name} field must be an integer."
    if rule_name == "boolean" and as_boolean(value) is None:
        return f"The {name} field must be true or false."
    if rule_name == "array" and not isinstance(value, list | dict):
        return f"The {name} field must be an array."
    if rule_name == "in":
        allowed = param.split(",")
        if isinstance(value, list | dict) or _php_string(value) not in allowed:
            return f"The selected {name} is invalid."
    if rule_name == "regex" and (not isinstance(value, str) or re.search(param.strip("/"), value) is None):
        return f"The {name} field format is invalid."
    if rule_name in ("min", "max"):
        kind = _size_kind(rules, value)
        size, limit = _size(value, kind), int(param)
        if rule_name == "min" and size < limit:
            return {
                "numeric": f"The {name} field must be at least {limit}.",
                "array": f"The {name} field must have at least {limit} items.",
                "string": f"The {name} field must be at least {limit} characters.",
            }[kind]
        if rule_name == "max" and size > limit:
            return {
                "numeric": f"The {name} field must not be greater than {limit}.",
                "array": f"The {name} field must not have more than {limit} items.",
                "string": f"The {name} field must not be greater than {limit} characters.",
            }[kind]
    return None


def _php_string(value: Any) -> str:
    if value is True:
        return "1"
    if value is False or value is None:
        return ""
    return str(value)


def validate(data: dict[str, Any], rules: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """Return Laravel-ordered ``{attribute: [messages]}`` (empty when valid)."""
    errors: dict[str, list[str]] = {}
    for pattern, attribute_rules in rules.items():
        for attribute in _expand(data, pattern):
            value = _lookup(data, attribute)
            name = displayable(attribute)
            if "sometimes" in attribute_rules and value is _MISSING:
                continue
            empty = value is _MISSING or value is None or value in ([], {})
            if "required" in attribute_rules and empty:
                errors.setdefault(attribute, []).append(f"The {name} field is required.")
                continue
            if value is _MISSING or (value is None and "nullable" in attribute_rules):
                continue
            for rule in attribute_rules:
                if rule in ("required", "sometimes", "nullable"):
                    continue
                message = _check(rule, attribute_rules, name, value)
                if message is not None:
                    errors.setdefault(attribute, []).append(message)
    return errors


def summary(errors: dict[str, list[str]]) -> str:
    """Laravel ``ValidationException::summarize``: first message + "(and N more error[s])"."""
    messages = [m for ms in errors.values() for m in ms]
    if not messages:
        return "The given data was invalid."
    more = len(messages) - 1
    if more == 0:
        return messages[0]
    return f"{messages[0]} (and {more} more {'error' if more == 1 else 'errors'})"
