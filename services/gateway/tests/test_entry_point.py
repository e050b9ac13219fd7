"""``python -m kubeward.gateway``: what the process adds to the app it serves."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest
import uvicorn

from kubeward.core import heap
from kubeward.gateway import __main__ as entry


def test_the_process_settles_its_heap_once_started(monkeypatch: pytest.MonkeyPatch) -> None:
    served: list[Any] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **_options: served.append(app))
    monkeypatch.setattr(entry, "configure_logging", lambda *_args: None)
    monkeypatch.setenv("GC_YOUNG_THRESHOLD", "1234")
    entry.main()
    (app,) = served
    settles = [h for h in app.on_startup if isinstance(h, partial) and h.func is heap.settle]
    assert [h.args for h in settles] == [(1234,)]
