"""The CI files users copy (examples/ci): valid against the GitHub Actions and GitLab CI
schemas (check-jsonschema's vendored copies, no network), and the playbook syntax check
they run passes on the example inventory."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".venv/bin"
CI = ROOT / "examples/ci"


@pytest.mark.parametrize("name, schema", [("github-workflow.yml", "vendor.github-workflows"),
                                          ("gitlab-ci.yml", "vendor.gitlab-ci")])
def test_ci_file_is_valid_for_its_service(name, schema):
    res = subprocess.run([str(BIN / "check-jsonschema"), "--builtin-schema", schema, str(CI / name)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def test_the_ci_files_run_the_make_targets_this_repository_runs():
    text = (CI / "github-workflow.yml").read_text() + (CI / "gitlab-ci.yml").read_text()
    assert "make lint unit" in text and "make molecule" in text
    assert "make test" in (ROOT / ".ci/run").read_text()  # lint + unit + molecule


def test_the_syntax_check_the_ci_files_run_passes_on_the_example_inventory():
    workflow = yaml.safe_load((CI / "github-workflow.yml").read_text())
    step = next(s for s in workflow["jobs"]["lint"]["steps"] if s.get("name") == "Syntax check against the inventory")
    env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}", ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
               TRADEOPS_INVENTORY=workflow["env"]["TRADEOPS_INVENTORY"])
    res = subprocess.run(["bash", "-euc", step["run"]], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
