"""Static checks of the deployment files: Dockerfile, docker-compose.yml and k8s/.

No Docker engine or Kubernetes cluster is available to the test run, so these tests read
the files and hold them against what they describe: the services' real settings (their
``Settings`` classes), the Kubernetes API's field names (the official client's models), and
the least-privilege and hardening rules the deployment promises.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import re
import shlex
import subprocess
import sys
import threading
from collections.abc import Iterator
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import pytest
import yaml
from kubernetes.client import models as k8s_models

from kubeward.core.settings import BaseSettings, env_names
from kubeward.failure_analyzer.settings import Settings as FailureAnalyzerSettings
from kubeward.gateway.settings import Settings as GatewaySettings
from kubeward.ingest.settings import Settings as IngestSettings
from kubeward.mirror.settings import Settings as MirrorSettings
from kubeward.security.settings import Settings as SecuritySettings
from kubeward.traffic_store.settings import Settings as TrafficStoreSettings

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "k8s"
NAMESPACE = "kubeward"
VERSION = "0.1.0"


class Svc(NamedTuple):
    """One kubeward service as the deployment files know it."""

    name: str
    """Compose service, k8s object and image name; also the ``kubeward-<name>`` dist."""
    package: str
    port: int
    settings: type[BaseSettings]
    kube_api: bool
    """Whether it talks to the Kubernetes API (and so gets a ServiceAccount token)."""

    @property
    def host_var(self) -> str:
        return "HTTP_HOST" if self.name == "gateway" else "HEALTH_HOST"

    @property
    def port_var(self) -> str:
        return "HTTP_PORT" if self.name == "gateway" else "HEALTH_PORT"

    @property
    def image(self) -> str:
        return f"kubeward/{self.name}:{VERSION}"

    @property
    def command(self) -> list[str]:
        return ["python", "-m", f"kubeward.{self.package}"]


SERVICES = (
    Svc("ingest", "ingest", 8081, IngestSettings, kube_api=False),
    Svc("traffic-store", "traffic_store", 8082, TrafficStoreSettings, kube_api=False),
    Svc("failure-analyzer", "failure_analyzer", 8083, FailureAnalyzerSettings, kube_api=False),
    Svc("security", "security", 8084, SecuritySettings, kube_api=False),
    Svc("mirror", "mirror", 8085, MirrorSettings, kube_api=True),
    Svc("gateway", "gateway", 8000, GatewaySettings, kube_api=True),
)
BY_NAME = {svc.name: svc for svc in SERVICES}
INFRA = ("nats", "mongo", "redis")
COMPOSE_NATS = ("nats-0", "nats-1", "nats-2")
COMPOSE_INFRA = (*COMPOSE_NATS, "mongo", "redis")
SHARED_ENV = {
    "NATS_URL": "nats://nats-0.nats:4222,nats://nats-1.nats:4222,nats://nats-2.nats:4222",
    "NATS_STREAM_REPLICAS": "3",
    "MONGODB_URL": (
        "mongodb://mongo-0.mongo:27017,mongo-1.mongo:27017,mongo-2.mongo:27017/?replicaSet=rs0"
    ),
    "MONGODB_DB": "kubeward",
    "REDIS_URL": "redis://redis:6379/0",
}
"""What k8s/ gives every service: the clustered bus (R3) and database (replica set)."""
COMPOSE_ENV = SHARED_ENV | {
    "NATS_URL": "nats://nats-0:4222,nats://nats-1:4222,nats://nats-2:4222",
    "MONGODB_URL": "mongodb://mongo:27017/?replicaSet=rs0",
}
SERVICE_REPLICAS = 2
"""Every service runs twice in k8s/: none holds state only one replica may hold."""
each_service = pytest.mark.parametrize("svc", SERVICES, ids=[svc.name for svc in SERVICES])


# ------------------------------------------------------------------------------ loaders ---


@cache
def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def compose_service(name: str) -> dict[str, Any]:
    service = compose()["services"][name]
    assert isinstance(service, dict)
    return service


@cache
def kustomization() -> dict[str, Any]:
    data = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert isinstance(data, dict)
    return data


@cache
def manifests() -> dict[str, list[dict[str, Any]]]:
    """Every k8s/*.yaml but the kustomization, as its list of documents."""
    out: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(K8S.glob("*.y*ml")):
        if path.name != "kustomization.yaml":
            out[path.name] = [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return out


def objects(kind: str | None = None) -> Iterator[dict[str, Any]]:
    for docs in manifests().values():
        for doc in docs:
            if kind is None or doc["kind"] == kind:
                yield doc


def find(kind: str, name: str) -> dict[str, Any]:
    found = [obj for obj in objects(kind) if obj["metadata"]["name"] == name]
    assert len(found) == 1, f"expected exactly one {kind} {name!r}, found {len(found)}"
    return found[0]


def pod_templates() -> Iterator[tuple[str, dict[str, Any]]]:
    for obj in objects():
        if obj["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
            yield f"{obj['kind']}/{obj['metadata']['name']}", obj["spec"]["template"]
        elif obj["kind"] == "CronJob":
            template = obj["spec"]["jobTemplate"]["spec"]["template"]
            yield f"CronJob/{obj['metadata']['name']}", template


def only_container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    container = containers[0]
    assert isinstance(container, dict)
    return container


def resolve_port(container: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    named = {p["name"]: p["containerPort"] for p in container.get("ports", []) if "name" in p}
    assert port in named, f"port {port!r} is not a named port of {container['name']}"
    return int(named[port])


@cache
def config_map() -> dict[str, str]:
    data = find("ConfigMap", "kubeward-config")["data"]
    assert isinstance(data, dict)
    return data


def container_env(container: dict[str, Any]) -> dict[str, Any]:
    """The container's variables: envFrom ConfigMaps first, then env (which wins)."""
    env: dict[str, Any] = {}
    for source in container.get("envFrom", []):
        assert set(source) == {"configMapRef"}, f"unexpected envFrom source {source}"
        assert source["configMapRef"]["name"] == "kubeward-config"
        env.update(config_map())
    for var in container.get("env", []):
        env[var["name"]] = var.get("value", var.get("valueFrom"))
    return env


# ------------------------------------------------------------------------------ the table ---


@each_service
def test_table_matches_the_services_settings(svc: Svc) -> None:
    settings = svc.settings()
    assert getattr(settings, svc.port_var.lower()) == svc.port
    assert {svc.host_var, svc.port_var} <= set(env_names(svc.settings))
    assert set(SHARED_ENV) <= set(env_names(svc.settings))


# --------------------------------------------------------------------------- Dockerfile ---


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per logical line: continuations joined, comments dropped."""
    logical: list[str] = []
    pending = ""
    for raw in (ROOT / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):  # docker drops comments inside continuations too
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, "Dockerfile ends inside a continued line"
    out = []
    for line in logical:
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    last_from = max(i for i, (word, _) in enumerate(instructions) if word == "FROM")
    return instructions[last_from:]


def substitute(text: str, variables: dict[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        assert name in variables, f"${name} is not defined"
        return variables[name]

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", one, text)


def parse_assignments(text: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in shlex.split(text))


@each_service
def test_dockerfile_builds_and_runs_the_service_named_by_its_args(svc: Svc) -> None:
    build_args = {"SERVICE": svc.name, "PACKAGE": svc.package, "PORT": str(svc.port)}
    instructions = dockerfile_instructions()
    pre_from = {
        name: value
        for word, rest in instructions[: [w for w, _ in instructions].index("FROM")]
        if word == "ARG"
        for name, value in [rest.split("=", 1)]
    }
    bases = {substitute(rest.split()[0], pre_from) for word, rest in instructions if word == "FROM"}
    assert bases == {"python:3.11-slim"}

    runs = [rest for word, rest in instructions if word == "RUN"]
    assert any(re.search(r"\bpip install\b.*\buv\b", run) for run in runs), "uv comes from pip"
    syncs = [run for run in runs if "uv sync" in run]
    assert syncs, "no uv sync"
    for run in syncs:
        assert "--frozen" in run
        assert "--no-dev" in run
        assert '--package "kubeward-${SERVICE}"' in run

    # Resolve the final stage as docker would: ARGs from the build, then ENV.
    stage = final_stage()
    declared = {rest.split("=", 1)[0] for word, rest in stage if word == "ARG"}
    assert {"SERVICE", "PACKAGE", "PORT"} <= declared
    variables = {name: build_args[name] for name in declared if name in build_args}
    variables["PATH"] = "/usr/local/bin:/usr/bin:/bin"
    for word, rest in stage:
        if word == "ENV":
            for key, value in parse_assignments(rest).items():
                variables[key] = substitute(value, variables)
    assert [substitute(rest, variables) for word, rest in stage if word == "EXPOSE"] == [
        str(svc.port)
    ]

    cmd = [substitute(arg, variables) for arg in json.loads(dict(stage)["CMD"])]
    assert cmd[:2] == ["/bin/sh", "-c"]
    assert shlex.split(cmd[2]) == ["exec", *svc.command]


def test_dockerfile_runs_as_a_non_root_user() -> None:
    stage = final_stage()
    users = [rest for word, rest in stage if word == "USER"]
    assert users, "the runtime stage sets no USER"
    user, _, group = users[-1].partition(":")
    assert user not in ("root", "0", "")
    assert group not in ("root", "0")
    assert user.isdigit(), "a numeric USER lets Kubernetes verify runAsNonRoot"
    words = [word for word, _ in stage]
    assert words.index("USER") < words.index("CMD")
    for name, template in pod_templates():
        if name.startswith("Deployment/") and name.split("/")[1] in BY_NAME:
            assert template["spec"]["securityContext"]["runAsUser"] == int(user), name


class _Health(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/health" else 404)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def health_server(status: int) -> Iterator[int]:
    handler = type("Handler", (_Health,), {"status": status})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("package", ["ingest", "gateway"])
def test_dockerfile_healthcheck_asks_health_with_urllib(package: str) -> None:
    checks = [rest for word, rest in final_stage() if word == "HEALTHCHECK"]
    assert len(checks) == 1
    _, _, command = checks[0].partition("CMD")
    argv = json.loads(command.strip())
    assert argv[:2] == ["python", "-c"]
    assert "urllib.request" in argv[2]
    port_var = "HTTP_PORT" if package == "gateway" else "HEALTH_PORT"

    def run(port: int) -> int:
        # The image's environment (KUBEWARD_*) plus the port setting, as compose/k8s set it.
        env = {"KUBEWARD_PACKAGE": package, "KUBEWARD_PORT": "1", port_var: str(port)}
        argv_here = [sys.executable, *argv[1:]]
        return subprocess.run(argv_here, env=env, capture_output=True, timeout=30).returncode

    with health_server(200) as port:
        assert run(port) == 0
    with health_server(503) as port:
        assert run(port) != 0
    with health_server(200) as port:
        pass
    assert run(port) != 0, "nothing listening must be unhealthy"


def dockerignored(path: str) -> bool:
    """Whether .dockerignore keeps ``path`` out of the build context.

    Docker's rules, approximated with fnmatch: a pattern matches the path or one of its
    parent directories, and the last matching pattern wins (``!`` re-includes).
    """
    ignored = False
    for raw in (ROOT / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line.lstrip("!").rstrip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch.fnmatchcase(prefix, pattern) for prefix in prefixes):
            ignored = not negate
    return ignored


def test_dockerignore_sends_what_the_dockerfile_copies_and_nothing_else() -> None:
    copied = [
        source
        for word, rest in dockerfile_instructions()
        if word == "COPY" and not rest.startswith("--from")
        for source in rest.split()[:-1]
    ]
    assert copied
    for source in copied:
        path = ROOT / source
        assert path.exists(), source
        assert not dockerignored(source.rstrip("/")), f"{source} is copied but ignored"
        if path.is_dir():
            needed = [*path.rglob("pyproject.toml"), *path.rglob("src/**/*.py")]
            assert needed, source
            for file in needed:
                relative = file.relative_to(ROOT).as_posix()
                if "__pycache__" not in relative:
                    assert not dockerignored(relative), f"{relative} is needed but ignored"
    for unwanted in (".git", ".venv", ".kubeward", "tests", "k8s", "bench", "Makefile"):
        assert dockerignored(unwanted), f"{unwanted} would be sent to the docker daemon"
    assert dockerignored("services/ingest/tests/test_x.py")
    assert dockerignored("libs/core/src/kubeward/core/__pycache__/x.pyc")
    assert not dockerignored("services/ingest/src/kubeward/ingest/app.py")


# ------------------------------------------------------------------------------ compose ---


def test_compose_names_every_service_and_the_infrastructure() -> None:
    assert set(compose()["services"]) == {*BY_NAME, *COMPOSE_INFRA}


def flag(argv: list[str], name: str) -> str:
    """The value after ``name`` in ``argv``."""
    assert name in argv, f"{name} missing from {argv}"
    return argv[argv.index(name) + 1]


def test_compose_infrastructure() -> None:
    named_volumes = set(compose()["volumes"])
    stores = set()
    for name in COMPOSE_NATS:
        nats = compose_service(name)
        assert nats["image"].startswith("nats:2.10")
        command = nats["command"]
        assert "-js" in command
        assert flag(command, "-sd") == "/data"
        [volume] = nats["volumes"]
        assert volume.split(":")[0] in named_volumes and volume.endswith(":/data")
        stores.add(volume.split(":")[0])
        healthz = " ".join(nats["healthcheck"]["test"])
        assert "8222/healthz" in healthz
        assert "js-enabled-only" not in healthz, "healthy only once the cluster has formed"
        assert flag(command, "-m") == "8222", "healthz needs the monitoring port"
        # A cluster: its own name, one cluster name, routes to every node.
        assert flag(command, "--name") == name
        assert flag(command, "--cluster_name") == "kubeward"
        assert flag(command, "--cluster") == "nats://0.0.0.0:6222"
        routes = flag(command, "--routes").split(",")
        assert routes == [f"nats://{node}:6222" for node in COMPOSE_NATS]
    assert len(stores) == len(COMPOSE_NATS), "each node needs its own store"

    mongo = compose_service("mongo")
    assert mongo["image"] == "mongo:7"
    assert any(v.split(":")[0] in named_volumes for v in mongo["volumes"])
    assert flag(mongo["command"], "--replSet") == "rs0"
    init = mongo["healthcheck"]["test"][-1]
    assert "rs.initiate" in init and "_id: 'rs0'" in init and "host: 'mongo:27017'" in init
    assert "isWritablePrimary" in init, "healthy only once it can take writes"
    assert compose_service("redis")["image"] == "redis:7"
    for name in COMPOSE_INFRA:
        service = compose_service(name)
        assert service["healthcheck"]["test"][0] == "CMD", name
        assert service["restart"] == "unless-stopped", name


@each_service
def test_compose_service(svc: Svc) -> None:
    service = compose_service(svc.name)
    assert service["image"] == svc.image
    build = service["build"]
    assert build["context"] == "."
    assert build.get("dockerfile", "Dockerfile") == "Dockerfile"
    assert build["args"] == {"SERVICE": svc.name, "PACKAGE": svc.package, "PORT": str(svc.port)}
    assert service["command"] == svc.command
    assert service["restart"] == "unless-stopped"
    depends = service["depends_on"]
    for name in COMPOSE_INFRA:
        assert depends[name] == {"condition": "service_healthy"}, name
    assert set(depends) <= set(compose()["services"])
    assert service["read_only"] is True
    assert service["cap_drop"] == ["ALL"]

    env = service["environment"]
    assert isinstance(env, dict), "environment as a mapping, so keys can be checked"
    unknown = set(env) - set(env_names(svc.settings))
    assert not unknown, f"{svc.name} reads no such settings: {sorted(unknown)}"
    for key, value in COMPOSE_ENV.items():
        assert env[key] == value, key
    assert env[svc.host_var] == "0.0.0.0"
    assert env[svc.port_var] == str(svc.port)
    if svc.name == "gateway":
        assert env["SERVICE_TOKEN"].startswith("${SERVICE_TOKEN:-")
        assert service["ports"] == ["8000:8000"]
    else:
        assert "ports" not in service, "only the gateway is published"


def test_compose_images_are_the_k8s_images() -> None:
    for svc in SERVICES:
        image = only_container(find("Deployment", svc.name))["image"]
        assert compose_service(svc.name)["image"] == image == svc.image


# ---------------------------------------------------------------------------------- k8s ---


def test_every_manifest_parses_and_is_listed_in_the_kustomization() -> None:
    kust = kustomization()
    assert kust["kind"] == "Kustomization"
    assert kust["namespace"] == NAMESPACE
    listed = kust["resources"]
    assert len(listed) == len(set(listed))
    assert set(listed) == set(manifests()), "k8s/*.yaml and kustomization resources differ"
    for name, docs in manifests().items():
        assert docs, f"{name} is empty"
        for doc in docs:
            assert {"apiVersion", "kind", "metadata"} <= set(doc), name
            assert doc["metadata"]["name"], name


_PRIMITIVES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "bytes": (str,),
    "datetime": (str,),
    "date": (str,),
}
_MODELS = {
    ("v1", "Namespace"): "V1Namespace",
    ("v1", "ConfigMap"): "V1ConfigMap",
    ("v1", "Secret"): "V1Secret",
    ("v1", "Service"): "V1Service",
    ("v1", "ServiceAccount"): "V1ServiceAccount",
    ("apps/v1", "Deployment"): "V1Deployment",
    ("apps/v1", "StatefulSet"): "V1StatefulSet",
    ("batch/v1", "Job"): "V1Job",
    ("policy/v1", "PodDisruptionBudget"): "V1PodDisruptionBudget",
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): "V1ClusterRole",
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): "V1ClusterRoleBinding",
    ("rbac.authorization.k8s.io/v1", "Role"): "V1Role",
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): "V1RoleBinding",
}


def schema_errors(value: Any, type_name: str, where: str) -> list[str]:
    """Fields unknown to the Kubernetes API, or of the wrong type, per the client models."""
    lowered = type_name.lower()
    if lowered.startswith("list["):
        if not isinstance(value, list):
            return [f"{where}: expected a list"]
        return [
            err
            for i, item in enumerate(value)
            for err in schema_errors(item, type_name[5:-1], f"{where}[{i}]")
        ]
    if lowered.startswith("dict["):
        if not isinstance(value, dict):
            return [f"{where}: expected a mapping"]
        inner = type_name[5:-1].split(",", 1)[1].strip()
        return [
            err
            for key, item in value.items()
            for err in schema_errors(item, inner, f"{where}.{key}")
        ]
    if type_name == "object":
        return []
    if type_name in _PRIMITIVES:
        ok = isinstance(value, _PRIMITIVES[type_name])
        if type_name != "bool" and isinstance(value, bool):
            ok = False
        return [] if ok else [f"{where}: {value!r} is not {type_name}"]
    model = getattr(k8s_models, type_name)
    if not isinstance(value, dict):
        return [f"{where}: expected a {type_name} mapping"]
    fields = {json_name: attr for attr, json_name in model.attribute_map.items()}
    errors = []
    for key, item in value.items():
        if key not in fields:
            errors.append(f"{where}.{key}: not a field of {type_name}")
        else:
            errors += schema_errors(item, model.openapi_types[fields[key]], f"{where}.{key}")
    return errors


def test_manifests_use_only_real_kubernetes_fields() -> None:
    errors = []
    for file, docs in manifests().items():
        for doc in docs:
            model = _MODELS.get((doc["apiVersion"], doc["kind"]))
            assert model, f"{file}: no model for {doc['apiVersion']} {doc['kind']}"
            errors += schema_errors(doc, model, f"{file}:{doc['kind']}/{doc['metadata']['name']}")
    assert not errors, "\n".join(errors)


def test_everything_namespaced_lives_in_the_kubeward_namespace() -> None:
    namespace = find("Namespace", NAMESPACE)
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    cluster_scoped = {"Namespace", "ClusterRole", "ClusterRoleBinding"}
    for obj in objects():
        if obj["kind"] in cluster_scoped:
            assert "namespace" not in obj["metadata"], obj["metadata"]["name"]
        else:
            assert obj["metadata"].get("namespace") == NAMESPACE, obj["metadata"]["name"]


def test_config_map_holds_shared_settings_that_point_at_real_services() -> None:
    data = config_map()
    shared = set.intersection(*(set(env_names(svc.settings)) for svc in SERVICES))
    assert set(data) <= shared, f"not settings of every service: {sorted(set(data) - shared)}"
    assert all(isinstance(value, str) for value in data.values())
    for key, value in SHARED_ENV.items():
        assert data[key] == value, key
    for key in ("NATS_URL", "MONGODB_URL", "REDIS_URL"):
        for host, port in url_hosts(data[key]):
            # A Service's name, or a StatefulSet pod's name under its governing Service.
            pod, _, service_name = host.rpartition(".")
            service = find("Service", service_name)
            assert port in [p["port"] for p in service["spec"]["ports"]], key
            if pod:
                stateful = find("StatefulSet", service_name)
                assert stateful["spec"]["serviceName"] == service_name
                ordinals = [f"{service_name}-{i}" for i in range(stateful["spec"]["replicas"])]
                assert pod in ordinals, f"{key}: no pod {pod}"


def url_hosts(url: str) -> list[tuple[str, int]]:
    """(host, port) of every server a URL names: NATS lists whole URLs separated by commas,
    MongoDB lists hosts in one URL's authority."""
    hosts = []
    for one in url.split(","):
        authority = urlsplit(one).netloc if "://" in one else one.split("/")[0]
        for part in authority.split(","):
            host, _, port = part.partition(":")
            hosts.append((host, int(port)))
    return hosts


def test_every_service_selects_pods_and_targets_their_ports() -> None:
    templates = dict(pod_templates())
    for service in objects("Service"):
        selector = service["spec"]["selector"]
        matches = [
            (name, t)
            for name, t in templates.items()
            if selector.items() <= t["metadata"]["labels"].items()
        ]
        assert len(matches) == 1, f"Service {service['metadata']['name']} selects {matches}"
        containers = matches[0][1]["spec"]["containers"]
        for port in service["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            exposed = {
                (p.get("name"), p["containerPort"]) for c in containers for p in c.get("ports", [])
            }
            assert any(target in pair for pair in exposed), (
                f"Service {service['metadata']['name']} targets no container port {target!r}"
            )


def test_stateful_infrastructure() -> None:
    nats = find("StatefulSet", "nats")
    container = only_container(nats)
    assert container["image"].startswith("nats:2.10")
    args = container["args"]
    assert "-js" in args
    data_dir = args[args.index("-sd") + 1]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    claims = {c["metadata"]["name"] for c in nats["spec"]["volumeClaimTemplates"]}
    assert any(mounts.get(claim) == data_dir for claim in claims), "JetStream store not on a PVC"
    assert find("Service", "nats")["spec"]["clusterIP"] == "None"
    assert nats["spec"]["serviceName"] == "nats"

    mongo = find("StatefulSet", "mongo")
    container = only_container(mongo)
    assert container["image"] == "mongo:7"
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    claims = {c["metadata"]["name"] for c in mongo["spec"]["volumeClaimTemplates"]}
    assert any(mounts.get(claim) == "/data/db" for claim in claims)
    assert "operator" in (K8S / "mongo.yaml").read_text()


def test_nats_is_a_three_node_jetstream_cluster_and_streams_keep_three_copies() -> None:
    nats = find("StatefulSet", "nats")
    replicas = nats["spec"]["replicas"]
    assert replicas == 3
    assert nats["spec"]["podManagementPolicy"] == "Parallel", "a quorum must start together"
    container = only_container(nats)
    args = container["args"]
    env = {var["name"]: var for var in container["env"]}
    assert flag(args, "--name") == "$(POD_NAME)"
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert flag(args, "--cluster_name") == "kubeward"
    cluster_port = urlsplit(flag(args, "--cluster")).port
    assert resolve_port(container, "cluster") == cluster_port
    routes = flag(args, "--routes").split(",")
    assert routes == [f"nats://nats-{i}.nats:{cluster_port}" for i in range(replicas)]
    service = find("Service", "nats")
    assert service["spec"]["publishNotReadyAddresses"] is True, "peers resolve before ready"
    assert cluster_port in [p["port"] for p in service["spec"]["ports"]]
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"

    # Every service connects with every node's URL and asks for one copy per node.
    assert config_map()["NATS_STREAM_REPLICAS"] == str(replicas)
    assert url_hosts(config_map()["NATS_URL"]) == [
        (f"nats-{i}.nats", 4222) for i in range(replicas)
    ]
    budget = find("PodDisruptionBudget", "nats")["spec"]
    assert budget["maxUnavailable"] == 1, "a drain must leave a quorum"
    assert budget["selector"] == nats["spec"]["selector"]


def test_mongo_is_a_replica_set_initiated_by_a_job() -> None:
    mongo = find("StatefulSet", "mongo")
    replicas = mongo["spec"]["replicas"]
    assert replicas == 3
    assert mongo["spec"]["podManagementPolicy"] == "Parallel"
    assert find("Service", "mongo")["spec"]["publishNotReadyAddresses"] is True
    assert flag(only_container(mongo)["args"], "--replSet") == "rs0"
    members = [f"mongo-{i}.mongo:27017" for i in range(replicas)]
    url = config_map()["MONGODB_URL"]
    assert url_hosts(url) == [(m.split(":")[0], 27017) for m in members]
    assert urlsplit(url).query == "replicaSet=rs0"

    job = find("Job", "mongo-init")
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "OnFailure" and job["spec"]["backoffLimit"] >= 5
    assert pod["automountServiceAccountToken"] is False
    command = " ".join(only_container(job)["command"])
    assert 'rs.initiate({_id: "rs0"' in command
    assert "NotYetInitialized" in command, "re-running it on an initiated set must do nothing"
    for i, member in enumerate(members):
        assert f'{{_id: {i}, host: "{member}"}}' in command
    budget = find("PodDisruptionBudget", "mongo")["spec"]
    assert budget["maxUnavailable"] == 1
    assert budget["selector"] == mongo["spec"]["selector"]


@each_service
def test_every_service_runs_two_replicas(svc: Svc) -> None:
    assert find("Deployment", svc.name)["spec"]["replicas"] == SERVICE_REPLICAS
    assert svc.settings().nats_stream_replicas == 1, "a single server (make run) keeps R1"

    assert only_container(find("Deployment", "redis"))["image"] == "redis:7"


@each_service
def test_service_deployment(svc: Svc) -> None:
    deployment = find("Deployment", svc.name)
    pod = deployment["spec"]["template"]["spec"]
    container = only_container(deployment)
    assert container["image"] == svc.image
    assert container["command"] == svc.command
    assert "args" not in container
    assert pod["serviceAccountName"] == svc.name
    assert pod["enableServiceLinks"] is False, "service links could shadow settings"

    env = container_env(container)
    unknown = set(env) - set(env_names(svc.settings))
    assert not unknown, f"{svc.name} reads no such settings: {sorted(unknown)}"
    assert env[svc.port_var] == str(svc.port)
    assert env[svc.host_var] == "0.0.0.0"
    for key, value in SHARED_ENV.items():
        assert env[key] == value, key

    for kind, path in (("readinessProbe", "/health"), ("livenessProbe", "/live")):
        probe = container[kind]["httpGet"]
        assert probe["path"] == path, kind
        assert resolve_port(container, probe["port"]) == svc.port, kind
    if "startupProbe" in container:
        assert resolve_port(container, container["startupProbe"]["httpGet"]["port"]) == svc.port

    resources = container["resources"]
    for bound in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(resources[bound]), bound

    service = find("Service", svc.name)
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert [resolve_port(container, p["targetPort"]) for p in service["spec"]["ports"]] == [
        svc.port
    ]


def test_secrets_go_only_where_they_are_used_and_are_placeholders() -> None:
    secret = find("Secret", "kubeward-service-token")
    assert set(secret["stringData"]) == set(GATEWAY_SECRETS)
    for key in GATEWAY_SECRETS:
        assert "REPLACE" in secret["stringData"][key], key
    header = (K8S / "secret.yaml").read_text().split("apiVersion")[0]
    assert "PLACEHOLDER" in header and "REPLACE" in header, "say loudly that it is not a secret"
    for svc in SERVICES:
        env = container_env(only_container(find("Deployment", svc.name)))
        for key in GATEWAY_SECRETS:
            if key in SECRETS_USED_BY.get(svc.name, ()):
                ref = env[key]["secretKeyRef"]
                assert ref == {"name": "kubeward-service-token", "key": key}
            else:
                assert key not in env, svc.name
    for obj in objects():
        if obj["kind"] == "Secret":
            assert obj["metadata"]["name"] == "kubeward-service-token", "an unexpected Secret"


GATEWAY_SECRETS = ("SERVICE_TOKEN", "SESSION_SECRET", "SETTINGS_SECRET")
SECRETS_USED_BY = {
    "gateway": GATEWAY_SECRETS,
    "failure-analyzer": ("SETTINGS_SECRET",),
    "security": ("SETTINGS_SECRET",),
    "mirror": ("SETTINGS_SECRET",),
}

HARDENED = {
    "runAsNonRoot": True,
    "readOnlyRootFilesystem": True,
    "allowPrivilegeEscalation": False,
}


def test_every_container_is_hardened() -> None:
    templates = list(pod_templates())
    assert {name.split("/")[1] for name, _ in templates} >= {*BY_NAME, *INFRA}
    for name, template in templates:
        pod = template["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert "hostNetwork" not in pod and "hostPID" not in pod, name
        for container in pod["containers"] + pod.get("initContainers", []):
            where = f"{name}/{container['name']}"
            context = container["securityContext"]
            for key, value in HARDENED.items():
                assert context.get(key) is value, f"{where}: {key}"
            assert context.get("privileged", False) is False, where
            assert context["capabilities"]["drop"] == ["ALL"], where
            assert "add" not in context["capabilities"], where
            assert context["seccompProfile"] == {"type": "RuntimeDefault"}, where
            assert context["runAsUser"] != 0, where


# --------------------------------------------------------------------------------- RBAC ---

READ_VERBS = {"get", "list", "watch"}
GATEWAY_READS = {
    ("", "pods"),
    ("", "pods/log"),
    ("", "events"),
    ("", "namespaces"),
    ("", "services"),
    ("", "configmaps"),
    ("", "persistentvolumeclaims"),
    ("", "serviceaccounts"),
    ("apps", "deployments"),
    ("apps", "replicasets"),
    ("apps", "statefulsets"),
    ("apps", "daemonsets"),
    ("batch", "jobs"),
    ("batch", "cronjobs"),
    ("networking.k8s.io", "ingresses"),
    ("networking.k8s.io", "networkpolicies"),
    ("rbac.authorization.k8s.io", "roles"),
    ("rbac.authorization.k8s.io", "rolebindings"),
    ("rbac.authorization.k8s.io", "clusterroles"),
    ("rbac.authorization.k8s.io", "clusterrolebindings"),
}


def bound_rules(service_account: str) -> list[dict[str, Any]]:
    """Every rule granted to the ServiceAccount through the manifests' bindings."""
    rules: list[dict[str, Any]] = []
    for binding in [*objects("ClusterRoleBinding"), *objects("RoleBinding")]:
        subjects = binding["subjects"]
        if any(
            s["kind"] == "ServiceAccount"
            and s["name"] == service_account
            and s["namespace"] == NAMESPACE
            for s in subjects
        ):
            ref = binding["roleRef"]
            rules += find(ref["kind"], ref["name"])["rules"]
    return rules


def test_bindings_only_reference_roles_defined_here_and_only_grant_gateway_and_mirror() -> None:
    bindings = [*objects("ClusterRoleBinding"), *objects("RoleBinding")]
    assert bindings
    for binding in bindings:
        ref = binding["roleRef"]
        find(ref["kind"], ref["name"])  # not cluster-admin, edit, view, ...
        for subject in binding["subjects"]:
            assert subject["kind"] == "ServiceAccount", binding["metadata"]["name"]
            assert subject["namespace"] == NAMESPACE
            assert subject["name"] in ("gateway", "mirror"), binding["metadata"]["name"]


def test_gateway_reads_the_cluster_and_nothing_else() -> None:
    rules = bound_rules("gateway")
    assert rules
    granted = set()
    for rule in rules:
        assert "nonResourceURLs" not in rule
        assert "resourceNames" not in rule
        verbs, resources, groups = set(rule["verbs"]), set(rule["resources"]), rule["apiGroups"]
        assert verbs <= READ_VERBS, f"gateway may {sorted(verbs - READ_VERBS)}"
        assert "*" not in verbs | resources | set(groups)
        assert not any(r == "secrets" or r.startswith("secrets/") for r in resources)
        granted |= {(group, resource) for group in groups for resource in resources}
        assert verbs == READ_VERBS
    assert granted == GATEWAY_READS


def test_mirror_touches_pods_and_nothing_else() -> None:
    rules = bound_rules("mirror")
    assert rules
    verbs: dict[str, set[str]] = {}
    for rule in rules:
        assert rule["apiGroups"] == [""]
        assert "resourceNames" not in rule and "nonResourceURLs" not in rule
        for resource in rule["resources"]:
            assert resource in ("pods", "pods/log", "events"), f"mirror may touch {resource}"
            assert "*" not in resource and "secrets" not in resource
            assert "*" not in rule["verbs"]
            verbs.setdefault(resource, set()).update(rule["verbs"])
    assert verbs == {
        "pods": {"create", "get", "list", "watch", "delete"},
        "pods/log": {"get"},
        "events": {"get", "list"},
    }
    text = (K8S / "rbac-mirror.yaml").read_text()
    # RBAC cannot restrict by label: the manifest says so and that the service enforces it.
    assert "kubeward.io/mirror=true" in text and "cannot restrict a verb by label" in text


@each_service
def test_service_account_token_only_where_the_kubernetes_api_is_used(svc: Svc) -> None:
    account = find("ServiceAccount", svc.name)
    pod = find("Deployment", svc.name)["spec"]["template"]["spec"]
    assert account["automountServiceAccountToken"] is svc.kube_api
    assert pod["automountServiceAccountToken"] is svc.kube_api
    assert bool(bound_rules(svc.name)) is svc.kube_api


def test_infrastructure_pods_mount_no_token() -> None:
    for name, template in pod_templates():
        if name.split("/")[1] in INFRA:
            assert template["spec"]["automountServiceAccountToken"] is False, name
            assert "serviceAccountName" not in template["spec"], name
