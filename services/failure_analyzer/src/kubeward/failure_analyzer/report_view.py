"""A normalised, read-only view over one failed-pod report, built once for all analyzers.

The Kure agent's manifest is YAML from the Python client's ``to_dict()`` (snake_case keys,
a few converted to camelCase); a manifest pasted from kubectl is camelCase. The view
parses it once, lazily, and rewrites every key to camelCase, so analyzers read one
spelling. Nothing here raises on a malformed report: a manifest that does not parse is
an empty one, a log block that does not decode is skipped.

YAML parsing is the expensive part of a diagnosis (CSafeLoader needs about a millisecond
for a 3 KB pod), so block-style YAML as ``yaml.safe_dump`` and kubectl write it goes
through a small exact parser first; anything outside that subset goes to CSafeLoader.
"""

from __future__ import annotations

import base64
import binascii
import re
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import cached_property, lru_cache
from typing import Any, NamedTuple

import yaml

from kubeward.core.k8s_keys import normalize
from kubeward.schemas.pod_failures import ContainerStatus, PodEvent, PodFailureReport

LOG_TAIL_CHARS = 64 * 1024
"""Log text examined per source (the tail: a crash's cause is near the end)."""
MAX_DECOMPRESSED = 1024 * 1024
"""A ``failure_logs`` block inflating past this is cut there (the agent caps at 256 KiB)."""
MAX_MANIFEST_CHARS = 512 * 1024
"""A larger manifest is not parsed at all."""
EVIDENCE_CHARS = 200
MAX_LINE_CHARS = 4096
"""A longer log line keeps its first characters and a marker: no pattern runs over one
huge line (some would cost a quadratic scan)."""
_LINE_CUT = " …[line truncated]"


def cap_lines(text: str, limit: int = MAX_LINE_CHARS) -> tuple[str, bool]:
    """``text`` with every line longer than ``limit`` characters cut; whether any was."""
    if len(text) <= limit or all(len(line) <= limit for line in text.split("\n")):
        return text, False
    out = [line if len(line) <= limit else line[:limit] + _LINE_CUT for line in text.split("\n")]
    return "\n".join(out), True


# --- YAML -----------------------------------------------------------------------------

_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):  # type: ignore[misc]
    """Safe loader that keeps timestamps as strings, like the fast parser."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != _TIMESTAMP_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_RESOLVERS: dict[str, list[tuple[str, re.Pattern[str]]]] = _Loader.yaml_implicit_resolvers
_DECIMAL = re.compile(r"[-+]?(?:0|[1-9][0-9]*)\Z")
_SIMPLE_FLOAT = re.compile(r"[-+]?[0-9]+\.[0-9]*(?:[eE][-+][0-9]+)?\Z")
_BOOLS = {"yes": True, "true": True, "on": True, "no": False, "false": False, "off": False}
_UNSUPPORTED_START = frozenset('&*!|>%@`{[?"')


class _UnsupportedError(Exception):
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
            raise _UnsupportedError(text)
    if " #" in text or text.startswith("#"):
        raise _UnsupportedError(text)
    return text


class _FastYaml:
    """Block mappings, block sequences, plain and single-quoted scalars, ``{}``/``[]``, and
    anchors and aliases of scalars (PyYAML's dump of a Kubernetes client object anchors a
    timestamp it meets twice: ``creationTimestamp: &id001 ...``)."""

    def __init__(self, text: str) -> None:
        if "\t" in text or "\r" in text:
            raise _UnsupportedError("tab or carriage return")
        lines = text.rstrip().split("\n")
        rows: list[tuple[int, str]] = []
        append = rows.append
        for raw in lines:
            content = raw.lstrip(" ")
            if not content:
                raise _UnsupportedError("blank line")
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
            raise _UnsupportedError("trailing content")
        return value

    def _block(self, i: int, ind: int) -> tuple[Any, int]:
        content = self.rows[i][1]
        if content == "-" or content.startswith("- "):
            return self._seq(i, ind)
        if content[0] in _UNSUPPORTED_START or content[0] == "'":
            if content[0] == "'" and self._split_key(content) is not None:
                return self._map(i, ind)
            raise _UnsupportedError(content[:20])
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
                raise _UnsupportedError(content[:20])
            key, rest = kv
            if key and (key[0] in _UNSUPPORTED_START or key in ("<<", "=")):
                raise _UnsupportedError(key)
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
            raise _UnsupportedError("indentation")
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
                raise _UnsupportedError("nested inline sequence")
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
                    raise _UnsupportedError("unterminated quote")
                parts.append(rows[i][1])
                i += 1
            joined = " ".join(parts)
            if not joined.endswith("'"):
                raise _UnsupportedError("text after quote")
            return joined[1:-1].replace("''", "'"), i
        if text == "{}":
            return {}, i
        if text == "[]":
            return [], i
        if first == "&":
            name, _, rest = text[1:].partition(" ")
            rest = rest.lstrip(" ")
            if not name or not rest or rest[0] in "&*":
                raise _UnsupportedError(text[:20])  # an anchored collection
            value, i = self._scalar(rest, i, ind)
            if isinstance(value, (dict, list)):
                raise _UnsupportedError(text[:20])
            self.anchors[name] = value
            return value, i
        if first == "*":
            if text[1:] not in self.anchors or (i < n and rows[i][0] > ind):
                raise _UnsupportedError(text[:20])
            return self.anchors[text[1:]], i
        if first in _UNSUPPORTED_START:
            raise _UnsupportedError(text[:20])
        if i < n and rows[i][0] > ind:
            parts = [text]
            while i < n and rows[i][0] > ind:
                parts.append(rows[i][1])
                i += 1
            return _plain(" ".join(parts)), i
        return _plain(text), i


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
        return _FastYaml(text).parse()
    except _UnsupportedError:
        return yaml.load(text, Loader=_Loader)


def parse_manifest(text: str | None) -> dict[str, Any]:
    """The manifest as a camelCase dict; ``{}`` when absent, too large or not YAML."""
    if not text or len(text) > MAX_MANIFEST_CHARS:
        return {}
    try:
        data = load_yaml(text)
    except Exception:
        return {}
    if not isinstance(data, dict):
        return {}
    try:
        result: dict[str, Any] = normalize(data)
    except ValueError:  # nested too deeply to be a Kubernetes object
        return {}
    return result


# --- Small typed accessors -----------------------------------------------------------------


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` if it is a dict, else an empty one."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    """``value`` if it is a list, else an empty one."""
    return value if isinstance(value, list) else []


def as_str(value: Any) -> str | None:
    """``value`` as text (numbers too); ``None`` for anything else."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def as_int(value: Any) -> int | None:
    """``value`` if it is an integer (not a bool)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def human_age(seconds: float) -> str:
    """``47 min``, ``5 h``, ``12 d``."""
    minutes = int(seconds // 60)
    if minutes < 120:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h"
    return f"{minutes // 1440} d"


def clip(text: str, limit: int = EVIDENCE_CHARS) -> str:
    """One line of at most ``limit`` characters, for evidence and titles."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


# --- Quantities -------------------------------------------------------------------------------

_QUANTITY = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*\Z")
_SUFFIX = {
    "": 1.0,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "P": 1e15,
    "E": 1e18,
    "Ki": 2.0**10,
    "Mi": 2.0**20,
    "Gi": 2.0**30,
    "Ti": 2.0**40,
    "Pi": 2.0**50,
    "Ei": 2.0**60,
    "m": 1e-3,
}


def parse_quantity(value: Any) -> float | None:
    """A Kubernetes quantity (``512Mi``, ``1.5Gi``, ``250m``, ``2``) as a number."""
    text = as_str(value)
    if text is None:
        return None
    match = _QUANTITY.match(text)
    if match is None or match.group(2) not in _SUFFIX:
        return None
    return float(match.group(1)) * _SUFFIX[match.group(2)]


def format_bytes(amount: float) -> str:
    """Bytes as the binary quantity a manifest would use (``768Mi``, ``2Gi``)."""
    for suffix, size in (("Gi", 2.0**30), ("Mi", 2.0**20), ("Ki", 2.0**10)):
        if amount >= size:
            scaled = amount / size
            if suffix == "Gi" and scaled != int(scaled):
                return f"{round(amount / 2.0**20)}Mi"
            return f"{round(scaled)}{suffix}"
    return f"{int(amount)}"


# --- Containers and statuses -----------------------------------------------------------------


class Container:
    """One container (or init container) of the pod spec."""

    __slots__ = (
        "args",
        "command",
        "env",
        "env_from",
        "image",
        "image_pull_policy",
        "is_init",
        "limits",
        "name",
        "ports",
        "probes",
        "raw",
        "requests",
        "security_context",
        "volume_mounts",
    )

    def __init__(self, raw: dict[str, Any], is_init: bool) -> None:
        self.raw = raw
        self.is_init = is_init
        self.name = as_str(raw.get("name")) or "?"
        self.image = as_str(raw.get("image")) or ""
        self.image_pull_policy = as_str(raw.get("imagePullPolicy"))
        self.command = [str(c) for c in as_list(raw.get("command"))]
        self.args = [str(a) for a in as_list(raw.get("args"))]
        self.env = [as_dict(e) for e in as_list(raw.get("env"))]
        self.env_from = [as_dict(e) for e in as_list(raw.get("envFrom"))]
        self.volume_mounts = [as_dict(m) for m in as_list(raw.get("volumeMounts"))]
        resources = as_dict(raw.get("resources"))
        self.limits = as_dict(resources.get("limits"))
        self.requests = as_dict(resources.get("requests"))
        self.ports = [as_dict(p) for p in as_list(raw.get("ports"))]
        self.security_context = as_dict(raw.get("securityContext"))
        self.probes = {
            kind: as_dict(raw.get(f"{kind}Probe"))
            for kind in ("liveness", "readiness", "startup")
            if isinstance(raw.get(f"{kind}Probe"), dict)
        }

    @property
    def kind(self) -> str:
        """``init container`` or ``container``, for prose."""
        return "init container" if self.is_init else "container"

    def port_number(self, port: Any) -> int | None:
        """A probe's ``port`` (number or named port) as a number."""
        number = as_int(port)
        if number is not None:
            return number
        name = as_str(port)
        for entry in self.ports:
            if name is not None and entry.get("name") == name:
                return as_int(entry.get("containerPort"))
        return None


class Status:
    """One container's status: the agent's flattened one, completed from the manifest."""

    __slots__ = (
        "exit_code",
        "image",
        "is_init",
        "last_exit_code",
        "last_message",
        "last_reason",
        "last_signal",
        "message",
        "name",
        "ready",
        "reason",
        "restart_count",
        "state",
    )

    def __init__(self, name: str, is_init: bool) -> None:
        self.name = name
        self.is_init = is_init
        self.state: str | None = None
        self.reason: str | None = None
        self.message: str | None = None
        self.exit_code: int | None = None
        self.restart_count = 0
        self.ready: bool | None = None
        self.image: str | None = None
        self.last_reason: str | None = None
        self.last_exit_code: int | None = None
        self.last_message: str | None = None
        self.last_signal: int | None = None

    @classmethod
    def from_report(cls, status: ContainerStatus, is_init: bool) -> Status:
        """From the agent's flattened status."""
        out = cls(status.name or "?", is_init)
        out.state = status.state
        out.reason = status.reason
        out.message = status.message
        out.exit_code = status.exit_code
        out.restart_count = status.restart_count or 0
        out.ready = status.ready
        out.image = status.image
        out.last_reason = status.last_reason
        out.last_exit_code = status.last_exit_code
        return out

    def merge_manifest(self, raw: dict[str, Any]) -> None:
        """Fill what the flattened status lacks from the manifest's status entry."""
        state = as_dict(raw.get("state"))
        for name in ("waiting", "terminated", "running"):
            detail = state.get(name)
            if isinstance(detail, dict):
                if self.state is None:
                    self.state = name
                if self.state == name:
                    self.reason = self.reason or as_str(detail.get("reason"))
                    self.message = self.message or as_str(detail.get("message"))
                    if self.exit_code is None:
                        self.exit_code = as_int(detail.get("exitCode"))
                break
        last = as_dict(as_dict(raw.get("lastState")).get("terminated"))
        if last:
            self.last_reason = self.last_reason or as_str(last.get("reason"))
            if self.last_exit_code is None:
                self.last_exit_code = as_int(last.get("exitCode"))
            self.last_message = as_str(last.get("message"))
            self.last_signal = as_int(last.get("signal"))
        if not self.restart_count:
            self.restart_count = as_int(raw.get("restartCount")) or 0
        if self.image is None:
            self.image = as_str(raw.get("image"))
        if self.ready is None and isinstance(raw.get("ready"), bool):
            self.ready = raw["ready"]

    @property
    def terminated_code(self) -> int | None:
        """The exit code of the last termination: the current one, else the previous one."""
        if self.state == "terminated" and self.exit_code is not None:
            return self.exit_code
        return self.last_exit_code if self.last_exit_code is not None else self.exit_code

    @property
    def reasons(self) -> tuple[str, ...]:
        """Current and previous reasons, present ones only."""
        return tuple(r for r in (self.reason, self.last_reason) if r)


# --- Logs ------------------------------------------------------------------------------------


class LogSource(NamedTuple):
    """One text of logs: a container's previous or current instance, or the agent's tail."""

    container: str | None
    kind: str
    """``previous``, ``current`` (both from ``failure_logs``) or ``logs`` (the last lines)."""
    text: str

    @property
    def label(self) -> str:
        """Where it came from, for evidence."""
        where = f"container {self.container}" if self.container else "pod"
        return {"previous": f"previous logs of {where}", "current": f"logs of {where}"}.get(
            self.kind, "pod logs (last lines)"
        )


class LogHit(NamedTuple):
    """A log line a pattern matched."""

    source: LogSource
    line: str
    match: re.Match[str]


def decode_block(data: str) -> str | None:
    """A gzip+base64 log block as text (its tail when large); ``None`` when it is invalid."""
    try:
        raw = base64.b64decode(data, validate=False)
        inflater = zlib.decompressobj(wbits=47)  # gzip or zlib header
        out = inflater.decompress(raw, MAX_DECOMPRESSED)
    except (binascii.Error, ValueError, zlib.error):
        return None
    if not out:
        return None
    text = out.decode("utf-8", errors="replace")
    return text[-LOG_TAIL_CHARS:]


def _line_at(text: str, start: int, end: int) -> str:
    left = text.rfind("\n", 0, start) + 1
    right = text.find("\n", end)
    return text[left : right if right >= 0 else len(text)].strip()


# --- The view ---------------------------------------------------------------------------------


class Message(NamedTuple):
    """A message of the report: the failure message, a status message or an event."""

    source: str
    """Evidence source: ``message``, ``container_status`` or ``event``."""
    label: str
    """E.g. ``event Failed`` or ``status of container api``."""
    text: str
    reason: str
    """The event's or status's reason."""
    container: str | None = None


class MessageHit(NamedTuple):
    """A message a pattern matched."""

    message: Message
    match: re.Match[str]

    @property
    def label(self) -> str:
        """Where the message came from."""
        return self.message.label

    @property
    def text(self) -> str:
        """The whole message."""
        return self.message.text

    @property
    def source(self) -> str:
        """The evidence source."""
        return self.message.source


class ReportView:
    """Everything analyzers read about a report, normalised; parsed lazily, once."""

    def __init__(self, report: PodFailureReport, now: datetime | None = None) -> None:
        self.report = report
        self.pod = report.pod_name or "<pod>"
        self.namespace = report.namespace or "default"
        self.failure_reason = report.failure_reason or ""
        self.failure_message = report.failure_message or ""
        self.phase = report.phase or ""
        self.node_name = report.node_name
        self.events: list[PodEvent] = list(report.events or ())
        self._now = now

    # Manifest -----------------------------------------------------------------------------

    @cached_property
    def manifest(self) -> dict[str, Any]:
        """The parsed, camelCase manifest (``{}`` when there is none usable)."""
        return parse_manifest(self.report.manifest)

    @cached_property
    def spec(self) -> dict[str, Any]:
        """``spec`` of the manifest."""
        return as_dict(self.manifest.get("spec"))

    @cached_property
    def metadata(self) -> dict[str, Any]:
        """``metadata`` of the manifest."""
        return as_dict(self.manifest.get("metadata"))

    @cached_property
    def status_raw(self) -> dict[str, Any]:
        """``status`` of the manifest."""
        return as_dict(self.manifest.get("status"))

    @cached_property
    def containers(self) -> list[Container]:
        """The app containers of the spec."""
        return [Container(as_dict(c), False) for c in as_list(self.spec.get("containers"))]

    @cached_property
    def init_containers(self) -> list[Container]:
        """The init containers of the spec."""
        raw = as_list(self.spec.get("initContainers"))
        return [Container(as_dict(c), True) for c in raw]

    def container(self, name: str | None) -> Container | None:
        """The container or init container called ``name``."""
        for item in (*self.containers, *self.init_containers):
            if item.name == name:
                return item
        return None

    @cached_property
    def volumes(self) -> list[dict[str, Any]]:
        """``spec.volumes``."""
        return [as_dict(v) for v in as_list(self.spec.get("volumes"))]

    @cached_property
    def node_selector(self) -> dict[str, Any]:
        """``spec.nodeSelector``."""
        return as_dict(self.spec.get("nodeSelector"))

    @cached_property
    def affinity(self) -> dict[str, Any]:
        """``spec.affinity``."""
        return as_dict(self.spec.get("affinity"))

    @cached_property
    def tolerations(self) -> list[dict[str, Any]]:
        """``spec.tolerations``."""
        return [as_dict(t) for t in as_list(self.spec.get("tolerations"))]

    @cached_property
    def service_account(self) -> str:
        """``spec.serviceAccountName`` (``default`` when unset)."""
        spec = self.spec
        return (
            as_str(spec.get("serviceAccountName"))
            or as_str(spec.get("serviceAccount"))
            or ("default")
        )

    @cached_property
    def image_pull_secrets(self) -> list[str]:
        """Names in ``spec.imagePullSecrets``."""
        names = (as_str(as_dict(s).get("name")) for s in as_list(self.spec.get("imagePullSecrets")))
        return [n for n in names if n]

    @cached_property
    def workload(self) -> str | None:
        """``deployment/api`` (or statefulset/..., job/...) owning the pod, when known."""
        for ref in as_list(self.metadata.get("ownerReferences")):
            ref = as_dict(ref)
            kind, name = as_str(ref.get("kind")), as_str(ref.get("name"))
            if not kind or not name:
                continue
            if kind == "ReplicaSet":
                template_hash = as_str(
                    as_dict(self.metadata.get("labels")).get("pod-template-hash")
                )
                if template_hash and name.endswith("-" + template_hash):
                    return "deployment/" + name[: -len(template_hash) - 1]
                return "replicaset/" + name
            return f"{kind.lower()}/{name}"
        return None

    @property
    def owner_label(self) -> str:
        """The workload to edit, or the pod itself, for fix steps."""
        return self.workload or f"pod/{self.pod}"

    # Statuses ---------------------------------------------------------------------------------

    def _statuses(
        self, reported: list[ContainerStatus] | None, key: str, init: bool
    ) -> list[Status]:
        from_manifest = {
            as_str(as_dict(s).get("name")) or "?": as_dict(s)
            for s in as_list(self.status_raw.get(key))
        }
        out: list[Status] = []
        for status in reported or ():
            if status is None:
                continue
            item = Status.from_report(status, init)
            raw = from_manifest.pop(item.name, None)
            if raw is not None:
                item.merge_manifest(raw)
            out.append(item)
        for name, raw in from_manifest.items():
            item = Status(name, init)
            item.merge_manifest(raw)
            out.append(item)
        return out

    @cached_property
    def statuses(self) -> list[Status]:
        """App container statuses (the report's, completed from the manifest)."""
        return self._statuses(self.report.container_statuses, "containerStatuses", False)

    @cached_property
    def init_statuses(self) -> list[Status]:
        """Init container statuses (the report's extension, else the manifest's)."""
        return self._statuses(self.report.init_container_statuses, "initContainerStatuses", True)

    def status(self, name: str | None) -> Status | None:
        """The status of container ``name``."""
        for item in (*self.statuses, *self.init_statuses):
            if item.name == name:
                return item
        return None

    @cached_property
    def reasons(self) -> frozenset[str]:
        """Every reason seen: the report's, the statuses' (current and last), events'."""
        found = {self.failure_reason}
        for status in (*self.statuses, *self.init_statuses):
            found.update(status.reasons)
        found.update(e.reason for e in self.events if e.reason)
        found.discard("")
        return frozenset(found)

    # Events and messages ----------------------------------------------------------------

    def events_with(self, *reasons: str) -> list[PodEvent]:
        """Events whose reason is one of ``reasons``, in report order."""
        return [e for e in self.events if e.reason in reasons]

    @cached_property
    def messages(self) -> list[Message]:
        """Every message: the failure message, the statuses' and the events'."""
        out: list[Message] = []
        if self.failure_message:
            label = f"failure message ({self.failure_reason or 'unknown'})"
            out.append(Message("message", label, self.failure_message, self.failure_reason))
        for status in (*self.statuses, *self.init_statuses):
            label = f"status of {'init ' if status.is_init else ''}container {status.name}"
            if status.message:
                out.append(
                    Message(
                        "container_status", label, status.message, status.reason or "", status.name
                    )
                )
            if status.last_message:
                out.append(
                    Message(
                        "container_status",
                        label,
                        status.last_message,
                        status.last_reason or "",
                        status.name,
                    )
                )
        for event in self.events:
            if event.message:
                reason = event.reason or ""
                out.append(Message("event", f"event {reason or '?'}", event.message, reason))
        return out

    def find_message(
        self, pattern: re.Pattern[str], *, events: tuple[str, ...] = (), only_events: bool = False
    ) -> MessageHit | None:
        """The first message ``pattern`` matches; ``events`` limits which events count."""
        for message in self.messages:
            if message.source == "event":
                if events and message.reason not in events:
                    continue
            elif only_events:
                continue
            match = pattern.search(message.text)
            if match is not None:
                return MessageHit(message, match)
        return None

    @cached_property
    def selector(self) -> str | None:
        """A label selector for the pod's replicas (``app=api``), from its labels."""
        labels = as_dict(self.metadata.get("labels"))
        skip = (
            "pod-template-hash",
            "controller-revision-hash",
            "statefulset.kubernetes.io/pod-name",
            "apps.kubernetes.io/pod-index",
            "batch.kubernetes.io/controller-uid",
            "controller-uid",
        )
        parts = [f"{k}={v}" for k, v in labels.items() if k not in skip and as_str(v) is not None]
        return ",".join(parts[:3]) if parts else None

    # Logs ---------------------------------------------------------------------------------

    @cached_property
    def logs(self) -> list[LogSource]:
        """Decoded log sources, previous instances first, each its last 64 KiB."""
        out: list[LogSource] = []
        failure_logs = self.report.failure_logs
        if failure_logs is not None:
            for kind in ("previous", "current"):
                for name, entry in (failure_logs.containers or {}).items():
                    block = getattr(entry, kind, None) if entry is not None else None
                    if block is None or not block.data:
                        continue
                    text = decode_block(block.data)
                    if text:
                        out.append(LogSource(name, kind, cap_lines(text)[0]))
        if self.report.logs:
            single = self.containers[0].name if len(self.containers) == 1 else None
            tail = cap_lines(self.report.logs[-LOG_TAIL_CHARS:])[0]
            out.append(LogSource(single, "logs", tail))
        return out

    def find_log(self, pattern: re.Pattern[str], container: str | None = None) -> LogHit | None:
        """The last line ``pattern`` matches in the first source that has one."""
        for source in self.logs:
            if container is not None and source.container not in (container, None):
                continue
            last = None
            for last in pattern.finditer(source.text):  # noqa: B007 - keep the last match
                pass
            if last is not None:
                return LogHit(source, _line_at(source.text, last.start(), last.end()), last)
        return None

    def iter_logs(self, container: str | None = None) -> Iterator[LogSource]:
        """Log sources, optionally of one container."""
        for source in self.logs:
            if container is None or source.container in (container, None):
                yield source

    # Time ------------------------------------------------------------------------------------

    @cached_property
    def age_seconds(self) -> float | None:
        """Seconds since the pod was created, when the timestamp parses."""
        raw = self.report.creation_timestamp
        if not raw:
            return None
        try:
            created = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            return None
        if created.tzinfo is None:
            created = created.replace(tzinfo=UTC)
        now = self._now or datetime.now(UTC)
        return (now - created).total_seconds()
