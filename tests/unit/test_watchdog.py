"""The watchdog's app check on the controller (roles/watchdog/files/tradeops-watchdog): a real
HTTP server stands in for the live slot, systemctl is recorded instead of run. Restart after
exactly N failed checks, one alert and a recovery, a crash loop stopping the restarts, a held
deploy lock pausing the checks."""
from __future__ import annotations

import os
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from _scripts import load_script

ROOT = Path(__file__).resolve().parents[2]
WATCHDOG = ROOT / "roles/watchdog/files/tradeops-watchdog"
watchdog = load_script(WATCHDOG, "tradeops_watchdog")


class Health(BaseHTTPRequestHandler):
    status = 200
    body = b"{}"
    paths: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        Health.paths.append(self.path)
        self.send_response(Health.status)
        self.end_headers()
        self.wfile.write(Health.body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture()
def slot(tmp_path, monkeypatch):
    """An app root whose live slot is a local HTTP server; systemctl calls are recorded."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    root = tmp_path / "srv/demo"
    (root / "slots").mkdir(parents=True)
    (root / "shared").mkdir()
    (root / "current").mkdir()
    os.symlink(str(server.server_address[1]), root / "slots/active")
    calls: list[tuple[str, ...]] = []

    def fake_run(*cmd: str, timeout: float = 120) -> subprocess.CompletedProcess:
        calls.append(cmd)
        if cmd[:2] == ("systemctl", "restart") or cmd[2:3] == ("restart",):
            Health.status = Health.after_restart
        return subprocess.CompletedProcess(cmd, 0, "active" if cmd[2:3] == ("state",) else "", "")

    monkeypatch.setattr(watchdog, "run", fake_run)
    monkeypatch.setattr(watchdog, "unit_state", lambda unit: "active")
    monkeypatch.setattr(watchdog, "journal", lambda unit, lines=10: "")
    monkeypatch.setattr(watchdog, "ALERT", str(tmp_path / "no-alert-tool"))
    Health.status, Health.after_restart, Health.body, Health.paths = 200, 200, b"{}", []
    app = {"name": "demo", "root": str(root), "http": "api", "health_path": "/api/trading/settings"}
    yield {"app": app, "root": root, "calls": calls}
    server.shutdown()


def dog(state: dict, **cfg) -> "watchdog.Watchdog":
    base = {"failures": 3, "max_restarts": 2, "restart_window_sec": 3600, "recheck_timeout": 3, "health_timeout": 2}
    return watchdog.Watchdog({**base, **cfg}, state, watchdog.Alerts())


def restarts(calls) -> int:
    return sum(1 for c in calls if c[:2] == ("systemctl", "restart"))


def test_a_restart_after_exactly_three_failed_checks_then_one_recovery(slot):
    state: dict = {}
    Health.status = 503
    for i in (1, 2):
        result = dog(state).check_app(slot["app"])
        assert result["status"] == "failing" and result["action"] is None and result["failures"] == i
    assert restarts(slot["calls"]) == 0
    w = dog(state)
    result = w.check_app(slot["app"])
    assert result["action"] == "restart" and restarts(slot["calls"]) == 1
    assert slot["calls"][-1][2].startswith("demo-api@") and slot["calls"][-1][2].endswith(".service")
    assert [a["action"] for a in w.alerts.sent] == ["send", "recover"]
    assert "3 consecutive health checks (HTTP 503)" in w.alerts.sent[0]["title"]
    assert dog(state).check_app(slot["app"])["status"] == "ok"


def test_a_crash_loop_stops_the_restarts_with_one_alert(slot):
    state: dict = {}
    Health.status = Health.after_restart = 503
    sent = []
    for _ in range(12):
        w = dog(state)
        w.check_app(slot["app"])
        sent += w.alerts.sent
    assert restarts(slot["calls"]) == 2  # max_restarts
    assert sum(1 for a in sent if a["key"] == "watchdog:demo:crash-loop") == 1
    assert state["apps"]["demo"]["crash_loop"] is True


def test_a_held_deploy_lock_pauses_the_checks(slot):
    (slot["root"] / "shared/deploy.lock").write_text("{}")
    Health.status = 503
    state: dict = {}
    for _ in range(4):
        assert dog(state).check_app(slot["app"])["status"] == "skipped"
    assert restarts(slot["calls"]) == 0


def test_the_app_health_path_is_the_one_probed(slot):
    assert dog({}).check_app(slot["app"])["status"] == "ok"
    assert Health.paths == ["/api/trading/settings"]


@pytest.mark.parametrize("health, status, body, kept", [
    ({"json": {"ok": True}}, 200, b'{"ok": true, "open_orders": 2}', True),
    ({"json": {"ok": True}}, 200, b'{"ok": false}', False),   # 200, but the app says it is not ok
    ({"status": [204]}, 204, b"", True),                       # a 204 app is healthy, not "failing"
    ({"status": [204]}, 200, b"", False),
    ({"sha": True}, 200, b'{"sha": "an older one"}', True),    # the gate's sha check is the deploy's
])
def test_the_watchdog_keeps_the_apps_health_contract_as_the_deploy_gate_does(slot, health, status, body, kept):
    """One health contract on the host (tradeops_conventions.Health): the watchdog judges an
    answer as the deploy's gate does, status list and JSON keys included."""
    Health.status, Health.body = status, body
    app = {**slot["app"], "health": {"path": "/api/trading/settings", **health}}
    result = dog({}).check_app(app)
    assert (result["status"] == "ok") is kept, result


def test_a_stack_s_http_process_is_restarted_through_tradeops_stack(slot):
    # A Quadlet stack: no slots, the port from the config, its image tag in state/current.
    root = slot["root"].parent / "opt-senex"
    (root / "state").mkdir(parents=True)
    port = int(os.readlink(slot["root"] / "slots/active"))
    app = {"name": "senex", "root": str(root), "http": "web", "stack": True, "port": port, "health_path": "/health"}
    assert dog({}).check_app(app) == {"status": "skipped", "why": "no image deployed yet"}
    (root / "state/current").write_text("abc\n")
    state: dict = {}
    Health.status = 503
    for _ in (1, 2):
        assert dog(state).check_app(app)["action"] is None
    w = dog(state)
    result = w.check_app(app)
    assert result["action"] == "restart" and result["unit"] == "senex-web.service"
    assert ("/usr/local/sbin/tradeops-stack", "senex", "restart", "web") in slot["calls"]
    assert not [c for c in slot["calls"] if c[:1] == ("systemctl",)]
    assert "senex: senex-web.service failed 3 consecutive health checks (HTTP 503)" in w.alerts.sent[0]["title"]


def restart_dog(tmp_path, monkeypatch, units: dict[str, tuple[int, int]], state: dict) -> "watchdog.Watchdog":
    """A watchdog whose systemctl show answers with units: name -> (MainPID, NRestarts)."""
    root = tmp_path / "srv/demo"
    (root / "current").mkdir(parents=True, exist_ok=True)
    (root / "shared/logs").mkdir(parents=True, exist_ok=True)

    def fake_run(*cmd: str, timeout: float = 120) -> subprocess.CompletedProcess:
        blocks = [f"MainPID={units[u][0]}\nNRestarts={units[u][1]}\nActiveState=active" for u in cmd[4:]]
        return subprocess.CompletedProcess(cmd, 0, "\n\n".join(blocks), "")

    monkeypatch.setattr(watchdog, "run", fake_run)
    monkeypatch.setattr(watchdog, "journal", lambda unit, lines=10: "")
    monkeypatch.setattr(watchdog, "ALERT", str(tmp_path / "no-alert-tool"))
    app = {"name": "demo", "root": str(root), "http": None, "singletons": ["worker"]}
    return watchdog.Watchdog({"apps": [app]}, state, watchdog.Alerts())


def audit(tmp_path, when: str) -> None:
    (tmp_path / "srv/demo/shared/logs").mkdir(parents=True, exist_ok=True)
    with open(tmp_path / "srv/demo/shared/logs/deploy-audit.jsonl", "a") as fh:
        fh.write('{"time": "%s", "action": "deploy", "result": "ok"}\n' % when)


def test_a_restart_by_systemd_alerts_once(tmp_path, monkeypatch):
    state: dict = {}
    assert restart_dog(tmp_path, monkeypatch, {"demo-worker.service": (100, 0)}, state).check_restarts() == []
    dog2 = restart_dog(tmp_path, monkeypatch, {"demo-worker.service": (200, 1)}, state)
    found = dog2.check_restarts()
    assert [f["pid"] for f in found] == [200] and "systemd restarted it" in found[0]["why"]
    assert [a["key"] for a in dog2.alerts.sent] == ["restart:demo-worker.service:200"]
    dog3 = restart_dog(tmp_path, monkeypatch, {"demo-worker.service": (200, 1)}, state)
    assert dog3.check_restarts() == [] and dog3.alerts.sent == []


def test_a_pid_change_from_a_deploy_is_not_alerted_and_one_without_is(tmp_path, monkeypatch):
    state: dict = {}
    audit(tmp_path, "2026-12-01T10:00:00Z")
    restart_dog(tmp_path, monkeypatch, {"demo-worker.service": (100, 0)}, state).check_restarts()
    audit(tmp_path, "2026-12-01T11:00:00Z")  # a deploy restarted it
    assert restart_dog(tmp_path, monkeypatch, {"demo-worker.service": (150, 0)}, state).check_restarts() == []
    found = restart_dog(tmp_path, monkeypatch, {"demo-worker.service": (170, 0)}, state).check_restarts()
    assert [f["old_pid"] for f in found] == [150] and "no deploy" in found[0]["why"]


def test_no_restart_alert_while_a_deploy_holds_the_lock(tmp_path, monkeypatch):
    state: dict = {}
    restart_dog(tmp_path, monkeypatch, {"demo-worker.service": (100, 0)}, state).check_restarts()
    (tmp_path / "srv/demo/shared/deploy.lock").write_text("{}")
    assert restart_dog(tmp_path, monkeypatch, {"demo-worker.service": (120, 0)}, state).check_restarts() == []


def test_failed_units_alert_once_except_api_slots_and_alert_units(tmp_path, monkeypatch):
    """A failed unit is reported every round under its OnFailure= key (tradeops-alert's rate
    limit sends it once) and recovers once; an api slot (the health check's business), the alert
    tool's own units and ignore_units are never reported."""
    listed = {"text": ""}

    def fake_run(*cmd: str, timeout: float = 120) -> subprocess.CompletedProcess:
        out = listed["text"] if cmd[:2] == ("systemctl", "list-units") else ""
        return subprocess.CompletedProcess(cmd, 0, out, "")

    monkeypatch.setattr(watchdog, "run", fake_run)
    monkeypatch.setattr(watchdog, "ALERT", str(tmp_path / "no-alert-tool"))
    cfg = {"apps": [{"name": "demo", "root": str(tmp_path / "srv/demo"), "http": "api"}], "ignore_units": ["noisy"]}
    failed = ["demo-api@3082.service", "demo-worker.service", "tradeops-alert@x.service", "noisy-thing.service",
              "demo-apiary.service"]
    listed["text"] = "".join(f"{u} loaded failed failed x\n" for u in failed)
    state: dict = {}
    first = dog(state, **cfg)
    found = first.check_units()
    assert sorted(f["key"] for f in found) == ["unit:demo-apiary.service", "unit:demo-worker.service"]
    assert sorted(a["key"] for a in first.alerts.sent) == ["unit:demo-apiary.service", "unit:demo-worker.service"]
    listed["text"] = "demo-apiary.service loaded failed failed x\n"
    fixed = dog(state, **cfg)
    fixed.check_units()
    assert [(a["action"], a["key"]) for a in fixed.alerts.sent] == [("unit", "unit:demo-apiary.service"),
                                                                   ("recover", "unit:demo-worker.service")]
    assert state["failed_units"] == ["demo-apiary.service"]
