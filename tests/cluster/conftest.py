"""The cluster tests' fixtures: the session's 3-shard cluster (tests/conftest.py) and the
fake Kubernetes API server the controller's tests use."""

from __future__ import annotations

from tests.fakekube.conftest import fake_kube, kube_api

__all__ = ["fake_kube", "kube_api"]
