"""arkyn collector logs in ingest (units): what ``@arkyn/server``'s ``logRequest`` sends.

Pins npm ``@arkyn/server`` 3.0.1-beta.139 ``dist/http/api/_logRequest.js`` (lowercase method
and protocol, headers/bodies as ``JSON.stringify`` texts, ``trafficUserId: null``) and the
checks of ``Lucas-Eduardo-Goncalves/arkyn-ingest`` ``src/infra/schemas/internal/ingestLog.ts``
@ 33d5d63f7a6d7ed4a8c72871a5027d51b928bb69, applied liberally.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from kubeward.ingest.http_log import decode, digest

LOG: dict[str, Any] = {
    "domainUrl": "http://127.0.0.1:3000",
    "pathnameUrl": "/users/:id",
    "trafficSourceId": "0197548f-0e8e-7550-b283-f26fd98a9423",
    "status": 204,
    "protocol": "http",
    "method": "delete",
    "trafficUserId": None,
    "elapsedTime": 0.412,
    "requestHeaders": '{"Content-Type":"application/json"}',
    "requestBody": "null",
    "queryParams": '{"id":"7"}',
    "responseHeaders": "{}",
    "responseBody": "null",
}


def body(**changes: Any) -> bytes:
    return json.dumps(LOG | changes, separators=(",", ":")).encode()


def test_the_librarys_body_is_accepted_and_normalised() -> None:
    log = decode(body())
    assert (log.method, log.protocol) == ("DELETE", "http")
    assert log.elapsed_time == 0.412
    assert log.request_body == "null"
    assert log.query_params == '{"id":"7"}'


def test_methods_and_protocols_beyond_arkyns_enums_are_accepted() -> None:
    assert decode(body(method="options")).method == "OPTIONS"
    assert decode(body(protocol="HTTPS")).protocol == "https"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"domainUrl": "not a url"}, "domainUrl"),
        ({"pathnameUrl": "users"}, "pathnameUrl"),
        ({"protocol": "ftp"}, "protocol"),
        ({"method": "fetch"}, "method"),
        ({"status": "200"}, "status"),
        ({"elapsedTime": -1}, "elapsedTime"),
        ({"trafficSourceId": "a b"}, "trafficSourceId"),
    ],
)
def test_each_invalid_field_is_named(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=rf"^{field}: "):
        decode(body(**changes))


def test_the_digest_is_the_same_for_the_same_bytes_only() -> None:
    assert digest(body()) == digest(body())
    assert digest(body()) != digest(body(elapsedTime=0.413))
