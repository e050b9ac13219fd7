"""The bus contract: every subject lives in a stream, and the AsyncAPI copy is current."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubeward.schemas import asyncapi, bus


def _matches(pattern: str, subject: str) -> bool:
    p, s = pattern.split("."), subject.split(".")
    for i, token in enumerate(p):
        if token == ">":
            return len(s) > i
        if i >= len(s) or (token != "*" and token != s[i]):
            return False
    return len(p) == len(s)


def test_every_stream_subject_is_captured_by_its_stream() -> None:
    streams = {s.name: s for s in bus.STREAMS}
    for spec in bus.SUBJECTS:
        if spec.stream is None:
            assert not any(_matches(p, spec.subject) for s in bus.STREAMS for p in s.subjects)
            continue
        concrete = spec.subject.replace("<stage>", "x").replace("<type>", "x").replace("*", "x")
        assert any(_matches(p, concrete) for p in streams[spec.stream].subjects), spec.subject


def test_streams_do_not_overlap() -> None:
    patterns = [p for s in bus.STREAMS for p in s.subjects]
    assert len({p.split(".")[1] for p in patterns}) == len(patterns)


def test_public_contract_names() -> None:
    assert bus.COLLECT.subjects == ("kubeward.collect.>",) and bus.COLLECT.public
    assert bus.FEED.subjects == ("kubeward.feed.>",) and bus.FEED.public
    assert bus.COLLECT_POD_TRAFFIC == "kubeward.collect.pod-traffic"
    assert bus.feed_subject("pod_failure") == "kubeward.feed.pod_failure"


def test_published_asyncapi_document_is_current() -> None:
    published = Path(__file__).parents[2] / "docs" / "asyncapi.json"
    assert published.read_text() == asyncapi.render(), "run 'make asyncapi'"


def test_asyncapi_embeds_payload_schemas() -> None:
    doc = asyncapi.build()
    message = doc["components"]["messages"]["kubeward-collect-pod-traffic"]
    assert message["payload"] == {"$ref": "#/components/schemas/PodTrafficEvent"}
    assert "pod_ip" in doc["components"]["schemas"]["PodTrafficEvent"]["properties"]
    assert len(doc["channels"]) == len(bus.SUBJECTS)


def test_every_subject_carries_a_schema_for_each_body() -> None:
    doc = asyncapi.build()
    messages = doc["components"]["messages"]
    for spec in bus.SUBJECTS:
        cid = next(c for c, ch in doc["channels"].items() if ch["address"] == spec.subject)
        assert "payload" in messages[cid], spec.subject
        assert (spec.reply is not None) == (spec.stream is None), spec.subject
        if spec.reply is not None:
            reply = doc["operations"][f"publish-{cid}"]["reply"]["messages"][0]["$ref"]
            assert messages[reply.rsplit("/", 1)[1]]["payload"], spec.subject
    # Every Struct a subject names has its schema in the document.
    schemas = doc["components"]["schemas"]
    assert schemas["FeedEvent"]["required"] == ["type", "data"]
    assert "actor" in schemas["AuditRecord"]["properties"]
    assert schemas["Reply"]["properties"]["status"]["default"] == 200
    assert {"SetStatus", "Dismiss", "DismissFinding", "Preview", "ArkynCommand"} <= set(schemas)
    many = messages["kubeward-collect-pod-spec-array"]["payload"]
    assert many == {"type": "array", "items": {"$ref": "#/components/schemas/PodDetail"}}


def test_a_subject_described_in_text_is_refused() -> None:
    with pytest.raises(TypeError, match="not text"):
        bus.SubjectSpec(
            subject="kubeward.rpc.x",
            stream=None,
            publisher="gateway",
            consumer="x",
            payload="XQuery -> Reply",
            description="x",
        )
