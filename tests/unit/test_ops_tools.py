"""The host-side ops tools, run on the controller against temp directories: backup/verify/
restore of a live SQLite database, retention, refusal of a corrupted archive, the alert
rate limit and recovery (roles/backup/files/tradeops-backup, roles/alert/files/tradeops-alert)."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from _scripts import load_script

ROOT = Path(__file__).resolve().parents[2]
BACKUP = ROOT / "roles/backup/files/tradeops-backup"
ALERT = ROOT / "roles/alert/files/tradeops-alert"
backup_mod = load_script(BACKUP, "tradeops_backup")


@pytest.fixture()
def app(tmp_path: Path) -> dict:
    root = tmp_path / "srv/demo"
    data = root / "shared/data"
    (data / "locks").mkdir(parents=True)
    conn = sqlite3.connect(data / "app.db")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    conn.executemany("INSERT INTO t (v) VALUES (?)", [(f"row {i}",) for i in range(500)])
    conn.commit()
    (data / "locks/worker.lock").write_text("{}")
    (data / "notes.txt").write_text("hello")
    cfg_dir = tmp_path / "etc"
    cfg_dir.mkdir()
    cfg = {"name": "demo", "root": str(root), "dir": str(tmp_path / "backups/demo"), "paths": ["shared/data"],
           "exclude": ["*.lock"], "dumps": [{"name": "extra.txt", "command": "echo dumped"}],
           "keep_daily": 3, "keep_weekly": 2, "keep_last": 1, "max_age_hours": 26,
           "http": None, "ports": [], "singletons": []}
    (cfg_dir / "demo.json").write_text(json.dumps(cfg))
    yield {"root": root, "data": data, "conn": conn, "env": dict(os.environ, TRADEOPS_BACKUP_CONFIG_DIR=str(cfg_dir)),
           "cfg": cfg}
    conn.close()


def cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BACKUP), *args], env=env, capture_output=True, text=True, timeout=60)


def test_backup_of_a_live_database_restores_exactly(app):
    res = cli(app["env"], "run", "demo", "--reason", "test")  # the writer's connection is open (WAL)
    assert res.returncode == 0, res.stderr
    made = json.loads(res.stdout)
    assert made["sqlite"] == ["shared/data/app.db"] and made["dumps"] == ["extra.txt"]
    app["conn"].execute("DELETE FROM t WHERE id > 100")
    app["conn"].commit()
    assert cli(app["env"], "verify", "demo", "latest").returncode == 0
    res = cli(app["env"], "restore", "demo", "latest")
    assert res.returncode == 0, res.stderr
    restored = sqlite3.connect(app["data"] / "app.db")
    assert restored.execute("SELECT count(*), max(v) FROM t").fetchone() == (500, "row 99")
    assert (app["data"] / "notes.txt").read_text() == "hello"
    assert not (app["data"] / "locks/worker.lock").exists()  # excluded from the backup
    assert (app["root"] / "shared/.data.pre-restore/locks/worker.lock").exists()  # old data kept


def test_a_corrupted_archive_is_refused_and_nothing_changes(app):
    made = json.loads(cli(app["env"], "run", "demo").stdout)
    archive = Path(made["path"])
    body = bytearray(archive.read_bytes())
    body[len(body) // 2] ^= 0xFF
    archive.write_bytes(body)
    before = sorted(p.name for p in app["data"].iterdir())
    res = cli(app["env"], "restore", "demo", archive.name)
    assert res.returncode == 4
    assert "is corrupted" in res.stderr and "nothing was changed" in res.stderr
    assert sorted(p.name for p in app["data"].iterdir()) == before
    assert not list(app["root"].glob("shared/.*restoring*"))


def drill_cfg(app, **extra) -> None:
    cfg = dict(app["cfg"], **extra)
    (Path(app["env"]["TRADEOPS_BACKUP_CONFIG_DIR"]) / "demo.json").write_text(json.dumps(cfg))


def test_a_restore_drill_checks_a_scratch_copy_and_records_the_rows(app):
    drill_cfg(app, drill_tables={"shared/data/app.db": ["t"]},
              dumps=[{"name": "extra.txt", "command": "echo dumped", "drill_command": "grep -qx dumped"}])
    assert cli(app["env"], "run", "demo").returncode == 0
    before = sorted(p.name for p in app["data"].iterdir())
    res = cli(app["env"], "drill", "demo")
    assert res.returncode == 0, res.stderr
    result = json.loads(res.stdout)
    assert result["result"] == "ok" and result["counts"] == {"shared/data/app.db:t": 500}
    recorded = Path(app["cfg"]["dir"]) / "drill.json"
    assert json.loads(recorded.read_text()) == result and recorded.stat().st_mode & 0o777 == 0o600
    # The live data was not touched, and no scratch copy is left behind.
    assert sorted(p.name for p in app["data"].iterdir()) == before
    assert not list(Path(app["cfg"]["dir"]).glob(".tmp-*"))


@pytest.mark.parametrize("break_it, why", [
    ("flip", "is corrupted"),
    ("table", "table missing of shared/data/app.db in the backup cannot be read"),
    ("dump", "the drill command of dump extra.txt failed"),
])
def test_a_failing_restore_drill_exits_4_and_records_why(app, break_it, why):
    tables = {"shared/data/app.db": ["t"] + (["missing"] if break_it == "table" else [])}
    drill_cfg(app, drill_tables=tables, dumps=[{"name": "extra.txt", "command": "echo dumped",
                                                "drill_command": "grep -qx other" if break_it == "dump" else "cat"}])
    archive = Path(json.loads(cli(app["env"], "run", "demo").stdout)["path"])
    if break_it == "flip":
        body = bytearray(archive.read_bytes())
        body[len(body) // 2] ^= 0xFF
        archive.write_bytes(body)
    res = cli(app["env"], "drill", "demo", "latest")
    assert res.returncode == 4 and why in res.stderr, res.stderr
    recorded = json.loads((Path(app["cfg"]["dir"]) / "drill.json").read_text())
    assert recorded["result"] == "failed" and why in recorded["error"] and recorded["backup"] == archive.name
    assert not list(Path(app["cfg"]["dir"]).glob(".tmp-*"))


def test_a_drill_command_s_row_counts_are_recorded_and_status_shows_them(app):
    # A Quadlet stack's drill command (tradeops-stack APP drill TABLE) prints its counts as JSON.
    drill_cfg(app, drill_tables={}, dumps=[{"name": "db.pgdump", "command": "echo dumped",
                                            "drill_command": "cat >/dev/null; echo '{\"postgres:orders\": 7}'"}])
    assert "last drill: none yet" in cli(app["env"], "status", "demo").stdout
    assert cli(app["env"], "run", "demo").returncode == 0
    res = cli(app["env"], "drill", "demo")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["counts"] == {"postgres:orders": 7}
    line = cli(app["env"], "status", "demo").stdout
    assert line.startswith("demo: backups: 1, newest backup demo-") and "last drill: ok at " in line
    assert "(postgres:orders 7 rows)" in line


def test_a_restore_of_a_stack_stops_and_starts_it_through_tradeops_stack(app, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(backup_mod, "STACK", str(tmp_path / "tradeops-stack"))
    (tmp_path / "tradeops-stack").write_text(f"#!/bin/sh\necho \"$@\" >> {tmp_path}/calls\n")
    (tmp_path / "tradeops-stack").chmod(0o755)
    cfg = dict(app["cfg"], stack="demo", audit_log=str(app["root"] / "state/audit.jsonl"),
               dumps=[{"name": "db.pgdump", "command": "echo dumped", "restore_command": f"cat > {tmp_path}/restored"}])
    (app["root"] / "state").mkdir()
    Path(cfg["dir"]).mkdir(parents=True)
    stack = backup_mod.App(cfg)
    made = stack.run("test", datetime.now(timezone.utc))
    result = stack.restore(stack.find(made["backup"]))
    calls = (tmp_path / "calls").read_text().split("\n")
    assert calls[:2] == ["demo stop", "demo start"]
    assert (tmp_path / "restored").read_text() == "dumped\n"
    assert "started healthy" in result["health"]
    entry = json.loads((app["root"] / "state/audit.jsonl").read_text().splitlines()[-1])
    assert entry["action"] == "restore" and entry["result"] == "ok"


def test_an_unfinished_archive_is_never_listed(app):
    made = json.loads(cli(app["env"], "run", "demo").stdout)
    Path(made["path"] + ".sha256").unlink()
    assert json.loads(cli(app["env"], "list", "demo", "--json").stdout)["backups"] == []
    assert cli(app["env"], "restore", "demo", "latest").returncode == 4


def test_retention_keeps_daily_weekly_and_last():
    app = backup_mod.App({"name": "x", "root": "/nonexistent", "dir": "/nonexistent", "keep_daily": 2,
                          "keep_weekly": 2, "keep_last": 1})
    stamps = ["20270104T010000Z", "20270106T010000Z", "20270108T010000Z", "20270111T010000Z",
              "20270112T010000Z", "20270112T090000Z"]
    backups = [backup_mod.Backup(Path(f"x-{s}-t.tar.gz"), datetime.strptime(s, "%Y%m%dT%H%M%SZ")
                                 .replace(tzinfo=timezone.utc), "t") for s in stamps]
    kept = sorted(p.name for p in app.keep(backups))
    # Days: the 12th (its newest) and the 11th; weeks: week 2 (12th 09:00) and week 1 (8th).
    assert kept == ["x-20270108T010000Z-t.tar.gz", "x-20270111T010000Z-t.tar.gz", "x-20270112T090000Z-t.tar.gz"]


class Receiver(BaseHTTPRequestHandler):
    got: list = []

    def do_POST(self) -> None:  # noqa: N802
        Receiver.got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def test_alerts_are_rate_limited_per_key_and_recover_once(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Receiver.got = []
    cfg = tmp_path / "alert.json"
    cfg.write_text(json.dumps({"channels": {"webhook": {"url": f"http://127.0.0.1:{server.server_port}/hook"}},
                               "rate_limit_sec": 3600, "state_file": str(tmp_path / "state.json"),
                               "host_label": "test"}))
    env = dict(os.environ, TRADEOPS_ALERT_CONFIG=str(cfg))

    def alert(*args: str) -> int:
        return subprocess.run([sys.executable, str(ALERT), *args], env=env, capture_output=True, timeout=30).returncode

    try:
        assert alert("recover", "k", "fine") == 0 and Receiver.got == []  # nothing was firing
        for _ in range(3):
            assert alert("send", "k", "broken") == 0
        assert alert("send", "other", "also broken") == 0
        assert [(g["key"], g["severity"]) for g in Receiver.got] == [("k", "alert"), ("other", "alert")]
        assert alert("recover", "k", "fixed") == 0
        assert alert("recover", "k", "fixed") == 0  # once
        assert alert("send", "k", "broken again") == 0  # a recovery ends the window
        assert [(g["key"], g["severity"]) for g in Receiver.got][2:] == [("k", "recovery"), ("k", "alert")]
    finally:
        server.shutdown()
    cfg.write_text(json.dumps({"channels": {"webhook": {"url": "http://127.0.0.1:9/secret-token"}},
                               "state_file": str(tmp_path / "state2.json")}))
    res = subprocess.run([sys.executable, str(ALERT), "send", "k", "t"], env=env, capture_output=True, text=True)
    assert res.returncode == 1 and "secret-token" not in res.stderr  # delivery failed, URL not shown
