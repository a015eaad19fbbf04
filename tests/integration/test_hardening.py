"""What a user sees after site.yml (base + firewall) on a fresh sandbox host."""
from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT, run_playbook, ssh_window



# --- SSH: who can get in -----------------------------------------------------

def test_sshd_effective_settings(host):
    effective = dict(line.split(" ", 1) for line in host.check_output("sshd -T").splitlines() if " " in line)
    assert effective["permitrootlogin"] == "no"
    assert effective["passwordauthentication"] == "no"
    assert effective["kbdinteractiveauthentication"] == "no"
    assert effective["authenticationmethods"] == "publickey"
    assert effective["maxauthtries"] == "3"
    assert effective["logingracetime"] == "30"
    assert effective["allowgroups"] == "sshusers"
    assert effective["x11forwarding"] == "no"
    # dev-sec ssh-baseline controls met
    assert effective["ignoreuserknownhosts"] == "yes"
    assert effective["ignorerhosts"] == "yes"
    assert effective["hostbasedauthentication"] == "no"
    assert effective["kerberosorlocalpasswd"] == "no"
    assert effective["maxsessions"] == "2"
    assert effective["permituserenvironment"] == "no"
    # declined in writing (roles/base/README.md): IPv6 stays reachable, a dead session drops
    # after 2 unanswered keepalives (Lynis's value; dev-sec allows 3)
    assert effective["addressfamily"] == "any"
    assert effective["clientalivecountmax"] == "2"
    assert effective["printlastlog"] == "yes"  # a person sees a login that was not theirs
    assert "nistp" not in effective["kexalgorithms"] + effective["hostkeyalgorithms"]
    assert set(effective["macs"].split(",")) <= {"hmac-sha2-512-etm@openssh.com", "hmac-sha2-256-etm@openssh.com",
                                                  "umac-128-etm@openssh.com"}


def test_hardening_wins_over_a_cloud_init_drop_in(host):
    """Ubuntu cloud images ship 50-cloud-init.conf with PasswordAuthentication yes."""
    path = "/etc/ssh/sshd_config.d/50-cloud-init.conf"
    host.run_expect([0], f"printf 'PasswordAuthentication yes\\nPermitRootLogin yes\\n' > {path}")
    try:
        out = host.check_output("sshd -T")
    finally:
        host.run_expect([0], f"rm -f {path}")
    assert "passwordauthentication no" in out
    assert "permitrootlogin no" in out


def test_security_files_have_safe_owners_and_modes(host):
    checks = {
        "/etc/ssh/sshd_config": ("root", "root", 0o600),
        "/etc/sudoers.d/90-tradeops-deploy": ("root", "root", 0o440),
        "/etc/ssh/sshd_config.d/00-tradeops-hardening.conf": ("root", "root", 0o600),
        "/home/deploy/.ssh/authorized_keys": ("deploy", "deploy", 0o600),
    }
    for path, (user, group, mode) in checks.items():
        f = host.file(path)
        assert f.exists, path
        assert (f.user, f.group, f.mode) == (user, group, mode), path


def test_authorized_keys_hold_exactly_the_configured_key(host, sandbox):
    content = host.file("/home/deploy/.ssh/authorized_keys").content_string
    keys = [ln for ln in content.splitlines() if ln.strip() and not ln.startswith("#")]
    assert keys == [Path(sandbox.key + ".pub").read_text().strip()]


# --- firewall ----------------------------------------------------------------

def test_ufw_denies_by_default_and_opens_only_configured_ports(host):
    out = host.check_output("ufw status verbose")
    assert "Status: active" in out
    assert "Default: deny (incoming), allow (outgoing)" in out
    rules = [ln for ln in out.splitlines() if re.match(r"^\d+/tcp|^\d+ \(v6\)|^\d+/tcp \(v6\)", ln)]
    ports = sorted({int(re.match(r"^(\d+)", r).group(1)) for r in rules})
    assert ports == [22, 80, 443]
    assert re.search(r"^22/tcp\s+LIMIT IN\s+Anywhere", out, re.M)
    assert re.search(r"\(v6\)", out), "IPv6 rules missing"


def _own_rules(ruleset: str) -> list[str]:
    """The machine's own netfilter rules: without Podman's per-container NAT (NETAVARK*/CNI*
    chains come and go with every container) and without counters."""
    kept, chain = [], ""
    for line in ruleset.splitlines():
        m = re.match(r"\s*chain (\S+)", line)
        if m:
            chain = m.group(1)
        if chain.startswith(("NETAVARK", "CNI")) or "NETAVARK" in line or "CNI-" in line:
            continue
        kept.append(re.sub(r"counter packets \d+ bytes \d+", "counter", line))
    return kept


def test_machine_firewall_rules_are_unchanged():
    """ufw inside the host must not touch this machine's own netfilter rules."""
    state = Path(os.environ["TRADEOPS_SCENARIO_STATE"])
    before = (state / "ruleset.before").read_text()
    now = subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True, check=True).stdout
    assert not [ln for ln in now.splitlines() if "ufw" in ln], "ufw chains leaked into the machine's ruleset"
    assert _own_rules(now) == _own_rules(before)


# --- system ------------------------------------------------------------------

def test_services_run(host):
    assert host.service("ssh").is_running
    assert host.service("fail2ban").is_running
    jail = host.check_output("fail2ban-client status sshd")
    assert "_SYSTEMD_UNIT=ssh.service" in jail  # reads the unit Debian really runs
    assert host.service("systemd-timesyncd").is_enabled


def test_journal_is_persistent(host):
    assert host.file("/var/log/journal").is_directory
    assert "Storage=persistent" in host.file("/etc/systemd/journald.conf.d/10-tradeops.conf").content_string


def test_unattended_upgrades_take_security_updates(host):
    dump = host.check_output("apt-config dump Unattended-Upgrade::Origins-Pattern")
    assert "label=Debian-Security" in dump
    assert 'APT::Periodic::Unattended-Upgrade "1"' in host.check_output("apt-config dump APT::Periodic")


def sysctl_file(host, path: str) -> dict[str, str]:
    text = host.file(path).content_string
    return dict(ln.split(" = ", 1) for ln in text.splitlines() if " = " in ln and not ln.startswith("#"))


def test_kernel_sysctls_are_written_for_what_a_vm_boots_with(host):
    kernel = sysctl_file(host, "/etc/sysctl.d/91-tradeops-kernel.conf")
    assert kernel["kernel.sysrq"] == "0" and kernel["kernel.yama.ptrace_scope"] == "1"
    assert kernel["kernel.kptr_restrict"] == "2" and kernel["fs.suid_dumpable"] == "0"
    assert host.file("/etc/sysctl.d/91-tradeops-kernel.conf").mode == 0o644
    # at this container's next boot systemd-sysctl applies only the per-namespace net.* keys
    start = host.check_output("systemctl show -p ExecStart --value systemd-sysctl.service")
    assert "--prefix=net." in start, start


def test_network_sysctls_meet_the_baseline_or_keep_the_documented_value(host):
    net = sysctl_file(host, "/etc/sysctl.d/90-tradeops-net.conf")
    met = {"net.ipv4.icmp_ratelimit": "100", "net.ipv4.icmp_ratemask": "88089",
           "net.ipv4.conf.all.arp_ignore": "1", "net.ipv4.conf.all.arp_announce": "2",
           "net.ipv4.conf.all.accept_redirects": "0", "net.ipv4.tcp_syncookies": "1",
           "net.ipv6.conf.default.accept_ra_rtr_pref": "0"}
    declined = {"net.ipv4.ip_forward": "1",  # Podman's rootful networks
                "net.ipv4.tcp_timestamps": "1",  # PAWS and RTT on long-lived exchange connections
                # SLAAC keeps working on providers that hand out IPv6 by router advertisement only
                "net.ipv6.conf.all.accept_ra": "1", "net.ipv6.conf.default.accept_ra": "1",
                "net.ipv6.conf.default.accept_ra_defrtr": "1", "net.ipv6.conf.default.accept_ra_pinfo": "1",
                "net.ipv6.conf.default.autoconf": "1", "net.ipv6.conf.default.router_solicitations": "-1",
                "net.ipv6.conf.default.dad_transmits": "1", "net.ipv6.conf.default.max_addresses": "16"}
    assert {k: net.get(k) for k in met} == met
    assert {k: net.get(k) for k in declined} == declined
    readme = (ROOT / "roles/base/README.md").read_text()
    for key in declined:
        assert f"`{key}`" in readme, f"{key} differs from dev-sec's value but is not in the README's table"
    # the per-namespace keys are live where /proc/sys/net is writable
    if host.run("test -w /proc/sys/net/ipv4/ip_forward").rc == 0:
        assert host.check_output("cat /proc/sys/net/ipv4/icmp_ratemask") == "88089"


def test_login_defs_password_ageing(host):
    defs = dict(ln.split(None, 1) for ln in host.file("/etc/login.defs").content_string.splitlines()
                if ln.strip() and not ln.startswith("#") and len(ln.split(None, 1)) == 2)
    assert (defs["PASS_MAX_DAYS"], defs["PASS_MIN_DAYS"], defs["PASS_WARN_AGE"]) == ("60", "7", "7")
    assert defs["UMASK"] == "027"


def test_cron_files_are_root_only_where_cron_is_installed(host):
    paths = {"/etc/crontab": 0o600, "/etc/cron.d": 0o700, "/etc/cron.daily": 0o700,
             "/etc/cron.weekly": 0o700, "/etc/cron.monthly": 0o700, "/etc/cron.hourly": 0o700}
    present = {p: m for p, m in paths.items() if host.file(p).exists}
    assert present, "no cron files on the host: the image lost cron and this test checks nothing"
    assert {p: host.file(p).mode for p in present} == present


def test_ssh_keysign_has_no_setuid_bit_and_keeps_it_off_across_upgrades(host):
    keysign = host.file("/usr/lib/openssh/ssh-keysign")
    assert keysign.exists and not keysign.mode & 0o6000
    assert host.check_output("dpkg-statoverride --list /usr/lib/openssh/ssh-keysign").split() == [
        "root", "root", "755", "/usr/lib/openssh/ssh-keysign"]
    setuid = host.check_output("find /usr /bin /sbin -xdev -perm /6000 -type f | sort").split()
    assert "/usr/lib/openssh/ssh-keysign" not in setuid
    assert "/usr/bin/sudo" in setuid  # the deploy user's way up is left alone


def test_lynis_credited_files(host):
    """What Lynis looks for: a banner of 5+ warning words, modules disabled by `install X
    /bin/true`, sysstat collecting, fail2ban's settings in jail.local (not a stale jail.d copy)."""
    banner = host.file("/etc/issue.net").content_string.lower()
    words = ["access", "authori", "log", "monitor", "private", "prohibited", "system"]
    assert sum(w in banner for w in words) >= 5, banner
    blocklist = host.file("/etc/modprobe.d/tradeops-blocklist.conf").content_string
    assert all(f"install {m} /bin/true" in blocklist for m in ("dccp", "sctp", "rds", "tipc"))
    assert 'ENABLED="true"' in host.file("/etc/default/sysstat").content_string
    assert "[sshd]" in host.file("/etc/fail2ban/jail.local").content_string
    assert not host.file("/etc/fail2ban/jail.d/tradeops-sshd.local").exists


def test_needrestart_lists_and_never_restarts_or_asks(host):
    conf = host.file("/etc/needrestart/conf.d/50-tradeops.conf").content_string
    assert "$nrconf{restart} = 'l';" in conf and "$nrconf{kernelhints} = -1;" in conf
    assert host.run("perl -c /etc/needrestart/conf.d/50-tradeops.conf").rc == 0


# --- check mode -------------------------------------------------------------

def test_check_mode_on_a_converged_host_reports_no_changes(inventory):
    res = run_playbook(inventory, "site.yml", "--check", "--diff")
    assert res.returncode == 0, res.stdout[-3000:]
    recap = res.stdout[res.stdout.index("PLAY RECAP"):]
    assert re.search(r"changed=0\s+unreachable=0\s+failed=0", recap), recap


# --- bad input: refused before sshd or ufw are touched ----------------------

BAD_INPUTS = {
    "empty-keys": (['{"base_deploy_authorized_keys": []}'], "base_deploy_authorized_keys is empty"),
    "malformed-key": (['{"base_deploy_authorized_keys": ["ssh-ed25519 not-base64!! me@x"]}'],
                      "base_deploy_authorized_keys[0] is not a valid OpenSSH public key"),
    "ssh-port-without-rule": (['{"base_ssh_port": 2222, "firewall_ssh_port": 22}'], "base_ssh_port is 2222"),
    "deploy-user-root": (['{"base_deploy_user": "root"}'], "base_deploy_user=\"root\" is not allowed"),
}


def _protected_state(host) -> str:
    return host.check_output("sha256sum /etc/ssh/sshd_config.d/* /home/deploy/.ssh/authorized_keys"
                             " /etc/sudoers.d/*; ufw status verbose")


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_refused_before_anything_changes(case, host, inventory, sandbox):
    extra, message = BAD_INPUTS[case]
    before = _protected_state(host)
    res = run_playbook(inventory, "site.yml", *[a for e in extra for a in ("-e", e)])
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert message in re.sub(r"\s+", " ", out), out[-3000:]
    assert "Nothing was changed" in out
    assert "changed=0" in out
    assert _protected_state(host) == before
    assert host.run("sshd -t").rc == 0  # sshd would still accept logins after a restart


# --- raw SSH connections, last: each burst waits out ufw's rate limit first ---------

def test_first_run_on_a_fresh_host_says_it_falls_back_in_one_plain_line(sandbox, tmp_path):
    """The inventory user cannot log in yet (here: a user that does not exist): connect.yml
    says so in one line and connects as the bootstrap user, with no red UNREACHABLE block."""
    ssh_window()
    inv = tmp_path / "fresh.yml"
    inv.write_text(json.dumps({"all": {"hosts": {"fresh": {
        "ansible_host": "127.0.0.1", "ansible_port": sandbox.ssh_port, "ansible_user": "ghost",
        "ansible_ssh_private_key_file": sandbox.key, "tradeops_bootstrap_user": "deploy",
        "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"}}}}))
    res = run_playbook(inv, "playbooks/connect.yml")
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    flat = re.sub(r"\s+", " ", out)  # the yaml callback folds long messages
    assert "ghost cannot log in yet (a fresh host: the base role creates that user): connecting as deploy" in flat
    assert "UNREACHABLE" not in out and "fatal" not in out.lower() and "Permission denied" not in out
    assert re.search(r"fresh\s+: ok=\d+\s+changed=0\s+unreachable=0\s+failed=0", out), out[-2000:]


def test_ssh_audit_has_no_failures_and_at_most_one_warning(sandbox):
    ssh_window()
    res = subprocess.run([str(ROOT / ".venv/bin/ssh-audit"), "--skip-rate-test", "-n", "-p", str(sandbox.ssh_port),
                          "127.0.0.1"], capture_output=True, text=True, timeout=120)
    fails = [ln for ln in res.stdout.splitlines() if "[fail]" in ln]
    warns = [ln for ln in res.stdout.splitlines() if "[warn]" in ln]
    assert res.stdout, res.stderr
    assert fails == [], "\n".join(fails)
    assert len(warns) <= 1, "\n".join(warns)


def test_deploy_user_key_login_and_sudo_work(sandbox):
    ssh_window()
    res = sandbox.ssh("deploy", "sudo", "-n", "id", "-u")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "0"


def test_root_login_is_refused_even_with_the_right_key(sandbox):
    res = sandbox.ssh("root", "true")
    assert res.returncode == 255
    assert "Permission denied" in res.stderr


def test_password_login_is_not_offered(sandbox):
    res = sandbox.ssh("deploy", "true", key=False,
                      opts=["-o", "PubkeyAuthentication=no",
                            "-o", "PreferredAuthentications=password,keyboard-interactive"])
    assert res.returncode == 255
    # The server offers public-key authentication only.
    assert "Permission denied (publickey)" in res.stderr



def test_ssh_is_rate_limited(sandbox):
    """ufw's limit rule: a burst of new connections from one source gets refused."""
    results = [sandbox.ssh("deploy", "true").returncode for _ in range(8)]
    assert results[0] == 0
    assert 255 in results
