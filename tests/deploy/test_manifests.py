"""deploy/kubernetes and deploy/karpenter: schema-valid, wired together, locked down.

Built-in kinds are validated with kubernetes-validate (strict: unknown fields fail)
against the newest Kubernetes it knows; custom resources against the structural schemas
in crd_schemas.py. Then the cross-references a schema cannot see: Services, PDBs and
ServiceMonitors select real pods and ports, workers fit their NodePool, and the Redis
config really starts a redis-server with the queue's durability settings.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import redis

from forescale.controller.actuators import kube_objects as ko
from forescale.controller.settings import KubeSettings
from forescale.core.model import PoolSpec
from forescale.devstack.ports import free_port, wait_port
from forescale.devstack.redis_server import require

from .crd_schemas import CRD_SCHEMAS
from .kustomize_render import key, load_docs, render

ROOT = Path(__file__).resolve().parents[2] / "deploy"
EXAMPLES = ROOT.parent / "examples"
K8S = ROOT / "kubernetes"
OVERLAYS = sorted(p for p in (K8S / "overlays").iterdir() if p.is_dir())
KARPENTER = [d for f in sorted((ROOT / "karpenter").glob("*.yaml")) for d in load_docs(f)]
VERSION = kubernetes_validate.utils.latest_version()
KUBE = KubeSettings()


def everything() -> list[dict[str, Any]]:
    docs = {key(d): d for overlay in OVERLAYS for d in render(overlay)}
    return list(docs.values()) + KARPENTER


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] in kind.split("|")]


def pod_specs(docs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any], dict[str, str]]]:
    """(name, pod spec, pod labels) of every workload."""
    return [
        (d["metadata"]["name"], d["spec"]["template"]["spec"], d["spec"]["template"]["metadata"]["labels"])
        for d in by_kind(docs, "Deployment|StatefulSet")
    ]


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    match = selector.get("matchLabels", selector)
    ok = all(labels.get(k) == v for k, v in match.items() if isinstance(v, str))
    for expr in selector.get("matchExpressions", []):
        ok = ok and (labels.get(expr["key"]) in expr["values"]) == (expr["operator"] == "In")
    return ok


def test_overlays_render_without_duplicates_and_use_every_file() -> None:
    assert {p.name for p in OVERLAYS} == {"in-cluster-redis", "managed-redis", "vllm"}
    seen: set[Path] = set()
    for overlay in OVERLAYS:
        docs = render(overlay, seen)
        keys = [key(d) for d in docs]
        assert len(keys) == len(set(keys)), overlay
        secrets = [d for d in docs if key(d) == ("Secret", "forescale", "forescale-redis")]
        assert len(secrets) == 1, f"{overlay.name}: exactly one Redis URL"
    orphans = {p.resolve() for p in K8S.rglob("*.yaml")} - seen
    assert orphans == set(), "manifests no overlay includes"


@pytest.mark.parametrize("doc", everything(), ids=lambda d: "/".join(key(d)))
def test_schema_valid(doc: dict[str, Any]) -> None:
    schema = CRD_SCHEMAS.get((doc["apiVersion"], doc["kind"]))
    if schema is not None:  # custom resource: structural schema (documented in crd_schemas.py)
        jsonschema.validate(doc, schema)
    else:
        kubernetes_validate.validate(doc, VERSION, strict=True)


def test_a_bad_manifest_is_caught() -> None:
    """The validators have teeth: a misspelt field fails both kinds of check."""
    router = next(d for d in everything() if key(d) == ("Deployment", "forescale", "forescale-router"))
    bad = {**router, "spec": {**router["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, VERSION, strict=True)
    monitor = by_kind(everything(), "ServiceMonitor")[0]
    typo = {**monitor, "spec": {**monitor["spec"], "endpoints": [{"port": "http", "honourLabels": True}]}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(typo, CRD_SCHEMAS[("monitoring.coreos.com/v1", "ServiceMonitor")])


def test_pods_are_locked_down_with_probes_and_resources() -> None:
    for name, spec, _ in pod_specs(everything()):
        pod_sc = spec["securityContext"]
        assert pod_sc["runAsNonRoot"] is True and pod_sc["seccompProfile"]["type"] == "RuntimeDefault", name
        if spec.get("serviceAccountName") != "forescale-controller":
            assert spec["automountServiceAccountToken"] is False, name
        for c in spec["containers"]:
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True, name
            assert sc["capabilities"]["drop"] == ["ALL"], name
            assert {"cpu", "memory"} <= set(c["resources"]["requests"]), name
            assert "memory" in c["resources"]["limits"], name
            assert "livenessProbe" in c and "readinessProbe" in c, name


def test_router_probes_use_the_v2_health_endpoints() -> None:
    [(_, spec, _)] = [p for p in pod_specs(everything()) if p[0] == "forescale-router"]
    c = spec["containers"][0]
    assert c["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert c["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"


def test_workers_match_the_controller_and_their_nodepool() -> None:
    """Each worker Deployment is the one the controller scales (same name, selector and
    placement as kube_objects.worker_deployment), fits its NodePool, and drains in time."""
    pools = {p["metadata"]["name"]: p for p in by_kind(KARPENTER, "NodePool")}
    deployments = [d for d in by_kind(everything(), "Deployment") if d["metadata"]["name"].startswith("fs-")]
    assert {d["spec"]["template"]["metadata"]["labels"][KUBE.pool_label] for d in deployments} == set(pools)
    assert set(pools) == {p["name"] for p in load_docs(EXAMPLES / "pools.yaml")[0]["pools"]}
    for dep in deployments:
        labels = dep["spec"]["template"]["metadata"]["labels"]
        requirements = pools[labels[KUBE.pool_label]]["spec"]["template"]["spec"]["requirements"]
        [cap] = [r["values"][0] for r in requirements if r["key"] == "karpenter.sh/capacity-type"]
        pool = PoolSpec(name=labels[KUBE.pool_label], capacity_type=cap, price_per_node_hour=1, max_nodes=1)
        theirs = ko.worker_deployment(labels[ko.MODEL_LABEL], pool, KUBE)
        assert dep["metadata"]["name"] == theirs["metadata"]["name"]
        assert dep["spec"]["selector"] == theirs["spec"]["selector"]
        assert theirs["metadata"]["labels"].items() <= dep["metadata"]["labels"].items()
        spec, their_spec = dep["spec"]["template"]["spec"], theirs["spec"]["template"]["spec"]
        assert spec["nodeSelector"] == their_spec["nodeSelector"]
        assert all(t in spec["tolerations"] for t in their_spec["tolerations"])
        node = pools[pool.name]["spec"]["template"]
        assert node["metadata"]["labels"][KUBE.pool_label] == pool.name
        assert {t["key"] for t in node["spec"]["taints"]} <= {t["key"] for t in spec["tolerations"]}
        [container] = spec["containers"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        drain = float(env["FORESCALE_WORKER_DRAIN_GRACE_S"])
        assert drain + 10 <= spec["terminationGracePeriodSeconds"] <= 120  # AWS spot notice: 120 s
        assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
        assert spec["priorityClassName"] == "forescale-worker"


def test_selectors_match_pods_and_ports() -> None:
    docs = everything()
    pods = pod_specs(docs)
    for pdb in by_kind(docs, "PodDisruptionBudget"):
        assert any(selects(pdb["spec"]["selector"], labels) for _, _, labels in pods), pdb["metadata"]["name"]
    services = by_kind(docs, "Service")
    for svc in services:
        assert any(selects(svc["spec"]["selector"], labels) for _, _, labels in pods), svc["metadata"]["name"]
    for policy in by_kind(docs, "NetworkPolicy"):
        assert any(selects(policy["spec"]["podSelector"], labels) for _, _, labels in pods)
        peers = [p["podSelector"] for rule in policy["spec"].get("ingress", []) for p in rule.get("from", [])
                 if "podSelector" in p and "namespaceSelector" not in p]  # fmt: skip
        for name, spec, labels in pods:  # whoever is given the Redis URL may reach Redis
            if policy["metadata"]["name"] == "forescale-redis" and any(
                e["name"] == "FORESCALE_REDIS_URL" for c in spec["containers"] for e in c.get("env", [])
            ):
                assert any(selects(peer, labels) for peer in peers), name
    for mon in by_kind(docs, "ServiceMonitor"):
        if mon["metadata"]["namespace"] != "forescale":
            continue  # scrapes a workload you run (overlays/vllm): its Service is not ours
        targets = [s for s in services if selects(mon["spec"]["selector"], s["metadata"]["labels"])]
        assert targets, mon["metadata"]["name"]
        for endpoint in mon["spec"]["endpoints"]:
            assert all(endpoint["port"] in {p["name"] for p in s["spec"]["ports"]} for s in targets)


def test_placeholder_priority_class_is_negative_and_never_preempts() -> None:
    classes = {d["metadata"]["name"]: d for d in by_kind(everything(), "PriorityClass")}
    placeholder = classes["forescale-placeholder"]
    assert placeholder["value"] < 0 < classes["forescale-worker"]["value"]
    # The controller creates it when missing: both definitions must agree.
    assert placeholder["metadata"]["name"] == KUBE.placeholder_priority_class
    assert placeholder["value"] == ko.priority_class(KUBE)["value"]
    assert placeholder["preemptionPolicy"] == "Never" and placeholder["globalDefault"] is False


def test_redis_config_starts_redis_with_queue_durability(tmp_path: Path) -> None:
    [config_map] = [d for d in everything() if key(d) == ("ConfigMap", "forescale", "forescale-redis")]
    conf = config_map["data"]["redis.conf"].replace("dir /data", f"dir {tmp_path}")
    port = free_port()
    (tmp_path / "redis.conf").write_text(conf + f"\nport {port}\nbind 127.0.0.1\n")
    proc = subprocess.Popen(
        [require("redis-server", "redis-server"), str(tmp_path / "redis.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(port)
        client = redis.Redis(port=port)
        got = {k: client.config_get(k)[k] for k in ("appendonly", "appendfsync", "maxmemory-policy")}
        client.close()
    finally:
        proc.terminate()
        proc.wait(10)
    assert got == {"appendonly": "yes", "appendfsync": "everysec", "maxmemory-policy": "noeviction"}
