"""Typed values from ``--set key=value`` strings and from YAML, checked against annotations.

One function, :func:`coerce`, serves every typed record of the project (dataset presets,
training configs, model arguments): a value of the wrong type is a
:class:`~spectral_refiner.errors.SpectralRefinerError` that names the key.
"""

from __future__ import annotations

import collections.abc
import types
import typing
from typing import Any

import yaml

from .errors import SpectralRefinerError

__all__ = ["coerce", "type_name"]

_NONE = ("none", "null", "~", "")
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


def type_name(annotation: Any) -> str:
    """A short readable name of a type annotation (``float``, ``int or none``, ``list of int``)."""
    args = typing.get_args(annotation)
    if _is_union(annotation):
        return " or ".join("none" if a is type(None) else type_name(a) for a in args)
    if _is_sequence(annotation):
        return f"list of {type_name(args[0])}" if args else "list"
    if _is_mapping(annotation):
        return "mapping"
    return getattr(annotation, "__name__", str(annotation))


def _is_union(annotation: Any) -> bool:
    return isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union


def _is_sequence(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    return origin in (list, tuple, collections.abc.Sequence)


def _is_mapping(annotation: Any) -> bool:
    return annotation is dict or typing.get_origin(annotation) in (dict, collections.abc.Mapping)


def coerce(value: Any, annotation: Any, key: str) -> Any:
    """``value`` (a string from the command line, or a YAML scalar or list) as ``annotation``.

    Supported annotations: ``bool``, ``int``, ``float``, ``str``, ``X | None``, sequences
    ``list[X]``/``tuple[X, ...]``/``Sequence[X]`` (a YAML list, or a comma-separated string,
    returned as a list; a list of lists from a string in YAML's flow style, ``[[4, 2]]``)
    and mappings ``dict[str, Any]`` (a YAML mapping, kept as given: its values are checked
    by whatever consumes it, e.g. a nested model's constructor). Integers are accepted for
    floats, and floats with an integral value for integers; ``"1e-3"`` (which YAML reads as
    a string) for a float.

    Raises
    ------
    SpectralRefinerError
        ``bad value for KEY: ... is not a valid TYPE``.
    """
    if annotation is Any:
        return value
    if _is_union(annotation):
        args = typing.get_args(annotation)
        if type(None) in args and (value is None or _is_none_text(value)):
            return None
        others = [a for a in args if a is not type(None)]
        if len(others) == 1:
            return coerce(value, others[0], key)
        for option in others:
            try:
                return coerce(value, option, key)
            except SpectralRefinerError:
                continue
        raise _bad(value, annotation, key)
    if _is_sequence(annotation):
        (item,) = typing.get_args(annotation)[:1] or (Any,)
        if isinstance(value, str) and _is_sequence(item):  # nested: "[[4, 2], [4, 4]]"
            try:
                value = yaml.safe_load(value)
            except yaml.YAMLError:
                raise _bad(value, annotation, key) from None
        elif isinstance(value, str):
            value = [v.strip() for v in value.strip("[]()").split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise _bad(value, annotation, key)
        return [coerce(v, item, key) for v in value]
    if _is_mapping(annotation):
        if not isinstance(value, dict):
            raise _bad(value, annotation, key)
        return dict(value)
    try:
        return _scalar(value, annotation)
    except (TypeError, ValueError):
        raise _bad(value, annotation, key) from None


def _is_none_text(value: Any) -> bool:
    return isinstance(value, str) and value.strip().lower() in _NONE


def _scalar(value: Any, annotation: Any) -> Any:
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
            return value.strip().lower() in _TRUE
        raise ValueError(value)
    if isinstance(value, bool):  # True is an int in Python, never a number here
        raise ValueError(value)
    if annotation is int:
        number = float(value) if isinstance(value, str) else value
        if not isinstance(number, (int, float)) or number != int(number):
            raise ValueError(value)
        return int(number)
    if annotation is float:
        if not isinstance(value, (int, float, str)):
            raise TypeError(value)
        return float(value)
    if annotation is str:
        if not isinstance(value, (str, int, float)):
            raise TypeError(value)
        return str(value)
    raise TypeError(f"unsupported annotation {annotation}")


def _bad(value: Any, annotation: Any, key: str) -> SpectralRefinerError:
    return SpectralRefinerError(
        f"bad value for {key}: {value!r} is not a valid {type_name(annotation)}"
    )
