"""Pydantic validation errors of a configuration file, as the messages a data team reads.

Every configuration file (a source contract, `programmes.yaml`) is validated by one pydantic model,
the same model `ibr schema` writes as JSON Schema. Pydantic's own messages ("Input should be a valid
dictionary or instance of FileSpecModel") talk about Python; these name the file, the key path and
what is allowed, the way the hand-written checks always did::

    sources/pension.yaml: 'file.format': got 'xlsx'; allowed: csv, parquet
    sources/pension.yaml: 'colums': unknown key; allowed: codes, columns, date_formats, ...

A validator of a model that knows the key better than pydantic's location (a model-level rule about
one field) raises `KeyedValueError(key, message)`; its key is added to the location.
"""

from __future__ import annotations

import re
import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError


class ContractError(ValueError):
    """A source contract (or the country file beside it) is invalid; the message names the file, the key and
    what is allowed."""


# pydantic's error types, said the way a data team reads them (the value, when shown, is a config value)
_TYPE_MESSAGES = {
    "string_type": "must be text",
    "list_type": "must be a list",
    "dict_type": "must be a mapping (key: value)",
    "model_type": "must be a mapping (key: value)",
    "model_attributes_type": "must be a mapping (key: value)",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
}


class KeyedValueError(ValueError):
    """A validator's error about `key` (a field of the model being validated, or a key of a mapping field)."""

    def __init__(self, key: str | int, message: str) -> None:
        super().__init__(message)
        self.key = key


def _members(annotation: Any) -> list[Any]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) is typing.Annotated:
        return _members(typing.get_args(annotation)[0])
    return [annotation]


def _model_at(model: type[BaseModel], loc: tuple[str | int, ...]) -> type[BaseModel] | None:
    """The model whose field `loc` names (loc's last part is the field), or None."""
    current: list[Any] = [model]
    for part in loc[:-1]:
        following: list[Any] = []
        for annotation in current:
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                field = annotation.model_fields.get(str(part))
                following += _members(field.annotation) if field is not None else []
            elif typing.get_origin(annotation) in (dict, list):
                following += _members(typing.get_args(annotation)[-1])
        current = [m for a in following for m in _members(a)]
    for annotation in current:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            return annotation
    return None


def key_path(loc: tuple[str | int, ...]) -> str:
    """`('file', 'format')` -> `file.format`; `('date_formats', 0)` -> `date_formats[0]`."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _allowed(expected: str) -> str:
    """pydantic's "'a', 'b' or 'c'" as "a, b, c"."""
    return ", ".join(re.findall(r"'((?:[^'\\]|\\.)*)'", expected)) or expected


def describe(
    error: Any, model: type[BaseModel], key_nouns: dict[str, str] | None = None
) -> tuple[tuple[str | int, ...], str]:
    """One pydantic error as (the key path, the message)."""
    loc = tuple(error["loc"])
    kind = error["type"]
    ctx = error.get("ctx") or {}
    value = error.get("input")
    if loc and loc[-1] == "[key]":  # a mapping's key that is not allowed
        loc = loc[:-2] + (loc[-2],)
        noun = (key_nouns or {}).get(str(loc[-2]) if len(loc) > 1 else "", "an allowed key")
        return loc, f"not {noun}; allowed: {_allowed(str(ctx.get('expected', '')))}"
    cause = ctx.get("error")
    if isinstance(cause, KeyedValueError):
        loc = (*loc, cause.key)
    if kind == "missing":
        parent = _model_at(model, loc)
        field = parent.model_fields.get(str(loc[-1])) if parent else None
        what = (
            f": {field.description[0].lower()}{field.description[1:]}" if field and field.description else ""
        )
        message = f"missing (required){what.rstrip('.')}"
    elif kind == "extra_forbidden":
        parent = _model_at(model, loc)
        allowed = f"; allowed: {', '.join(sorted(parent.model_fields))}" if parent else ""
        message = f"unknown key{allowed}"
    elif kind == "literal_error":
        message = f"got {value!r}; allowed: {_allowed(str(ctx.get('expected', '')))}"
    elif kind in ("value_error", "assertion_error"):
        message = str(cause) if cause is not None else str(error["msg"])
    elif kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        bound = {"greater_than_equal": ">=", "less_than_equal": "<=", "greater_than": ">", "less_than": "<"}
        limit = next(iter(ctx.values()), "")  # ctx is {"ge": 0}, {"lt": 10}, ...
        message = f"got {value!r}; must be {bound[kind]} {limit}"
    elif kind in ("too_short", "string_too_short"):
        message = "must not be empty"
    elif kind == "string_pattern_mismatch":
        message = f"got {value!r}; must match {ctx.get('pattern')}"
    elif kind in _TYPE_MESSAGES:
        message = f"{_TYPE_MESSAGES[kind]}, got {type(value).__name__ if value is not None else 'nothing'}"
    else:
        message = str(error["msg"])
    return loc, message


def error_lines(
    exc: ValidationError, model: type[BaseModel], key_nouns: dict[str, str] | None = None
) -> list[str]:
    """Every error of `exc` as `'key.path': message` (`describe`), in the order pydantic found them, each once."""
    return [
        f"'{key_path(loc)}': {message}" if loc else message for loc, message in errors(exc, model, key_nouns)
    ]


def errors(
    exc: ValidationError, model: type[BaseModel], key_nouns: dict[str, str] | None = None
) -> list[tuple[tuple[str | int, ...], str]]:
    """Every error of `exc` as (key path, message), each once."""
    seen: list[tuple[tuple[str | int, ...], str]] = []
    for error in exc.errors():
        described = describe(error, model, key_nouns)
        if described not in seen:
            seen.append(described)
    return seen
