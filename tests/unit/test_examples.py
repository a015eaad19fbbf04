"""The example inventories (inventories/examples/<seed system>) as a user copies them: every
role's preflight passes with the vault example's values, every vault_ variable they use is
in the vault example, a live-only secret is refused on a host that does not trade for real,
and each README maps the team's current set-up. The hosts are placeholders: only the
controller works (preflight.yml), nothing is contacted.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p.name for p in (ROOT / "inventories/examples").iterdir() if (p / "hosts.yml").is_file())
# What each README must explain to the team it is written for.
COMING_FROM = {"trader": "Coming from PM2", "scalper": "Coming from PM2", "delta": "Coming from Docker Compose",
               "senex": "Coming from hand-made Quadlet units"}


def preflight(name: str, *extra: str) -> subprocess.CompletedProcess:
    vault = ROOT / f"inventories/examples/{name}/group_vars/all/vault.yml.example"
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    return subprocess.run([str(ROOT / ".venv/bin/ansible-playbook"), "preflight.yml", "-i", f"inventories/examples/{name}",
                           "-e", f"@{vault}", "-e", "ansible_connection=local", *extra],
                          cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)


def test_there_is_an_example_per_seed_system():
    assert set(COMING_FROM) <= set(EXAMPLES)


@pytest.mark.parametrize("name", EXAMPLES)
def test_preflight_passes_with_the_vault_example(name):
    res = preflight(name)
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    assert re.search(r"failed=0", res.stdout)


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_vault_variable_is_in_the_vault_example(name):
    base = ROOT / f"inventories/examples/{name}/group_vars/all"
    used = set(re.findall(r"\bvault_\w+", (base / "main.yml").read_text()))
    given = set(yaml.safe_load((base / "vault.yml.example").read_text()))
    assert used <= given, f"missing from vault.yml.example: {sorted(used - given)}"
    assert used, "the example takes no secret from the vault"


@pytest.mark.parametrize("name", EXAMPLES)
def test_readme_maps_the_teams_current_set_up(name):
    text = (ROOT / f"inventories/examples/{name}/README.md").read_text()
    assert f"## {COMING_FROM[name]}" in text
    for command in ("site.yml", "deploy.yml", "rollback.yml"):
        assert command in text


def test_a_live_key_is_refused_on_a_dry_run_host_without_printing_it():
    key = "unit-live-key-never-printed-83c1"
    res = preflight("scalper", "-e", json.dumps({"vault_scalper_env": {"EXCHANGE_API_KEY": key}}))
    out = re.sub(r"\s+", " ", res.stdout + res.stderr)
    assert res.returncode != 0
    assert "services_secrets.scalper.EXCHANGE_API_KEY is live-only" in out and '"DRY_RUN"' in out
    assert key not in out


def test_a_live_key_is_accepted_where_the_app_trades_for_real():
    res = preflight("scalper", "-e", json.dumps({"scalper_execution_mode": "LIVE",
                                                  "vault_scalper_env": {"EXCHANGE_API_KEY": "k", "EXCHANGE_API_SECRET": "s"}}))
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]


@pytest.mark.parametrize("variable, value", [("base_needrestart_mode", "i"), ("base_ssh_address_family", "inet4")])
def test_a_hardening_choice_outside_its_list_is_refused_naming_the_variable(variable, value):
    res = preflight("trader", "-e", json.dumps({variable: value}))
    out = re.sub(r"\s+", " ", res.stdout + res.stderr)
    assert res.returncode != 0
    assert variable in out and value in out, out[-2000:]


@pytest.mark.parametrize("tables", [{"../outside.db": ["orders"]}, {"shared/data/app.db": ["orders; DROP TABLE x"]},
                                    {"shared/data/app.db": "orders"}])
def test_malformed_drill_tables_are_refused_before_any_change(tables):
    res = preflight("delta", "-e", json.dumps({"backup_sources": {"delta": {"drill_tables": tables}}}))
    out = re.sub(r"\s+", " ", res.stdout + res.stderr)
    assert res.returncode != 0
    assert 'backup_sources["delta"] is invalid' in out and "drill_tables maps a database path" in out, out[-2000:]
    assert "Nothing was changed." in out


def senex_app(**change) -> dict:
    """The Senex example's quadlet_apps with its one app changed."""
    base = ROOT / "inventories/examples/senex/group_vars/all/main.yml"
    app = yaml.safe_load(base.read_text())["quadlet_apps"][0]
    return {"quadlet_apps": [{**app, **change}]}


@pytest.mark.parametrize("override, message", [
    (senex_app(image="registry.example.com:5000/senex/app:1.4.2"),
     'quadlet_apps["senex"].image "registry.example.com:5000/senex/app:1.4.2" is not a registry image name without a tag'),
    (senex_app(image="senex/app"), 'quadlet_apps["senex"].image "senex/app" is not a registry image name'),
    (senex_app(served_dirs=["../env"]), "served_dirs plain directory names"),
    ({"quadlet_registry_auth": {"registry.example.com:5000": {"username": "senex-deploy"}}},
     'quadlet_registry_auth["registry.example.com:5000"] needs a username and a password'),
    ({"quadlet_registry_ca": {"registry.example.com:5000": "not a certificate"}},
     'quadlet_registry_ca["registry.example.com:5000"] must be keyed by a registry host[:port] and hold a PEM certificate'),
])
def test_bad_registry_and_served_dirs_input_is_refused_naming_the_variable(override, message):
    res = preflight("senex", "-e", json.dumps(override))
    out = re.sub(r"\s+", " ", res.stdout + res.stderr)
    assert res.returncode != 0
    assert message in out and "Nothing was changed." in out, out[-2000:]
