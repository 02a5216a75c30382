"""Duplicate keys in JSON objects, which every JSON parser takes silently (the last one wins).

A file with ``"label"`` twice in one shape means two annotators' edits were merged badly; the
loaders cannot see it, because the parsed object holds one value. ``validate`` runs this
separate pass over each JSON file (never ``rasterize``: it is a second parse). The common case,
no duplicates, is one C-speed parse of the file without its number arrays, whose hook compares
each object's key count with its size; only a file that may have duplicates is walked again, in
Python, to find their JSON paths and lines.
"""

from __future__ import annotations

import json
import re
from json.decoder import scanstring

from polymask.errors import Problem

_SPACE = re.compile(r"[ \t\n\r]*")
_SCALAR = json.JSONDecoder().scan_once


class _Duplicate(Exception):
    """Raised by the hook at the first duplicate: the rest of the fast parse is not needed."""


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _Duplicate
    return obj


def duplicate_keys(text: str, file: str) -> list[Problem]:
    """A problem for each repeated key of an object in the JSON ``text`` (none when the text
    is not JSON: the loader reports that), naming the key's JSON path and line."""
    if not _maybe_duplicates(text):
        return []
    problems: list[Problem] = []
    try:
        _walk(text, 0, "", file, problems)
    except (ValueError, IndexError, RecursionError):  # broken further on, or nested too deep
        pass  # for the walk: the duplicates found before are still real
    return problems


def _maybe_duplicates(text: str) -> bool:
    """False when no object of ``text`` repeats a key (or it is not JSON); True when it may.

    Arrays of numbers (a file's coordinates, most of its bytes) hold no keys, and parsing them
    costs three times what the loaders take for the whole file (msgspec): so they are first
    cut out, by a regular expression at C speed, and the rest parsed. The cut never hides a
    duplicate (it touches neither quotes nor braces, so every key stays in its object and equal
    keys stay equal); it may invent one inside a key string such as "[1]", which the exact
    walk then dismisses. When the cut text does not parse, the whole text is parsed instead.
    """
    for candidate in (_without_number_arrays(text), text):
        try:
            json.loads(candidate, object_pairs_hook=_no_duplicates)
            return False
        except _Duplicate:
            return True
        except (ValueError, RecursionError):
            continue
    return False


_NUMBERS = re.compile(r"\[[-+0-9.eE,\s]*+\]")
"""An array of numbers only. Possessive (``*+``), as in :data:`_NUMBER_ARRAYS`: a failed match
costs its length once, so a hostile file cannot make the search quadratic."""
_NUMBER_ARRAYS = re.compile(r"\[(?:\s*+\[[-+0-9.eE,\s]*+\]\s*+,?)*+\s*+\]")
"""An array of arrays of numbers (a polygon's points): cut as one, not point by point."""


def _without_number_arrays(text: str) -> str:
    """``text`` with arrays of arrays of numbers, then arrays of numbers (left over, or the
    ``[0]`` of a deeper array), replaced by 0."""
    return _NUMBERS.sub("0", _NUMBER_ARRAYS.sub("0", text))


def _walk(text: str, pos: int, path: str, file: str, problems: list[Problem]) -> int:
    """Walk the value at ``pos`` of valid JSON, appending its duplicate keys; returns its end."""
    pos = _SPACE.match(text, pos).end()
    if text[pos] == "{":
        seen: set[str] = set()
        pos = _SPACE.match(text, pos + 1).end()
        if text[pos] == "}":
            return pos + 1
        while True:
            start = pos
            key, pos = scanstring(text, pos + 1)
            child = f"{path}.{key}" if path else key
            if key in seen:
                line = text.count("\n", 0, start) + 1
                problems.append(
                    Problem(file, f"duplicate key {key!r}", child, code="PM082", line=line)
                )
            seen.add(key)
            pos = _SPACE.match(text, pos).end() + 1  # past ':'
            pos = _SPACE.match(text, _walk(text, pos, child, file, problems)).end()
            if text[pos] == "}":
                return pos + 1
            pos = _SPACE.match(text, pos + 1).end()  # past ','
    if text[pos] == "[":
        pos = _SPACE.match(text, pos + 1).end()
        if text[pos] == "]":
            return pos + 1
        index = 0
        while True:
            pos = _walk(text, pos, f"{path}[{index}]", file, problems)
            pos = _SPACE.match(text, pos).end()
            if text[pos] == "]":
                return pos + 1
            pos, index = pos + 1, index + 1
    return _SCALAR(text, pos)[1]
