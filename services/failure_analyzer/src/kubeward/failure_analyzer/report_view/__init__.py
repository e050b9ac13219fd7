"""A normalised, read-only view over one failed-pod report, built once for all analyzers.

The Kure agent's manifest is YAML from the Python client's ``to_dict()`` (snake_case keys,
a few converted to camelCase); a manifest pasted from kubectl is camelCase. The view
parses it once, lazily, and rewrites every key to camelCase, so analyzers read one
spelling. Nothing here raises on a malformed report: a manifest that does not parse is
an empty one, a log block that does not decode is skipped.

This package is the analyzers' one import; its modules hold the parts:

- :mod:`.manifest`: the manifest text as one camelCase dict (parsed by
  :mod:`kubeward.core.manifest_yaml`, the fast exact parser security shares);
- :mod:`.accessors`: typed reads of parsed values (``as_dict``, ``as_str``, ...);
- :mod:`.quantities`: CPU and memory quantities as numbers and back;
- :mod:`.containers`: a spec container and a container status;
- :mod:`.log_blocks`: the agent's gzip+base64 log blocks, line capping;
- :mod:`.prose`: short text forms for findings;
- :mod:`.view`: :class:`ReportView` itself.
"""

from kubeward.failure_analyzer.report_view.accessors import as_dict, as_int, as_list, as_str
from kubeward.failure_analyzer.report_view.containers import Container, Status
from kubeward.failure_analyzer.report_view.log_blocks import LogHit, LogSource
from kubeward.failure_analyzer.report_view.prose import clip, human_age
from kubeward.failure_analyzer.report_view.quantities import format_bytes, parse_quantity
from kubeward.failure_analyzer.report_view.view import Message, MessageHit, ReportView

__all__ = [
    "Container",
    "LogHit",
    "LogSource",
    "Message",
    "MessageHit",
    "ReportView",
    "Status",
    "as_dict",
    "as_int",
    "as_list",
    "as_str",
    "clip",
    "format_bytes",
    "human_age",
    "parse_quantity",
]
