"""Image pulls: ErrImagePull, ImagePullBackOff, InvalidImageName, ErrImageNeverPull."""

from __future__ import annotations

import re

from kubeward.failure_analyzer.analyzers.base import (
    code,
    events_cmd,
    kubectl,
    make,
    message_evidence,
    rollout_checks,
    status_evidence,
)
from kubeward.failure_analyzer.findings import Evidence, Finding
from kubeward.failure_analyzer.report_view import Message, ReportView, Status

PULL_REASONS = frozenset(
    {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull", "InspectFailed"}
)
_PULL_TEXT = re.compile(r"pull(?:ing)? image|image pull|ErrImagePull|ImagePullBackOff", re.I)
_IMAGE_REF = re.compile(r'(?:pull(?:ing)? image|image(?: reference)?|tag) "([^"\s]+)"', re.I)

_RATE = re.compile(r"toomanyrequests|429 Too Many Requests|pull rate limit|rate limit", re.I)
_INVALID = re.compile(
    r"invalid reference format|couldn't parse image (?:name|reference)|invalid image name", re.I
)
_NEVER = re.compile(r"is not present with pull policy of Never", re.I)
_PLATFORM = re.compile(r"no match for platform in manifest|no matching manifest for", re.I)
_AUTH = re.compile(
    r"unauthorized|authentication required|no basic auth credentials|access denied|"
    r"denied:|\b401\b|\b403\b|insufficient_scope|may require authorization|failed to authorize|"
    r"forbidden",
    re.I,
)
_NOT_FOUND = re.compile(
    r"manifest unknown|not found|\b404\b|does not exist|name unknown|NAME_UNKNOWN", re.I
)
_UNREACHABLE = re.compile(
    r"no such host|i/o timeout|dial tcp[^:]*:? [^ ]*|connection refused|context deadline exceeded|"
    r"TLS handshake timeout|x509:|network is unreachable|connection reset|Client\.Timeout",
    re.I,
)


def _pull_status(view: ReportView) -> Status | None:
    for status in (*view.init_statuses, *view.statuses):
        if PULL_REASONS.intersection(status.reasons):
            return status
    return None


def _pull_messages(view: ReportView) -> list[Message]:
    return [m for m in view.messages if m.reason in PULL_REASONS or _PULL_TEXT.search(m.text)]


def _registry(image: str) -> str:
    first = image.split("/", 1)[0]
    if "/" in image and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


def _repository(image: str) -> str:
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return name[: len(name) - len(last)] + last.split(":", 1)[0]


def analyze_image_pull(view: ReportView) -> Finding | None:
    """Why an image cannot be pulled: not found, auth, bad name, rate limit, never, network."""
    status = _pull_status(view)
    messages = _pull_messages(view)
    if status is None and not messages and not PULL_REASONS.intersection(view.reasons):
        return None
    image = ""
    for message in messages:
        match = _IMAGE_REF.search(message.text)
        if match:
            image = match.group(1)
            break
    container = view.container(status.name) if status else None
    if container is None and view.containers:
        for candidate in (*view.init_containers, *view.containers):
            if image and candidate.image == image:
                container = candidate
                break
    image = (
        image
        or (status.image if status and status.image else "")
        or (container.image if container else "")
    )
    cname = container.name if container else (status.name if status else "app")
    reasons = view.reasons

    def first(pattern: re.Pattern[str]) -> Message | None:
        for message in messages:
            if pattern.search(message.text):
                return message
        return None

    found: list[Evidence] = []
    if status is not None:
        found.append(status_evidence(status))

    def cite(message: Message | None) -> None:
        if message is not None:
            found.insert(0, message_evidence(message))

    ref = code(image or "<image>")
    owner = view.owner_label
    checks = (*rollout_checks(view), events_cmd(view))
    registry = _registry(image) if image else "<registry>"

    if hit := first(_RATE):
        cite(hit)
        return make(
            "image-pull.rate-limit",
            f"Registry rate limit while pulling {image}",
            f"The registry {code(registry)} refused to serve {ref}: the pull rate limit was "
            "hit (`toomanyrequests` / HTTP 429). Anonymous Docker Hub pulls are limited per "
            "source IP, and a whole cluster behind NAT shares one limit.",
            (
                "Authenticate the pulls so they count against an account's higher limit:\n"
                f"```bash\nkubectl -n {view.namespace} create secret docker-registry regcred "
                f"--docker-server={registry} --docker-username=<user> --docker-password=<token>\n"
                f"kubectl -n {view.namespace} patch serviceaccount {view.service_account} "
                """-p '{"imagePullSecrets":[{"name":"regcred"}]}'\n```""",
                f"Or mirror the image to your own registry (or a pull-through cache) and "
                f"point {code(owner)} at the copy.",
                "Set `imagePullPolicy: IfNotPresent` so nodes that have the image do not "
                "pull it again.",
            ),
            (kubectl(view, f"get pod {view.pod} -w"), *checks),
            found,
            0.93,
        )
    if "InvalidImageName" in reasons or (hit := first(_INVALID)):
        cite(first(_INVALID) or (messages[0] if messages else None))
        return make(
            "image-pull.invalid-name",
            f"Invalid image reference: {image or '(unknown)'}",
            f"The image reference {ref} of {container.kind if container else 'container'} "
            f"{code(cname)} is not a valid reference, so the kubelet never tries to pull it. "
            "References must be lowercase, `registry/repository:tag` or "
            "`repository@sha256:<digest>`, without spaces, `https://` prefixes or "
            "empty tags.",
            (
                f"Correct the reference:\n```bash\nkubectl -n {view.namespace} set image "
                f"{owner} {cname}=<registry>/<repository>:<tag>\n```",
                "Check templated values (Helm `image.repository`/`image.tag`, kustomize "
                "`images:`) that may have rendered an empty or uppercase part.",
            ),
            (kubectl(view, f"get {owner} -o jsonpath='{{..image}}'"), *checks),
            found,
            0.95,
        )
    if "ErrImageNeverPull" in reasons or (hit := first(_NEVER)):
        cite(first(_NEVER))
        node = view.node_name or "<node>"
        return make(
            "image-pull.never-pull",
            f"Image {image} not on node {node} and imagePullPolicy is Never",
            f"{code(cname)} has `imagePullPolicy: Never`, and the image {ref} is not present "
            f"on node {code(node)}, so the kubelet will not start it.",
            (
                f"Load the image onto the node(s) (`kind load docker-image {image}`, "
                f"`minikube image load {image}`, or `ctr -n k8s.io images import`).",
                f"Or let the kubelet pull it: set `imagePullPolicy: IfNotPresent` on "
                f"{code(cname)} in {code(owner)} and push the image to a registry.",
            ),
            (f"crictl images | grep {_repository(image) or '<image>'}", *checks),
            found,
            0.95,
        )
    if hit := first(_PLATFORM):
        cite(hit)
        return make(
            "image-pull.platform",
            f"Image {image} has no build for the node's platform",
            f"The registry has {ref}, but not for the CPU architecture/OS of node "
            f"{code(view.node_name or '<node>')} (`no match for platform in manifest`).",
            (
                "Build and push a multi-arch image, e.g. `docker buildx build --platform "
                f"linux/amd64,linux/arm64 -t {image} --push .`",
                "Or schedule the pod on matching nodes with a `kubernetes.io/arch` nodeSelector.",
            ),
            (
                f"docker manifest inspect {image}",
                kubectl(view, "get nodes -L kubernetes.io/arch"),
                *checks,
            ),
            found,
            0.93,
        )
    if hit := first(_AUTH):
        cite(hit)
        secrets = view.image_pull_secrets
        secret_note = (
            f"The pod uses imagePullSecrets {', '.join(code(s) for s in secrets)}, but they "
            f"were not accepted by {code(registry)}: wrong registry server, expired token or "
            "a different account."
            if secrets
            else "The pod has no `imagePullSecrets`, and service account "
            f"{code(view.service_account)} provides none that the registry accepted."
        )
        secret = secrets[0] if secrets else "regcred"
        return make(
            "image-pull.auth",
            f"Registry denied pulling {image} (authentication)",
            f"Pulling {ref} from {code(registry)} failed with an authorization error. "
            f"{secret_note} (If the repository name is mistyped, registries answer the same "
            "way: check it exists.)",
            (
                f"Create (or refresh) a pull secret for {registry}:\n```bash\n"
                f"kubectl -n {view.namespace} create secret docker-registry {secret} "
                f"--docker-server={registry} --docker-username=<user> "
                "--docker-password=<token> --dry-run=client -o yaml | kubectl apply -f -\n```",
                f"Reference it from the pod spec of {code(owner)} "
                f"(`spec.template.spec.imagePullSecrets: [{{name: {secret}}}]`) or from its "
                f"service account:\n```bash\nkubectl -n {view.namespace} patch serviceaccount "
                f"""{view.service_account} -p '{{"imagePullSecrets":[{{"name":"{secret}"}}]}}'"""
                "\n```",
                f"Check the repository {code(_repository(image))} exists and the account "
                "can read it.",
            ),
            (
                kubectl(view, f"get secret {secret} -o jsonpath='{{.data.\\.dockerconfigjson}}'")
                + " | base64 -d",
                *checks,
            ),
            found,
            0.92,
        )
    if hit := first(_NOT_FOUND):
        cite(hit)
        return make(
            "image-pull.not-found",
            f"Image not found: {image}",
            f"The registry {code(registry)} has no image {ref} (`manifest unknown` / not "
            f"found): the tag or repository of {container.kind if container else 'container'}"
            f" {code(cname)} is wrong, or the image was never pushed.",
            (
                f"List the tags that exist: `crane ls {_repository(image)}` (or check the "
                "registry UI / CI pipeline that should have pushed it).",
                f"Point the workload at an existing tag:\n```bash\nkubectl -n "
                f"{view.namespace} set image {owner} {cname}={_repository(image)}:<existing-tag>"
                "\n```",
            ),
            (f"docker manifest inspect {image}", *checks),
            found,
            0.95,
        )
    if hit := first(_UNREACHABLE):
        cite(hit)
        return make(
            "image-pull.registry-unreachable",
            f"Cannot reach registry {registry} to pull {image}",
            f"Node {code(view.node_name or '<node>')} could not talk to {code(registry)} while "
            f"pulling {ref} ({code(hit.text[hit.text.find(':') + 1 :].strip()[:120])}): "
            "DNS, firewall/egress, proxy or TLS trust between the node and the registry.",
            (
                f"From the node, test resolution and reachability: `nslookup {registry}`, "
                f"`curl -v https://{registry}/v2/`.",
                "Fix node egress (proxy settings in containerd's environment, firewall, "
                "NAT gateway) or add the registry's CA to the node trust store for x509 "
                "errors.",
                f"Or mirror {image} to a registry the nodes can reach.",
            ),
            (f"crictl pull {image}", *checks),
            found,
            0.85,
        )
    cite(messages[0] if messages else None)
    return make(
        "image-pull.failed",
        f"Image pull failed: {image or cname}",
        f"The kubelet cannot pull {ref} for {code(cname)}; the events do not say why in a "
        "recognisable way.",
        (
            f"Read the full pull error: `{events_cmd(view)}`.",
            f"Try the pull on the node: `crictl pull {image or '<image>'}`.",
            "Check the image reference, registry credentials and node egress.",
        ),
        (f"docker manifest inspect {image or '<image>'}", *checks),
        found,
        0.7,
    )
