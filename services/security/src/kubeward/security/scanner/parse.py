"""Manifest text (YAML, multi-document, or JSON) to Kubernetes objects."""

from __future__ import annotations

from typing import Any

import msgspec
import yaml

from kubeward.core.k8s_keys import NestedTooDeeplyError, check_depth
from kubeward.core.manifest_yaml import FastYaml, UnsupportedYamlError

try:
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - libyaml missing
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

MAX_BYTES = 2 * 1024 * 1024
MAX_OBJECTS = 500
MAX_NODES = 1_000_000
"""Values visited (shared YAML aliases counted each time they are reached): stops alias
bombs that parse small but expand without bound."""


def parse_manifests(text: str) -> list[dict[str, Any]]:
    """The Kubernetes objects in ``text``: YAML (one or more ``---`` documents) or JSON (an
    object or an array of them). ``List`` kinds (``List``, ``DeploymentList``, ...) are
    flattened to their items; items without ``kind`` get it from the list's kind.

    Raises :class:`ValueError` (with the 1-based document number) when the text is not
    YAML/JSON, a document is not a mapping with ``kind`` and ``metadata.name``, the text
    is over 2 MiB, or it holds more than 500 objects. Empty documents are skipped.
    """
    if len(text) > MAX_BYTES or (
        len(text) > MAX_BYTES // 4 and len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES
    ):
        raise ValueError(f"manifest is larger than {MAX_BYTES // (1024 * 1024)} MiB")
    documents = _documents(text)
    objects: list[dict[str, Any]] = []
    budget = [MAX_NODES]
    for number, document in enumerate(documents, start=1):
        if document is None:
            continue
        _count(document, budget, number)
        try:
            check_depth(document)
        except NestedTooDeeplyError as exc:
            raise ValueError(f"document {number}: manifest is {exc}") from None
        for item, where in _flatten(document, f"document {number}"):
            objects.append(_validate(item, where))
            if len(objects) > MAX_OBJECTS:
                raise ValueError(f"manifest holds more than {MAX_OBJECTS} objects")
    return objects


def _documents(text: str) -> list[Any]:
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        try:
            value = msgspec.json.decode(stripped)
        except msgspec.DecodeError:
            pass  # YAML flow style is also allowed; let YAML report errors.
        except RecursionError:
            raise ValueError("manifest is nested too deeply") from None
        else:
            return value if isinstance(value, list) else [value]
    if "\n---" not in text:  # one document: block-style YAML goes the fast way
        try:
            return [FastYaml(text, timestamps=True).parse()]
        except (UnsupportedYamlError, RecursionError):
            pass  # the full loader reads it, or says what is wrong with it
    try:
        return list(yaml.load_all(text, Loader=_Loader))
    except yaml.YAMLError as exc:
        raise ValueError(f"manifest is not valid YAML or JSON: {exc}") from None
    except RecursionError:
        raise ValueError("manifest is nested too deeply") from None


def _count(value: Any, budget: list[int], number: int) -> None:
    stack = [value]
    while stack:
        item = stack.pop()
        budget[0] -= 1
        if budget[0] < 0:
            raise ValueError(f"document {number}: manifest expands to too many values")
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _flatten(document: Any, where: str) -> list[tuple[Any, str]]:
    if not isinstance(document, dict):
        return [(document, where)]
    kind = document.get("kind")
    items = document.get("items")
    if isinstance(kind, str) and kind.endswith("List") and isinstance(items, list):
        item_kind = kind[: -len("List")]
        api_version = document.get("apiVersion")
        out = []
        for i, item in enumerate(items, start=1):
            if isinstance(item, dict) and item_kind and "kind" not in item:
                item = {"kind": item_kind, **item}
                if api_version and "apiVersion" not in item:
                    item["apiVersion"] = api_version
            out.extend(_flatten(item, f"{where}, item {i}"))
        return out
    return [(document, where)]


def _validate(item: Any, where: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise ValueError(
            f"{where} is {type(item).__name__ if item is not None else 'null'}, not a "
            "Kubernetes object (a mapping with kind and metadata.name)"
        )
    kind = item.get("kind")
    if not isinstance(kind, str) or not kind:
        raise ValueError(f"{where} has no kind")
    metadata = item.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    if not isinstance(name, str) or not name:
        raise ValueError(f"{where} ({kind}) has no metadata.name")
    return item
