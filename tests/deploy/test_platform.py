"""What a platform team deploys holds together: pools and NodePools, monitoring labels,
the admin API's exposure, the images the manifests run, the vLLM overlay, and the
commands docs/kubernetes.md tells them to run (every manifest it names builds)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from forescale.core.model import PolicySpec, PoolSpec

from .kustomize_render import load_docs, render

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "kubernetes"
OVERLAYS = sorted(p for p in (K8S / "overlays").iterdir() if p.is_dir())
NODEPOOLS = [
    d for d in load_docs(ROOT / "deploy" / "karpenter" / "nodepools.yaml") if d["kind"] == "NodePool"
]
POOLS = [
    PoolSpec.model_validate(p)
    for p in yaml.safe_load((ROOT / "examples" / "pools.yaml").read_text())["pools"]
]
DOC = (ROOT / "docs" / "kubernetes.md").read_text()
RELEASE = "kube-prometheus-stack"


def _requirement(pool: dict[str, Any], key: str) -> list[str]:
    [values] = [r["values"] for r in pool["spec"]["template"]["spec"]["requirements"] if r["key"] == key]
    return list(values)


def test_every_pool_is_one_nodepool_with_its_zone_capacity_gpus_and_labels() -> None:
    by_name = {p["metadata"]["name"]: p for p in NODEPOOLS}
    assert set(by_name) == {p.name for p in POOLS}
    for pool in POOLS:
        node = by_name[pool.name]
        template = node["spec"]["template"]
        assert template["metadata"]["labels"]["forescale.io/pool"] == pool.name
        assert {"key": "forescale.io/pool", "value": pool.name, "effect": "NoSchedule"} in template["spec"][
            "taints"
        ]
        assert _requirement(node, "karpenter.sh/capacity-type") == [pool.capacity_type]
        assert _requirement(node, "topology.kubernetes.io/zone") == [pool.zone]
        assert _requirement(node, "karpenter.k8s.aws/instance-gpu-count") == [str(pool.gpus_per_node)]
        assert _requirement(node, "karpenter.k8s.aws/instance-gpu-name") == [
            pool.accelerator.removeprefix("nvidia-")
        ]
        assert int(node["spec"]["limits"]["nvidia.com/gpu"]) == pool.max_nodes * pool.gpus_per_node


def test_one_spot_pool_per_zone() -> None:
    spot_zones = [p.zone for p in POOLS if p.capacity_type == "spot"]
    assert len(spot_zones) >= 2 and len(spot_zones) == len(set(spot_zones))


@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda p: p.name)
def test_monitoring_objects_carry_the_release_label(overlay: Path) -> None:
    docs = [d for d in render(overlay) if d["kind"] in ("ServiceMonitor", "PrometheusRule")]
    assert {d["kind"] for d in docs} == {"ServiceMonitor", "PrometheusRule"}
    for d in docs:
        assert d["metadata"]["labels"]["release"] == RELEASE, d["metadata"]["name"]


def _controller(docs: list[dict[str, Any]]) -> dict[str, Any]:
    [dep] = [d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "forescale-controller"]
    [container] = dep["spec"]["template"]["spec"]["containers"]
    return container


@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda p: p.name)
def test_admin_api_is_reachable_through_its_service_and_authenticated(overlay: Path) -> None:
    docs = render(overlay)
    c = _controller(docs)
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["FORESCALE_API_HOST"] == "0.0.0.0" and env["FORESCALE_API_TOKENS_FILE"]
    assert "--api-port" in c["args"] and c["args"][c["args"].index("--api-port") + 1] == "8081"
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "api"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "api"}
    [svc] = [d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] == "forescale-controller"]
    assert {"name": "api", "port": 8081, "targetPort": "api", "protocol": "TCP"} in svc["spec"]["ports"]
    [policy] = [
        d for d in docs if d["kind"] == "NetworkPolicy" and d["metadata"]["name"] == "forescale-controller"
    ]
    assert any({"port": 8081, "protocol": "TCP"} in rule["ports"] for rule in policy["spec"]["ingress"])
    deny = [d for d in docs if d["kind"] == "NetworkPolicy" and d["spec"]["podSelector"] == {}]
    assert deny and "ingress" not in deny[0]["spec"], "ingress is denied by default"


def test_manifests_run_the_images_make_images_builds() -> None:
    makefile = (ROOT / "Makefile").read_text()
    repo = re.search(r"^IMAGE_REPO \?= (\S+)", makefile, re.M)
    assert repo is not None
    pyproject = re.search(r'^version = "(.*)"', (ROOT / "pyproject.toml").read_text(), re.M)
    assert pyproject is not None
    version = pyproject.group(1)
    built = {
        "control": f"{repo.group(1)}/forescale:{version}",
        "worker": f"{repo.group(1)}/forescale-worker:{version}",
    }
    assert "images/control-plane.Dockerfile -t $(IMAGE_REPO)/forescale:$(IMAGE_TAG)" in makefile
    assert "images/worker.Dockerfile -t $(IMAGE_REPO)/forescale-worker:$(IMAGE_TAG)" in makefile
    for overlay in OVERLAYS:
        for d in render(overlay):
            if d["kind"] not in ("Deployment", "StatefulSet") or "redis" in d["metadata"]["name"]:
                continue
            for c in d["spec"]["template"]["spec"]["containers"]:
                want = built["worker"] if c["name"] == "worker" else built["control"]
                assert c["image"] == want, (overlay.name, d["metadata"]["name"])
                # the image's entry point is `forescale`: args start with a subcommand
                assert c["args"][0] in ("controller", "prescaler", "router", "worker")
                for e in c.get("env", []):
                    if e["name"] == "FORESCALE_KUBE_WORKER_IMAGE":
                        assert e["value"] == built["worker"]


def test_vllm_overlay_drives_the_existing_deployment_not_forescales_workers() -> None:
    docs = render(K8S / "overlays" / "vllm")
    names = {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert not any(n.startswith("fs-") or n == "forescale-router" for _, n in names)
    [role] = [d for d in docs if d["kind"] == "Role" and d["metadata"]["namespace"] == "llm"]
    rules = {(g, r, v) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"]
             for v in rule["verbs"]}  # fmt: skip
    assert {("apps", "deployments/scale", "get"), ("apps", "deployments/scale", "update")} <= rules
    assert not any(v in ("create", "delete", "patch") for _, _, v in rules), "never edits the workload"
    assert not any(r == "deployments" and v == "update" for _, r, v in rules)
    [binding] = [d for d in docs if d["kind"] == "RoleBinding" and d["metadata"]["namespace"] == "llm"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "forescale-controller", "namespace": "forescale"}
    ]
    env = {e["name"]: e.get("value") for e in _controller(docs)["env"]}
    assert env["FORESCALE_CONTROLLER_SIGNALS"] == "prometheus"


def test_vllm_policy_example_validates_and_targets_the_overlays_namespace() -> None:
    doc = yaml.safe_load((ROOT / "examples" / "vllm-policy.yaml").read_text())
    [raw] = doc["policies"]
    assert [t["namespace"] for t in raw["targets"]] == ["llm"]
    spec = PolicySpec.model_validate(raw)
    assert [(t.kind, t.name, t.namespace) for t in spec.targets] == [("Deployment", "vllm", "llm")]
    assert {m.preset for m in spec.metrics} == {"vllm"} and {m.namespace for m in spec.metrics} == {"llm"}
    assert "request_rate" in {m.kind for m in spec.metrics}


def test_the_guide_names_only_manifests_that_exist_and_build() -> None:
    applied = re.findall(r"kubectl (?:apply -k|kustomize) (deploy/\S+)", DOC)
    files = re.findall(r"(?:-f |< )((?:deploy|examples)/\S+\.yaml)", DOC)
    assert applied and files
    for path in applied:
        assert render(ROOT / path), path
    for path in files:
        assert load_docs(ROOT / path), path
    for path in set(re.findall(r"`((?:deploy|examples|images|forescale)/[\w./-]+)`", DOC)):
        assert (ROOT / path.rstrip("/")).exists() or "*" in path, path
