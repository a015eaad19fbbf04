"""Every role documents every variable: defaults, argument specs and README agree."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLES = sorted(p for p in (ROOT / "roles").iterdir() if (p / "tasks/main.yml").exists())


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_role_has_the_standard_files(role):
    for rel in ("defaults/main.yml", "meta/main.yml", "meta/argument_specs.yml", "README.md"):
        assert (role / rel).exists(), f"{role.name}: missing {rel}"
    # Input is checked before any change; a role without variables has none to check.
    options = yaml.safe_load((role / "meta/argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
    assert not options or (role / "tasks/validate.yml").exists(), f"{role.name}: missing tasks/validate.yml"


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_defaults_and_argument_specs_agree(role):
    defaults = yaml.safe_load((role / "defaults/main.yml").read_text()) or {}
    spec = yaml.safe_load((role / "meta/argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
    assert set(defaults) == set(spec), f"{role.name}: only in defaults {set(defaults) - set(spec)}, " \
                                       f"only in specs {set(spec) - set(defaults)}"
    for name in defaults:
        assert name.startswith(role.name + "_"), f"{role.name}: {name} lacks the role prefix"
    for name, opt in spec.items():
        assert opt.get("description"), f"{role.name}: {name} has no description"


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_every_default_has_a_comment(role):
    """A top-level variable (or a run of related ones) sits right under a comment."""
    lines = (role / "defaults/main.yml").read_text().splitlines()
    for i, line in enumerate(lines):
        if not line.startswith(role.name + "_"):
            continue
        j = i - 1
        # climb over the values of the variables just above (indented lines, list items, keys)
        while j >= 0 and (lines[j].startswith((" ", "-", role.name + "_"))):
            j -= 1
        assert j >= 0 and lines[j].startswith("#"), f"{role.name}: {line.split(':')[0]} has no comment above it"


def test_readme_variable_tables_are_current():
    res = subprocess.run([sys.executable, str(ROOT / "scripts/role_docs.py"), "--check"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
