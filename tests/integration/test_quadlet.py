"""What an operator sees of the Quadlet runtime (molecule/quadlet).

Converge set up the senex stack (rootless Podman Quadlet units of user senex: PostgreSQL,
Redis, web, worker, beat) and nginx, and deployed tag a of the throwaway repo that
molecule/quadlet/prepare.yml made (tags a, b and c; c makes /api/health answer 503). The
tests run in file order: each starts from the state the previous one left.
"""
from __future__ import annotations

import json
import shlex
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, git_sha, registry_push, run_playbook, ssh_host

REPO = ROOT / ".sandbox/molecule-quadlet/trader-repo"
VARS = ROOT / "molecule/quadlet/vars/quadlet.yml"
CONVERGE = "molecule/quadlet/converge.yml"
TEST_VARS = yaml.safe_load(VARS.read_text())
APP = TEST_VARS["quadlet_apps"][0]
HOME = APP["home"]
UNITS = [f"senex-{name}" for name in ("postgres", "redis", "web", "worker", "beat")]
SECRETS = [*TEST_VARS["quadlet_secrets"]["senex"].values(), TEST_VARS["quadlet_db_passwords"]["senex"]]
SUBSTRATE = ROOT / "molecule/_shared/vars/nested-quadlet.yml"
EXTRA = ["-e", "ansible_user=root", "-e", f"@{SUBSTRATE}", "-e", f"@{VARS}", "-e", f"quadlet_repo={REPO}"]
OUTPUTS: list[str] = []
WAIT = 90  # seconds, upper bound for anything the tests wait on


def sha(ref: str) -> str:
    return git_sha(REPO, ref)


@pytest.fixture(scope="module")
def host(sandbox):
    """testinfra host as root: this scenario converges without the base role (no deploy user)."""
    return ssh_host(sandbox, "root")


def play(inventory: Path, playbook: str, *args: str) -> subprocess.CompletedProcess:
    res = run_playbook(inventory, playbook, *EXTRA, *args, timeout=600)
    OUTPUTS.append(res.stdout + res.stderr)
    return res


def as_senex(host, command: str) -> str:
    """Run a command as the app user, in its systemd/Podman session."""
    uid = host.check_output("id -u senex")
    return host.check_output(f"cd / && runuser -u senex -- env XDG_RUNTIME_DIR=/run/user/{uid} sh -c {shlex.quote(command)}")


def psql(host, sql: str) -> str:
    return as_senex(host, f"podman exec senex-postgres psql -U senex -d senex -Atc {shlex.quote(sql)}")


# An HTTPS client on the host (it has python3, no curl): nginx on 127.0.0.1:443 with the
# site's name as SNI and Host, the self-signed certificate accepted. Prints status, body.
HTTPS = """
import http.client, socket, ssl, sys
ctx = ssl.create_default_context()
ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
class Nginx(http.client.HTTPSConnection):
    def connect(self):
        sock = socket.create_connection(("127.0.0.1", 443), 5)
        self.sock = ctx.wrap_socket(sock, server_hostname="senex.sandbox.test")
conn = Nginx("senex.sandbox.test", 443, context=ctx, timeout=5)
conn.request(sys.argv[1], sys.argv[2], sys.argv[3].encode() or None, {"Content-Type": "application/json"})
reply = conn.getresponse()
print(reply.status)
print(reply.read().decode())
"""


def https(host, method: str, path: str, body: str = "") -> tuple[int, dict]:
    out = host.check_output(f"python3 -c {shlex.quote(HTTPS)} {method} {path} {shlex.quote(body)}")
    code, text = out.split("\n", 1)
    return int(code), (json.loads(text) if text.startswith("{") else {})


def health(host) -> dict:
    """/api/health through nginx."""
    code, body = https(host, "GET", "/api/health")
    return {"status": code, **body}


def wait_for(predicate, what: str, timeout: float = WAIT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = predicate()
        except (AssertionError, RuntimeError, ValueError):
            result = None
        if result:
            return result
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def all_active(host) -> bool:
    states = as_senex(host, "systemctl --user is-active " + " ".join(f"{u}.service" for u in UNITS) + " || true")
    return states.split() == ["active"] * len(UNITS)


def rows(host) -> int:
    return int(psql(host, "SELECT count(*) FROM signals"))


def post_signal(host, symbol: str) -> int:
    code, body = https(host, "POST", "/api/signals", json.dumps({"symbol": symbol, "action": "buy", "qty": 1}))
    assert code == 201, body
    return body["id"]


def processed(host, signal_id: int) -> bool:
    return psql(host, f"SELECT status FROM signals WHERE id = {int(signal_id)}") == "processed"


# ------------------------------------------------------------------ the stack after converge

def test_stack_runs_as_the_unprivileged_user(host):
    assert all_active(host)
    # Rootless: root's Podman has no containers; senex's has all five, healthy.
    assert host.check_output("podman ps -aq") == ""
    table = as_senex(host, "podman ps --format '{{.Names}} {{.Status}}'")
    for unit in UNITS:
        assert any(line.startswith(unit + " ") and "(healthy)" in line for line in table.splitlines()), table
    assert host.file("/var/lib/systemd/linger/senex").exists
    assert host.user("senex").home == HOME
    assert as_senex(host, "podman exec senex-postgres pg_isready -U senex -d senex").endswith("accepting connections")
    assert as_senex(host, "podman exec senex-redis redis-cli ping") == "PONG"


def test_units_are_quadlet_files_with_dependencies_and_limits(host):
    units = f"{HOME}/.config/containers/systemd"
    for name in ["senex.network"] + [f"{u}.container" for u in UNITS]:
        assert host.file(f"{units}/{name}").user == "senex"
    web = host.file(f"{units}/senex-web.container").content_string
    for line in ("Image=localhost/senex:" + sha("a"), "Pull=never", "Network=senex.network",
                 "PublishPort=127.0.0.1:8000:8000", "Notify=healthy", "HealthCmd=python -m trader.probe http",
                 "Requires=senex-postgres.service senex-redis.service", "Restart=always", "MemoryMax=512M",
                 "WantedBy=default.target"):
        assert line in web.splitlines(), line
    pg = host.file(f"{units}/senex-postgres.container").content_string
    assert "HealthCmd=pg_isready -q -U senex -d senex" in pg and ":/var/lib/postgresql/data:U" in pg
    redis = host.file(f"{units}/senex-redis.container").content_string
    assert "HealthCmd=redis-cli ping" in redis and "--maxmemory 512mb --maxmemory-policy allkeys-lru" in redis
    # The Senex flags, as the running server reports them.
    for name, value in (("maxmemory-policy", "allkeys-lru"), ("stop-writes-on-bgsave-error", "yes")):
        assert as_senex(host, f"podman exec senex-redis redis-cli config get {name}").split() == [name, value]
    props = as_senex(host, "systemctl --user show -p MemoryMax,Restart senex-web.service")
    assert "Restart=always" in props and f"MemoryMax={512 * 1024 * 1024}" in props
    # Published on loopback only.
    listeners = host.check_output("ss -Hltn 'sport = :8000'")
    assert listeners and all("127.0.0.1:8000" in line for line in listeners.splitlines()), listeners


def test_web_health_through_nginx_reports_a(host):
    assert health(host) == health(host) | {"status": 200, "ok": True, "sha": sha("a")}


def test_worker_processes_a_job_through_redis_into_postgres(host):
    signal_id = post_signal(host, "BTCUSDT")
    wait_for(lambda: processed(host, signal_id), "the worker to process the signal")
    # The Redis path itself: a row and a job put in by hand are picked up by the worker.
    row = int(psql(host, "INSERT INTO signals (created, symbol, action, qty, status)"
                         " VALUES ('2026-01-01T00:00:00.000Z', 'REDISJOB', 'sell', 2, 'new') RETURNING id").split()[0])
    assert not processed(host, row)
    as_senex(host, f"podman exec senex-redis redis-cli RPUSH trader:signals:short {row}")
    wait_for(lambda: processed(host, row), "the worker to take the job from Redis")


def test_env_files_are_private_and_no_secret_is_in_a_unit(host):
    for name in ("app.env", "postgres.env"):
        env = host.file(f"{HOME}/env/{name}")
        assert env.mode == 0o600 and env.user == "senex" and env.group == "senex"
    assert TEST_VARS["quadlet_db_passwords"]["senex"] in host.file(f"{HOME}/env/postgres.env").content_string
    units = host.check_output(f"cat {HOME}/.config/containers/systemd/*")
    assert all(secret not in units for secret in SECRETS)
    # And the running containers got them.
    env = as_senex(host, "podman exec senex-worker env")
    assert TEST_VARS["quadlet_secrets"]["senex"]["EXCHANGE_API_SECRET"] in env


# ------------------------------------------------------------------ deploys and rollback

def test_the_deploy_hooks_ran_in_the_image_of_a(host):
    assert hook_shas(host)[0] == sha("a")
    collected = host.file(f"{HOME}/data/app/collected.txt")
    assert collected.user == "senex" and collected.content_string.strip() == sha("a")


def test_failing_image_goes_back_to_a_automatically(host, inventory):
    before = rows(host)
    res = play(inventory, "deploy.yml", "-e", "ref=c")
    assert res.returncode != 0
    assert "failed the health gate" in res.stdout and "back on " + sha("a")[:12] in res.stdout, res.stdout[-3000:]
    assert health(host)["sha"] == sha("a")
    assert host.file(f"{HOME}/state/current").content_string.strip() == sha("a")
    wait_for(lambda: all_active(host), "every unit to be active again")
    assert rows(host) == before
    audit = [json.loads(line) for line in host.file(f"{HOME}/state/audit.jsonl").content_string.splitlines()]
    assert audit[-1]["result"] == "failed" and audit[-1]["to"] == sha("c")


def hook_shas(host) -> list[str]:
    return psql(host, "SELECT string_agg(sha, ' ' ORDER BY id) FROM deploy_hooks").split()


def test_a_failing_hook_stops_the_deploy_before_anything_switches(host, inventory):
    pid, hooks_before = web_pid(host), hook_shas(host)
    collected = host.file(f"{HOME}/data/app/collected.txt").content_string
    failing = dict(APP, hooks={"before_switch": [
        {"name": "migrate", "command": "echo 'migration 0042: column qty already exists' >&2; exit 3"},
        {"name": "collectstatic", "command": "echo never > /data/collected.txt"}]})
    res = play(inventory, "deploy.yml", "-e", "ref=b", "-e", json.dumps({"quadlet_apps": [failing]}))
    assert res.returncode != 0, res.stdout[-3000:]
    out = " ".join(res.stdout.split())
    # Its output, and what runs now.
    assert "hook migrate failed (exit 3)" in out and "migration 0042: column qty already exists" in out, out[-3000:]
    assert f"still runs {sha('a')[:12]}" in out, res.stdout[-3000:]
    # Nothing switched: same tag, same web process, the second hook never ran.
    assert host.file(f"{HOME}/state/current").content_string.strip() == sha("a")
    assert web_pid(host) == pid and health(host)["sha"] == sha("a")
    assert host.file(f"{HOME}/data/app/collected.txt").content_string == collected
    assert hook_shas(host) == hooks_before
    audit = json.loads(host.file(f"{HOME}/state/audit.jsonl").content_string.splitlines()[-1])
    assert audit["result"] == "hook-failed" and audit["to"] == sha("b")


def test_deploy_b_over_a(host, inventory, tmp_path):
    # The controller's archive cache keeps the app's quadlet_cache_keep most recent archives:
    # an older one of this app goes; another app's archive and the base image stay.
    older, foreign, base = (tmp_path / f"senex-{'0' * 40}.tar.gz", tmp_path / f"trader-{'1' * 40}.tar.gz",
                            tmp_path / "tradeops-quadlet-base.tar")
    for path in (older, foreign, base):
        path.write_text("x")
    before = rows(host)
    res = play(inventory, "deploy.yml", "-e", "ref=b", "-e", f"quadlet_cache_dir={tmp_path}", "-e", "quadlet_cache_keep=1")
    assert res.returncode == 0, res.stdout[-3000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([f"senex-{sha('b')}.tar.gz", foreign.name, base.name])
    assert health(host)["sha"] == sha("b")
    assert all_active(host)
    assert rows(host) == before
    assert "Image=localhost/senex:" + sha("b") in host.file(
        f"{HOME}/.config/containers/systemd/senex-worker.container").content_string
    # The hooks ran in b's image, in order, before the switch.
    assert hook_shas(host)[-1] == sha("b")
    assert host.file(f"{HOME}/data/app/collected.txt").content_string.strip() == sha("b")


def test_pre_deploy_dump_exists_and_restores(host):
    dumps = host.check_output(f"ls -t {HOME}/backups").split()
    latest = next(d for d in dumps if f"-pre-{sha('b')[:12]}" in d)
    dump = host.file(f"{HOME}/backups/{latest}")
    assert dump.user == "senex" and dump.mode == 0o600
    psql(host, "DROP DATABASE IF EXISTS restore_check")
    psql(host, "CREATE DATABASE restore_check")
    as_senex(host, f"gunzip -c {HOME}/backups/{latest} | podman exec -i senex-postgres psql -q -U senex -d restore_check")
    restored = as_senex(host, "podman exec senex-postgres psql -U senex -d restore_check -Atc 'SELECT count(*) FROM signals'")
    assert int(restored) == rows(host) > 0


def test_rollback_goes_back_to_a(host, inventory):
    before = rows(host)
    res = play(inventory, "rollback.yml")
    assert res.returncode == 0, res.stdout[-3000:]
    assert health(host)["sha"] == sha("a")
    assert rows(host) == before
    signal_id = post_signal(host, "AFTERROLLBACK")
    wait_for(lambda: processed(host, signal_id), "the worker on a to process a signal")


# ------------------------------------------------------------------ backups of the stack

def backups(host) -> list[dict]:
    return json.loads(host.check_output("tradeops-backup list senex --json"))["backups"]


def test_the_timer_backs_up_the_database_and_the_data_mount(host):
    assert host.service("tradeops-backup@senex.timer").is_enabled
    before = len(backups(host))
    # What the timer starts, started now (its OnCalendar is at night).
    host.check_output("systemctl start tradeops-backup@senex.service")
    newest = backups(host)[0]
    assert len(backups(host)) == before + 1 and newest["reason"] == "timer"
    archive = host.file(f"/var/backups/tradeops/senex/{newest['name']}")
    assert archive.user == "root" and archive.mode == 0o600
    members = host.check_output(f"tar -tzf /var/backups/tradeops/senex/{newest['name']}").split()
    assert "MANIFEST.json" in members and "dumps/postgres.pgdump" in members
    manifest = json.loads(host.check_output(f"tar -xOzf /var/backups/tradeops/senex/{newest['name']} MANIFEST.json"))
    assert manifest["paths"] == ["data/app"] and manifest["dumps"]["postgres.pgdump"]["size"] > 0
    # A custom-format dump (pg_dump -Fc), which pg_restore reads.
    head = host.check_output(f"tar -xOzf /var/backups/tradeops/senex/{newest['name']} dumps/postgres.pgdump | head -c 5")
    assert head == "PGDMP"


def test_restore_yml_brings_back_deleted_rows(host, inventory):
    before = rows(host)
    assert before > 0
    psql(host, "DELETE FROM signals")
    assert rows(host) == 0
    res = play(inventory, "restore.yml", "-e", "app=senex", "-e", "backup=latest")
    assert res.returncode == 0, res.stdout[-3000:]
    assert rows(host) == before
    wait_for(lambda: all_active(host), "every unit to be active after the restore")
    assert health(host)["sha"] == sha("a")
    audit = [json.loads(line) for line in host.file(f"{HOME}/state/audit.jsonl").content_string.splitlines()]
    assert audit[-1]["action"] == "restore" and audit[-1]["result"] == "ok"
    assert host.file(f"{HOME}/state/audit.jsonl").user == "senex"
    signal_id = post_signal(host, "AFTERRESTORE")
    wait_for(lambda: processed(host, signal_id), "the worker to process a signal after the restore")


def test_the_drill_restores_into_a_scratch_database_and_counts_rows(host):
    newest = backups(host)[0]["name"]
    host.check_output("systemctl start tradeops-drill@senex.service")
    drill = json.loads(host.file("/var/backups/tradeops/senex/drill.json").content_string)
    assert drill["result"] == "ok" and drill["backup"] == newest, drill
    # The backup's rows: all but the signal posted after the restore.
    assert drill["counts"]["postgres:signals"] == rows(host) - 1
    assert "tradeops_drill" not in psql(host, "SELECT string_agg(datname, ' ') FROM pg_database")


def test_a_stack_whose_database_is_not_running_is_caught(host):
    # What converge runs for each stack; here for a stack description naming a container
    # that does not run.
    host.check_output("sed 's/senex-postgres/senex-nodb/' /etc/tradeops/stacks/senex.json > /etc/tradeops/stacks/ghost.json")
    try:
        res = host.run("tradeops-stack ghost check")
    finally:
        host.check_output("rm -f /etc/tradeops/stacks/ghost.json")
    assert res.rc == 1 and "container senex-nodb of user senex is not running" in res.stderr, res.stderr
    assert host.run("tradeops-stack senex check").rc == 0


def received(host) -> list[dict]:
    """What the test alert receiver got (prepare.yml): mails on 127.0.0.1:2525."""
    record = host.file("/var/tmp/alert-receiver.jsonl")
    return [json.loads(line) for line in record.content_string.splitlines()] if record.exists else []


def web_pid(host) -> int:
    return int(as_senex(host, "podman container inspect --format '{{.State.Pid}}' senex-web"))


def test_the_watchdog_restarts_a_frozen_web_after_three_failed_checks_and_mails(host):
    # The timer's rounds would race the test's: run the rounds by hand.
    host.run_expect([0], "systemctl stop tradeops-watchdog.timer")
    host.run_expect([0], "tradeops-watchdog reset senex")
    mails, pid = len(received(host)), web_pid(host)
    host.run_expect([0], f"kill -STOP {pid}")
    try:
        for n in (1, 2):
            host.run_expect([0], "systemctl start tradeops-watchdog.service")
            state = json.loads(host.check_output("tradeops-watchdog state"))["apps"]["senex"]
            assert (state["failures"], state["restarts"]) == (n, []), state
            assert web_pid(host) == pid
        host.run_expect([0], "systemctl start tradeops-watchdog.service")  # the 3rd: restart
        state = json.loads(host.check_output("tradeops-watchdog state"))["apps"]["senex"]
        assert state["failures"] == 0 and len(state["restarts"]) == 1, state
        assert web_pid(host) != pid
    finally:
        host.run(f"kill -CONT {pid}")
        host.run("systemctl start tradeops-watchdog.timer")
    assert health(host)["sha"] == sha("a")
    # (A long Subject: header is folded: compare with whitespace collapsed.)
    wanted = "senex-web.service failed 3 consecutive health checks"
    try:
        mail = wait_for(lambda: [m for m in received(host)[mails:] if m["channel"] == "smtp"
                                 and wanted in " ".join(m["body"]["data"].split())], "the watchdog's mail", timeout=30)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; received: {received(host)[mails:]}") from None
    assert len(mail) == 1 and "ops@senex.sandbox.test" in json.dumps(mail[0]["body"])


def test_status_shows_state_health_and_tag(host, inventory):
    res = play(inventory, "status.yml")
    assert res.returncode == 0, res.stdout[-2000:]
    for unit in UNITS:
        line = next(ln for ln in res.stdout.splitlines() if f"{unit} " in ln and "active" in ln)
        assert "running" in line and "healthy" in line, line
    assert f"live: {sha('a')[:12]}" in res.stdout and f"previous: {sha('b')[:12]}" in res.stdout
    assert "senex: backups: " in res.stdout and "last drill: ok" in res.stdout and "postgres:signals" in res.stdout


# ------------------------------------------------------------------ refusals

def test_rollback_to_a_never_built_sha_is_refused(host, inventory):
    before = host.file(f"{HOME}/state/current").content_string
    res = play(inventory, "rollback.yml", "-e", "ref=0123456789abcdef")
    assert res.returncode != 0 and "was ever built" in res.stdout and "Nothing was changed." in res.stdout, res.stdout[-2000:]
    assert "changed=0" in res.stdout
    res = play(inventory, "deploy.yml", "-e", "ref=no-such-tag")
    assert res.returncode != 0 and "never built" in res.stdout and "changed=0" in res.stdout, res.stdout[-2000:]
    assert host.file(f"{HOME}/state/current").content_string == before


def test_a_cache_keep_below_one_is_refused(host, inventory):
    before = host.file(f"{HOME}/state/current").content_string
    res = play(inventory, "deploy.yml", "-e", "ref=b", "-e", "quadlet_cache_keep=0")
    assert res.returncode != 0 and "quadlet_cache_keep is 0" in res.stdout, res.stdout[-2000:]
    assert "Nothing was changed." in res.stdout and "changed=0" in res.stdout
    assert host.file(f"{HOME}/state/current").content_string == before


@pytest.mark.parametrize("override, message", [
    ({"quadlet_db_passwords": {}}, "quadlet_db_passwords.senex is missing"),
    ({"quadlet_apps": [dict(APP, hooks={"before_switch": [{"name": "Migrate!", "command": "true"}]})]},
     'quadlet_apps["senex"].hooks.before_switch is invalid'),
    ({"services_apps": [{"name": "trader", "user": "trader", "root": "/srv/trader", "port": 8000, "alt_port": 8001,
                         "processes": [{"name": "api", "command": "python -m trader.api", "kind": "http"}]}]},
     "already used on this host by the systemd (PM2-style) runtime"),
])
def test_bad_input_is_refused_before_any_change(host, inventory, override, message):
    units = host.check_output(f"ls -l --time-style=+%s {HOME}/.config/containers/systemd {HOME}/env")
    res = play(inventory, CONVERGE, "-e", json.dumps(override))
    assert res.returncode != 0 and message in res.stdout, res.stdout[-2000:]
    assert "changed=0" in res.stdout
    assert host.check_output(f"ls -l --time-style=+%s {HOME}/.config/containers/systemd {HOME}/env") == units


# ------------------------------------------------------------------ registry images

REGISTRY = "127.0.0.1:5000"  # Debian's docker-registry on the host (prepare.yml): TLS, htpasswd
REG_IMAGE = f"{REGISTRY}/senex/app"
REG_VARS = ROOT / "molecule/quadlet/vars/registry.yml"
PULL_PASSWORD = yaml.safe_load(REG_VARS.read_text())["quadlet_registry_auth"][REGISTRY]["password"]
WRONG_PASSWORD = "wrong-pull-password-4d1e"
SECRETS += [PULL_PASSWORD, WRONG_PASSWORD]


@pytest.fixture(scope="module")
def registry(tmp_path_factory) -> list[str]:
    """Extra vars of the senex app with its image from the registry, and the registry's CA."""
    ca = (ROOT / ".sandbox/molecule-quadlet/registry-ca.crt").read_text()
    path = tmp_path_factory.mktemp("registry") / "ca.json"
    path.write_text(json.dumps({"quadlet_registry_ca": {REGISTRY: ca}}))
    return ["-e", f"@{REG_VARS}", "-e", f"@{path}"]


def push(host, tag: str, commit: str):
    """What the team's CI does: build an image of a commit (here on top of the host-built one,
    labelled with the commit) and push it with the CI account; the host keeps no copy."""
    containerfile = (f"FROM localhost/senex:{commit}\n"
                     f"LABEL org.opencontainers.image.revision={commit} io.tradeops.test.tag={tag}\n")
    as_senex(host, f"d=$(mktemp -d) && printf %s {shlex.quote(containerfile)} > $d/Containerfile"
                   f" && podman build -q --pull=never -t {REG_IMAGE}:{tag} $d >/dev/null && rm -rf $d"
                   f" && {registry_push(REGISTRY, f'{REG_IMAGE}:{tag}')}")


def local_tags(host) -> set[str]:
    names = as_senex(host, "podman images --format '{{.Repository}}:{{.Tag}}'").split()
    assert not [n for n in names if n.startswith(REGISTRY)], names  # only local names are kept
    return {n.split(":", 1)[1] for n in names if n.startswith("localhost/senex:")}


def web_started(host) -> str:
    return as_senex(host, "podman inspect --format '{{.State.StartedAt}}' senex-web")


def test_registry_images_deploy_by_tag_then_another_then_roll_back(host, inventory, registry):
    push(host, "v1", sha("a"))
    push(host, "v2", sha("b"))
    res = play(inventory, "deploy.yml", *registry, "-e", "ref=v1")
    assert res.returncode == 0, res.stdout[-3000:]
    assert health(host)["sha"] == sha("a") and all_active(host)
    assert host.file(f"{HOME}/state/current").content_string.strip() == "v1"
    assert "Image=localhost/senex:v1" in host.file(f"{HOME}/.config/containers/systemd/senex-web.container").content_string
    assert host.file(f"/etc/containers/certs.d/{REGISTRY}/ca.crt").content_string.startswith("-----BEGIN CERTIFICATE-----")
    # The pull's credentials were on the host only while it ran.
    assert not host.file(f"{HOME}/build/registry-auth.json").exists
    audit = json.loads(host.file(f"{HOME}/state/audit.jsonl").content_string.splitlines()[-1])
    assert (audit["to"], audit["image"], audit["result"]) == ("v1", f"{REG_IMAGE}:v1", "ok")

    res = play(inventory, "deploy.yml", *registry, "-e", "ref=v2")
    assert res.returncode == 0, res.stdout[-3000:]
    assert health(host)["sha"] == sha("b")
    assert host.file(f"{HOME}/state/previous").content_string.strip() == "v1"
    # quadlet_keep: 2 images stay (the live one and the one before it); a's and b's host-built ones went.
    assert local_tags(host) == {"v1", "v2"}

    res = play(inventory, "rollback.yml", *registry)
    assert res.returncode == 0, res.stdout[-3000:]
    assert health(host)["sha"] == sha("a")
    assert host.file(f"{HOME}/state/current").content_string.strip() == "v1"
    signal_id = post_signal(host, "FROMREGISTRY")
    wait_for(lambda: processed(host, signal_id), "the worker of v1 to process a signal")


@pytest.mark.parametrize("ref, override, message", [
    ("v2", {"quadlet_registry_auth": {REGISTRY: {"username": "senex-pull", "password": WRONG_PASSWORD}}},
     f"{REGISTRY} refused the credentials of quadlet_registry_auth"),
    ("v9", {}, f"{REG_IMAGE}:v9 is not in the registry"),
    ("v2:latest", {}, 'quadlet_ref (-e ref=...) "v2:latest" is refused'),
])
def test_a_wrong_credential_or_a_missing_tag_is_refused_before_anything_stops(host, inventory, registry,
                                                                              ref, override, message):
    started, live = web_started(host), host.file(f"{HOME}/state/current").content_string
    res = play(inventory, "deploy.yml", *registry, "-e", f"ref={ref}", "-e", json.dumps(override))
    assert res.returncode != 0 and message in res.stdout, res.stdout[-2000:]
    assert "Nothing was changed" in res.stdout and "changed=0" in res.stdout
    assert web_started(host) == started and host.file(f"{HOME}/state/current").content_string == live
    assert not host.file(f"{HOME}/build/registry-auth.json").exists
    assert health(host)["sha"] == sha("a")


def test_the_app_goes_back_to_host_built_images(host, inventory):
    # Without `image:` the app is built on the host again (a's image was pruned: rebuilt).
    res = play(inventory, "deploy.yml", "-e", "ref=a")
    assert res.returncode == 0, res.stdout[-3000:]
    assert health(host)["sha"] == sha("a")
    assert host.file(f"{HOME}/state/current").content_string.strip() == sha("a")


def test_hand_made_units_are_refused_then_taken_over(host, inventory):
    """A host whose stack was set up by hand: its units are refused, then stopped and moved aside."""
    units = f"{HOME}/.config/containers/systemd"
    image = next(line.split("=", 1)[1] for line in host.file(f"{units}/senex-postgres.container").content_string.splitlines()
                 if line.startswith("Image="))
    legacy = ("[Unit]\nDescription=hand-made web of the old set-up\n[Container]\n"
              f"Image={image}\nExec=sleep infinity\nNetwork=none\nPodmanArgs=--cgroups=disabled\n")
    as_senex(host, f"printf %s {shlex.quote(legacy)} > {units}/senex-legacy.container && systemctl --user daemon-reload"
                   " && systemctl --user start senex-legacy.service")
    listing = host.check_output(f"ls -l --time-style=+%s {units} {HOME}/env")
    res = play(inventory, CONVERGE)
    assert res.returncode != 0 and f"{units}/senex-legacy.container" in res.stdout, res.stdout[-2000:]
    assert "-e quadlet_takeover=true" in res.stdout and "Nothing was changed." in res.stdout
    assert "changed=0" in res.stdout and host.check_output(f"ls -l --time-style=+%s {units} {HOME}/env") == listing
    assert as_senex(host, "systemctl --user is-active senex-legacy.service || true") == "active"
    res = play(inventory, CONVERGE, "-e", "quadlet_takeover=true")
    assert res.returncode == 0, res.stdout[-3000:]
    assert as_senex(host, "systemctl --user is-active senex-legacy.service || true") != "active"
    assert not host.file(f"{units}/senex-legacy.container").exists
    assert host.file(f"{HOME}/.config/containers/systemd.pre-tradeops/senex-legacy.container").content_string == legacy
    assert all_active(host) and health(host)["sha"] == sha("a")


# ------------------------------------------------------------------ restarts

def test_units_come_back_after_the_user_manager_restarts(host):
    uid = host.check_output("id -u senex")
    host.check_output(f"systemctl restart user@{uid}.service")
    wait_for(lambda: all_active(host), "the units to start again under the new user manager")
    wait_for(lambda: health(host).get("sha") == sha("a"), "web to answer again")


def test_units_come_back_after_a_host_restart(host, sandbox):
    # The sandbox container is the host: restart it as a whole (systemd boots again; linger
    # starts senex's manager, which starts the enabled Quadlet units).
    # Up to 60 s for the host's own shutdown (with -t 20 a slow stop races Podman's SIGKILL:
    # "container state improper").
    res = subprocess.run(["podman", "restart", "-t", "60", sandbox.name], capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stderr
    wait_for(lambda: host.run("systemctl is-system-running").stdout.strip() in ("running", "degraded"),
             "the host to boot")
    wait_for(lambda: all_active(host), "the Quadlet units to start at boot")
    wait_for(lambda: health(host).get("sha") == sha("a"), "web to answer after the restart")
    assert rows(host) > 0


def test_no_secret_in_ansible_output(inventory):
    res = play(inventory, CONVERGE, "-v")
    assert res.returncode == 0 and "changed=0" in res.stdout, res.stdout[-2000:]
    assert OUTPUTS and all(secret not in out for out in OUTPUTS for secret in SECRETS)
