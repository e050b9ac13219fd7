"""A fast, exact parser for the block-style YAML subset Kubernetes manifests arrive in.

YAML parsing is the expensive part of a diagnosis (CSafeLoader needs about a millisecond
for a 3 KB pod), so block-style YAML as ``yaml.safe_dump`` and kubectl write it goes
through :class:`FastYaml` first; anything outside that subset raises
:class:`UnsupportedYamlError` and :func:`load_yaml` hands the text to CSafeLoader. Both
paths keep timestamps as strings (or, with ``timestamps=True``, make them ``datetime``s as
the safe loader does), and both give the same value for every input the fast path accepts
(``tests/test_manifest_yaml.py`` checks it on random documents; failure-analyzer's and
security's tests on every sample report).

failure-analyzer reads every failed pod's manifest with it, and security scans the same
manifests: with PyYAML's Python constructor that was 70 % of security's CPU per report.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import yaml

_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class TimestampAsTextLoader(_BaseLoader):  # type: ignore[misc]
    """Safe loader that keeps timestamps as strings, like the fast parser."""


TimestampAsTextLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != _TIMESTAMP_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_RESOLVERS: dict[str, list[tuple[str, re.Pattern[str]]]] = (
    TimestampAsTextLoader.yaml_implicit_resolvers
)
_TIMESTAMP: re.Pattern[str] = next(
    rx
    for resolvers in yaml.SafeLoader.yaml_implicit_resolvers.values()
    for tag, rx in resolvers
    if tag == _TIMESTAMP_TAG
)
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_DECIMAL = re.compile(r"[-+]?(?:0|[1-9][0-9]*)\Z")
_SIMPLE_FLOAT = re.compile(r"[-+]?[0-9]+\.[0-9]*(?:[eE][-+][0-9]+)?\Z")
_BOOLS = {"yes": True, "true": True, "on": True, "no": False, "false": False, "off": False}
_UNSUPPORTED_START = frozenset('&*!|>%@`{[?"')


class UnsupportedYamlError(Exception):
    """The text is outside the fast parser's subset: use the full loader."""


@lru_cache(maxsize=4096)
def _plain(text: str) -> Any:
    """Resolve a plain scalar exactly as PyYAML's SafeLoader would (minus timestamps)."""
    resolvers = _RESOLVERS.get(text[:1], ())
    for tag, rx in resolvers:
        if rx.match(text):
            kind = tag.rsplit(":", 1)[1]
            if kind == "null":
                return None
            if kind == "bool":
                return _BOOLS[text.lower()]
            if kind == "int" and _DECIMAL.match(text):
                return int(text)
            if kind == "float" and _SIMPLE_FLOAT.match(text):
                return float(text)
            raise UnsupportedYamlError(text)
    if " #" in text or text.startswith("#"):
        raise UnsupportedYamlError(text)
    return text


@lru_cache(maxsize=4096)
def _plain_or_timestamp(text: str) -> Any:
    """:func:`_plain`, but a timestamp becomes a ``datetime`` (or ``date``) exactly as
    PyYAML's SafeLoader makes it."""
    if _TIMESTAMP.match(text):
        return _CONSTRUCTOR.construct_yaml_timestamp(yaml.ScalarNode(_TIMESTAMP_TAG, text))
    return _plain(text)


class FastYaml:
    """Block mappings, block sequences, plain and single-quoted scalars, ``{}``/``[]``, and
    anchors and aliases of scalars (PyYAML's dump of a Kubernetes client object anchors a
    timestamp it meets twice: ``creationTimestamp: &id001 ...``)."""

    def __init__(self, text: str, *, timestamps: bool = False) -> None:
        self._plain = _plain_or_timestamp if timestamps else _plain
        if "\t" in text or "\r" in text:
            raise UnsupportedYamlError("tab or carriage return")
        lines = text.rstrip().split("\n")
        rows: list[tuple[int, str]] = []
        append = rows.append
        for raw in lines:
            content = raw.lstrip(" ")
            if not content:
                raise UnsupportedYamlError("blank line")
            append((len(raw) - len(content), content.rstrip(" ")))
        if rows and rows[0][1] == "---":
            rows.pop(0)
        self.rows = rows
        self.anchors: dict[str, Any] = {}

    def parse(self) -> Any:
        if not self.rows:
            return None
        value, i = self._block(0, self.rows[0][0])
        if i != len(self.rows):
            raise UnsupportedYamlError("trailing content")
        return value

    def _block(self, i: int, ind: int) -> tuple[Any, int]:
        content = self.rows[i][1]
        if content == "-" or content.startswith("- "):
            return self._seq(i, ind)
        if content[0] in _UNSUPPORTED_START or content[0] == "'":
            if content[0] == "'" and self._split_key(content) is not None:
                return self._map(i, ind)
            raise UnsupportedYamlError(content[:20])
        return self._map(i, ind)

    @staticmethod
    def _split_key(content: str) -> tuple[str, str] | None:
        if content[0] == "'":
            end = 1
            while True:
                end = content.find("'", end)
                if end < 0:
                    return None
                if content[end + 1 : end + 2] == "'":
                    end += 2
                    continue
                break
            after = content[end + 1 :]
            if after == ":" or after.startswith(": "):
                return content[1:end].replace("''", "'"), after[1:].strip()
            return None
        if content[0] in _UNSUPPORTED_START or content.startswith("- "):
            return None
        pos = content.find(": ")
        if pos > 0:
            return content[:pos], content[pos + 2 :].strip()
        if content.endswith(":"):
            return content[:-1], ""
        return None

    def _map(self, i: int, ind: int) -> tuple[dict[str, Any], int]:
        rows = self.rows
        n = len(rows)
        out: dict[str, Any] = {}
        while i < n and rows[i][0] == ind:
            content = rows[i][1]
            if content == "-" or content.startswith("- "):
                break
            kv = self._split_key(content)
            if kv is None:
                raise UnsupportedYamlError(content[:20])
            key, rest = kv
            if key and (key[0] in _UNSUPPORTED_START or key in ("<<", "=")):
                raise UnsupportedYamlError(key)
            i += 1
            value: Any
            if rest:
                value, i = self._scalar(rest, i, ind)
            elif i < n and rows[i][0] > ind:
                value, i = self._block(i, rows[i][0])
            elif i < n and rows[i][0] == ind and (rows[i][1] == "-" or rows[i][1][:2] == "- "):
                value, i = self._seq(i, ind)
            else:
                value = None
            out[key] = value
        if i < n and rows[i][0] > ind:
            raise UnsupportedYamlError("indentation")
        return out, i

    def _seq(self, i: int, ind: int) -> tuple[list[Any], int]:
        rows = self.rows
        n = len(rows)
        out: list[Any] = []
        while i < n and rows[i][0] == ind:
            content = rows[i][1]
            if content == "-":
                i += 1
                if i < n and rows[i][0] > ind:
                    value, i = self._block(i, rows[i][0])
                    out.append(value)
                else:
                    out.append(None)
                continue
            if not content.startswith("- "):
                break
            rest = content[2:]
            stripped = rest.lstrip(" ")
            col = ind + 2 + len(rest) - len(stripped)
            if stripped.startswith("- "):
                raise UnsupportedYamlError("nested inline sequence")
            if self._split_key(stripped) is not None:
                rows[i] = (col, stripped)
                value, i = self._map(i, col)
            else:
                value, i = self._scalar(stripped, i + 1, ind)
            out.append(value)
        return out, i

    def _scalar(self, text: str, i: int, ind: int) -> tuple[Any, int]:
        """A scalar starting with ``text``; continuation rows are indented past ``ind``."""
        rows = self.rows
        n = len(rows)
        first = text[0]
        if first == "'":
            parts = [text]
            while not _closed_single(" ".join(parts)):
                if i >= n or rows[i][0] <= ind:
                    raise UnsupportedYamlError("unterminated quote")
                parts.append(rows[i][1])
                i += 1
            joined = " ".join(parts)
            if not joined.endswith("'"):
                raise UnsupportedYamlError("text after quote")
            return joined[1:-1].replace("''", "'"), i
        if text == "{}":
            return {}, i
        if text == "[]":
            return [], i
        if first == "&":
            name, _, rest = text[1:].partition(" ")
            rest = rest.lstrip(" ")
            if not name or not rest or rest[0] in "&*":
                raise UnsupportedYamlError(text[:20])  # an anchored collection
            value, i = self._scalar(rest, i, ind)
            if isinstance(value, (dict, list)):
                raise UnsupportedYamlError(text[:20])
            self.anchors[name] = value
            return value, i
        if first == "*":
            if text[1:] not in self.anchors or (i < n and rows[i][0] > ind):
                raise UnsupportedYamlError(text[:20])
            return self.anchors[text[1:]], i
        if first in _UNSUPPORTED_START:
            raise UnsupportedYamlError(text[:20])
        if i < n and rows[i][0] > ind:
            parts = [text]
            while i < n and rows[i][0] > ind:
                parts.append(rows[i][1])
                i += 1
            return self._plain(" ".join(parts)), i
        return self._plain(text), i


def _closed_single(text: str) -> bool:
    """Whether a single-quoted scalar starting at ``text[0]`` ends within ``text``."""
    pos = 1
    while True:
        pos = text.find("'", pos)
        if pos < 0:
            return False
        if text[pos + 1 : pos + 2] == "'":
            pos += 2
            continue
        return True


def load_yaml(text: str) -> Any:
    """Parse YAML like ``yaml.load(..., CSafeLoader)`` but keep timestamps as strings."""
    try:
        return FastYaml(text).parse()
    except UnsupportedYamlError:
        return yaml.load(text, Loader=TimestampAsTextLoader)
