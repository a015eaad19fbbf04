"""Backups that are proven by restoring them, alerts that arrive, a watchdog (molecule/ops).

Converge set up the trader units with the alert, backup, watchdog and logrotate roles and
deployed tag a of the throwaway repo made by molecule/ops/prepare.yml, which also started a
test-only alert receiver on 127.0.0.1 in the host (webhook and Telegram API on :9099, SMTP on
:2525) that appends every request to RECEIVED. Faults are injected on the host; the tests
run in file order, each starting from the state the previous one left.
"""
from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import RECEIVED, ROOT, received, run_playbook, wait_for

REPO = ROOT / ".sandbox/molecule-ops/trader-repo"
APP = "/srv/trader"
DATA = f"{APP}/shared/data"
BACKUPS = "/var/backups/tradeops/trader"
SANDBOX_VARS = yaml.safe_load((ROOT / "inventories/sandbox/group_vars/all/main.yml").read_text())
SECRETS = [SANDBOX_VARS["alert_telegram_bot_token"], SANDBOX_VARS["services_secrets"]["trader"]["EXCHANGE_API_SECRET"]]
EXTRA = ["-e", "ansible_user=root", "-e", f"release_repo={REPO}", "-e", "release_repo_subdir="]
OUTPUTS: list[str] = []

# Row statistics of a trader.db: count, and a sha256 over the columns no process rewrites
# (the worker flips status new -> processed after a restart, so status is left out).
DB_STATS = r"""
import hashlib, json, sqlite3, sys
conn = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
rows = conn.execute("SELECT id, created, symbol, action, qty FROM signals ORDER BY id").fetchall()
digest = hashlib.sha256(json.dumps(rows).encode()).hexdigest()
new = conn.execute("SELECT count(*) FROM signals WHERE status = 'new'").fetchone()[0]
full = hashlib.sha256(json.dumps(conn.execute("SELECT * FROM signals ORDER BY id").fetchall()).encode()).hexdigest()
print(json.dumps({"rows": len(rows), "sha256": digest, "new": new, "full": full,
                  "integrity": conn.execute("PRAGMA integrity_check").fetchone()[0]}))
"""

# Posts signals to the api for a bounded time; the worker marks them processed meanwhile.
LOAD = r"""
import json, sys, time, urllib.request
port, seconds, out = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
body = json.dumps({"symbol": "BTCUSDT", "action": "buy", "qty": 0.5}).encode()
sent, end = 0, time.monotonic() + seconds
while time.monotonic() < end and sent < 20000:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/signals", data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert resp.status == 201
    sent += 1
    if sent % 50 == 0:
        open(out, "w").write(str(sent))
open(out, "w").write(f"{sent} done")
"""


def play(inventory: Path, playbook: str, *args: str) -> subprocess.CompletedProcess:
    res = run_playbook(inventory, playbook, *EXTRA, *args, timeout=300)
    OUTPUTS.append(res.stdout + res.stderr)
    return res


def py(app, script: str, *args: str, user: str = "") -> str:
    prefix = f"runuser -u {user} -- " if user else ""
    return app.check_output(f"{prefix}python3 -c {shlex.quote(script)} " + " ".join(shlex.quote(a) for a in args))


def db_stats(app, path: str = f"{DATA}/trader.db", user: str = "trader") -> dict:
    return json.loads(py(app, DB_STATS, path, user=user))


def active_port(app) -> str:
    return app.check_output(f"readlink {APP}/slots/active")


HEALTH = r"""
import sys, urllib.error, urllib.request
try:
    print(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/api/health", timeout=3).status)
except urllib.error.HTTPError as exc:
    print(exc.code)
except OSError:
    print(0)
"""


def health(app) -> int:
    return int(py(app, HEALTH, active_port(app)))


def backup_names(app) -> list[str]:
    return [b["name"] for b in json.loads(app.check_output("tradeops-backup list trader --json"))["backups"]]


def test_files_are_private_and_units_wired(app):
    for path, mode in (("/etc/tradeops/alert.json", 0o600), ("/etc/tradeops/backup/trader.json", 0o600),
                       ("/etc/tradeops", 0o700), (BACKUPS, 0o700), ("/usr/local/sbin/tradeops-backup", 0o755),
                       ("/usr/local/sbin/tradeops-alert", 0o755)):
        f = app.file(path)
        assert (f.mode, f.user, f.group) == (mode, "root", "root"), path
    assert SANDBOX_VARS["alert_telegram_bot_token"] in app.file("/etc/tradeops/alert.json").content_string
    timer = "tradeops-backup@trader.timer"
    assert app.service(timer).is_enabled and app.service(timer).is_running
    assert app.check_output("systemctl show -p OnFailure --value tradeops-backup@trader.service") == \
        "tradeops-alert@tradeops-backup@trader.service.service"
    assert "02:15:00" in app.check_output(f"systemctl show -p TimersCalendar --value {timer}")
    watchdog_timer = app.service("tradeops-watchdog.timer")
    assert watchdog_timer.is_enabled and watchdog_timer.is_running
    assert app.check_output("systemctl show -p OnFailure --value tradeops-watchdog.service") == \
        "tradeops-alert@tradeops-watchdog.service.service"
    # From here on the tests run the checker themselves, so they can count its rounds.
    app.run_expect([0], "systemctl stop tradeops-watchdog.timer")


def test_the_deploy_made_a_pre_deploy_backup(app):
    names = backup_names(app)
    assert len(names) == 1 and names[0].endswith("-pre-deploy.tar.gz"), names
    assert app.run(f"tradeops-backup verify trader {names[0]}").rc == 0


def test_backup_under_load_then_restore_into_a_wiped_data_dir(app, inventory):
    port = active_port(app)
    app.run("rm -f /tmp/load.out")
    app.run(f"nohup python3 -c {shlex.quote(LOAD)} {port} 6 /tmp/load.out >/tmp/load.log 2>&1 &")
    # Start the backup once the writers are busy.
    assert wait_for(lambda: int((app.run("cat /tmp/load.out").stdout.split() or ["0"])[0]) >= 100, 20)
    res = app.run("tradeops-backup run trader --reason drill")
    assert res.rc == 0, res.stderr
    made = json.loads(res.stdout)
    assert made["sqlite"] == ["shared/data/trader.db"] and made["backup"].endswith("-drill.tar.gz")
    loaded = wait_for(lambda: "done" in app.run("cat /tmp/load.out").stdout, 30)
    assert loaded, app.run("cat /tmp/load.out /tmp/load.log").stdout
    # What the archive holds, read independently of the restore: a consistent snapshot.
    app.run_expect([0], f"rm -rf /tmp/snap && mkdir /tmp/snap && tar -xzf {BACKUPS}/{made['backup']} -C /tmp/snap")
    assert not app.file("/tmp/snap/files/shared/data/trader.db-wal").exists  # one self-contained file
    assert not app.file("/tmp/snap/files/shared/data/locks/worker.short.lock").exists  # excluded
    snap = db_stats(app, "/tmp/snap/files/shared/data/trader.db", user="")
    live = db_stats(app)
    assert snap["integrity"] == "ok"
    assert 100 <= snap["rows"] < live["rows"], (snap, live)  # taken mid-load: writes went on after it
    # Lose the data, then restore it with the playbook.
    app.run_expect([0], f"find {DATA} -mindepth 1 -delete")
    assert app.check_output(f"ls -A {DATA}") == ""
    res = play(inventory, "restore.yml", "-e", f"backup={made['backup']}")
    assert res.returncode == 0, res.stdout[-3000:]
    assert f"trader restored from {made['backup']}" in res.stdout
    restored = db_stats(app)
    assert (restored["rows"], restored["sha256"]) == (snap["rows"], snap["sha256"])
    assert restored["integrity"] == "ok"
    data, db = app.file(DATA), app.file(f"{DATA}/trader.db")
    assert (data.user, data.group, data.mode) == ("trader", "trader", 0o750)
    assert (db.user, db.group) == ("trader", "trader")
    assert health(app) == 200
    for unit in (f"trader-api@{port}", "trader-worker", "trader-scheduler"):
        assert app.service(unit).is_running, unit
    entry = json.loads(app.file(f"{APP}/shared/logs/deploy-audit.jsonl").content_string.splitlines()[-1])
    assert entry["action"] == "restore" and entry["ref"] == made["backup"] and entry["result"] == "ok"
    assert not app.file(f"{APP}/shared/deploy.lock").exists


def test_latest_restores_the_newest_backup(app, inventory):
    res = app.run("tradeops-backup run trader --reason pre-deploy")
    assert res.rc == 0, res.stderr
    newest = json.loads(res.stdout)["backup"]
    res = play(inventory, "restore.yml", "-e", "backup=latest")
    assert res.returncode == 0, res.stdout[-3000:]
    assert f"trader restored from {newest}" in res.stdout


def test_backups_are_copied_to_the_second_host_and_never_twice(app):
    """Converge pointed the copy at a restricted rrsync account on this host (molecule/ops):
    a timer-style run sends its archive and any earlier one not there yet (the pre-deploy
    backup skipped the copy), each arriving whole next to its .sha256; a second copy sends
    nothing, and nothing is ever removed there."""
    # Through the timer's own sandboxed unit (ProtectHome, ProtectSystem), as at 02:15.
    app.run_expect([0], "systemctl start tradeops-backup@trader.service")
    local = backup_names(app)
    config = json.loads(app.file("/etc/tradeops/backup/trader.json").content_string)
    remote = f"/srv/offsite/{config['copy']['host']}/trader"
    there = set(app.check_output(f"ls {remote}").split())
    assert local[0] in there and local[0].endswith("-timer.tar.gz"), (local, there)
    assert {f"{n}{ext}" for n in local for ext in ("", ".sha256")} <= there
    assert {n + ".sha256" for n in there if n.endswith(".tar.gz")} <= there
    # Checked where it landed, with its own sidecar; owned by the receiving account, private.
    app.run_expect([0], f"cd {remote} && sha256sum --check --strict --quiet *.sha256")
    for name in local:
        f = app.file(f"{remote}/{name}")
        assert (f.user, f.mode) == ("offsite", 0o600)
    again = json.loads(app.check_output("tradeops-backup copy trader"))
    assert again["sent"] == [] and again["finished"] == len(local)


def test_a_copy_to_an_unknown_host_key_fails_loudly_and_keeps_the_local_backup(app):
    """Host keys are never accepted blindly: a destination whose key is not the configured
    one fails the run with exit 6 (the timer's OnFailure alert), the archive stays local,
    and the next copy catches up."""
    known = "/etc/tradeops/backup/copy_known_hosts"
    saved = app.file(known).content_string
    app.run_expect([0], "rm -f /tmp/other-key* && ssh-keygen -q -t ed25519 -N '' -f /tmp/other-key")
    other = " ".join(app.file("/tmp/other-key.pub").content_string.split()[:2])
    try:
        app.run_expect([0], f"echo {shlex.quote('127.0.0.1 ' + other)} > {known}")
        before = set(backup_names(app))
        res = app.run("tradeops-backup run trader --reason manual")
        assert res.rc == 6, res.stdout + res.stderr
        error = json.loads(res.stdout)["error"]
        assert "Host key verification failed" in error and "local backups are intact" in error, error
        (new,) = set(backup_names(app)) - before
        assert new not in app.check_output("ls -R /srv/offsite")
    finally:
        app.run_expect([0], f"printf %s {shlex.quote(saved)} > {known}; rm -f /tmp/other-key*")
    assert json.loads(app.check_output("tradeops-backup copy trader"))["sent"] == [new]


def test_a_corrupted_archive_is_refused_and_the_data_left_untouched(app, inventory):
    # Quiet data: the worker has processed every signal.
    assert wait_for(lambda: db_stats(app)["new"] == 0, 30)
    name = backup_names(app)[0]
    app.run_expect([0], f"cp -p {BACKUPS}/{name} /tmp/good.tar.gz")
    py(app, "import sys; p = sys.argv[1]; b = bytearray(open(p, 'rb').read()); b[len(b) // 2] ^= 0xFF; "
            "open(p, 'wb').write(b)", f"{BACKUPS}/{name}")
    pids = {u: app.check_output(f"systemctl show -p MainPID --value {u}")
            for u in (f"trader-api@{active_port(app)}", "trader-worker")}
    before = (db_stats(app)["full"], app.check_output(f"stat -c %i {DATA}"))
    res = play(inventory, "restore.yml", "-e", f"backup={name}")
    assert res.returncode != 0
    assert f"{name} is corrupted" in res.stdout and "nothing was changed" in res.stdout, res.stdout[-3000:]
    assert (db_stats(app)["full"], app.check_output(f"stat -c %i {DATA}")) == before
    assert {u: app.check_output(f"systemctl show -p MainPID --value {u}") for u in pids} == pids
    assert app.check_output(f"ls -A {APP}/shared | grep -c restoring || true") == "0"
    assert not app.file(f"{APP}/shared/deploy.lock").exists
    # The CLI says the same, with its own exit code (4 = refused).
    res = app.run(f"tradeops-backup verify trader {name}")
    assert res.rc == 4 and "is corrupted" in res.stderr
    app.run_expect([0], f"cp -p /tmp/good.tar.gz {BACKUPS}/{name}")
    assert app.run(f"tradeops-backup verify trader {name}").rc == 0


def test_bad_restore_input_is_refused_before_anything(inventory):
    for args, text in ((["-e", "backup=../../etc/passwd"], "-e backup=<name|latest>"),
                       (["-e", "backup=trader-20990101T000000Z-none.tar.gz", "-e", "app=nope"], "-e app=<one of")):
        res = play(inventory, "restore.yml", *args)
        assert res.returncode != 0 and text in res.stdout and "Nothing was changed." in res.stdout, res.stdout[-2000:]
        assert "changed=0" in res.stdout


@pytest.mark.parametrize("override, message", [
    ({"alert_webhook_url": "", "alert_telegram_bot_token": "", "alert_telegram_chat_id": "", "alert_smtp_host": ""},
     "No alert channel is configured"),
    ({"alert_webhook_url": "ftp://example.com/hook"}, "Alert settings are invalid"),
    ({"backup_sources": {"trader": {"paths": ["../../etc"]}}}, 'backup_sources["trader"] is invalid'),
    ({"backup_sources": {"other": {}}}, 'backup_sources["other"] is invalid'),
    ({"backup_keep_daily": 0}, "Backup settings are invalid"),
    ({"backup_paths": ["/etc"]}, "backup_paths"),
    ({"watchdog_failures": 0}, "Watchdog settings are invalid"),
    ({"watchdog_max_restarts": "many"}, "watchdog_max_restarts"),
    ({"logrotate_size": "ten megabytes"}, "Log rotation settings are invalid"),
    ({"backup_copy_dest": "offsite@127.0.0.1:", "backup_copy_known_hosts": []}, "needs the form user@host:path"),
    ({"backup_copy_dest": "offsite@127.0.0.1:/srv/x;rm", "backup_copy_known_hosts": ["127.0.0.1 ssh-ed25519 AAAAC3Nz"]},
     "needs the form user@host:path"),
    ({"backup_copy_dest": "offsite@127.0.0.1:", "backup_copy_known_hosts": ["127.0.0.1 ssh-ed25519"]},
     "needs the form user@host:path"),
], ids=["no-channel", "bad-webhook", "source-path", "source-app", "keep-daily", "abs-path", "failures",
        "restarts-type", "logrotate-size", "copy-no-known-hosts", "copy-bad-dest", "copy-bad-known-host"])
def test_bad_ops_input_is_refused(inventory, override, message):
    res = play(inventory, "molecule/ops/validate.yml", "-e", json.dumps(override))
    assert res.returncode != 0 and message in res.stdout and "changed=0" in res.stdout, res.stdout[-2000:]


def test_an_unknown_backup_name_is_refused(app):
    res = app.run("tradeops-backup restore trader trader-20990101T000000Z-none.tar.gz")
    assert res.rc == 4 and "no backup named" in res.stderr and "nothing was changed" in res.stderr


def test_a_failed_backup_alerts_through_on_failure_then_recovers(app):
    unit = "tradeops-backup@trader.service"
    key = f"unit:{unit}"
    # The backup target becomes unwritable: a config whose archive directory is on the
    # read-only /sys (ReadOnlyPaths= needs mount namespaces, which this container lacks).
    cfg = json.loads(app.file("/etc/tradeops/backup/trader.json").content_string)
    cfg["dir"] = "/sys/tradeops-backups/trader"
    app.run_expect([0], "mkdir -p /run/tradeops-fault /run/systemd/system/tradeops-backup@trader.service.d")
    app.run_expect([0], f"echo {shlex.quote(json.dumps(cfg))} > /run/tradeops-fault/trader.json")
    app.run_expect([0], "printf '[Service]\\nEnvironment=TRADEOPS_BACKUP_CONFIG_DIR=/run/tradeops-fault\\n' "
                        "> /run/systemd/system/tradeops-backup@trader.service.d/fault.conf && systemctl daemon-reload")
    before = len(received(app, key))
    res = app.run(f"systemctl start {unit}")
    assert res.rc != 0
    alerts = wait_for(lambda: received(app, key)[before:], 30)
    assert len(alerts) == 1, received(app)
    assert alerts[0]["severity"] == "alert" and "failed" in alerts[0]["title"]
    assert "Read-only file system" in alerts[0]["message"]
    # The same alert went to Telegram and email too; the token is only in the request path.
    entries = [json.loads(line) for line in app.file(RECEIVED).content_string.splitlines()]
    assert any(e["path"].endswith("/sendMessage") and unit in e["body"]["text"] for e in entries)
    assert any(e["channel"] == "smtp" and unit in e["body"]["data"] for e in entries)
    # Fixed: the next backup works and a recovery message follows.
    app.run_expect([0], "rm -rf /run/systemd/system/tradeops-backup@trader.service.d /run/tradeops-fault && "
                        f"systemctl daemon-reload && systemctl reset-failed {unit}")
    app.run_expect([0], f"systemctl start {unit}")
    recovered = wait_for(lambda: [a for a in received(app, key)[before:] if a["severity"] == "recovery"], 30)
    assert len(recovered) == 1 and "work again" in recovered[0]["title"]
    assert app.run("tradeops-backup fresh trader").rc == 0


def watchdog(app) -> dict:
    res = app.run("tradeops-watchdog check")
    assert res.rc == 0, res.stderr
    return json.loads(res.stdout)


def watchdog_state(app) -> dict:
    return json.loads(app.check_output("tradeops-watchdog state"))["apps"]["trader"]


def main_pid(app, unit: str) -> str:
    return app.check_output(f"systemctl show -p MainPID --value {unit}")


def test_watchdog_restarts_a_frozen_api_after_exactly_n_failed_checks(app):
    app.run_expect([0], "tradeops-watchdog reset trader")
    assert watchdog(app)["apps"]["trader"]["status"] == "ok"
    unit = f"trader-api@{active_port(app)}.service"
    key = "watchdog:trader:health"
    pid, before = main_pid(app, unit), len(received(app, key))
    app.run_expect([0], f"kill -STOP {pid}")
    for n in (1, 2):  # N-1 failed checks: counted, nothing restarted
        app.run_expect([0], "systemctl start tradeops-watchdog.service")
        state = watchdog_state(app)
        assert (state["failures"], state["restarts"]) == (n, [])
        assert main_pid(app, unit) == pid and app.check_output(f"ps -o stat= -p {pid}").startswith("T")
    # The counters are on disk (root only), with wall-clock times: a reboot keeps them.
    state_file = app.file("/var/lib/tradeops/watchdog/state.json")
    assert (state_file.mode, state_file.user) == (0o600, "root")
    assert json.loads(state_file.content_string)["apps"]["trader"]["failures"] == 2
    app.run_expect([0], "systemctl start tradeops-watchdog.service")  # the Nth: restart
    assert main_pid(app, unit) not in (pid, "0")
    assert health(app) == 200
    state = watchdog_state(app)
    assert state["failures"] == 0 and len(state["restarts"]) == 1 and state["restarts"][0] > 1.7e9
    alerts = wait_for(lambda: received(app, key)[before:] if len(received(app, key)[before:]) >= 2 else [], 15)
    assert [a["severity"] for a in alerts] == ["alert", "recovery"], alerts
    assert "failed 3 consecutive health checks" in alerts[0]["title"] and "healthy again" in alerts[0]["title"]


def test_a_service_that_dies_on_start_is_a_crash_loop_with_one_alert(app):
    app.run_expect([0], "tradeops-watchdog reset trader")
    unit = f"trader-api@{active_port(app)}.service"
    loop_key = "watchdog:trader:crash-loop"
    # A bad setting: the api refuses to start (exit 2), every time.
    app.run_expect([0], "mkdir -p /run/systemd/system/trader-api@.service.d && printf "
                        "'[Service]\\nEnvironment=EXECUTION_MODE=BROKEN\\n' > /run/systemd/system/trader-api@.service.d/fault.conf"
                        " && systemctl daemon-reload")
    assert app.run(f"systemctl restart {unit}").rc != 0
    before, before_all = len(received(app, loop_key)), len(received(app))
    actions = []
    for _ in range(9):
        actions.append(watchdog(app)["apps"]["trader"]["action"])
    # N=3 failed checks per restart, M=2 restarts (molecule/ops/converge.yml), then the crash
    # loop instead of a 3rd.
    assert actions == [None, None, "restart"] * 2 + [None, None, "crash-loop"], actions
    invocation = app.check_output(f"systemctl show -p InvocationID --value {unit}")
    for _ in range(2):
        assert watchdog(app)["apps"]["trader"]["action"] == "crash-loop"
    assert app.check_output(f"systemctl show -p InvocationID --value {unit}") == invocation  # no more restarts
    crash = wait_for(lambda: received(app, loop_key)[before:], 10)
    assert len(crash) == 1 and "crash loop" in crash[0]["title"], crash
    new = received(app)[before_all:]
    assert len([a for a in new if a["severity"] == "alert"]) <= 2, new  # rate-limited: not a flood
    # Fixed and started by hand: the next round sees it healthy and says so.
    app.run_expect([0], "rm -rf /run/systemd/system/trader-api@.service.d && systemctl daemon-reload && "
                        f"systemctl reset-failed {unit}; systemctl start {unit}")
    assert watchdog(app)["apps"]["trader"]["status"] == "ok"
    recovered = wait_for(lambda: [a for a in received(app, loop_key)[before:] if a["severity"] == "recovery"], 10)
    assert len(recovered) == 1
    assert watchdog_state(app)["crash_loop"] is False


def test_watchdog_reports_certificates_backups_and_disk(app):
    app.run_expect([0], "mkdir -p /var/tmp/certs && cd /var/tmp/certs && for c in soon:5 later:60; do "
                        "openssl req -x509 -newkey rsa:2048 -nodes -keyout ${c%:*}.key -out ${c%:*}.pem "
                        "-days ${c#*:} -subj /CN=${c%:*}.test 2>/dev/null; done")
    # Stale backups: none left and the backup directory older than the freshness limit.
    app.run_expect([0], f"mkdir -p /var/tmp/aside && mv {BACKUPS}/trader-* /var/tmp/aside/ && "
                        f"touch -d '3 days ago' {BACKUPS}")
    report = watchdog(app)
    certs = {c["key"]: c["ok"] for c in report["certs"]}
    assert certs == {"cert:/var/tmp/certs/soon.pem": False, "cert:/var/tmp/certs/later.pem": True}
    assert [b["ok"] for b in report["backups"]] == [False]
    assert wait_for(lambda: received(app, "cert:/var/tmp/certs/soon.pem"), 10)
    stale = wait_for(lambda: received(app, "backup:trader"), 10)
    assert stale and "no backup" in stale[0]["title"]
    app.run_expect([0], f"mv /var/tmp/aside/trader-* {BACKUPS}/")
    assert [b["ok"] for b in watchdog(app)["backups"]] == [True]
    assert wait_for(lambda: [a for a in received(app, "backup:trader") if a["severity"] == "recovery"], 10)
    # A deploy lock left behind by a crashed deploy pauses the app's checks: that is alerted.
    app.run_expect([0], f"echo '{{\"holder\": \"crashed\"}}' > {APP}/shared/deploy.lock && "
                        f"touch -d '2 hours ago' {APP}/shared/deploy.lock")
    assert watchdog(app)["apps"]["trader"]["status"] == "skipped"
    assert wait_for(lambda: received(app, "watchdog:trader:deploy-lock"), 10)
    app.run_expect([0], f"rm {APP}/shared/deploy.lock")
    assert watchdog(app)["apps"]["trader"]["status"] == "ok"
    assert wait_for(lambda: [a for a in received(app, "watchdog:trader:deploy-lock") if a["severity"] == "recovery"], 10)
    # Disk: the same check with a 1 % limit, through a copy of the configuration.
    cfg = json.loads(app.file("/etc/tradeops/watchdog.json").content_string)
    cfg.update(disk_max_percent=1, apps=[], cert_paths=[], check_backups=False, check_failed_units=False)
    app.run_expect([0], f"echo {shlex.quote(json.dumps(cfg))} > /run/watchdog-disk.json")
    res = app.run("TRADEOPS_WATCHDOG_CONFIG=/run/watchdog-disk.json tradeops-watchdog check")
    assert res.rc == 0 and json.loads(res.stdout)["disk"][0]["ok"] is False
    assert wait_for(lambda: received(app, "disk:/"), 10)


def test_logs_rotate_at_the_size_limit_keeping_seven_compressed(app):
    log = f"{APP}/shared/logs/backend.log"
    conf = "/etc/logrotate.d/tradeops-trader"
    for _ in range(9):
        app.run_expect([0], f"runuser -u trader -- sh -c 'head -c 11M /dev/zero | tr \"\\\\0\" x >> {log}' && "
                            f"logrotate --state /var/tmp/logrotate.state {conf}")
    assert app.file(log).size == 0  # copytruncate: the app keeps its open file
    rotated = sorted(app.check_output(f"ls {APP}/shared/logs").split())
    assert rotated.count("backend.log") == 1
    assert sorted(r for r in rotated if r.startswith("backend.log.")) == [f"backend.log.{i}.gz" for i in range(1, 8)]
    assert app.file(f"{APP}/shared/logs/backend.log.1.gz").user == "trader"
    # A small file is left alone.
    app.run_expect([0], f"runuser -u trader -- sh -c 'echo small >> {log}' && logrotate --state /var/tmp/logrotate.state {conf}")
    assert app.file(log).size > 0
    assert "OnCalendar=hourly" in app.check_output("systemctl cat logrotate.timer")


def test_secrets_never_in_output(inventory):
    res = play(inventory, "molecule/ops/alert.yml", "-v")
    assert res.returncode == 0 and "changed=0" in res.stdout, res.stdout[-2000:]
    assert OUTPUTS and all(secret not in out for out in OUTPUTS for secret in SECRETS)


def test_retention_keeps_exactly_the_configured_set(app):
    """Simulated January 2027 with 7 daily, 4 weekly and the 3 newest kept. ISO weeks 1-4 of
    2027 end on Sundays 10, 17, 24 and 31; Jan 3 is in week 53 of 2026."""
    days = [f"2027-01-{d:02d}T02:00:00Z" for d in (3, 10, 12, 17, 20, 24, 25, 26, 27, 28, 29, 30, 31)]
    days.append("2027-01-31T05:00:00Z")
    script = " && ".join(f"tradeops-backup run trader --reason sim --now {d} >/dev/null 2>&1" for d in days)
    app.run_expect([0], script)
    expected = {f"trader-202701{d}T020000Z-sim.tar.gz" for d in ("31", "30", "29", "28", "27", "26", "25",
                                                                   "24", "17", "10")}
    expected.add("trader-20270131T050000Z-sim.tar.gz")
    # Gone: the 3rd (a fifth week back), the 12th and 20th (not the newest of their weeks), and
    # every real backup made earlier in this run (older than all of these).
    assert set(backup_names(app)) == expected
    for name in expected:
        assert app.file(f"{BACKUPS}/{name}.sha256").mode == 0o600
    assert app.check_output(f"ls -A {BACKUPS} | grep -c '^\\.tmp' || true") == "0"
