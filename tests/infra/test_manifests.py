"""The infra files parse, and the dashboard only queries series the API really exposes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from tests.helpers import REPO

INFRA = REPO / "infra"


def test_every_yaml_manifest_parses() -> None:
    files = sorted(INFRA.rglob("*.yml")) + sorted(INFRA.rglob("*.yaml"))
    assert files
    for path in files:
        docs = list(yaml.safe_load_all(path.read_text()))
        assert docs and all(d is not None for d in docs), path


def test_the_grafana_dashboard_queries_only_series_the_api_exports() -> None:
    from orch_api.telemetry import ApiMetrics

    exported = ApiMetrics().render().decode()
    names = set(re.findall(r"^# TYPE (\w+) ", exported, re.M))
    names |= {n + suffix for n in list(names) for suffix in ("_total", "_bucket", "_count", "_sum")}
    dashboard = json.loads((INFRA / "grafana" / "dashboards" / "orchestrator.json").read_text())
    queried = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"\borch_\w+", target["expr"])
    }
    assert queried and queried <= names, queried - names


def test_kubernetes_runs_exactly_one_scheduler(tmp_path: Path) -> None:
    docs = list(yaml.safe_load_all((INFRA / "k8s" / "orchestrator.yaml").read_text()))
    [scheduler] = [d for d in docs if d["metadata"]["name"] == "orch-scheduler"]
    assert scheduler["spec"]["replicas"] == 1
