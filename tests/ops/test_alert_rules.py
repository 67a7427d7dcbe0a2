"""The alert rules: valid Prometheus rules, and each one fires on bad samples and stays quiet on
good ones (promtool's unit tests in deploy/alerts_test.yml)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
REQUIRED = {
    "HelpdeckHighLatencyP95",
    "HelpdeckHighErrorRate",
    "HelpdeckLLMSuccessRateLow",
    "HelpdeckLLMDailyCostOverBudget",
    "HelpdeckTemporalScheduleToStartSlow",
    "HelpdeckWebhookBacklog",
}


def _promtool() -> str:
    found = shutil.which("promtool")
    assert found, "promtool is missing: `make install` installs Debian's prometheus package"
    return found


def test_every_alert_the_brief_asks_for_is_defined_and_tested() -> None:
    rules = yaml.safe_load((DEPLOY / "alerts.yml").read_text())
    defined = {r["alert"] for g in rules["groups"] for r in g["rules"]}
    assert REQUIRED <= defined
    tests = yaml.safe_load((DEPLOY / "alerts_test.yml").read_text())
    fired = {case["alertname"] for t in tests["tests"] for case in t["alert_rule_test"] if case.get("exp_alerts")}
    quiet = {case["alertname"] for t in tests["tests"] for case in t["alert_rule_test"] if not case.get("exp_alerts")}
    assert defined <= fired and defined <= quiet, "each rule needs a firing and a quiet case"


def test_rules_are_valid_prometheus_rules() -> None:
    run = subprocess.run([_promtool(), "check", "rules", "alerts.yml"], cwd=DEPLOY, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_each_rule_fires_on_bad_samples_and_stays_quiet_on_good_ones() -> None:
    run = subprocess.run([_promtool(), "test", "rules", "alerts_test.yml"], cwd=DEPLOY, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_prometheus_config_is_valid_and_scrapes_every_api_and_worker_replica() -> None:
    run = subprocess.run([_promtool(), "check", "config", "prometheus.yml"], cwd=DEPLOY, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    targets = {(sd["names"][0], sd["port"]) for job in config["scrape_configs"] for sd in job["dns_sd_configs"]}
    compose = yaml.safe_load((DEPLOY.parent / "docker-compose.yml").read_text())["services"]
    worker_port = int(compose["worker"]["environment"]["HELPDECK_WORKER_METRICS_PORT"])
    assert str(worker_port) in compose["worker"]["expose"]
    assert targets == {("api", 8000), ("worker", worker_port)}
