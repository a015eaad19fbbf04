"""Fixtures for tests that run against sandbox hosts (started by Molecule's create step).

TRADEOPS_INVENTORY names the scenario's inventory (written by scripts/sandbox.py); these
tests run from `molecule verify` and refuse to run without it.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import testinfra

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
from sandbox import read_inventory  # noqa: E402 (scripts/ is not a package)
SSH_OPTS = ["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=10", "-o", "ControlPath=none"]


@dataclass
class SandboxHost:
    name: str
    ssh_port: int
    http_port: int
    https_port: int
    key: str
    groups: list[str]

    def ssh(self, user: str, *command: str, opts: list[str] | None = None,
            key: bool = True) -> subprocess.CompletedProcess:
        args = ["ssh", *SSH_OPTS, *(opts or []), "-p", str(self.ssh_port)]
        if key:
            args += ["-i", self.key]
        return subprocess.run([*args, f"{user}@127.0.0.1", *command], capture_output=True, text=True, timeout=60)


def _inventory_path() -> Path:
    path = os.environ.get("TRADEOPS_INVENTORY")
    if not path:
        raise pytest.UsageError("TRADEOPS_INVENTORY is not set: run these tests through `make molecule`")
    return Path(path)


def _hosts(path: Path) -> list[SandboxHost]:
    return [SandboxHost(name, hv["ansible_port"], hv["sandbox_http_port"], hv["sandbox_https_port"],
                        hv["ansible_ssh_private_key_file"], hv["groups"]) for name, hv in read_inventory(path).items()]


@pytest.fixture(scope="session")
def inventory() -> Path:
    return _inventory_path()


@pytest.fixture(scope="session")
def sandbox_hosts(inventory: Path) -> list[SandboxHost]:
    return _hosts(inventory)


@pytest.fixture(scope="session")
def sandbox(sandbox_hosts: list[SandboxHost]) -> SandboxHost:
    return sandbox_hosts[0]


def ssh_host(sandbox: SandboxHost, user: str, sudo: bool = False):
    """testinfra host over one multiplexed SSH connection (ufw's rate limit refuses a 7th
    new connection within 30 s, so every command must reuse the first one)."""
    return testinfra.get_host(
        f"ssh://{user}@127.0.0.1:{sandbox.ssh_port}", ssh_identity_file=sandbox.key, sudo=sudo,
        ssh_extra_args="-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR",
        controlpath=f"/tmp/tradeops-ti-{user}-{sandbox.ssh_port}", controlpersist=120)


@pytest.fixture(scope="session")
def host(sandbox: SandboxHost):
    """The deploy user, commands run with sudo (the hardened host refuses root)."""
    return ssh_host(sandbox, "deploy", sudo=True)


@pytest.fixture(scope="module")
def app(sandbox):
    """testinfra host as root, for scenarios that converge without the base role (no deploy user)."""
    return ssh_host(sandbox, "root")


# Where the test alert receiver (molecule/ops/files/alert_receiver.py) records each request.
RECEIVED = "/var/tmp/alert-receiver.jsonl"


def received(app, key: str | None = None) -> list[dict]:
    """Webhook posts the receiver recorded (optionally only one alert key)."""
    if not app.file(RECEIVED).exists:
        return []
    entries = [json.loads(line) for line in app.file(RECEIVED).content_string.splitlines() if line.strip()]
    hooks = [e["body"] for e in entries if e["channel"] == "http" and e["path"] == "/hook"]
    return [h for h in hooks if key is None or h["key"] == key]


def wait_for(predicate, timeout: float = 30, step: float = 0.5):
    """Poll (bounded) until predicate() returns something truthy; return it or the last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)


def ssh_window() -> None:
    """Wait out ufw's SSH rate limit (6 new connections per 30 s per source) before a burst."""
    time.sleep(31)


def git_sha(repo: Path, ref: str) -> str:
    """The full sha of a ref (tag, branch, sha) in a test repository on the controller."""
    return subprocess.run(["git", "-C", str(repo), "rev-parse", f"{ref}^{{commit}}"], capture_output=True,
                          text=True, check=True).stdout.strip()


def registry_push(registry: str, image: str) -> str:
    """Shell commands, as the user whose storage holds IMAGE, that push it the way the team's CI
    would: log in to the test registry (molecule/_shared/tasks/registry.yml) with its `ci`
    account, trusting the registry's CA only through --cert-dir, push, and leave no copy of
    the image and no credentials on the host."""
    ci = "--authfile $HOME/build/ci-auth.json --cert-dir /etc/docker/registry/ci-certs"
    return (f"podman login {ci} -u ci -p ci-push-password-0b1d {registry} >/dev/null"
            f" && podman push -q {ci} {image} >/dev/null"
            f" && rm -f $HOME/build/ci-auth.json && podman rmi -f {image} >/dev/null")


def run_playbook(inventory: Path, playbook: str, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_NOCOLOR="1")
    return subprocess.run([str(ROOT / ".venv/bin/ansible-playbook"), "-i", str(inventory), playbook, *args],
                          cwd=ROOT, capture_output=True, text=True, env=env, timeout=timeout)
