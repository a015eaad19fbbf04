"""The release role's helpers on the controller, against temp directories: the health contract,
the upstream switch keeping the nginx role's settings, cleanup of dependencies and build outputs
(roles/release/files/tradeops-release). The controller build is in test_source_archive.py."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from _scripts import load_script

ROOT = Path(__file__).resolve().parents[2]
HELPER = ROOT / "roles/release/files/tradeops-release"
release = load_script(HELPER, "tradeops_release")
SHA = "a" * 40


def make_app(tmp_path: Path, **cfg) -> "release.App":
    base = {"name": "demo", "root": str(tmp_path / "srv/demo"), "port": 3081, "alt_port": 3082,
            "health_timeout": 1, "keep": 2, "upstream_dir": str(tmp_path / "upstreams")}
    return release.App({**base, **cfg})


@pytest.mark.parametrize("health, status, body, why", [
    ({}, 200, json.dumps({"sha": SHA}), ""),
    ({}, 200, json.dumps({"sha": "b" * 40}), "sha="),
    ({}, 204, "", "not JSON"),
    ({"sha": False}, 204, "", ""),
    ({"sha": False}, 503, "", "HTTP 503"),
    ({"sha": False, "status": [200]}, 201, "", "HTTP 201"),
    ({"sha": False, "json": {"ok": True}}, 200, json.dumps({"ok": True, "pending_cancel_age_min": 0}), ""),
    ({"sha": False, "json": {"ok": True}}, 200, json.dumps({"ok": False}), "ok=false, expected true"),
    ({"sha": False, "json": {"ok": True}}, 200, "[1, 2]", "not a JSON object"),
    ({"json": {"status": "ok"}}, 200, json.dumps({"status": "ok"}), "sha="),
], ids=["sha-ok", "sha-wrong", "sha-needs-json", "status-only", "5xx", "status-list", "json-ok", "json-wrong",
        "json-not-object", "json-and-sha"])
def test_health_contract(tmp_path, health, status, body, why):
    app = make_app(tmp_path, health=health)
    verdict = app.verdict(status, body, SHA)
    assert (verdict == "") if not why else (why in verdict), verdict


NGINX_BLOCK = "# the nginx role's\nupstream tradeops_demo {\n    include tradeops/upstreams/demo.server;\n    keepalive 8;\n}\n"


def test_upstream_switch_rewrites_only_the_deploys_server_line(tmp_path):
    """The block (keepalive) is the nginx role's; a deploy writes <app>.server and nothing else."""
    app = make_app(tmp_path, http="api")
    block, server = tmp_path / "upstreams/demo.conf", tmp_path / "upstreams/demo.server"
    block.parent.mkdir(parents=True)
    block.write_text(NGINX_BLOCK)
    server.write_text("server 127.0.0.1:3081;\n")
    assert app.upstream_outdated() == ""
    app.switch_upstream(3082)  # no nginx on the controller: the file changes, nothing is reloaded
    assert server.read_text() == "server 127.0.0.1:3082;\n"
    assert block.read_text() == NGINX_BLOCK
    assert sorted(p.name for p in block.parent.iterdir()) == ["demo.conf", "demo.server"]


def test_upstream_switch_without_an_nginx_site_keeps_only_the_server_line(tmp_path):
    """No block yet: the live line is kept for the nginx role to find, no block is invented."""
    app = make_app(tmp_path, http="api")
    app.switch_upstream(3082)
    assert [p.name for p in (tmp_path / "upstreams").iterdir()] == ["demo.server"]
    assert (tmp_path / "upstreams/demo.server").read_text() == "server 127.0.0.1:3082;\n"


def test_an_upstream_written_before_the_split_is_refused_before_the_lock(tmp_path):
    """An older nginx role's block holds the server line itself: switching <app>.server would
    not move traffic, so a deploy stops first and says to run site.yml; nothing changes."""
    app = make_app(tmp_path, http="api")
    block = tmp_path / "upstreams/demo.conf"
    block.parent.mkdir(parents=True)
    old = "upstream tradeops_demo { server 127.0.0.1:3081; keepalive 16; }\n"
    block.write_text(old)
    cfg = {**app.cfg, "sha": SHA, "archive": str(tmp_path / "missing.tar.gz")}
    res = subprocess.run([sys.executable, str(HELPER), "rollback", json.dumps(cfg)], capture_output=True, text=True,
                         env=dict(os.environ, TRADEOPS_LIB=str(ROOT / "roles/host_conventions/files")))
    out = json.loads(res.stdout)
    assert res.returncode == 1 and out["result"] == "failed", res.stdout + res.stderr
    assert "run site.yml" in out["error"] and "does not include demo.server" in out["error"]
    assert block.read_text() == old and not app.lock.exists() and not app.audit.exists()


def test_cleanup_keeps_the_dependencies_and_builds_of_kept_releases(tmp_path):
    app = make_app(tmp_path, keep=1)
    shared = app.shared
    for i in range(3):
        (shared / "builds" / f"b{i}").mkdir(parents=True)
        os.utime(shared / "builds" / f"b{i}", (i, i))
    names = {"ancient": "20260101T000000Z-ancient", "old": "20260102T000000Z-old", "live": "20260103T000000Z-live"}
    for key, name in names.items():
        (shared / "node_modules" / key / "node_modules").mkdir(parents=True)
        (app.releases / name).mkdir(parents=True)
        os.symlink(shared / "node_modules" / key / "node_modules", app.releases / name / "node_modules")
    release.relink(app.current, str(app.releases / names["live"]))
    removed = app.cleanup()
    # keep=1: the live release, and the one before it (rollback's target) whatever keep says.
    assert removed == [names["ancient"]]
    assert sorted(p.name for p in (shared / "node_modules").iterdir()) == ["live", "old"]
    assert [p.name for p in (shared / "builds").iterdir()] == ["b2"]


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                          capture_output=True, text=True, check=True).stdout.strip()


def plant_lock(app, name: str, pid: int) -> Path:
    locks = app.shared / "data" / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    path = locks / name
    path.write_text(json.dumps({"pid": pid, "started": "2026-12-01T00:00:00Z", "tradeSide": "SHORT", "processName": "x"}))
    return path


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_locks_clear_is_refused_while_a_holder_lives_and_removes_nothing(tmp_path):
    app = make_app(tmp_path)
    live = plant_lock(app, "backend.short.lock", os.getpid())
    stale = plant_lock(app, "worker.short.lock", dead_pid())
    result: dict = {}
    with pytest.raises(release.Failed, match=rf"backend.short.lock is held by live pid {os.getpid()}; nothing was removed"):
        release.cmd_locks(app, {"clear": True}, result)
    assert live.exists() and stale.exists()


def test_locks_clear_removes_stale_locks_and_force_removes_live_ones(tmp_path):
    app = make_app(tmp_path)
    stale = plant_lock(app, "worker.short.lock", dead_pid())
    result: dict = {}
    release.cmd_locks(app, {}, result)
    assert result["changed"] is False and "worker.short.lock" in " ".join(result["table"]) and stale.exists()
    assert "STALE" in " ".join(result["table"])
    release.cmd_locks(app, {"clear": True}, result)
    assert not stale.exists() and result["removed"] == ["worker.short.lock"] and result["changed"] is True
    live = plant_lock(app, "backend.short.lock", os.getpid())
    result = {}
    release.cmd_locks(app, {"clear": True, "force": True}, result)
    assert not live.exists() and result["removed"] == ["backend.short.lock"]


def test_locks_clear_is_refused_during_a_deploy(tmp_path):
    app = make_app(tmp_path)
    stale = plant_lock(app, "worker.short.lock", dead_pid())
    app.lock.write_text('{"holder": "alice"}')
    with pytest.raises(release.Failed, match="a deploy holds"):
        release.cmd_locks(app, {"clear": True}, {})
    assert stale.exists()


@pytest.fixture()
def follower(tmp_path, monkeypatch):
    """An app with a release, following main of a bare repository (file://); deploys recorded."""
    remote = tmp_path / "remote.git"
    work = tmp_path / "work"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(tmp_path, "init", "-q", "-b", "main", str(work))
    app = make_app(tmp_path)
    (app.releases / f"20261201T000000Z-{SHA[:12]}").mkdir(parents=True)
    os.symlink(f"releases/20261201T000000Z-{SHA[:12]}", app.current)
    deploys: list[dict] = []
    answers: list[tuple[int, dict]] = []
    alerts: list[str] = []

    def fake_deploy(cfg):
        assert Path(cfg["archive"]).is_file() and cfg["deployer"] == "follow"
        deploys.append(cfg)
        return answers.pop(0) if answers else (0, {"result": "ok", "release": "r"})

    monkeypatch.setattr(release, "deploy_again", fake_deploy)
    monkeypatch.setattr(release, "alert", lambda key, title, message: alerts.append(key))
    cfg = {"name": "demo", "root": app.root.as_posix(), "port": 3081, "follow": {"remote": remote.as_uri(), "branch": "main"}}

    def push(msg: str) -> str:
        (work / "f.txt").write_text(msg)
        git(work, "add", "f.txt")
        git(work, "commit", "-qm", msg)
        git(work, "push", "-q", str(remote), "main")
        return git(work, "rev-parse", "HEAD")

    def step() -> dict:
        result: dict = {}
        assert release.cmd_follow(release.App(cfg), cfg, result) == 0, result
        return result
    return {"push": push, "step": step, "deploys": deploys, "answers": answers, "alerts": alerts, "app": app, "cfg": cfg}


def test_follow_deploys_when_the_branch_moves_and_not_before(follower):
    first = follower["push"]("one")
    assert follower["step"]()["result"] == "recorded"  # where the branch is: not a move
    assert follower["step"]()["result"] == "unchanged" and follower["deploys"] == []
    second = follower["push"]("two")
    res = follower["step"]()
    assert res["result"] == "deployed" and [d["sha"] for d in follower["deploys"]] == [second] != [first]
    assert follower["alerts"] == [f"follow:demo:deployed:{second[:12]}"]


def test_follow_refuses_a_failing_head_once_and_takes_the_next(follower):
    follower["push"]("one")
    follower["step"]()
    bad = follower["push"]("bad")
    follower["answers"].append((1, {"result": "failed", "error": "health gate failed"}))
    assert follower["step"]()["result"] == "refused"
    assert follower["step"]()["result"] == "unchanged" and follower["step"]()["result"] == "unchanged"
    assert len(follower["deploys"]) == 1 and follower["alerts"] == [f"follow:demo:refused:{bad[:12]}"]
    good = follower["push"]("good")
    assert follower["step"]()["result"] == "deployed" and follower["deploys"][-1]["sha"] == good


def test_a_rollback_pauses_following_until_resumed(follower):
    follower["push"]("one")
    follower["step"]()
    release.pause_follow(follower["app"], "rollback to abc by alice")
    follower["push"]("two")
    assert follower["step"]()["result"] == "paused" and follower["deploys"] == []
    status: dict = {}
    release.cmd_follow(release.App(follower["cfg"]), dict(follower["cfg"], set="status"), status)
    assert status["paused"] is True and status["why"] == "rollback to abc by alice"  # what follow.yml prints
    res: dict = {}
    release.cmd_follow(release.App(follower["cfg"]), dict(follower["cfg"], set="resume"), res)
    assert res["result"] == "resumed"
    assert follower["step"]()["result"] == "deployed"


def test_a_failing_fetch_alerts_once_per_error(follower, tmp_path):
    follower["cfg"]["follow"]["remote"] = (tmp_path / "missing.git").as_uri()
    for _ in range(3):
        result: dict = {}
        assert release.cmd_follow(release.App(follower["cfg"]), follower["cfg"], result) == release.EXIT_FAILED
    assert follower["alerts"] == ["follow:demo:fetch"]


def test_a_staged_lock_is_taken_over_only_by_its_own_run(tmp_path):
    """deploy.yml -e tradeops_switch=together: phase 1 keeps the lock for phase 2 of the same run."""
    app = make_app(tmp_path)
    app.acquire({"holder": "ci", "action": "stage", "together": "together-run-1", "until": 4e9}, force=False)
    with pytest.raises(release.LockHeld, match="together-run-1"):
        app.acquire({"holder": "bob", "action": "deploy"}, force=False)
    with pytest.raises(release.LockHeld):
        app.acquire({"holder": "ci", "action": "switch", "together": "together-run-2"}, force=False)
    app.acquire({"holder": "ci", "action": "switch", "together": "together-run-1"}, force=False)
    assert app.lock_holder()["action"] == "switch"


def test_an_expired_staged_lock_is_stale(tmp_path):
    """A phase 1 whose phase 2 never came (the controller went away) blocks nobody after its time."""
    app = make_app(tmp_path)
    app.acquire({"holder": "ci", "action": "stage", "together": "together-run-1", "until": 1.0}, force=False)
    app.acquire({"holder": "bob", "action": "deploy"}, force=False)
    assert app.lock_holder()["holder"] == "bob"
    # An ordinary deploy's lock never expires by itself.
    with pytest.raises(release.LockHeld, match="bob"):
        app.acquire({"holder": "alice", "action": "deploy"}, force=False)


def test_switch_and_abort_act_only_on_what_this_run_staged(tmp_path):
    app = make_app(tmp_path)
    app.shared.mkdir(parents=True)
    release.staged_file(app).write_text(json.dumps({"together": "together-run-1", "sha": SHA, "release": "r1"}))
    cfg = {"together": "together-run-2", "sha": SHA}
    with pytest.raises(release.Failed, match="nothing is staged here for this run"):
        release.cmd_switch(app, cfg, {})
    result: dict = {}
    release.cmd_abort(app, {"together": "together-run-1", "sha": SHA}, result)
    assert result["result"] == "aborted" and not release.staged_file(app).exists()


PYPROJECT = '[project]\nname = "Delta_App"\nversion = "1.0"\ndependencies = ["fastapi>=0.110", "uvicorn"]\n'
UV_LOCK = """version = 1
[[package]]
name = "delta-app"
version = "1.0"
source = { editable = "." }
[[package]]
name = "fastapi"
version = "0.115.0"
source = { registry = "https://example.invalid/simple" }
[[package]]
name = "uvicorn"
version = "0.30.1"
[[package]]
name = "numpy"
version = "1.26.4"
[[package]]
name = "numpy"
version = "2.1.0"
"""


def test_python_deps_from_requirements_first(tmp_path):
    (tmp_path / "requirements.txt").write_text("fastapi==0.115.0\n")
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    body, install, pinned, source = release.python_deps(tmp_path, "requirements.txt")
    assert (install, pinned, source) == ([str(tmp_path / "requirements.txt")], [], "requirements")
    assert body == b"fastapi==0.115.0\n"


def test_python_deps_from_pyproject_held_to_its_lock(tmp_path):
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    body, install, pinned, source = release.python_deps(tmp_path, "requirements.txt")
    assert (install, pinned, source) == (["fastapi>=0.110", "uvicorn"], [], "pyproject.toml")
    (tmp_path / "uv.lock").write_text(UV_LOCK)
    body2, install, pinned, source = release.python_deps(tmp_path, "requirements.txt")
    # The project itself is never installed; a package locked twice is left to pip.
    assert install == ["fastapi>=0.110", "uvicorn"] and source == "pyproject.toml + uv.lock"
    assert pinned == ["fastapi==0.115.0", "uvicorn==0.30.1"]
    # The venv's key changes with the lock, not only with pyproject.toml.
    assert body2 != body and body2.endswith(UV_LOCK.encode())


def test_python_deps_refuse_an_unreadable_lock(tmp_path):
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    (tmp_path / "poetry.lock").write_text("[[package]\nname = ")
    with pytest.raises(release.Failed, match="poetry.lock of the release cannot be read"):
        release.python_deps(tmp_path, "requirements.txt")


def test_no_python_deps_without_requirements_or_pyproject(tmp_path):
    assert release.python_deps(tmp_path, "requirements.txt") == (b"", [], [], "none")
