"""The Senex example inventory (inventories/examples/senex) on a fresh sandbox host
(molecule/senex): a rootless Quadlet stack of the Django/Daphne + Celery fixture
(examples/senex) whose images come from the team's registry by tag, run through site.yml,
deploy.yml and rollback.yml as the team would type them.

prepare.yml pointed the example at the host (its group_vars as they are in git, plus the
sandbox's host variables) and started the team's registry there as registry.example.com:5000.
The tests run in file order, each from the state the previous one left.
"""
from __future__ import annotations

import base64
import json
import re
import shlex
import subprocess
import time

import pytest
import yaml

from conftest import ROOT, SandboxHost, git_sha, registry_push, run_playbook, ssh_host

STATE = ROOT / ".sandbox/molecule-senex"
INVENTORY = STATE / "senex" / "hosts.yml"
REPO = STATE / "senex-repo"
SITE = "senex.example.com"
HOME = "/opt/senex-trader"
REGISTRY = "registry.example.com:5000"
IMAGE = f"{REGISTRY}/senex/app"
UNITS = [f"senex-{name}" for name in ("postgres", "redis", "web", "celery-worker", "celery-beat")]
SANDBOX_VARS = yaml.safe_load((ROOT / "molecule/senex/vars/senex.yml").read_text())
SECRETS = [*SANDBOX_VARS["vault_senex_env"].values(), SANDBOX_VARS["vault_senex_db_password"],
           SANDBOX_VARS["vault_senex_registry_password"], SANDBOX_VARS["vault_alert_smtp_password"]]
OUTPUTS: list[str] = []
RECAP = re.compile(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
# What the team's CI pushes (push()): a version tag per commit of the fixture repository.
TAGS = {"1.0.0": "a", "1.1.0": "b", "1.2.0": "c"}


def sha(ref: str) -> str:
    return git_sha(REPO, ref)


def play(playbook: str, *args: str) -> subprocess.CompletedProcess:
    res = run_playbook(INVENTORY, playbook, *args, timeout=1500)
    OUTPUTS.append(res.stdout + res.stderr)
    return res


def tail(res: subprocess.CompletedProcess) -> str:
    return (res.stdout + res.stderr)[-4000:]


def changed(res: subprocess.CompletedProcess) -> int:
    rows = RECAP.findall(res.stdout)
    assert rows and all(r[2] == "0" and r[3] == "0" for r in rows), tail(res)
    return sum(int(r[1]) for r in rows)


@pytest.fixture(scope="module")
def on(sandbox: SandboxHost):
    """testinfra host as the deploy user with sudo (root cannot log in after site.yml)."""
    return ssh_host(sandbox, "deploy", sudo=True)


def as_senex(on, command: str) -> str:
    uid = on.check_output("id -u senex")
    # TMPDIR: the hardened host's pam_tmpdir gives the sudo session root's own (/tmp/user/0).
    return on.check_output(f"cd / && runuser -u senex -- env XDG_RUNTIME_DIR=/run/user/{uid} TMPDIR=/var/tmp "
                           f"PODMAN_IGNORE_CGROUPSV1_WARNING=1 sh -c {shlex.quote(command)}")


def https(sandbox: SandboxHost, path: str, method: str = "GET", body: str = "") -> tuple[int, str]:
    """A request through the host's nginx from the controller, for the site's name."""
    port = sandbox.https_port
    cmd = ["curl", "-sk", "-o", "-", "-w", "\n%{http_code}", "--max-time", "10", "-X", method,
           "--resolve", f"{SITE}:{port}:127.0.0.1", f"https://{SITE}:{port}{path}"]
    if body:
        cmd += ["-H", "Content-Type: application/json", "--data-binary", body]
    out, _, code = subprocess.run(cmd, capture_output=True, text=True, timeout=20).stdout.rpartition("\n")
    return int(code or 0), out


def health(sandbox: SandboxHost) -> dict:
    code, body = https(sandbox, "/health/simple/")
    return {"status": code, **(json.loads(body) if body.startswith("{") else {})}


def wait_for(predicate, what: str, timeout: float = 90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def live(on) -> str:
    return on.file(f"{HOME}/state/current").content_string.strip()


# ------------------------------------------------------------------ provisioning

def test_site_converges_from_a_fresh_host_and_a_second_run_changes_nothing(on):
    res = play("site.yml")
    assert res.returncode == 0, f"site.yml -i examples/senex failed:\n{tail(res)}"
    res = play("site.yml")
    assert res.returncode == 0 and changed(res) == 0, f"second site.yml changed something:\n{tail(res)}"
    # The stack's database and cache run as senex; its process units come with the first deploy.
    states = as_senex(on, "systemctl --user is-active senex-postgres.service senex-redis.service")
    assert states.split() == ["active", "active"]
    assert as_senex(on, "podman exec senex-redis redis-cli config get maxmemory-policy").split()[-1] == "allkeys-lru"
    # nginx may pass through the app's home to the served directories, and read nothing else there.
    assert on.run(f"runuser -u www-data -- ls {HOME}").rc != 0
    assert on.run(f"runuser -u www-data -- test -d {HOME}/data/app/static").rc == 0
    assert on.run(f"runuser -u www-data -- cat {HOME}/env/app.env").rc != 0


def push(on, tag: str) -> None:
    """As the team's CI, right before a deploy: an image of the tag's commit (here built on the
    host's base image, which has Django, Daphne and Celery), labelled with the commit by the
    Containerfile and pushed with the CI account; the host keeps no copy of it."""
    base = as_senex(on, "podman images --format '{{.Repository}}:{{.Tag}}' localhost/tradeops-stack").split()[0]
    # Files dated now, as in a fresh CI checkout (git archive dates them at the commit, and
    # collectstatic copies a file only when it is newer than the one collected before).
    archive = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar.gz", TAGS[tag]],
                             capture_output=True, check=True).stdout
    on.check_output(f"install -d -o senex -m 0700 {HOME}/build/ci-{tag} && echo {base64.b64encode(archive).decode()}"
                    f" | base64 -d | runuser -u senex -- tar -xzmf - -C {HOME}/build/ci-{tag}")
    as_senex(on, f"podman build -q --pull=never --build-arg BASE_IMAGE={base} --build-arg RELEASE_SHA={sha(TAGS[tag])}"
                 f" -t {IMAGE}:{tag} $HOME/build/ci-{tag} >/dev/null && rm -rf $HOME/build/ci-{tag}"
                 f" && {registry_push(REGISTRY, f'{IMAGE}:{tag}')}")


# ------------------------------------------------------------------ deploys

def test_deploy_the_first_tag(on, sandbox):
    push(on, "1.0.0")
    res = play("deploy.yml", "-e", "ref=1.0.0")
    assert res.returncode == 0, tail(res)
    assert health(sandbox) == {"status": 200, "ok": True, "sha": sha("a")}
    assert live(on) == "1.0.0"
    states = as_senex(on, "systemctl --user is-active " + " ".join(f"{u}.service" for u in UNITS))
    assert states.split() == ["active"] * len(UNITS)


def test_the_site_is_django_through_nginx_with_static_files_from_the_mount(sandbox):
    code, page = https(sandbox, "/")
    assert code == 200 and "<h1>Senex Trader</h1>" in page and f"release {sha('a')[:12]}" in page
    # Collected by the deploy's collectstatic hook; served by nginx (Django serves no static
    # files with DEBUG off), with nginx's cache header.
    out = subprocess.run(["curl", "-sk", "-D", "-", "--resolve", f"{SITE}:{sandbox.https_port}:127.0.0.1",
                          f"https://{SITE}:{sandbox.https_port}/static/senex/app.css"],
                         capture_output=True, text=True, timeout=20).stdout
    assert out.startswith("HTTP/") and " 200" in out.splitlines()[0] and "#1f4e79" in out, out[:500]
    assert "max-age=3600" in out
    assert https(sandbox, "/static/senex/missing.css")[0] == 404


def test_a_signal_goes_through_celery_and_an_upload_is_served_from_media(sandbox):
    code, body = https(sandbox, "/api/signals", "POST", json.dumps({"symbol": "BTCUSDT", "action": "buy"}))
    assert code == 201, body
    signal_id = json.loads(body)["id"]
    wait_for(lambda: json.loads(https(sandbox, f"/api/signals/{signal_id}")[1]).get("status") == "processed",
             "the Celery worker to process the signal")
    code, body = https(sandbox, "/api/uploads/report", "POST", "pnl 42")
    assert code == 201, body
    url = json.loads(body)["url"]
    assert url.startswith("/media/uploads/report") and https(sandbox, url) == (200, "pnl 42")


def test_deploy_the_second_tag_runs_the_hooks(on, sandbox):
    push(on, "1.1.0")
    res = play("deploy.yml", "-e", "ref=1.1.0")
    assert res.returncode == 0, tail(res)
    assert health(sandbox)["sha"] == sha("b") and live(on) == "1.1.0"
    # b changed only app.css: collectstatic ran in b's image before the switch.
    assert "#7a1f1f" in https(sandbox, "/static/senex/app.css")[1]
    # migrate ran: Django's migration table records the fixture's migration.
    applied = as_senex(on, "podman exec senex-postgres psql -U senex -d senex -Atc "
                           "\"SELECT name FROM django_migrations WHERE app = 'senex'\"")
    assert applied.split() == ["0001_initial"]


def test_a_failing_release_is_refused_and_the_previous_one_keeps_serving(on, sandbox):
    push(on, "1.2.0")
    res = play("deploy.yml", "-e", "ref=1.2.0")
    assert res.returncode != 0 and "failed the health gate" in res.stdout, tail(res)
    assert health(sandbox) == {"status": 200, "ok": True, "sha": sha("b")} and live(on) == "1.1.0"


def test_a_tag_that_was_never_pushed_is_refused_before_anything_stops(on, sandbox):
    started = as_senex(on, "podman inspect --format '{{.State.StartedAt}}' senex-web")
    res = play("deploy.yml", "-e", "ref=9.9.9")
    assert res.returncode != 0 and f"{IMAGE}:9.9.9 is not in the registry" in res.stdout, tail(res)
    assert as_senex(on, "podman inspect --format '{{.State.StartedAt}}' senex-web") == started
    assert health(sandbox)["sha"] == sha("b")


def test_rollback_goes_back_to_the_first_tag(on, sandbox):
    res = play("rollback.yml")
    assert res.returncode == 0, tail(res)
    assert health(sandbox)["sha"] == sha("a") and live(on) == "1.0.0"
    audit = [json.loads(line) for line in on.file(f"{HOME}/state/audit.jsonl").content_string.splitlines()]
    assert [(a["action"], a["to"], a["result"]) for a in audit[-4:]] == [
        ("deploy", "1.0.0", "ok"), ("deploy", "1.1.0", "ok"), ("deploy", "1.2.0", "failed"), ("rollback", "1.0.0", "ok")]


# ------------------------------------------------------------------ operations

def mails(on) -> list[str]:
    """Bodies of the mails the test receiver on 127.0.0.1:2525 got, whitespace collapsed."""
    record = on.file("/var/tmp/alert-receiver.jsonl")
    lines = record.content_string.splitlines() if record.exists else []
    return [" ".join(m["body"]["data"].split()) for m in map(json.loads, lines) if m["channel"] == "smtp"]


def test_the_nightly_backup_and_its_drill_and_a_corrupted_backup_failing_it_with_one_mail(on):
    drill_file = "/var/backups/tradeops/senex/drill.json"
    assert on.service("tradeops-backup@senex.timer").is_enabled and on.service("tradeops-drill@senex.timer").is_enabled
    on.check_output("systemctl start tradeops-backup@senex.service")  # what the nightly timer starts
    newest = json.loads(on.check_output("tradeops-backup list senex --json"))["backups"][0]
    assert newest["reason"] == "timer"
    on.check_output("systemctl start tradeops-drill@senex.service")  # what the weekly timer starts
    drill = json.loads(on.file(drill_file).content_string)
    assert drill["result"] == "ok" and drill["backup"] == newest["name"], drill
    assert drill["counts"]["postgres:signals"] >= 1
    # The newest backup corrupted on disk: the drill fails, mails once, says why.
    made = json.loads(on.check_output("tradeops-backup run senex --reason corrupt"))
    on.run_expect([0], f"printf x | dd of={made['path']} bs=1 seek=300 conv=notrunc status=none")
    seen = len([m for m in mails(on) if "tradeops-drill@senex.service failed" in m])
    for _ in (1, 2):
        assert on.run("systemctl start tradeops-drill@senex.service").rc != 0
    drill = json.loads(on.file(drill_file).content_string)
    assert drill["result"] == "failed" and "is corrupted" in drill["error"] and drill["backup"] == made["backup"], drill
    wait_for(lambda: len([m for m in mails(on) if "tradeops-drill@senex.service failed" in m]) > seen,
             "the drill's failure mail", timeout=30)
    time.sleep(3)
    assert len([m for m in mails(on) if "tradeops-drill@senex.service failed" in m]) == seen + 1, mails(on)[-3:]
    on.run_expect([0], f"rm {made['path']} {made['path']}.sha256")
    assert on.run("systemctl start tradeops-drill@senex.service").rc == 0


def test_the_watchdog_restarts_a_frozen_web_after_three_failed_checks_and_mails(on, sandbox):
    """The team's watchdog rule: 3 failed /health/simple/ checks restart web, then a mail."""
    def web_pid() -> int:
        return int(as_senex(on, "podman container inspect --format '{{.State.Pid}}' senex-web"))

    def restart_mails() -> list[str]:
        return [m for m in mails(on) if "senex-web.service failed 3 consecutive health checks" in m]

    # The timer's rounds would race the test's: run the rounds by hand.
    on.run_expect([0], "systemctl stop tradeops-watchdog.timer")
    on.run_expect([0], "tradeops-watchdog reset senex")
    seen, pid = len(restart_mails()), web_pid()
    on.run_expect([0], f"kill -STOP {pid}")
    try:
        for _ in (1, 2):
            on.run_expect([0], "systemctl start tradeops-watchdog.service")
            assert web_pid() == pid
        on.run_expect([0], "systemctl start tradeops-watchdog.service")  # the 3rd: restart
        assert web_pid() != pid
    finally:
        on.run(f"kill -CONT {pid}")
        on.run("systemctl start tradeops-watchdog.timer")
    wait_for(lambda: health(sandbox).get("sha") == sha("a"), "web to answer again")
    wait_for(lambda: len(restart_mails()) > seen, "the watchdog's mail", timeout=30)
    assert len(restart_mails()) == seen + 1


def test_no_secret_in_ansible_output():
    assert OUTPUTS and all(secret not in out for out in OUTPUTS for secret in SECRETS)
