"""The deployment files agree with the repository: the GPU image's substitution is exact, the network
policy selects the pods and ports it means, and the Kafka identity matches what the worker does."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from serving.launcher import DEFAULT_MODEL_REPOSITORY
from streams.contracts import ALL_TOPICS, CLICKS, DELETIONS, ITEMS
from streams.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def test_every_model_has_exactly_one_cpu_instance_group_for_the_image_to_turn_into_gpu() -> None:
    configs = sorted(DEFAULT_MODEL_REPOSITORY.glob("*/config.pbtxt"))
    assert {c.parent.name for c in configs} == {"recommender", "summarizer"}
    for config in configs:
        text = re.sub(r"#[^\n]*", "", config.read_text())
        assert len(re.findall(r"kind:\s*KIND_\w+", text)) == 1, config
        assert "kind: KIND_CPU" in text, f"{config}: the local repository runs on the CPU"


def test_the_triton_image_builds_gpu_instance_groups_by_default() -> None:
    dockerfile = (ROOT / "deploy" / "docker" / "triton.Dockerfile").read_text()
    assert re.search(r"^ARG TRITON_INSTANCE_KIND=KIND_GPU$", dockerfile, re.MULTILINE)
    assert "s/kind: KIND_CPU/kind: ${TRITON_INSTANCE_KIND}/" in dockerfile
    assert 'grep -q "kind: ${TRITON_INSTANCE_KIND}"' in dockerfile, "the build must fail if nothing changed"


def test_the_gpu_deployment_asks_for_a_gpu_and_cuda_in_bf16() -> None:
    triton = (ROOT / "deploy" / "k8s" / "triton.yaml").read_text()
    assert "nvidia.com/gpu: 1" in triton
    configmap = (ROOT / "deploy" / "k8s" / "configmap.yaml").read_text()
    assert 'STREAMREC_DEVICE: "auto"' in configmap and 'STREAMREC_PRECISION: "auto"' in configmap


# -- Kafka security and the network policy (deploy/k8s) -------------------------------------

K8S = ROOT / "deploy" / "k8s"
WORKER_LABELS = {"app.kubernetes.io/name": "streamrec-worker"}
TRITON_LABELS = {"app.kubernetes.io/name": "streamrec-triton"}


def manifests(name: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all((K8S / name).read_text()) if doc]


def one(name: str, kind: str) -> dict[str, Any]:
    found = [doc for doc in manifests(name) if doc["kind"] == kind]
    assert len(found) == 1, f"{name}: expected one {kind}"
    return found[0]


def policy_for(labels: dict[str, str]) -> dict[str, Any]:
    found = [p for p in manifests("networkpolicy.yaml") if p["spec"]["podSelector"]["matchLabels"] == labels]
    assert len(found) == 1, f"expected one NetworkPolicy selecting {labels}"
    return found[0]


def allowed(policy: dict[str, Any]) -> list[tuple[dict[str, Any], set[int]]]:
    """(peer, ports) for every peer of every ingress rule."""
    return [
        (peer, {int(port["port"]) for port in rule["ports"]})
        for rule in policy["spec"]["ingress"]
        for peer in rule["from"]
    ]


def is_prometheus(peer: dict[str, Any]) -> bool:
    """A namespace *and* pod selector in one peer (both must match), naming Prometheus."""
    return bool(
        peer.get("namespaceSelector", {}).get("matchLabels")
        and peer.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/name") == "prometheus"
    )


def container_ports(workload: dict[str, Any]) -> dict[str, int]:
    (container,) = workload["spec"]["template"]["spec"]["containers"]
    return {port["name"]: int(port["containerPort"]) for port in container["ports"]}


def test_the_kustomization_applies_the_network_policy_but_not_the_strimzi_objects() -> None:
    resources = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    assert "networkpolicy.yaml" in resources
    assert all((K8S / r).is_file() for r in resources)
    assert "strimzi-kafkauser.yaml" not in resources  # another namespace, applied on its own


def test_the_network_policies_select_the_pods_their_workloads_label() -> None:
    for workload, labels in (
        (one("worker.yaml", "StatefulSet"), WORKER_LABELS),
        (one("triton.yaml", "Deployment"), TRITON_LABELS),
    ):
        assert labels.items() <= workload["spec"]["template"]["metadata"]["labels"].items()
        assert policy_for(labels)["spec"]["policyTypes"] == ["Ingress"]


def test_only_the_worker_reaches_tritons_inference_port() -> None:
    ports = container_ports(one("triton.yaml", "Deployment"))
    rules = allowed(policy_for(TRITON_LABELS))
    worker_rules = [p for peer, p in rules if peer == {"podSelector": {"matchLabels": WORKER_LABELS}}]
    assert worker_rules == [{ports["grpc"]}]
    assert "streamrec-triton:8001" in (K8S / "configmap.yaml").read_text()  # TRITON_URL uses that port
    # Everyone else: Prometheus, and only the metrics port its scrape annotation names.
    others = [(peer, p) for peer, p in rules if peer != {"podSelector": {"matchLabels": WORKER_LABELS}}]
    assert others and all(is_prometheus(peer) and p == {ports["metrics"]} for peer, p in others)
    annotations = one("triton.yaml", "Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert int(annotations["prometheus.io/port"]) == ports["metrics"]


def test_only_prometheus_reaches_the_workers_http_port() -> None:
    worker = one("worker.yaml", "StatefulSet")
    web_port = container_ports(worker)["http"]
    assert web_port == Settings().web_port == 6066
    rules = allowed(policy_for(WORKER_LABELS))
    assert rules and all(is_prometheus(peer) and ports == {web_port} for peer, ports in rules)
    assert int(worker["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"]) == web_port


class _Recorder(dict[str, str]):
    """An empty environment that remembers every variable ``Settings.from_env`` asks for."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        self.asked.add(key)
        return super().get(key, default)


def worker_env() -> dict[str, str]:
    (container,) = one("worker.yaml", "StatefulSet")["spec"]["template"]["spec"]["containers"]
    return {item["name"]: item.get("value", "") for item in container["env"]}


def test_the_workers_kafka_variables_are_ones_settings_reads() -> None:
    recorder = _Recorder()
    Settings.from_env(recorder)
    env = worker_env()
    assert {"KAFKA_SECURITY_PROTOCOL", "KAFKA_SASL_PASSWORD_FILE", "KAFKA_SSL_CA_LOCATION"} <= env.keys()
    assert set(env) <= recorder.asked, f"not read by Settings.from_env: {set(env) - recorder.asked}"


def test_the_workers_kafka_files_come_from_mounted_secrets() -> None:
    """Every *_FILE / *_LOCATION path is an item of a Secret volume mounted at that directory."""
    spec = one("worker.yaml", "StatefulSet")["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    provided = {
        f"{mounts[v['name']]}/{item['path']}"
        for v in spec["volumes"]
        if "secret" in v and v["name"] in mounts
        for item in v["secret"]["items"]
    }
    files = {name: value for name, value in worker_env().items() if name.endswith(("_FILE", "_LOCATION"))}
    assert files and set(files.values()) <= provided, (files, provided)


def test_the_deployed_kafka_settings_validate(tmp_path: Path) -> None:
    """The manifests' values, with the mounted files stood in by temporary ones, pass KafkaSecurity."""
    env = dict(worker_env())
    for name, value in list(env.items()):
        if name.endswith(("_FILE", "_LOCATION")):
            stand_in = tmp_path / Path(value).name
            stand_in.write_text("x\n", encoding="utf-8")
            env[name] = str(stand_in)
    bootstrap = yaml.safe_load((K8S / "configmap.yaml").read_text())["data"]["KAFKA_BOOTSTRAP_SERVERS"]
    security = Settings.from_env({**env, "KAFKA_BOOTSTRAP_SERVERS": bootstrap}).kafka_security
    assert (security.protocol, security.sasl_mechanism, security.ssl_check_hostname) == (
        "SASL_SSL",
        "SCRAM-SHA-512",
        True,
    )
    user = one("strimzi-kafkauser.yaml", "KafkaUser")
    assert security.sasl_username == user["metadata"]["name"]
    assert user["spec"]["authentication"]["type"] == str(security.sasl_mechanism).lower()


def test_the_kafka_user_may_do_what_the_worker_does_and_no_more(tmp_path: Path) -> None:
    """Topics and group from the worker's real wiring (``create_app``), against the ACLs."""
    from streams.app import create_app

    settings = Settings(data_dir=tmp_path)
    app, runtime = create_app(settings)
    runtime.store.close()
    consumed = {topic for agent in app.agents.values() for topic in agent.channel.topics}
    assignor: Any = app._leader_assignor
    leader = assignor._leader_topic_name  # Faust's own topic, which every worker consumes
    acls: dict[tuple[str, str], set[str]] = {}
    for acl in one("strimzi-kafkauser.yaml", "KafkaUser")["spec"]["authorization"]["acls"]:
        resource = acl["resource"]
        assert resource.get("patternType", "literal") == "literal" and "*" not in resource["name"]
        acls[(resource["type"], resource["name"])] = set(acl["operations"])
    assert consumed == {CLICKS, ITEMS, DELETIONS}
    for topic in ALL_TOPICS:
        verb = "Read" if topic in consumed else "Write"
        assert {"Describe", "Create", verb} <= acls[("topic", topic)], topic
    assert {"Describe", "Read", "Create"} <= acls[("topic", leader)]
    assert "Read" in acls[("group", settings.app_id)]
    assert set(acls) == {("topic", t) for t in (*ALL_TOPICS, leader)} | {("group", settings.app_id)}
    assert not any("All" in operations for operations in acls.values())
