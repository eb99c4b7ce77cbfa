"""Structural schemas for the custom resources in deploy/ (kubernetes-validate knows only
built-in kinds). Each is a subset of the CRD's OpenAPI schema, written from the upstream
API reference: required fields, types and enums, and no unknown fields at the levels we
write (a typo such as ``honourLabels`` fails). Versions: Prometheus Operator
monitoring.coreos.com/v1 (ServiceMonitor, PrometheusRule), Karpenter karpenter.sh/v1 and karpenter.k8s.aws/v1.
"""

from __future__ import annotations

from typing import Any

STR = {"type": "string"}
STRS = {"type": "array", "items": STR}
LABELS = {"type": "object", "additionalProperties": STR}
SELECTOR = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "matchLabels": LABELS,
        "matchExpressions": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["key", "operator"],
                "properties": {
                    "key": STR,
                    "operator": {"enum": ["In", "NotIn", "Exists", "DoesNotExist"]},
                    "values": STRS,
                },
            },
        },
    },
}
DURATION = {
    "type": "string",
    "pattern": r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$",
}
RELABEL = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "sourceLabels": STRS, "separator": STR, "targetLabel": STR, "regex": STR,
        "modulus": {"type": "integer"}, "replacement": STR,
        "action": {"enum": ["replace", "keep", "drop", "hashmod", "labelmap", "labeldrop", "labelkeep",
                            "lowercase", "uppercase", "keepequal", "dropequal"]},
    },
}  # fmt: skip
ENDPOINT = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "port": STR, "targetPort": {"type": ["string", "integer"]}, "path": STR,
        "scheme": {"enum": ["http", "https"]}, "interval": DURATION, "scrapeTimeout": DURATION,
        "honorLabels": {"type": "boolean"}, "honorTimestamps": {"type": "boolean"},
        "relabelings": {"type": "array", "items": RELABEL},
        "metricRelabelings": {"type": "array", "items": RELABEL},
        "params": {"type": "object"}, "tlsConfig": {"type": "object"},
        "bearerTokenSecret": {"type": "object"},
    },
}  # fmt: skip
SERVICE_MONITOR = {
    "type": "object",
    "required": ["spec"],
    "properties": {
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["selector", "endpoints"],
            "properties": {
                "selector": SELECTOR,
                "endpoints": {"type": "array", "minItems": 1, "items": ENDPOINT},
                "namespaceSelector": {"type": "object"},
                "jobLabel": STR, "targetLabels": STRS, "podTargetLabels": STRS,
                "sampleLimit": {"type": "integer"},
            },
        }
    },
}  # fmt: skip
REQUIREMENT = {
    "type": "object",
    "additionalProperties": False,
    "required": ["key", "operator"],
    "properties": {
        "key": STR,
        "operator": {"enum": ["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]},
        "values": STRS,
        "minValues": {"type": "integer"},
    },
}
TAINT = {
    "type": "object",
    "additionalProperties": False,
    "required": ["key", "effect"],
    "properties": {
        "key": STR,
        "value": STR,
        "effect": {"enum": ["NoSchedule", "PreferNoSchedule", "NoExecute"]},
    },
}
NODE_POOL = {
    "type": "object",
    "required": ["spec"],
    "properties": {
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["template"],
            "properties": {
                "weight": {"type": "integer", "minimum": 1, "maximum": 100},
                "limits": {"type": "object", "additionalProperties": {"type": ["string", "integer"]}},
                "disruption": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "consolidationPolicy": {"enum": ["WhenEmpty", "WhenEmptyOrUnderutilized"]},
                        "consolidateAfter": {"type": "string", "pattern": r"^(([0-9]+(s|m|h))+|Never)$"},
                        "budgets": {"type": "array", "items": {"type": "object"}},
                    },
                },
                "template": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["spec"],
                    "properties": {
                        "metadata": {
                            "type": "object",
                            "properties": {"labels": LABELS, "annotations": LABELS},
                        },
                        "spec": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["nodeClassRef", "requirements"],
                            "properties": {
                                "nodeClassRef": {
                                    "type": "object",
                                    "additionalProperties": False,
                                    "required": ["group", "kind", "name"],
                                    "properties": {"group": STR, "kind": STR, "name": STR},
                                },
                                "requirements": {"type": "array", "items": REQUIREMENT},
                                "taints": {"type": "array", "items": TAINT},
                                "startupTaints": {"type": "array", "items": TAINT},
                                "expireAfter": {"type": "string", "pattern": r"^(([0-9]+(s|m|h))+|Never)$"},
                                "terminationGracePeriod": STR,
                            },
                        },
                    },
                },
            },
        }
    },
}
TERMS = {"type": "array", "minItems": 1, "items": {"type": "object"}}
EC2_NODE_CLASS = {
    "type": "object",
    "required": ["spec"],
    "properties": {
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["amiSelectorTerms", "subnetSelectorTerms", "securityGroupSelectorTerms"],
            "properties": {
                "role": STR, "instanceProfile": STR, "amiFamily": STR,
                "amiSelectorTerms": TERMS, "subnetSelectorTerms": TERMS, "securityGroupSelectorTerms": TERMS,
                "capacityReservationSelectorTerms": {
                    "type": "array",
                    "items": {
                        "type": "object", "additionalProperties": False,
                        "properties": {"id": {"type": "string", "pattern": "^cr-[0-9a-z]+$"}, "tags": LABELS,
                                       "ownerID": STR},
                    },
                },
                "blockDeviceMappings": {"type": "array", "items": {"type": "object"}},
                "metadataOptions": {"type": "object"}, "kubelet": {"type": "object"}, "userData": STR,
                "tags": LABELS, "detailedMonitoring": {"type": "boolean"},
            },
        }
    },
}  # fmt: skip

RULE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["expr"],
    "oneOf": [{"required": ["record"]}, {"required": ["alert"]}],
    "properties": {
        "record": STR, "alert": STR, "expr": STR, "for": DURATION, "keep_firing_for": DURATION,
        "labels": LABELS, "annotations": LABELS,
    },
}  # fmt: skip
PROMETHEUS_RULE = {
    "type": "object",
    "required": ["spec"],
    "properties": {
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["groups"],
            "properties": {
                "groups": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["name", "rules"],
                        "properties": {
                            "name": STR, "interval": DURATION, "limit": {"type": "integer"},
                            "rules": {"type": "array", "items": RULE},
                        },
                    },
                }
            },
        }
    },
}  # fmt: skip

# (apiVersion, kind) -> schema. A custom kind missing here fails the manifest test.
CRD_SCHEMAS: dict[tuple[str, str], dict[str, Any]] = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): SERVICE_MONITOR,
    ("monitoring.coreos.com/v1", "PrometheusRule"): PROMETHEUS_RULE,
    ("karpenter.sh/v1", "NodePool"): NODE_POOL,
    ("karpenter.k8s.aws/v1", "EC2NodeClass"): EC2_NODE_CLASS,
}
