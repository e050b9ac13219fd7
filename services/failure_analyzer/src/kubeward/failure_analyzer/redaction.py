"""Secret redaction: what must be scrubbed from a failed-pod report before it leaves for an LLM.

A :class:`Redactor` is built from one report (:meth:`Redactor.from_report`). It learns the
report's own secret values from its manifest, and scrubs any text of them and of secrets
that look like secrets wherever they occur:

- every literal ``env`` ``value`` of every container (``containers``, ``initContainers``,
  ``init_containers``, ephemeral containers, pod templates): the name stays, the value
  becomes ``[REDACTED]`` in the manifest, and the value is replaced wherever else it occurs
  (logs, events, messages). Any env value may be a secret, so all of them are treated as
  one; outside the manifest the values that cannot be secrets (shorter than 4 characters,
  ``true``/``false``-like words, log levels, numbers of up to 5 digits such as ports, and
  anything the pod's name, namespace, node, containers or images contain) are left alone,
  so ``connection to db:5432 refused`` stays readable;
- manifest annotations whose keys look secret (``secret``, ``password``, ``token``,
  Vault's ``agent-inject-secret-*``/``agent-inject-template-*``, ...), scalars under
  secret-looking keys, and the value after a ``--password``-like flag in ``args``/``command``;
- patterns, in any text: ``Authorization:`` headers and ``Bearer`` tokens, JWTs, AWS
  access key ids and secret keys, GitHub, Slack, OpenAI/Anthropic (``sk-...``) and Google
  API keys, PEM private key blocks (a block cut short too), long base64 lines, URLs with
  credentials (user and host stay), ``Password=...;`` in connection strings and
  ``password=``/``token:``/``api_key=``/``client_secret``-style pairs in logs, env dumps,
  JSON and YAML (the key stays).

Text is bounded before it is scanned (:data:`MAX_TEXT`; the tail is kept, logs' useful
end) and every pattern is precompiled, so a report of any size costs a bounded time.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Final
from urllib.parse import quote, quote_plus

import msgspec
import yaml

from kubeward.core.manifest_yaml import load_yaml
from kubeward.schemas.pod_failures import (
    ContainerStatus,
    FailureLogBlock,
    FailureLogEntry,
    FailureLogs,
    PodFailureReport,
)

__all__ = [
    "MAX_LOG_BYTES",
    "MAX_TEXT",
    "REDACTED",
    "Redactor",
    "encode_log_block",
    "read_log_block",
    "scrub_patterns",
]

REDACTED: Final = "[REDACTED]"
MAX_TEXT: Final = 1024 * 1024
"""Characters of one text that are scanned; a longer text keeps its last ``MAX_TEXT``."""
MAX_MANIFEST: Final = 512 * 1024
"""A larger manifest is not parsed as YAML, only scrubbed as text."""
MAX_LOG_BYTES: Final = 1024 * 1024
"""Decompressed bytes of one ``failure_logs`` block that are kept (the tail)."""
MAX_INFLATE: Final = 64 * 1024 * 1024
"""Decompressing a block stops here: a gzip bomb costs bounded time."""
MIN_VALUE = 4
"""Env values shorter than this are not looked for outside the manifest."""
_SHORT_VALUE = 8
"""Values shorter than this only match as a whole word (``prod`` not in ``production``)."""
_MAX_DEPTH = 64
_TRUNCATED = "…[truncated]\n"

# --- Patterns ---------------------------------------------------------------------------

_B64 = r"[A-Za-z0-9+/=]"
_NL = r"(?:\r?\n|\\r?\\n)"  # a real line break, or one escaped inside a JSON string
_PEM_BLOCK = re.compile(
    r"-----BEGIN (?P<kind>[A-Z0-9]+(?: [A-Z0-9]+)* )?PRIVATE KEY(?P<blk> BLOCK)?-----"
    r"(?P<s>.{0,65536}?)"
    r"-----END (?P=kind)?PRIVATE KEY(?P=blk)?-----",
    re.DOTALL,
)
_PEM_CUT = re.compile(  # a block whose END was cut off (a log tail, a truncated field)
    r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
    rf"(?P<s>[ \t]*{_B64}*+(?:{_NL}[ \t]*(?:Proc-Type:[^\r\n\\]*|DEK-Info:[^\r\n\\]*"
    rf"|{_B64}++(?={_NL}|\Z|-----)|(?={_NL})))*+)"
)
_B64_LINE = re.compile(  # e.g. the body of a PEM block whose BEGIN was cut off
    r"(?m)^(?P<pre>[ \t]*)(?=[A-Za-z0-9+/]*[a-z])(?=[A-Za-z0-9+/]*[A-Z])"
    r"(?P<s>[A-Za-z0-9+/]{60,}={0,2})[ \t]*\r?$"
)
_URL_CREDENTIALS = re.compile(
    r"\b(?P<pre>[A-Za-z][A-Za-z0-9+.-]{1,30}://[^\s:/@\"'<>]*:)(?P<s>[^\s@/\"'<>]+)@"
)
_AUTH_HEADER = re.compile(
    r"(?i)\b(?:proxy-)?authorization(?:\\?[\"'])?[ \t]*[:=][ \t]*(?:\\?[\"'])?"
    r"(?>(?:(?:bearer|basic|token|bot|apikey|digest|negotiate)[ \t]+)?)"
    r"(?P<s>(?!\[REDACTED\])[^\s\"'\\,;]+)"
)
_BEARER = re.compile(
    r"(?i)\bbearer[ \t]+(?P<s>(?!\[REDACTED\])"
    r"(?:(?=[A-Za-z0-9._~+/-]*[0-9._~+/-])[A-Za-z0-9._~+/-]{8,}|[A-Za-z]{24,})=*)"
)
_JWT = re.compile(r"\b(?P<s>eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*)")
_AWS_KEY_ID = re.compile(
    r"(?<![A-Za-z0-9])(?P<s>(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16})(?![A-Za-z0-9])"
)
_AWS_SECRET = re.compile(
    r"(?i)(?:aws_?)?secret_?(?:access_?)?key(?:\\?[\"'])?[ \t]*[:=][ \t]*(?:\\?[\"'])?"
    r"(?P<s>[A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])"
)
_GITHUB = re.compile(
    r"(?<![A-Za-z0-9_])(?P<s>(?:ghp|gho|ghs|ghu|ghr)_[A-Za-z0-9]{20,255}"
    r"|github_pat_[A-Za-z0-9_]{20,255})(?![A-Za-z0-9_])"
)
_SLACK = re.compile(r"(?<![A-Za-z0-9])(?P<s>xox[abprs]-[A-Za-z0-9-]{10,})")
_SLACK_HOOK = re.compile(r"hooks\.slack\.com/services/(?P<s>[A-Za-z0-9/_-]{10,})")
_SK_KEY = re.compile(  # real keys hold a long alphanumeric run; "sk-worker-7d9f8" does not
    r"(?<![A-Za-z0-9_-])(?P<s>(?:sk|rk)[-_](?=[A-Za-z0-9_-]*?[A-Za-z0-9]{20})[A-Za-z0-9_-]{20,})"
)
_GOOGLE_KEY = re.compile(r"(?<![A-Za-z0-9_-])(?P<s>AIza[0-9A-Za-z_-]{35})(?![A-Za-z0-9_-])")
_CONN_PASSWORD = re.compile(  # ADO.NET / JDBC / Azure style: the value runs to the ';'
    r"(?i)(?<![A-Za-z0-9])(?:password|pwd|accountkey|sharedaccesskey)[ \t]*=[ \t]*"
    r"(?P<s>(?!\[REDACTED\])[^;\"'\r\n]{1,256}?)[ \t]*;"
)
_STRONG_WORDS = (
    r"pass(?:word|wd|phrase)|(?<![A-Za-z])pass|pwd|secret|api[_-]?key|access[_-]?key"
    r"|private[_-]?key|account[_-]?key|auth[_-]?key|session[_-]?key|signing[_-]?key"
    r"|encryption[_-]?key|credentials?"
)
_KEY_SUFFIX = r"(?:[_.-]?(?:key|value|base|b64|base64))?"
_SECRET_KEY = re.compile(
    rf"(?i)^[A-Za-z0-9_./-]{{0,60}}?(?:{_STRONG_WORDS}|token){_KEY_SUFFIX}$"
    r"|^vault\.hashicorp\.com/agent-inject-(?:secret|template|token|command)"
)
"""A manifest key (annotation, field) whose value is a secret."""
_KEY_VALUE = re.compile(
    r"(?i)(?<![A-Za-z0-9])"
    rf"(?P<key>[A-Za-z0-9_.-]{{0,40}}?(?:(?P<strong>{_STRONG_WORDS})|token){_KEY_SUFFIX})"
    r"(?![A-Za-z0-9])"
    r"(?P<sep>(?:\\?[\"'])?[ \t]*(?:=>|=|:)[ \t]*)"
    r"(?P<q>\\?[\"'])?"
    r"(?P<s>(?(q)[^\"'\\\r\n]{1,1000}|(?!\[REDACTED\])[^\s\"'\\,;&<>(){}\[\]]{1,1000}))"
)
_CREDENTIAL_LIKE = re.compile(r"(?=\S*\d)\S{8,}|\S{20,}")
_SECRET_FLAG = re.compile(rf"(?i)^--?[A-Za-z0-9_.-]*?(?:{_STRONG_WORDS}|token){_KEY_SUFFIX}$")
_VALUE_LINE = re.compile(  # env values in a manifest that is not valid YAML
    r"(?m)^(?P<pre>[ \t]*(?:-[ \t]+)?[\"']?value[\"']?[ \t]*:[ \t]*)"
    r"(?P<s>(?!\[REDACTED\]|'\[REDACTED\]')[^\s{\[][^\r\n]*?)[ \t]*,?\r?$"
)
_NOT_SECRET = re.compile(
    r"(?i)(?:true|false|yes|no|on|off|null|none|nil|trace|debug|info|warn|warning|error"
    r"|fatal|critical|enabled|disabled|\d{1,5})"
)
_ENV_KEYS: Final = frozenset({"env"})
_ARG_KEYS: Final = frozenset({"args", "command"})
_NOISE_KEYS: Final = frozenset({"managedFields", "managed_fields"})


def _scrub_group(m: re.Match[str]) -> str:
    """The match with its ``s`` group replaced by :data:`REDACTED`."""
    whole = m.group(0)
    start, end = m.start("s") - m.start(), m.end("s") - m.start()
    return whole[:start] + REDACTED + whole[end:]


def _key_value(m: re.Match[str]) -> str:
    # "token: expired" is prose; "token: 9f2c..." is a secret. Strong words (password,
    # secret, api_key, ...) and quoted or "=" values are always redacted.
    prose = m.group("strong") is None and m.group("q") is None and "=" not in m.group("sep")
    if prose and not _CREDENTIAL_LIKE.fullmatch(m.group("s")):
        return m.group(0)
    return _scrub_group(m)


def _pem_block(m: re.Match[str]) -> str:
    return _scrub_group(m) if m.group("s").strip() else m.group(0)


_RULES: Final[tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...]] = (
    (_PEM_BLOCK, _pem_block),
    (_PEM_CUT, _pem_block),
    (_B64_LINE, _scrub_group),
    (_URL_CREDENTIALS, _scrub_group),
    (_AUTH_HEADER, _scrub_group),
    (_BEARER, _scrub_group),
    (_JWT, _scrub_group),
    (_AWS_KEY_ID, _scrub_group),
    (_AWS_SECRET, _scrub_group),
    (_GITHUB, _scrub_group),
    (_SLACK, _scrub_group),
    (_SLACK_HOOK, _scrub_group),
    (_SK_KEY, _scrub_group),
    (_GOOGLE_KEY, _scrub_group),
    (_CONN_PASSWORD, _scrub_group),
    (_KEY_VALUE, _key_value),
)
"""Applied in this order; each leaves ``[REDACTED]`` alone, so a second pass changes nothing."""


def scrub_patterns(text: str) -> str:
    """``text`` with every pattern-detected secret replaced (no report-specific values)."""
    for pattern, replace in _RULES:
        text = pattern.sub(replace, text)
    return text


def _pattern_secrets(text: str) -> Iterator[str]:
    """The secret parts the patterns find in ``text``."""
    for pattern, replace in _RULES:
        for m in pattern.finditer(text):
            if replace(m) != m.group(0):
                yield m.group("s")


def _bound(text: str) -> str:
    """``text`` cut to its last :data:`MAX_TEXT` characters, from a line start (a cut line
    could have lost the key that marks its value as secret)."""
    if len(text) <= MAX_TEXT:
        return text
    tail = text[-MAX_TEXT:]
    newline = tail.find("\n")
    return _TRUNCATED + (tail[newline + 1 :] if newline >= 0 else "")


# --- The redactor -----------------------------------------------------------------------


class Redactor:
    """Scrubs text of one report's secret values and of anything that looks like a secret.

    ``values`` are literal secrets (env values, ...); those of :data:`MIN_VALUE` or more
    characters are replaced wherever they occur. ``public`` are strings known not to be
    secret (pod name, namespace, images): a value they contain is not looked for, so
    redaction never mangles them.
    """

    def __init__(self, values: Iterable[str] = (), *, public: Iterable[str] = ()) -> None:
        public_texts = [p for p in public if p]
        wanted: set[str] = set()
        for value in values:
            for variant in _variants(value):
                if (
                    len(variant) >= MIN_VALUE
                    and not _NOT_SECRET.fullmatch(variant)
                    and variant not in REDACTED
                    and not any(variant in p for p in public_texts)
                ):
                    wanted.add(variant)
        self.values: frozenset[str] = frozenset(wanted)
        """The literal secrets looked for outside the manifest."""
        ordered = sorted(wanted, key=lambda v: (-len(v), v))
        self._long = [v for v in ordered if len(v) >= _SHORT_VALUE]
        short = [v for v in ordered if len(v) < _SHORT_VALUE]
        self._short = (
            re.compile(
                r"(?<![A-Za-z0-9])(?:" + "|".join(map(re.escape, short)) + r")(?![A-Za-z0-9])"
            )
            if short
            else None
        )
        self._manifests: dict[str, str] = {}

    @classmethod
    def from_report(cls, report: PodFailureReport) -> Redactor:
        """A redactor for ``report``: its manifest's env values and other secrets learnt."""
        values: list[str] = []
        manifest_out: str | None = None
        if report.manifest:
            manifest_out = _redact_manifest(report.manifest, values)
        redactor = cls(values, public=_public_strings(report))
        if report.manifest is not None and manifest_out is not None:
            redactor._manifests[report.manifest] = manifest_out
        return redactor

    @classmethod
    def for_text(cls, report: PodFailureReport) -> Redactor:
        """A redactor knowing the same secret values as :meth:`from_report`, for texts
        other than the manifest (logs). Cheaper: the manifest is parsed with the fast
        loader and never dumped back (:meth:`manifest` still works, parsing it again)."""
        values: list[str] = []
        manifest = report.manifest
        if manifest:
            tree: Any = None
            if len(manifest) <= MAX_MANIFEST:
                try:
                    tree = load_yaml(manifest)
                except Exception:  # any YAML error, or a nesting too deep for the parser
                    tree = None
            if isinstance(tree, dict):
                _walk(tree, values, set(), 0)
            else:
                _VALUE_LINE.sub(lambda m: _collect(m, values), manifest)
            for value in list(values):
                values.extend(_pattern_secrets(value))
        return cls(values, public=_public_strings(report))

    def text(self, text: str) -> str:
        """``text`` with every known secret value and secret-looking pattern replaced by
        ``[REDACTED]``; longer than :data:`MAX_TEXT`, only its tail is kept."""
        if not text:
            return text
        text = _bound(text)
        for value in self._long:
            if value in text:
                text = text.replace(value, REDACTED)
        if self._short is not None:
            text = self._short.sub(REDACTED, text)
        return scrub_patterns(text)

    def optional(self, text: str | None) -> str | None:
        """:meth:`text` for a field that may be absent."""
        return None if text is None else self.text(text)

    def manifest(self, manifest: str) -> str:
        """A manifest (YAML or JSON) with env values, secret annotations and secret-keyed
        fields set to ``[REDACTED]``, then scrubbed like any text. A manifest that cannot
        be parsed is scrubbed as text, its ``value:`` lines redacted."""
        done = self._manifests.get(manifest)
        if done is None:
            done = _redact_manifest(manifest, [])
        return self.text(done)

    def report(self, report: PodFailureReport) -> PodFailureReport:
        """A redacted copy of ``report``. Identifying facts (names, reasons, phases, images,
        exit codes, timestamps) are kept as they are; messages, logs, the manifest and the
        ``failure_logs`` are scrubbed."""
        return msgspec.structs.replace(
            report,
            failure_message=self.optional(report.failure_message),
            container_statuses=self._statuses(report.container_statuses),
            init_container_statuses=self._statuses(report.init_container_statuses),
            events=None
            if report.events is None
            else [
                msgspec.structs.replace(e, message=self.optional(e.message)) for e in report.events
            ],
            logs=self.optional(report.logs),
            manifest=None if report.manifest is None else self.manifest(report.manifest),
            failure_logs=self._failure_logs(report.failure_logs),
        )

    def _statuses(self, statuses: list[ContainerStatus] | None) -> list[ContainerStatus] | None:
        if statuses is None:
            return None
        return [msgspec.structs.replace(s, message=self.optional(s.message)) for s in statuses]

    def _failure_logs(self, logs: FailureLogs | None) -> FailureLogs | None:
        if logs is None:
            return None
        return msgspec.structs.replace(
            logs,
            encoding="gzip+base64",
            containers={
                name: FailureLogEntry(
                    previous=self._block(entry.previous),
                    current=self._block(entry.current),
                    error=self.optional(entry.error),
                )
                for name, entry in logs.containers.items()
            },
        )

    def _block(self, block: FailureLogBlock | None) -> FailureLogBlock | None:
        if block is None:
            return None
        text = read_log_block(block)
        if text is None:  # cannot be read, so cannot be scrubbed: not passed on
            return None
        return encode_log_block(self.text(text), like=block)


# --- Manifests --------------------------------------------------------------------------


def _redact_manifest(manifest: str, found: list[str]) -> str:
    """The manifest with secrets set to ``[REDACTED]``; their values appended to ``found``."""
    tree: Any = None
    if len(manifest) <= MAX_MANIFEST:
        try:
            tree = yaml.safe_load(manifest)
        except Exception:  # any YAML error, or a nesting too deep for the parser
            tree = None
    out: str | None = None
    if isinstance(tree, dict):
        try:
            _walk(tree, found, set(), 0)
            out = yaml.safe_dump(tree, sort_keys=False, allow_unicode=True, width=1_000_000)
        except Exception:  # a tree PyYAML cannot dump back: the text path below
            out = None
    if out is None:
        out = _VALUE_LINE.sub(lambda m: _collect(m, found), manifest)
    for value in list(found):  # a URL's password inside a value is a secret of its own
        found.extend(_pattern_secrets(value))
    return out


def _collect(m: re.Match[str], found: list[str]) -> str:
    found.append(m.group("s").strip().strip("\"'"))
    return _scrub_group(m)


def _walk(node: Any, found: list[str], seen: set[int], depth: int) -> None:
    """Redact secrets in a parsed manifest, in place."""
    if depth > _MAX_DEPTH or id(node) in seen:  # YAML aliases share nodes
        return
    seen.add(id(node))
    if isinstance(node, list):
        for item in node:
            _walk(item, found, seen, depth + 1)
        return
    if not isinstance(node, dict):
        return
    for key, value in list(node.items()):
        name = str(key)
        if name in _ENV_KEYS and isinstance(value, list):
            for var in value:
                if isinstance(var, dict) and _is_secret_scalar(var.get("value")):
                    found.append(str(var["value"]))
                    var["value"] = REDACTED
        elif name in _ARG_KEYS and isinstance(value, list):
            _redact_args(value, found)
        elif name == "annotations" and isinstance(value, dict):
            for note, text in list(value.items()):
                if isinstance(text, str) and str(note).endswith("last-applied-configuration"):
                    value[note] = _redact_embedded(text, found)
                elif _SECRET_KEY.search(str(note)) and _is_secret_scalar(text):
                    found.append(str(text))
                    value[note] = REDACTED
            continue
        elif name in _NOISE_KEYS:
            continue
        elif _SECRET_KEY.search(name) and _is_secret_scalar(value):
            found.append(str(value))
            node[key] = REDACTED
        if isinstance(value, dict | list):
            _walk(value, found, seen, depth + 1)


def _redact_args(args: list[Any], found: list[str]) -> None:
    """``--password x`` in a container's args: ``x`` is a secret (``--password=x`` is left
    to the key-value pattern)."""
    for i, arg in enumerate(args[:-1]):
        nxt = args[i + 1]
        if isinstance(arg, str) and _SECRET_FLAG.match(arg) and _is_secret_scalar(nxt):
            found.append(str(nxt))
            args[i + 1] = REDACTED


def _redact_embedded(text: str, found: list[str]) -> str:
    """``kubectl.kubernetes.io/last-applied-configuration``: a JSON copy of the manifest."""
    try:
        tree = json.loads(text)
    except ValueError:
        return REDACTED
    if not isinstance(tree, dict):
        return REDACTED
    _walk(tree, found, set(), 0)
    return json.dumps(tree, separators=(",", ":"))


def _is_secret_scalar(value: Any) -> bool:
    return isinstance(value, str | int | float) and not isinstance(value, bool) and value != ""


def _variants(value: str) -> set[str]:
    """``value`` as it may be written elsewhere: stripped, URL- and JSON-escaped."""
    out = {value, value.strip()}
    out.add(quote(value, safe=""))
    out.add(quote_plus(value))
    out.add(json.dumps(value)[1:-1])
    return out


def _public_strings(report: PodFailureReport) -> list[str]:
    texts = [report.pod_name, report.namespace, report.node_name or "", report.phase or ""]
    texts.append(report.failure_reason or "")
    for status in (report.container_statuses or []) + (report.init_container_statuses or []):
        texts += [status.name or "", status.image or ""]
    return texts


# --- failure_logs blocks ----------------------------------------------------------------


def read_log_block(block: FailureLogBlock, limit: int = MAX_LOG_BYTES) -> str | None:
    """The text of a gzip+base64 log block, its last ``limit`` bytes at most (from a line
    start when cut); ``None`` when the block cannot be decoded."""
    try:
        raw = base64.b64decode(block.data, validate=False)
    except (binascii.Error, ValueError):
        return None
    inflater = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)  # gzip framing
    tail = bytearray()
    total = 0
    cut = False
    try:
        chunk = inflater.decompress(raw, 256 * 1024)
        while chunk:
            total += len(chunk)
            tail += chunk
            if len(tail) > limit:
                del tail[: len(tail) - limit]
                cut = True
            if total >= MAX_INFLATE:
                break
            chunk = inflater.decompress(inflater.unconsumed_tail, 256 * 1024)
    except zlib.error:
        if total == 0:
            return None
    text = bytes(tail).decode("utf-8", errors="replace")
    if cut:
        newline = text.find("\n")
        text = text[newline + 1 :] if newline >= 0 else ""
    return text


def encode_log_block(text: str, *, like: FailureLogBlock | None = None) -> FailureLogBlock:
    """``text`` as a gzip+base64 block (``original_size``/``lines``/``truncated`` kept from
    ``like``)."""
    data = base64.b64encode(gzip.compress(text.encode(), mtime=0)).decode("ascii")
    if like is None:
        return FailureLogBlock(data=data, original_size=len(text.encode()), lines=None)
    return FailureLogBlock(
        data=data, original_size=like.original_size, lines=like.lines, truncated=like.truncated
    )
