"""deploy/alerts.yml: valid rule groups whose every ybb_* metric is one the app exposes on
/metrics (scraped from the app after an export, a cleanup and a failed readiness check).
(promtool is not installed here, so PromQL syntax itself is not checked.)"""

from __future__ import annotations

import re
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.api.conftest import AppFactory, participants
from tests.api.live_server import ROOT

RULES = ROOT / "deploy" / "alerts.yml"
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "gauge": ("",),
    "unknown": ("",),
}


def _exposed(client: Any) -> set[str]:
    text = client.get("/metrics").get_data(as_text=True)
    names = set()
    for family in text_string_to_metric_families(text):
        names |= {family.name + s for s in SUFFIXES.get(family.type, ("",))}
    return names


def test_alert_rules_use_metrics_the_app_exposes(make_app: AppFactory) -> None:
    client = make_app(YBB_HEALTH_MIN_FREE_MB="999999999").test_client()
    assert (
        client.post("/api/ybb/export/participants", json={"data": participants(3)}).status_code
        == 200
    )
    assert client.post("/api/ybb/cleanup").status_code == 200
    assert client.get("/health/ready").status_code == 503
    exposed = _exposed(client)
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert len(rules) >= 5
    used = set()
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
        assert rule["labels"]["severity"] in ("critical", "warning", "info")
        assert rule["annotations"]["summary"]
        used |= set(re.findall(r"\b(ybb_[a-z_]+)", rule["expr"]))
    assert used, "no rule uses an app metric"
    assert used <= exposed, used - exposed
    for needed in ("ybb_http_requests_total", "ybb_exports_total", "ybb_disk_free_bytes"):
        assert needed in used  # 5xx rate, failed exports, disk (the three)
