"""The seed systems' example inventories, each on a fresh sandbox host (molecule/seeds):
inventories/examples/trader (SHORT and LONG side by side), scalper (five services, the
dashboard for the owner's address only) and delta (FastAPI + a Vite SPA), run through
site.yml, deploy.yml and rollback.yml as a user types them.

prepare.yml pointed each example at its host (scripts/example_inventory.py: the example's
group_vars as they are in git, plus the sandbox's host variables from molecule/seeds/vars).
The first test converges all three hosts at once; the tests run in file order, each from the
state the previous one left.
"""
from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, SandboxHost, git_sha, run_playbook, ssh_host, wait_for

STATE = ROOT / ".sandbox/molecule-seeds"
EXAMPLES = ("trader", "scalper", "delta")
VARS = {name: yaml.safe_load((ROOT / f"molecule/seeds/vars/{name}.yml").read_text()) for name in EXAMPLES}
SECRETS = [v for name in EXAMPLES for key, env in VARS[name].items() if key.startswith("vault_")
           for v in (env.values() if isinstance(env, dict) else [env]) if len(str(v)) > 12]
OUTPUTS: list[str] = []
RECAP = re.compile(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def inventory(name: str) -> Path:
    return STATE / name / "hosts.yml"


def play(name: str, playbook: str, *args: str) -> subprocess.CompletedProcess:
    res = run_playbook(inventory(name), playbook, *args, timeout=1200)
    OUTPUTS.append(res.stdout + res.stderr)
    return res


def flat(out: str) -> str:
    return re.sub(r"\s+", " ", out)


def tail(res: subprocess.CompletedProcess) -> str:
    return (res.stdout + res.stderr)[-4000:]


def recap(res: subprocess.CompletedProcess) -> dict[str, int]:
    """changed= per host from the PLAY RECAP (and the run must have had no failure)."""
    rows = RECAP.findall(res.stdout)
    assert rows and all(r[2] == "0" and r[3] == "0" for r in rows), tail(res)
    return {r[0]: int(r[1]) for r in rows}


REPOS = {"trader": "trader-node-repo", "scalper": "scalper-repo", "delta": "delta-repo"}


def sha(name: str, ref: str) -> str:
    return git_sha(STATE / REPOS[name], ref)


@pytest.fixture(scope="module")
def hosts(sandbox_hosts: list[SandboxHost]) -> dict[str, SandboxHost]:
    """Example name -> its sandbox host (the order example_inventory.py used)."""
    return dict(zip(EXAMPLES, sandbox_hosts))


@pytest.fixture(scope="module")
def on(hosts):
    """Example name -> testinfra host as the deploy user with sudo (root cannot log in after site.yml)."""
    return {name: ssh_host(h, "deploy", sudo=True) for name, h in hosts.items()}


def revision(on, app: str) -> str:
    return on.file(f"/srv/{app}/current/REVISION").content_string.strip()


def main_pid(on, unit: str) -> int:
    return int(on.check_output(f"systemctl show -p MainPID --value {unit}"))


def https(host: SandboxHost, name: str, path: str, user: str | None = None) -> tuple[int, str]:
    """GET through the host's nginx from the controller (Podman's gateway, 10.88.0.1)."""
    port = host.https_port
    cmd = ["curl", "-sk", "-o", "-", "-w", "\n%{http_code}", "--max-time", "10",
           "--resolve", f"{name}:{port}:127.0.0.1", f"https://{name}:{port}{path}"]
    if user:
        cmd[1:1] = ["-u", user]
    body, _, code = subprocess.run(cmd, capture_output=True, text=True, timeout=20).stdout.rpartition("\n")
    return int(code or 0), body


# A GET from inside a sandbox host (hardened hosts have no curl): prints the HTTP status, or
# "error <reason>" when the connection fails. SNI and Host are the site's name.
_GET = """
import base64, http.client, socket, ssl, sys
addr, port, site, path, auth = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
try:
    sock = socket.create_connection((addr, port), timeout=4)
    if port == 443:
        sock = ssl._create_unverified_context().wrap_socket(sock, server_hostname=site)
    conn = http.client.HTTPConnection(site, port, timeout=4)
    conn.sock = sock
    headers = {"Authorization": "Basic " + base64.b64encode(auth.encode()).decode()} if auth else {}
    conn.request("GET", path, headers=headers)
    print(conn.getresponse().status)
except OSError as exc:
    print("error", type(exc).__name__)
"""


def get_from(on, site: str, path: str, auth: str = "", addr: str = "127.0.0.1", port: int = 443) -> str:
    code = base64.b64encode(_GET.encode()).decode()
    return on.check_output(f"python3 -c 'import base64; exec(base64.b64decode(\"{code}\"))' "
                           f"{addr} {port} {site} {path} '{auth}'")


def address(on) -> str:
    """The host's address on the Podman network."""
    return on.check_output("hostname -I").split()[0]


def test_site_converges_each_example_and_a_second_run_changes_nothing():
    with ThreadPoolExecutor(len(EXAMPLES)) as pool:
        first = dict(zip(EXAMPLES, pool.map(lambda n: play(n, "site.yml"), EXAMPLES)))
    for name, res in first.items():
        assert res.returncode == 0, f"site.yml -i examples/{name} failed:\n{tail(res)}"
    with ThreadPoolExecutor(len(EXAMPLES)) as pool:
        second = dict(zip(EXAMPLES, pool.map(lambda n: play(n, "site.yml"), EXAMPLES)))
    for name, res in second.items():
        assert res.returncode == 0, f"second site.yml -i examples/{name} failed:\n{tail(res)}"
        changed = recap(res)
        assert set(changed.values()) == {0}, f"examples/{name}: second run changed {changed}:\n{tail(res)}"


# --- Trader: SHORT and LONG side by side --------------------------------------------------

def test_trader_each_side_deploys_alone(on, hosts):
    for app in ("trader-short", "trader-long"):
        res = play("trader", "deploy.yml", "-e", f"app={app}", "-e", "ref=a")
        assert res.returncode == 0, tail(res)
        assert revision(on["trader"], app) == sha("trader", "a")
    short = https(hosts["trader"], "trader.example.com", "/api/trading/settings")
    long_ = https(hosts["trader"], "long.trader.example.com", "/api/trading/settings")
    assert short[0] == 200 and json.loads(short[1])["side"] == "SHORT", short
    assert long_[0] == 200 and json.loads(long_[1])["side"] == "LONG", long_


def test_trader_sides_hold_their_own_locks_as_their_own_users(on):
    host = on["trader"]
    for app, side in (("trader-short", "short"), ("trader-long", "long")):
        for proc, unit in (("backend", f"{app}-backend@{3081 if side == 'short' else 3091}.service"),
                           ("worker", f"{app}-worker.service")):
            lock = host.file(f"/srv/{app}/shared/data/locks/{proc}.{side}.lock")
            assert lock.exists and lock.user == app and lock.mode == 0o600, (app, proc)
            holder = json.loads(lock.content_string)
            assert holder["pid"] == main_pid(host, unit) and holder["tradeSide"] == side.upper()
        env = host.file(f"/srv/{app}/shared/.env")
        assert env.user == app and env.mode == 0o600


def test_trader_ui_asks_a_password_except_from_the_owner_and_the_api_never(on, hosts):
    # From the controller (the owner's address in this test): satisfy any lets it in.
    code, html = https(hosts["trader"], "trader.example.com", "/")
    assert code == 200 and "<script" in html
    # From anywhere else (the host's own loopback here): the UI asks, the API and /__proxy/ do not.
    password = VARS["trader"]["vault_trader_ui_password"]
    for site in ("trader.example.com", "long.trader.example.com"):
        assert get_from(on["trader"], site, "/") == "401"
        assert get_from(on["trader"], site, "/", f"trader:{password}") == "200"
        assert get_from(on["trader"], site, "/api/trading/settings") == "200"
        assert get_from(on["trader"], site, "/__proxy/") == "200"


def test_trader_deploying_long_leaves_short_untouched(on):
    host = on["trader"]
    before = main_pid(host, "trader-short-backend@3081.service"), main_pid(host, "trader-short-worker.service")
    res = play("trader", "deploy.yml", "-e", "app=trader-long", "-e", "ref=b")
    assert res.returncode == 0, tail(res)
    assert revision(host, "trader-long") == sha("trader", "b")
    assert revision(host, "trader-short") == sha("trader", "a")
    assert (main_pid(host, "trader-short-backend@3081.service"), main_pid(host, "trader-short-worker.service")) == before


def test_trader_rollback_of_long_alone(on):
    host = on["trader"]
    before = main_pid(host, "trader-short-backend@3081.service")
    res = play("trader", "rollback.yml", "-e", "app=trader-long")
    assert res.returncode == 0, tail(res)
    assert revision(host, "trader-long") == sha("trader", "a")
    assert main_pid(host, "trader-short-backend@3081.service") == before


def test_trader_locks_check_shows_live_holders_and_clear_is_refused_while_they_live(on):
    res = play("trader", "locks.yml", "-e", "app=trader-long")
    assert res.returncode == 0, tail(res)
    pid = main_pid(on["trader"], "trader-long-worker.service")
    assert f"lock worker.long.lock: pid {pid} alive" in res.stdout, tail(res)
    res = play("trader", "locks.yml", "-e", "app=trader-long", "-e", "clear=true")
    assert res.returncode != 0
    assert f"worker.long.lock is held by live pid {pid}; nothing was removed" in flat(res.stdout), tail(res)
    assert on["trader"].file("/srv/trader-long/shared/data/locks/worker.long.lock").exists


def test_trader_hard_restart_gives_new_holders_and_a_healthy_backend(on, hosts):
    host = on["trader"]
    old = main_pid(host, "trader-long-backend@3091.service"), main_pid(host, "trader-long-worker.service")
    short = main_pid(host, "trader-short-backend@3081.service")
    res = play("trader", "restart.yml", "-e", "app=trader-long")
    assert res.returncode == 0, tail(res)
    new = main_pid(host, "trader-long-backend@3091.service"), main_pid(host, "trader-long-worker.service")
    assert all(new) and set(new).isdisjoint(old)
    lock = json.loads(host.file("/srv/trader-long/shared/data/locks/worker.long.lock").content_string)
    assert lock["pid"] == new[1]
    assert main_pid(host, "trader-short-backend@3081.service") == short
    code, body = https(hosts["trader"], "long.trader.example.com", "/api/trading/settings")
    assert code == 200 and json.loads(body)["ok"] is True


@pytest.mark.parametrize("ref, why", [("c", "build"), ("d", "health")])
def test_trader_a_failing_build_or_health_is_refused_and_the_site_stays(on, hosts, ref, why):
    res = play("trader", "deploy.yml", "-e", "app=trader-short", "-e", f"ref={ref}", "-e", "release_health_timeout=8")
    assert res.returncode != 0
    out = flat(res.stdout + res.stderr)
    assert ("build" in out.lower()) if why == "build" else ("health" in out.lower()), tail(res)
    assert revision(on["trader"], "trader-short") == sha("trader", "a")
    code, body = https(hosts["trader"], "trader.example.com", "/api/trading/settings")
    assert code == 200 and json.loads(body)["ok"] is True


# --- scalper-base: five services, the dashboard for the owner only --------------------------

SCALPER_SINGLETONS = ("market-data", "strategy", "execution", "worker")


def test_scalper_deploys_five_services(on):
    res = play("scalper", "deploy.yml", "-e", "ref=a")
    assert res.returncode == 0, tail(res)
    host = on["scalper"]
    assert revision(host, "scalper") == sha("scalper", "a")
    for proc in SCALPER_SINGLETONS:
        assert host.service(f"scalper-{proc}.service").is_running, proc
    live = host.check_output("systemctl list-units --state=active --plain --no-legend 'scalper-web-dashboard@*'")
    assert re.search(r"scalper-web-dashboard@808[12]\.service", live), live
    # Each service writes its own JSONL log under data/, as the app user.
    logs = host.check_output("ls /srv/scalper/shared/data/logs").split()
    for proc in (*SCALPER_SINGLETONS, "web-dashboard"):
        assert any(n.startswith(proc) and n.endswith(".jsonl") for n in logs), (proc, logs)
    assert host.file("/srv/scalper/shared/data/logs").user == "scalper"


def test_scalper_dashboard_answers_the_owner_only(on):
    ip = address(on["scalper"])

    def services() -> dict:
        try:  # from the controller, 10.88.0.1: the owner's address in this test
            with urllib.request.urlopen(f"http://{ip}:8080/health/services", timeout=10) as resp:
                return json.loads(resp.read())
        except OSError:
            return {}
    body = wait_for(lambda: services().get("ok") and services(), timeout=30)
    assert body and body["mode"] == "DRY_RUN" and set(body["services"]) == set(SCALPER_SINGLETONS), body
    # From another address (the trader host): the firewall drops it.
    assert get_from(on["trader"], ip, "/health", addr=ip, port=8080).startswith("error"), "reached from another address"


def test_scalper_a_killed_service_comes_back_and_alerts_once(on):
    host = on["scalper"]
    unit = "scalper-execution.service"
    # The timer's rounds would race the test's: run them by hand meanwhile.
    host.run_expect([0], "systemctl stop tradeops-watchdog.timer")
    host.run_expect([0], "tradeops-watchdog check >/dev/null")  # the watchdog knows every pid now
    old = main_pid(host, unit)
    host.run_expect([0], f"kill -KILL {old}")
    new = wait_for(lambda: (lambda pid: pid if pid not in (0, old) else 0)(main_pid(host, unit)), timeout=30)
    assert new, f"{unit} did not come back"
    report = json.loads(host.check_output("tradeops-watchdog check"))
    assert [(r["unit"], r["old_pid"], r["pid"]) for r in report["restarts"]] == [(unit, old, new)], report["restarts"]
    assert [a["key"] for a in report["alerts"] if a["key"].startswith("restart:")] == [f"restart:{unit}:{new}"]
    again = json.loads(host.check_output("tradeops-watchdog check"))
    assert again["restarts"] == [] and not [a for a in again["alerts"] if a["key"].startswith("restart:")]
    host.run_expect([0], "systemctl start tradeops-watchdog.timer")


def test_scalper_refuses_a_live_key_on_a_dry_run_host_before_anything_changes(on):
    host = on["scalper"]
    env_before = host.file("/srv/scalper/shared/.env").mtime
    key = "seeds-live-key-must-not-print-6a2d"
    extra = dict(VARS["scalper"]["vault_scalper_env"], EXCHANGE_API_KEY=key)
    res = play("scalper", "site.yml", "-e", json.dumps({"vault_scalper_env": extra}))
    assert res.returncode != 0
    out = flat(res.stdout + res.stderr)
    assert "services_secrets.scalper.EXCHANGE_API_KEY is live-only" in out and "DRY_RUN" in out, tail(res)
    assert key not in res.stdout + res.stderr
    assert host.file("/srv/scalper/shared/.env").mtime == env_before
    assert not re.search(r"changed=[1-9]", res.stdout)


def test_scalper_deploy_b_then_a_failing_health_is_refused(on):
    host = on["scalper"]
    res = play("scalper", "deploy.yml", "-e", "ref=b")
    assert res.returncode == 0, tail(res)
    assert revision(host, "scalper") == sha("scalper", "b")
    ip = address(host)
    with urllib.request.urlopen(f"http://{ip}:8080/", timeout=10) as resp:
        assert "(B)" in resp.read().decode()
    res = play("scalper", "deploy.yml", "-e", "ref=c", "-e", "release_health_timeout=8")
    assert res.returncode != 0 and "health" in flat(res.stdout).lower(), tail(res)
    assert revision(host, "scalper") == sha("scalper", "b")


# --- scalper: following master by itself (the cron job, done right) -------------------------

def follow_state(on) -> dict:
    f = on["scalper"].file("/srv/scalper/shared/follow/state.json")
    return json.loads(f.content_string) if f.exists else {}


def push(hosts, ref: str) -> None:
    """What a developer's push does: master of the remote (the delta host) moves to ref."""
    remote = hosts["delta"]
    env = dict(os.environ, GIT_SSH_COMMAND=f"ssh -i {remote.key} -o IdentitiesOnly=yes -o StrictHostKeyChecking=no "
                                           "-o UserKnownHostsFile=/dev/null -o LogLevel=ERROR")
    subprocess.run(["git", "-C", str(STATE / REPOS["scalper"]), "push", "-q", "--force",
                    f"ssh://git@127.0.0.1:{remote.ssh_port}/srv/git/scalper.git", f"{ref}^{{commit}}:refs/heads/master"],
                   check=True, capture_output=True, text=True, env=env, timeout=60)


def telegram_texts(on) -> list[str]:
    f = on["scalper"].file("/var/tmp/alert-receiver.jsonl")
    lines = f.content_string.splitlines() if f.exists else []
    return [json.dumps(json.loads(line)["body"]) for line in lines if "/telegram" in line]


def test_scalper_follows_master_takes_a_good_push_and_refuses_a_bad_one_once(on, hosts):
    host = on["scalper"]
    # The follower has seen master (b, pushed by prepare.yml) since the first deploy: no move yet.
    assert wait_for(lambda: follow_state(on).get("head") == sha("scalper", "b"), timeout=60), follow_state(on)
    assert revision(host, "scalper") == sha("scalper", "b")
    bad = sha("scalper", "c")
    push(hosts, "c")
    assert wait_for(lambda: bad in follow_state(on).get("refused", {}), timeout=120), follow_state(on)
    assert revision(host, "scalper") == sha("scalper", "b")
    time.sleep(25)  # two more rounds: still one alert
    refused = [t for t in telegram_texts(on) if bad[:12] in t and "was not taken" in t]
    assert len(refused) == 1, telegram_texts(on)
    good = sha("scalper", "d")
    push(hosts, "d")
    assert wait_for(lambda: revision(host, "scalper") == good, timeout=120), follow_state(on)
    # current moves before the deploy ends (singletons, audit entry, lock): wait for its end.
    assert wait_for(lambda: (follow_state(on).get("last") or {}).get("sha") == good, timeout=60), follow_state(on)
    assert not host.file("/srv/scalper/shared/deploy.lock").exists
    entry = json.loads(host.file("/srv/scalper/shared/logs/deploy-audit.jsonl").content_string.splitlines()[-1])
    assert (entry["user"], entry["action"], entry["sha"], entry["result"]) == ("follow", "deploy", good, "ok")
    ip = address(host)
    with urllib.request.urlopen(f"http://{ip}:8080/", timeout=10) as resp:
        assert "(D)" in resp.read().decode()


def test_scalper_rollback_pauses_following_until_resumed(on):
    res = play("scalper", "rollback.yml")
    assert res.returncode == 0, tail(res)
    assert revision(on["scalper"], "scalper") == sha("scalper", "b")
    res = play("scalper", "follow.yml")
    assert res.returncode == 0 and "follows master: PAUSED (rollback to" in flat(res.stdout), tail(res)
    time.sleep(15)
    assert revision(on["scalper"], "scalper") == sha("scalper", "b")  # d stays out while paused
    res = play("scalper", "follow.yml", "-e", "state=resume")
    assert res.returncode == 0, tail(res)
    assert follow_state(on).get("paused") is False
    res = play("scalper", "follow.yml", "-e", "state=sideways")
    assert res.returncode != 0 and "state (-e state=...) must be status, pause or resume" in flat(res.stdout)


USERS_DB = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
if sys.argv[2] == "fill":
    db.execute("create table if not exists users (id integer primary key, name text, api_role text)")
    db.executemany("insert into users (name, api_role) values (?, ?)", [(f"user{i}", "viewer") for i in range(250)])
    db.commit()
print(db.execute("select count(*), group_concat(name) from users").fetchone()[0],
      db.execute("pragma integrity_check").fetchone()[0])
"""


def test_scalper_data_backup_restores_identical_rows(on):
    host, data = on["scalper"], "/srv/scalper/shared/data"
    code = base64.b64encode(USERS_DB.encode()).decode()
    users = f"runuser -u scalper -- python3 -c 'import base64; exec(base64.b64decode(\"{code}\"))' {data}/users.db"
    assert host.check_output(f"{users} fill") == "250 ok"
    # A profile the app does not rewrite (the worker refreshes default.json every minute).
    profile = '{"profile": "owner", "max_leverage": 3}'
    blob = base64.b64encode(profile.encode()).decode()
    host.run_expect([0], f"echo {blob} | base64 -d | runuser -u scalper -- tee {data}/profiles/owner.json >/dev/null")
    res = host.run("tradeops-backup run scalper --reason drill")
    assert res.rc == 0, res.stderr
    made = json.loads(res.stdout)
    assert "shared/data/users.db" in made["sqlite"], made
    # Lose the database and the profiles, then restore with the playbook.
    host.run_expect([0], f"rm -f {data}/users.db && rm -rf {data}/profiles")
    res = play("scalper", "restore.yml", "-e", f"backup={made['backup']}")
    assert res.returncode == 0, tail(res)
    assert host.check_output(f"{users} count") == "250 ok"
    assert host.file(f"{data}/profiles/owner.json").content_string.strip() == profile
    assert host.file(f"{data}/users.db").user == "scalper"


def test_scalper_restore_drill_passes_and_a_corrupted_backup_fails_it_with_one_alert(on):
    host, drill_file = on["scalper"], "/var/backups/tradeops/scalper/drill.json"
    data = host.check_output("ls -la /srv/scalper/shared/data")
    assert host.service("tradeops-drill@scalper.timer").is_enabled
    res = host.run("systemctl start tradeops-drill@scalper.service")  # what the weekly timer starts
    assert res.rc == 0, res.stderr
    drill = json.loads(host.file(drill_file).content_string)
    assert drill["result"] == "ok" and drill["counts"] == {"shared/data/users.db:users": 250}, drill
    assert host.check_output("ls -la /srv/scalper/shared/data") == data  # the live data untouched
    # The newest backup corrupted on disk: the drill fails, alerts once, says why.
    made = json.loads(host.check_output("tradeops-backup run scalper --reason corrupt"))
    host.run_expect([0], f"printf x | dd of={made['path']} bs=1 seek=300 conv=notrunc status=none")

    def drill_alerts() -> list[str]:
        return [t for t in telegram_texts(on) if "tradeops-drill@scalper.service failed" in t]
    seen = len(drill_alerts())
    for _ in (1, 2):
        assert host.run("systemctl start tradeops-drill@scalper.service").rc != 0
    drill = json.loads(host.file(drill_file).content_string)
    assert drill["result"] == "failed" and "is corrupted" in drill["error"], drill
    assert drill["backup"] == made["backup"], drill
    assert wait_for(lambda: len(drill_alerts()) > seen, timeout=30), telegram_texts(on)
    time.sleep(3)
    assert len(drill_alerts()) == seen + 1, drill_alerts()
    # Without the bad archive the next drill passes again.
    host.run_expect([0], f"rm {made['path']} {made['path']}.sha256")
    assert host.run("systemctl start tradeops-drill@scalper.service").rc == 0
    assert json.loads(host.file(drill_file).content_string)["result"] == "ok"


def test_scalper_worker_removes_jsonl_logs_past_their_retention(on):
    host, logs = on["scalper"], "/srv/scalper/shared/data/logs"
    host.run_expect([0], f"runuser -u scalper -- sh -c 'echo {{}} > {logs}/old-2026-01-01.jsonl && "
                         f"echo {{}} > {logs}/recent-keep.jsonl' && touch -d '8 days ago' {logs}/old-2026-01-01.jsonl")
    assert wait_for(lambda: not host.file(f"{logs}/old-2026-01-01.jsonl").exists, timeout=30), "not removed"
    assert host.file(f"{logs}/recent-keep.jsonl").exists
    assert "log removed by retention" in host.check_output(
        "journalctl -q -t scalper-worker --since '-5 min' --no-pager -o cat | tail -n 20")
    host.run_expect([0], f"rm -f {logs}/recent-keep.jsonl")


@pytest.mark.parametrize("example, app, unit_of", [
    ("trader", "trader-short", lambda on: "trader-short-backend@3081.service"),
    ("scalper", "scalper", lambda on: f"scalper-web-dashboard@{on.check_output('readlink /srv/scalper/slots/active')}.service"),
])
def test_watchdog_restarts_a_frozen_http_process_after_n_failed_checks(on, example, app, unit_of):
    """Each seed's watchdog (watchdog_failures: 3): a frozen backend is restarted on the 3rd failed check."""
    host = on[example]
    unit = unit_of(host)
    # The timer's rounds and a post-switch watch would race the test's: run the rounds by hand.
    host.run_expect([0], "systemctl stop tradeops-watchdog.timer")
    host.run(f"systemctl stop tradeops-watch-{app}.service")  # a transient unit: absent once its window ended
    host.run_expect([0], f"tradeops-watchdog reset {app}")
    pid = main_pid(host, unit)
    host.run_expect([0], f"kill -STOP {pid}")
    try:
        for n in (1, 2):
            host.run_expect([0], "systemctl start tradeops-watchdog.service")
            state = json.loads(host.check_output("tradeops-watchdog state"))["apps"][app]
            assert (state["failures"], state["restarts"]) == (n, []), state
            assert main_pid(host, unit) == pid
        host.run_expect([0], "systemctl start tradeops-watchdog.service")  # the 3rd: restart
        assert wait_for(lambda: main_pid(host, unit) not in (0, pid), timeout=60), "not restarted"
        state = json.loads(host.check_output("tradeops-watchdog state"))["apps"][app]
        assert state["failures"] == 0 and len(state["restarts"]) == 1, state
    finally:
        host.run(f"kill -CONT {pid}")
        host.run("systemctl start tradeops-watchdog.timer")
    health = "/api/trading/settings" if example == "trader" else "/health"
    port = unit.split("@")[1].split(".")[0]
    assert wait_for(lambda: '"ok":true' in host.check_output(
        f"python3 -c \"import urllib.request as u; print(u.urlopen('http://127.0.0.1:{port}{health}', timeout=3)"
        ".read().decode().replace(' ', ''))\" || true"), timeout=60)


def test_trader_runtime_state_backup_restores_identical_files(on):
    host, data = on["trader"], "/srv/trader-short/shared/data"
    state = '{"positions": [{"symbol": "BTCUSDT", "side": "SHORT", "qty": 0.25}], "pending_cancel": []}'
    blob = base64.b64encode(state.encode()).decode()
    host.run_expect([0], f"runuser -u trader-short -- mkdir -p {data}/runtime && echo {blob} | base64 -d"
                         f" | runuser -u trader-short -- tee {data}/runtime/state.json >/dev/null")
    made = json.loads(host.check_output("tradeops-backup run trader-short --reason state"))
    host.run_expect([0], f"rm -rf {data}/runtime")
    res = play("trader", "restore.yml", "-e", "app=trader-short", "-e", f"backup={made['backup']}")
    assert res.returncode == 0, tail(res)
    restored = host.file(f"{data}/runtime/state.json")
    assert restored.content_string.strip() == state and restored.user == "trader-short"


# --- Delta Strangle: FastAPI + a Vite SPA -------------------------------------------------

def test_delta_serves_the_spa_and_the_api(on, hosts):
    res = play("delta", "deploy.yml", "-e", "ref=a")
    assert res.returncode == 0, tail(res)
    assert revision(on["delta"], "delta") == sha("delta", "a")
    code, html = https(hosts["delta"], "delta.example.com", "/")
    assert code == 200 and "<script" in html
    code, body = https(hosts["delta"], "delta.example.com", "/api/health")
    assert code == 200 and json.loads(body)["status"] == "ok"
    assert on["delta"].file("/srv/delta/shared/logs").user == "delta"


def test_delta_deploy_b_then_rollback(on):
    res = play("delta", "deploy.yml", "-e", "ref=b")
    assert res.returncode == 0, tail(res)
    assert revision(on["delta"], "delta") == sha("delta", "b")
    res = play("delta", "rollback.yml")
    assert res.returncode == 0, tail(res)
    assert revision(on["delta"], "delta") == sha("delta", "a")


def test_no_secret_reached_the_output():
    leaked = [s for s in SECRETS for out in OUTPUTS if s in out]
    assert not leaked, f"secrets printed: {sorted(set(leaked))}"
