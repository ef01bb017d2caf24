"""The shipped alerting rules (deploy/prometheus/motcua.rules.yml): promtool checks them and
runs their unit tests (motcua.rules.test.yml), and every Motcua metric they use is one a node
really exports, so a renamed metric cannot silently mute an alert."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Api, needs

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "motcua.rules.yml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "motcua.rules.test.yml"


def _promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        needs("promtool", "not installed", "apt-get install prometheus (scripts/test.sh does)")
    assert found is not None
    return found


def _run(*args: str) -> str:
    done = subprocess.run([_promtool(), *args], capture_output=True, text=True, timeout=120,
                          check=False, cwd=RULES.parent)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    return output


def test_promtool_check_rules() -> None:
    out = _run("check", "rules", RULES.name)
    assert "SUCCESS" in out


def test_promtool_test_rules() -> None:
    out = _run("test", "rules", RULE_TESTS.name)
    assert "SUCCESS" in out


def test_every_alert_has_a_test_and_bilingual_summaries() -> None:
    rules = yaml.safe_load(RULES.read_text())["groups"][0]["rules"]
    tested = {
        case["alertname"]
        for group in yaml.safe_load(RULE_TESTS.read_text())["tests"]
        for case in group.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    names = [r["alert"] for r in rules]
    assert len(names) == len(set(names))
    assert set(names) == tested, "an alert that is never seen firing in motcua.rules.test.yml"
    for rule in rules:
        assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["summary_vi"]


def test_the_rules_use_only_metrics_a_node_exports(api: Api) -> None:
    text = api.client.get("/metrics").get_data(as_text=True)  # type: ignore[attr-defined]
    exported = set()
    for family in text_string_to_metric_families(text):  # listed even with no sample yet
        exported |= {family.name, *(s.name for s in family.samples)}
    rules = yaml.safe_load(RULES.read_text())["groups"][0]["rules"]
    used = {name for r in rules for name in re.findall(r"\bmotcua_[a-z_]+", r["expr"])}
    assert used, "no Motcua metric found in the rules"
    assert used - exported == set()
