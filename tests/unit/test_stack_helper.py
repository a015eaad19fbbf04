"""tradeops-stack (roles/quadlet/files): what it refuses before it runs anything."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from _scripts import load_script

ROOT = Path(__file__).resolve().parents[2]
STACK = ROOT / "roles/quadlet/files/tradeops-stack"
stack = load_script(STACK, "tradeops_stack")


def test_an_app_without_a_stack_description_is_named_with_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setattr(stack, "CONFIG_DIR", tmp_path)
    with pytest.raises(stack.Usage, match="ghost is not a Quadlet app of this host .run site.yml"):
        stack.load("ghost")
    with pytest.raises(stack.Usage, match="not a tradeops app name"):
        stack.load("../etc")


def test_a_description_missing_a_field_asks_for_a_converge(tmp_path, monkeypatch):
    monkeypatch.setattr(stack, "CONFIG_DIR", tmp_path)
    (tmp_path / "senex.json").write_text(json.dumps({"user": "senex", "home": "/opt/senex"}))
    with pytest.raises(stack.Usage, match="has no 'db_container': re-run site.yml"):
        stack.load("senex")


def test_drill_tables_must_be_plain_names_before_anything_runs(monkeypatch):
    monkeypatch.setattr(stack, "run", lambda *a, **k: pytest.fail("nothing may run"))
    with pytest.raises(stack.Usage, match="not a plain SQL name"):
        stack.drill({"db": "senex", "db_container": "senex-postgres"}, ["signals; DROP TABLE x"])


def test_commands_run_as_the_app_user_in_its_session():
    argv = stack.as_user({"user": "root"}, ["podman", "ps"])
    assert argv[0] == "env" and "XDG_RUNTIME_DIR=/run/user/0" in argv and argv[-2:] == ["podman", "ps"]


def test_usage_errors_exit_2():
    res = subprocess.run([sys.executable, str(STACK), "senex", "check", "extra"], capture_output=True, text=True)
    assert res.returncode == 2 and "check takes no further arguments" in res.stderr
    res = subprocess.run([sys.executable, str(STACK), "senex", "restart"], capture_output=True, text=True)
    assert res.returncode == 2 and "restart takes one process name" in res.stderr


def test_only_the_stack_s_own_processes_are_restarted(monkeypatch):
    monkeypatch.setattr(stack, "run", lambda *a, **k: pytest.fail("nothing may run"))
    cfg = {"name": "senex", "user": "senex", "units": ["senex-web", "senex-worker"]}
    with pytest.raises(stack.Usage, match="'postgres' is not a process of senex .processes: web, worker."):
        stack.restart(cfg, "postgres")
