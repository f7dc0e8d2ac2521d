"""Checks for values read from files: the one vocabulary of the formats' schemas.

Every reader of a file format (``dataset.py`` for ``transforms.json``, ``snapshot/container.py``
for the snapshot header) checks each field it uses with these before using it, so that a hostile
or damaged file fails at the door with a message naming the field, never deep inside as a
``TypeError``. A failed check raises :class:`Invalid`; the reader turns it into the project's
``JobError`` with its own hint. numpy and the standard library only (both sides may import it).
"""

from __future__ import annotations

import math

import numpy as np


class Invalid(ValueError):
    """A field that is missing, of the wrong type, out of range or not finite."""

    def __init__(self, where: str, problem: str):
        super().__init__(f"{where} {problem}")
        self.where = where
        self.problem = problem


def show(value, limit: int = 40) -> str:
    """A short, safe rendering of a bad value for a message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def number(value, where: str, *, lo: float | None = None, hi: float | None = None, above: float | None = None,
           below: float | None = None) -> float:
    """A finite real number within the bounds (``lo``/``hi`` inclusive, ``above``/``below`` exclusive)."""
    if not is_number(value):
        raise Invalid(where, f"must be a number, not {show(value)}")
    try:
        v = float(value)
    except OverflowError:  # an int too large for a float
        raise Invalid(where, f"is out of range ({show(value)})") from None
    if not math.isfinite(v):
        raise Invalid(where, f"must be finite, not {show(value)}")
    for bound, ok, word in ((lo, lambda b: v >= b, ">="), (hi, lambda b: v <= b, "<="),
                            (above, lambda b: v > b, ">"), (below, lambda b: v < b, "<")):
        if bound is not None and not ok(bound):
            raise Invalid(where, f"must be {word} {bound:g}, not {show(value)}")
    return v


def integer(value, where: str, *, lo: int | None = None, hi: int | None = None) -> int:
    """An integer within [lo, hi]; a float with an integral value (``800.0``) counts."""
    v = number(value, where, lo=lo, hi=hi)
    if v != int(v):
        raise Invalid(where, f"must be a whole number, not {show(value)}")
    return int(v)


def string(value, where: str, *, max_len: int = 4096, choices=None) -> str:
    if not isinstance(value, str):
        raise Invalid(where, f"must be text, not {show(value)}")
    if len(value) > max_len:
        raise Invalid(where, f"is {len(value):,} characters long; at most {max_len:,} are allowed")
    if "\x00" in value:
        raise Invalid(where, "contains a NUL character")
    if choices is not None and value not in choices:
        raise Invalid(where, f"must be one of {', '.join(map(repr, choices))}, not {show(value)}")
    return value


def boolean(value, where: str) -> bool:
    if not isinstance(value, bool):
        raise Invalid(where, f"must be true or false, not {show(value)}")
    return value


def mapping(value, where: str) -> dict:
    if not isinstance(value, dict):
        raise Invalid(where, f"must be an object ({{...}}), not {show(value)}")
    return value


def sequence(value, where: str, *, min_len: int = 0, max_len: int = 1 << 20) -> list:
    if not isinstance(value, list):
        raise Invalid(where, f"must be a list ([...]), not {show(value)}")
    if not min_len <= len(value) <= max_len:
        raise Invalid(where, f"must have {min_len} to {max_len:,} entries, not {len(value):,}")
    return value


def array(value, where: str, shape: tuple, *, lo: float | None = None, hi: float | None = None) -> np.ndarray:
    """A nested list of finite numbers of exactly this shape, as float64."""
    def walk(v, dims, at):
        if not dims:
            return number(v, at, lo=lo, hi=hi)
        if not isinstance(v, list) or len(v) != dims[0]:
            raise Invalid(where, f"must be a {' x '.join(map(str, shape))} array of numbers, not {show(value, 60)}")
        return [walk(x, dims[1:], at) for x in v]

    return np.asarray(walk(value, tuple(shape), where), dtype=np.float64).reshape(shape)


def depth(value, limit: int) -> int:
    """How deeply lists and objects nest in ``value``; stops counting past ``limit``."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, (list, dict)):
            if d + 1 > limit:
                return d + 1
            deepest = max(deepest, d + 1)
            stack.extend((x, d + 1) for x in (v.values() if isinstance(v, dict) else v))
    return deepest


def optional(obj: dict, key: str, check, where: str, *args, **kwargs):
    """``check(obj[key], where.key, ...)`` when the key is present and not null; None otherwise."""
    value = obj.get(key)
    return None if value is None else check(value, f"{where}.{key}" if where else key, *args, **kwargs)


def required(obj: dict, key: str, check, where: str, *args, **kwargs):
    name = f"{where}.{key}" if where else key
    if obj.get(key) is None:
        raise Invalid(name, "is missing")
    return check(obj[key], name, *args, **kwargs)
