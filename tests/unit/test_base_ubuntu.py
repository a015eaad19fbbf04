"""The base role's Ubuntu branches, which no host here can run (no Ubuntu mirror is
reachable): the decisions and files the role makes from what its probe reads on Ubuntu
22.04/24.04 versus Debian, rendered by Ansible on the controller from the role's own
defaults, vars and templates."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ROLE = ROOT / "roles/base"

# What packages.yml's probe prints, per host kind (units: `is-enabled is-active`).
PROBES = {
    "debian-12": {"ssh": "enabled active", "ssh.socket": "disabled inactive"},
    "ubuntu-22.04": {"ssh": "enabled active", "ssh.socket": ""},
    "ubuntu-24.04": {"ssh": "disabled active", "ssh.socket": "enabled active"},
}


def render(tmp_path: Path, kind: str, **extra) -> dict[str, str]:
    probe = {"missing": "", "container": "none", "proc_sys_writable": True, "sshd_include": True,
             "units": {**PROBES[kind], "fail2ban": "enabled active", "systemd-timesyncd": "enabled active"},
             "suid": []}
    out = tmp_path / kind
    out.mkdir()
    play = [{
        "name": "Render", "hosts": "localhost", "gather_facts": False,
        "vars_files": [str(ROLE / "defaults/main.yml"), str(ROLE / "vars/main.yml")],
        "vars": {"__base_probe": {"stdout": json.dumps(probe)}},
        "tasks": [
            {"ansible.builtin.template": {"src": str(ROLE / f"templates/{t}.j2"), "dest": str(out / t), "mode": "0600"}}
            for t in ("sshd_hardening.conf", "needrestart.conf", "sysctl.conf")
        ] + [{"ansible.builtin.copy": {"content": "{{ __base_ssh_unit }}", "dest": str(out / "ssh_unit"),
                                       "mode": "0600"}}],
    }]
    (tmp_path / "play.yml").write_text(json.dumps(play))
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    args = [str(ROOT / ".venv/bin/ansible-playbook"), "-i", "localhost,", "-c", "local", str(tmp_path / "play.yml"),
            "-e", json.dumps({"__base_sysctls": {"net.ipv4.tcp_syncookies": 1},
                                   "ansible_python_interpreter": sys.executable, **extra})]
    res = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    return {p.name: p.read_text() for p in out.iterdir()}


@pytest.mark.parametrize("kind, unit", [("debian-12", "ssh"), ("ubuntu-22.04", "ssh"),
                                        ("ubuntu-24.04", "ssh.socket")])
def test_the_unit_kept_listening_is_ssh_socket_only_where_the_host_enables_it(tmp_path, kind, unit):
    assert render(tmp_path, kind)["ssh_unit"] == unit


def test_the_socket_is_restarted_after_a_validated_sshd_change_only_on_socket_hosts():
    handlers = (ROLE / "handlers/main.yml").read_text()
    order = [handlers.index(name) for name in ("Base | Validate sshd configuration", "Base | Reload sshd",
                                               "Base | Apply the SSH port and addresses to ssh.socket")]
    assert order == sorted(order)  # sshd -t first, the socket last
    assert "when: __base_ssh_unit == 'ssh.socket'" in handlers


def test_sshd_listen_addresses_are_written_only_when_pinned(tmp_path):
    plain = render(tmp_path, "ubuntu-24.04")["sshd_hardening.conf"]
    assert "ListenAddress" not in plain and "AddressFamily any" in plain
    (tmp_path / "p").mkdir()
    pinned = render(tmp_path / "p", "ubuntu-24.04", base_ssh_listen_addresses=["192.0.2.10", "2001:db8::10"],
                    base_ssh_address_family="inet6", base_ssh_port=2222)["sshd_hardening.conf"]
    lines = pinned.splitlines()
    assert ["ListenAddress 192.0.2.10", "ListenAddress 2001:db8::10"] == [ln for ln in lines if ln.startswith("Listen")]
    assert "Port 2222" in lines and "AddressFamily inet6" in lines


@pytest.mark.parametrize("mode", ["l", "a"])
def test_needrestart_never_asks_and_restarts_only_when_told(tmp_path, mode):
    conf = render(tmp_path, "ubuntu-24.04", base_needrestart_mode=mode)["needrestart.conf"]
    assert f"$nrconf{{restart}} = '{mode}';" in conf
    assert "$nrconf{kernelhints} = -1;" in conf  # 22.04's kernel prompt becomes a line in the log


def test_unattended_upgrades_take_ubuntus_security_pocket(tmp_path):
    origins = (ROLE / "defaults/main.yml").read_text()
    assert "origin=Ubuntu,archive=${distro_codename}-security,label=Ubuntu" in origins
    assert "origin=Debian,codename=${distro_codename}-security,label=Debian-Security" in origins
