"""Secret redaction: each kind of secret is scrubbed, ordinary text is left alone."""

from __future__ import annotations

import base64
import gzip
import time
from pathlib import Path

import msgspec
import pytest
import yaml

from kubeward.failure_analyzer.redaction import (
    REDACTED,
    Redactor,
    encode_log_block,
    read_log_block,
)
from kubeward.schemas.pod_failures import (
    ContainerStatus,
    FailureLogBlock,
    FailureLogEntry,
    FailureLogs,
    PodEvent,
    PodFailureReport,
)

PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "MIIEpAIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n"
    "VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK\n"
    "-----END RSA PRIVATE KEY-----"
)
PEM_BODY = "MIIEpAIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun"

TRIGGERS = [
    # (text, the secret that must go, what must stay)
    ("Authorization: Bearer abcDEF123456.opaque-tok", "abcDEF123456.opaque-tok", "Bearer"),
    ('{"authorization": "Basic dXNlcjpwYXNzd29yZA=="}', "dXNlcjpwYXNzd29yZA==", "Basic"),
    ("calling api with bearer 9f8e7d6c5b4a39281706", "9f8e7d6c5b4a39281706", "bearer"),
    (
        "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9 used",
        "eyJhbGciOiJIUzI1NiJ9",
        "used",
    ),
    ("aws key AKIAIOSFODNN7EXAMPLE loaded", "AKIAIOSFODNN7EXAMPLE", "aws key"),
    ("session ASIAY34FZKBOKMUTVV7A", "ASIAY34FZKBOKMUTVV7A", "session"),
    (
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "aws_secret_access_key",
    ),
    ("clone with ghp_1234567890abcdefghijABCDEFGHIJ123456", "ghp_1234567890abcdefghij", "clone"),
    ("gh github_pat_11ABCDEFG0123456789_abcdefghijklmnop", "github_pat_11ABCDEFG", "gh"),
    ("slack xoxb-1234567890-abcdefghij", "xoxb-1234567890", "slack"),
    ("OPENAI_KEY sk-proj-abcdefghijklmnopqrstuvwxyz0123456789", "sk-proj-abcdefg", "OPENAI"),
    ("key sk-ant-api03-abcdefghijklmnopqrstuvwx0123-xyz", "sk-ant-api03", "key"),
    ("maps AIzaSyA1234567890abcdefghijklmnopqrstuv", "AIzaSyA1234567890", "maps"),
    (f"loaded key\n{PEM}\nstarting", PEM_BODY, "starting"),
    ('{"key": "' + PEM.replace("\n", "\\n") + '"}', PEM_BODY, "END RSA PRIVATE KEY"),
    (
        "-----BEGIN PRIVATE KEY-----\n" + PEM_BODY + "\nabc\n2024-01-01 ERROR cut short",
        PEM_BODY,
        "2024-01-01 ERROR cut short",
    ),
    ("tail of a key whose BEGIN was cut off\n" + PEM_BODY + "\nnext", PEM_BODY, "next"),
    ("login password=hunter2 failed", "hunter2", "password="),
    ("passwd: s3cretpw", "s3cretpw", "passwd:"),
    ("PGPASSWORD=pgpass99 psql", "pgpass99", "PGPASSWORD="),
    ("pwd=abc123;", "abc123", "pwd="),
    ("secret=xyz987", "xyz987", "secret="),
    ("GET /hook?token=t0k3nvalue&x=1", "t0k3nvalue", "&x=1"),
    ("api_key=k1k2k3k4 apikey: zzyyxx99", "k1k2k3k4", "api_key="),
    ("apikey: zzyyxx99", "zzyyxx99", "apikey:"),
    ("client_secret=cs-ABC-123", "cs-ABC-123", "client_secret="),
    ('{"password": "p@ss word", "user": "app"}', "p@ss word", '"user": "app"'),
    ('{"db_password":"xq9-pass"}', "xq9-pass", "db_password"),
    ("env:\n  DB_PASSWORD: 'root pw'\n", "root pw", "DB_PASSWORD"),
    ("dbPassword: camelCase9", "camelCase9", "dbPassword"),
    ("MYSQL_ROOT_PASSWORD=rootpw\nHOME=/root", "rootpw", "HOME=/root"),
    ("token: 9f2c81d7e3a4b5c6", "9f2c81d7e3a4b5c6", "token:"),
    (
        "dial postgres://app:Sup3rS3cretPw@db.prod.svc:5432/app failed",
        "Sup3rS3cretPw",
        "postgres://app:[REDACTED]@db.prod.svc:5432/app failed",
    ),
    ("redis://:pw123456@redis:6379/0", "pw123456", "@redis:6379/0"),
    (
        "Server=db;Database=app;User Id=sa;Password=P@ss w0rd;Encrypt=true",
        "P@ss w0rd",
        "User Id=sa;Password=[REDACTED];Encrypt=true",
    ),
    (
        "DefaultEndpointsProtocol=https;AccountName=acme;AccountKey=abc+def/ghi==;",
        "abc+def/ghi==",
        "AccountName=acme",
    ),
    ("post to https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXX", "XXXXXXXXXXXX", "hooks"),
]


@pytest.mark.parametrize(("text", "secret", "kept"), TRIGGERS)
def test_each_kind_of_secret_is_redacted(text: str, secret: str, kept: str) -> None:
    out = Redactor().text(text)
    assert secret not in out
    assert REDACTED in out
    assert kept in out
    assert Redactor().text(out) == out  # a second pass changes nothing


ORDINARY = [
    "tokenizer: loaded 32000 tokens from vocab.json",
    "max_tokens=2048 token_count=12 tokens: 30",
    "error validating token: signature is invalid",
    "token: expired",
    "the bearer of bad news; Bearer authentication failed; WWW-Authenticate: Bearer realm=x",
    "secretName: db-creds",
    "secretKeyRef:\n  key: password\n  name: db-creds",
    "volumes:\n- name: creds\n  secret:\n    secret_name: db-creds",
    'MountVolume.SetUp failed for volume "creds" : secret "db-creds" not found',
    "Error: couldn't find key password in Secret default/db-creds",
    'FATAL:  password authentication failed for user "app"',
    "Back-off restarting failed container api in pod password-reset-7d9f8-abc12_default",
    "container token-service exited with exit code 137 (OOMKilled)",
    "image: ghcr.io/acme/token-service:v1.2.3@sha256:"
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "task-runner sk-worker-7d9f8b6c5-x2x4k is ready",
    "AKIA is a prefix; ghp_short; xoxb-1; AIza-not-a-key",
    "visit https://ghcr.io/acme/api and http://user@host:8080/path",
    "bypass=true passwords: 3 rotated, passwordless: true",
    "Readiness probe failed: HTTP probe failed with statuscode: 503",
    "0/3 nodes are available: 3 Insufficient memory. preemption: 0/3 nodes are available",
]


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert Redactor().text(text) == text


def _manifest(camel: bool) -> str:
    init = "initContainers" if camel else "init_containers"
    value_from = "valueFrom" if camel else "value_from"
    key_ref = "secretKeyRef" if camel else "secret_key_ref"
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "orders-api-7f9c6d5b8-x2x4k",
            "namespace": "shop",
            "annotations": {
                "vault.hashicorp.com/agent-inject": "true",
                "vault.hashicorp.com/agent-inject-secret-db": "database/creds/orders",
                "example.com/api-token": "anno-token-4455667788",
                "prometheus.io/port": "9090",
            },
        },
        "spec": {
            init: [
                {
                    "name": "migrate",
                    "image": "ghcr.io/acme/migrate:1.4",
                    "env": [{"name": "MIGRATE_DSN", "value": "init-secret-dsn-998877"}],
                }
            ],
            "containers": [
                {
                    "name": "api",
                    "image": "ghcr.io/acme/orders-api:2.3.1",
                    "args": ["--port", "8080", "--db-password", "argpass-5566"],
                    "env": [
                        {"name": "DATABASE_URL", "value": "postgres://app:Pw0rd-777@db:5432/o"},
                        {"name": "API_KEY", "value": "k3y-9f8e7d6c5b4a3210"},
                        {"name": "LOG_LEVEL", "value": "info"},
                        {"name": "REGION", "value": "eu-west"},
                        {"name": "FROM_SECRET", value_from: {key_ref: {"name": "s", "key": "k"}}},
                    ],
                }
            ],
        },
    }
    return yaml.safe_dump(pod)


@pytest.mark.parametrize("camel", [True, False], ids=["camelCase", "snake_case"])
def test_manifest_env_values_and_secret_annotations(camel: bool) -> None:
    report = PodFailureReport(pod_name="orders-api-7f9c6d5b8-x2x4k", manifest=_manifest(camel))
    redactor = Redactor.from_report(report)
    out = redactor.report(report).manifest
    assert out is not None
    tree = yaml.safe_load(out)
    init = tree["spec"]["initContainers" if camel else "init_containers"][0]
    assert init["env"] == [{"name": "MIGRATE_DSN", "value": REDACTED}]
    env = tree["spec"]["containers"][0]["env"]
    assert [e["name"] for e in env] == [
        "DATABASE_URL",
        "API_KEY",
        "LOG_LEVEL",
        "REGION",
        "FROM_SECRET",
    ]
    assert [e.get("value") for e in env[:4]] == [REDACTED] * 4
    assert "k" in str(env[4])  # a secretKeyRef names no secret value: kept
    assert tree["spec"]["containers"][0]["args"] == ["--port", "8080", "--db-password", REDACTED]
    notes = tree["metadata"]["annotations"]
    assert notes["vault.hashicorp.com/agent-inject-secret-db"] == REDACTED
    assert notes["example.com/api-token"] == REDACTED
    assert notes["vault.hashicorp.com/agent-inject"] == "true"
    assert notes["prometheus.io/port"] == "9090"
    assert tree["metadata"]["name"] == "orders-api-7f9c6d5b8-x2x4k"
    assert tree["spec"]["containers"][0]["image"] == "ghcr.io/acme/orders-api:2.3.1"
    for secret in ("init-secret-dsn-998877", "Pw0rd-777", "k3y-9f8e", "argpass-5566", "anno-tok"):
        assert secret not in out


def _gz(text: str) -> FailureLogBlock:
    return FailureLogBlock(data=base64.b64encode(gzip.compress(text.encode())).decode())


def test_env_values_are_scrubbed_from_logs_events_and_messages() -> None:
    report = PodFailureReport(
        pod_name="orders-api-7f9c6d5b8-x2x4k",
        namespace="shop",
        failure_message="init failed: dsn init-secret-dsn-998877 rejected",
        manifest=_manifest(camel=True),
        logs="connecting with k3y-9f8e7d6c5b4a3210 ... password Pw0rd-777 rejected\nregion eu-west",
        events=[PodEvent(type="Warning", reason="Failed", message="bad key k3y-9f8e7d6c5b4a3210")],
        container_statuses=[
            ContainerStatus(name="api", message="dsn=postgres://app:Pw0rd-777@db:5432/o")
        ],
        failure_logs=FailureLogs(
            containers={"api": FailureLogEntry(previous=_gz("boot\nkey=k3y-9f8e7d6c5b4a3210\n"))}
        ),
    )
    redactor = Redactor.from_report(report)
    out = redactor.report(report)
    assert out.failure_message == f"init failed: dsn {REDACTED} rejected"
    assert (
        out.logs
        == f"connecting with {REDACTED} ... password {REDACTED} rejected\nregion {REDACTED}"
    )
    assert out.events is not None
    assert out.events[0].message == f"bad key {REDACTED}"
    assert out.container_statuses is not None
    assert "Pw0rd-777" not in (out.container_statuses[0].message or "")
    assert out.failure_logs is not None
    previous = out.failure_logs.containers["api"].previous
    assert previous is not None
    assert read_log_block(previous) == f"boot\nkey={REDACTED}\n"
    # the original report is untouched
    assert report.logs is not None and "k3y-9f8e7d6c5b4a3210" in report.logs


def test_values_that_cannot_be_secrets_are_not_hunted_outside_the_manifest() -> None:
    manifest = yaml.safe_dump(
        {
            "spec": {
                "containers": [
                    {
                        "name": "api",
                        "env": [
                            {"name": "PORT", "value": "5432"},
                            {"name": "DEBUG", "value": "true"},
                            {"name": "NS", "value": "shop"},
                            {"name": "X", "value": "abc"},
                        ],
                    }
                ]
            }
        }
    )
    report = PodFailureReport(pod_name="api-1", namespace="shop", manifest=manifest)
    redactor = Redactor.from_report(report)
    assert redactor.values == frozenset()
    text = "connect to db:5432 refused (debug=true) in namespace shop, abc"
    assert redactor.text(text) == text
    assert "5432" not in (redactor.report(report).manifest or "")


def test_short_values_match_whole_words_only() -> None:
    redactor = Redactor(["s3cr", "a-very-long-secret"])
    assert redactor.text("s3cr s3cret xs3cr") == f"{REDACTED} s3cret xs3cr"
    assert redactor.text("pfx-a-very-long-secret-sfx") == f"pfx-{REDACTED}-sfx"


@pytest.mark.parametrize(
    "manifest",
    [
        "{{{ not: yaml ::: [",
        "- just\n- a list\n",
        "'a string'",
        "[" * 5000,
        "a: &x [*x]",
        "apiVersion: v1\nspec:\n  containers:\n  - name: a\n    env:\n    - name: K\n"
        "      value: plain-secret-1234\n\t bad indent: [",
    ],
    ids=["garbage", "list", "scalar", "deep", "alias", "broken-yaml"],
)
def test_a_garbage_manifest_does_not_raise(manifest: str) -> None:
    report = PodFailureReport(pod_name="p", manifest=manifest, logs="x plain-secret-1234 y")
    redactor = Redactor.from_report(report)
    out = redactor.report(report)
    assert out.manifest is not None
    assert "plain-secret-1234" not in out.manifest
    if "plain-secret-1234" in manifest:  # the value is learnt even from broken YAML
        assert out.logs == f"x {REDACTED} y"


def test_unreadable_failure_logs_are_dropped_not_passed_on() -> None:
    report = PodFailureReport(
        pod_name="p",
        failure_logs=FailureLogs(
            containers={"a": FailureLogEntry(previous=FailureLogBlock(data="!!not base64 gzip"))}
        ),
    )
    out = Redactor.from_report(report).report(report)
    assert out.failure_logs is not None
    assert out.failure_logs.containers["a"].previous is None


def test_log_blocks_keep_their_tail_and_survive_a_round_trip() -> None:
    text = "".join(f"line {i}\n" for i in range(10_000))
    block = encode_log_block(text)
    assert read_log_block(block) == text
    tail = read_log_block(block, limit=100)
    assert tail is not None
    assert tail.endswith("line 9999\n")
    assert tail.startswith("line ")  # cut at a line start
    assert len(tail) <= 100


def test_large_input_is_bounded_and_fast() -> None:
    line = "2024-01-01T00:00:00Z INFO request id=42 path=/api/v1/orders status=200 token_count=12\n"
    text = line * 40_000 + "password=tail-secret-99\n"  # ~3.5 MB
    redactor = Redactor(["s3cr3t-value-1", "abcd"])
    started = time.perf_counter()
    out = redactor.text(text)
    elapsed = time.perf_counter() - started
    assert "tail-secret-99" not in out
    assert out.endswith(f"password={REDACTED}\n")
    assert len(out) <= 1024 * 1024 + 100
    assert elapsed < 5  # linear, a fraction of a second on a development machine


@pytest.mark.parametrize("camel", [False, True])
def test_the_log_redactor_knows_the_same_secrets_as_the_report_redactor(camel: bool) -> None:
    samples = [PodFailureReport(pod_name="api-1", namespace="shop", manifest=_manifest(camel))]
    reports = Path(__file__).parent / "reports"
    samples += [
        msgspec.json.decode(path.read_bytes(), type=PodFailureReport)
        for path in sorted(reports.glob("*.json"))
    ]
    for garbage in (
        "env: [unclosed",
        "[" * 5000,
        "a: &x [*x]",
        "spec:\n  containers:\n  - name: a\n    env:\n    - name: K\n"
        "      value: plain-secret-1234\n\t bad indent: [",
    ):
        samples.append(PodFailureReport(pod_name="x", namespace="y", manifest=garbage))
    for report in samples:
        assert Redactor.for_text(report).values == Redactor.from_report(report).values
    assert Redactor.for_text(samples[0]).values  # the sample manifest has secrets
