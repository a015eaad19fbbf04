"""What an operator sees of the generalised app model (molecule/apps): a Node app shaped
like the Trader seed behind nginx.

Converge set up nginx, the units (runtime node: npm ci, a Vite build at deploy, the backend
restarted stop_start because it holds backend.short.lock) and deployed tag a of the
throwaway repo that molecule/apps/prepare.yml made (a, b on main; c fails its build, d its
health; e changes package-lock.json). The tests run in file order: each starts from the
state the previous one left.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, git_sha, received, run_playbook, wait_for

STATE = ROOT / ".sandbox/molecule-apps"
REPO = STATE / "trader-node-repo"
DELTA_REPO = STATE / "delta-repo"
VARS = ROOT / "molecule/apps/vars/apps.yml"
APP = "/srv/trader"
SETTINGS = yaml.safe_load(VARS.read_text())
PASSWORD = SETTINGS["apps_test_password"]
SECRET = SETTINGS["services_secrets"]["trader"]["EXCHANGE_API_SECRET"]
EXTRA = ["-e", "ansible_user=root", "-e", f"@{VARS}", "-e", f"release_repo={REPO}", "-e", "release_health_timeout=8"]
OUTPUTS: list[str] = []


def sha(ref: str) -> str:
    return git_sha(REPO, ref)


def play(inventory: Path, playbook: str, *args: str) -> subprocess.CompletedProcess:
    res = run_playbook(inventory, playbook, *EXTRA, *args, timeout=600)
    OUTPUTS.append(res.stdout + res.stderr)
    return res


def flat(out: str) -> str:
    """Ansible's YAML output folds long messages over lines: compare with spaces collapsed."""
    return re.sub(r"\s+", " ", out)


def site(sandbox, path: str, auth: bool = False, name: str = "trader") -> tuple[int, str]:
    """GET through the host's nginx (HTTPS, self-signed), as a browser on the Internet would."""
    port = sandbox.https_port
    cmd = ["curl", "-sk", "-o", "-", "-w", "\n%{http_code}", "--max-time", "10",
           "--resolve", f"{name}.sandbox.test:{port}:127.0.0.1", f"https://{name}.sandbox.test:{port}{path}"]
    if auth:
        cmd[1:1] = ["-u", f"trader:{PASSWORD}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=20).stdout
    body, _, code = out.rpartition("\n")
    return int(code or 0), body


def current_sha(app) -> str:
    return app.file(f"{APP}/current/REVISION").content_string.strip()


def backend_pid(app) -> int:
    return int(app.check_output("systemctl show -p MainPID --value trader-backend@3081.service"))


def node_modules(app, release: str = "current") -> str:
    return app.check_output(f"readlink -f {APP}/{release}/node_modules")


def ui_script(sandbox, name: str = "trader") -> str:
    """The built UI's JavaScript, found through its index.html, as a browser loads it."""
    auth = name == "trader"
    code, html = site(sandbox, "/", auth=auth, name=name)
    assert code == 200, html
    match = re.search(r'src="(/assets/[^"]+\.js)"', html)
    assert match, f"index.html has no built script: {html[:300]}"
    code, js = site(sandbox, match.group(1), auth=auth, name=name)
    assert code == 200
    return js


def test_converge_deployed_a_with_its_ui_built_on_the_host(app, sandbox):
    assert current_sha(app) == sha("a")
    # dist/ is not in git: the deploy built it.
    tree = subprocess.run(["git", "-C", str(REPO), "ls-tree", "-r", "--name-only", "a"], capture_output=True,
                          text=True, check=True).stdout.split()
    assert not any(name.startswith("dist/") for name in tree)
    assert "release A" in ui_script(sandbox)
    code, body = site(sandbox, "/api/trading/settings")
    assert code == 200, body
    assert json.loads(body) == {"ok": True, "pending_cancel_age_min": 0, "side": "SHORT", "sha": sha("a")}


def test_the_ui_asks_for_a_password_and_the_api_does_not(sandbox):
    assert site(sandbox, "/")[0] == 401
    assert site(sandbox, "/api/trading/settings")[0] == 200
    code, body = site(sandbox, "/__proxy/")
    assert code == 200 and json.loads(body)["proxy"] is True


@pytest.mark.parametrize("unit", ["trader-backend@3081.service", "trader-worker.service"])
def test_node_units_run_without_memory_deny_write_execute(app, unit):
    props = dict(line.split("=", 1) for line in app.check_output(
        f"systemctl show -p Type,MemoryDenyWriteExecute,ActiveState,User {unit}").splitlines())
    assert props == {"Type": "exec", "MemoryDenyWriteExecute": "no", "ActiveState": "active", "User": "trader"}


@pytest.mark.parametrize("unit", ["trader-backend@3081.service", "trader-worker.service",
                                  "delta-backend@8001.service", "board-web@8090.service"])
def test_every_runtime_stays_sandboxed(app, unit):
    """node, python (uvicorn, no sd_notify) and none: systemd-analyze security exposure <= 2.5."""
    out = app.check_output(f"systemd-analyze security {unit} 2>&1 | tail -1")
    exposure = float(re.search(r"level for \S+: ([0-9.]+)", out).group(1))
    print(f"{unit}: exposure {exposure}")
    assert exposure <= 2.5, out


def test_every_process_knows_its_release_sha(app):
    pid = backend_pid(app)
    environ = app.check_output(f"tr '\\0' '\\n' < /proc/{pid}/environ")
    assert f"TRADEOPS_SHA={sha('a')}" in environ.splitlines()
    assert "SERVICE_NAME=backend" in environ.splitlines()


def test_deploy_b_reuses_node_modules_and_restarts_the_backend_stop_start(app, sandbox, inventory):
    before_pid, before_modules = backend_pid(app), node_modules(app)
    res = play(inventory, "deploy.yml", "-e", "ref=b")
    assert res.returncode == 0, res.stdout[-3000:]
    assert f"trader deploy: ok sha={sha('b')[:12]}" in flat(res.stdout)
    assert "deps=reused:" in res.stdout and "build=built:" in res.stdout and "gap=" in res.stdout
    assert current_sha(app) == sha("b")
    assert node_modules(app) == before_modules
    assert backend_pid(app) != before_pid
    assert "release B" in ui_script(sandbox)
    # One backend, and it is the lock's holder.
    assert app.check_output("systemctl list-units --state=active --no-legend 'trader-backend@*' | wc -l") == "1"
    lock = json.loads(app.file(f"{APP}/shared/data/locks/backend.short.lock").content_string)
    assert lock["pid"] == backend_pid(app) and lock["processName"] == "backend" and lock["tradeSide"] == "SHORT"


def test_the_deploy_switch_keeps_the_nginx_roles_upstream_settings(app):
    """The helper writes only the server line (<app>.server): the block stays the nginx role's,
    keepalive nginx_upstream_keepalive (8 here)."""
    text = app.file("/etc/nginx/tradeops/upstreams/trader.conf").content_string
    assert "include tradeops/upstreams/trader.server;" in text and "keepalive 8;" in text, text
    assert app.file("/etc/nginx/tradeops/upstreams/trader.server").content_string == "server 127.0.0.1:3081;\n"


def test_a_commit_whose_build_fails_is_refused_with_the_build_output(app, sandbox, inventory):
    pid, kept = backend_pid(app), app.check_output(f"ls {APP}/releases")
    res = play(inventory, "deploy.yml", "-e", "ref=c")
    assert res.returncode != 0
    assert "the build failed" in flat(res.stdout) and "vite build" in flat(res.stdout), res.stdout[-3000:]
    assert current_sha(app) == sha("b")
    assert backend_pid(app) == pid
    assert app.check_output(f"ls {APP}/releases") == kept
    assert site(sandbox, "/api/trading/settings")[0] == 200


def test_a_stop_start_backend_failing_health_is_back_on_the_old_release_by_itself(app, sandbox, inventory):
    res = play(inventory, "deploy.yml", "-e", "ref=d")
    assert res.returncode != 0
    assert "health gate failed" in flat(res.stdout), res.stdout[-3000:]
    assert "is running again on port 3081" in flat(res.stdout), res.stdout[-3000:]
    assert current_sha(app) == sha("b")
    code, body = site(sandbox, "/api/trading/settings")
    assert code == 200 and json.loads(body)["sha"] == sha("b")
    lock = json.loads(app.file(f"{APP}/shared/data/locks/backend.short.lock").content_string)
    assert lock["pid"] == backend_pid(app)


def test_rollback_goes_back_to_a(app, sandbox, inventory):
    res = play(inventory, "rollback.yml")
    assert res.returncode == 0, res.stdout[-3000:]
    assert current_sha(app) == sha("a")
    assert "release A" in ui_script(sandbox)


def test_a_changed_lockfile_gets_its_own_node_modules(app, inventory):
    before = node_modules(app)
    res = play(inventory, "deploy.yml", "-e", "ref=e")
    assert res.returncode == 0, res.stdout[-3000:]
    assert "deps=installed:" in res.stdout
    assert current_sha(app) == sha("e")
    assert node_modules(app) != before
    assert app.file(f"{node_modules(app)}/is-number/package.json").exists
    # Installed as the app user, then made root's: the app cannot change its own code.
    assert app.file(node_modules(app)).user == "root"


def test_a_redeploy_of_a_built_input_takes_the_cached_build(app, inventory):
    res = play(inventory, "deploy.yml", "-e", "ref=b")
    assert res.returncode == 0, res.stdout[-3000:]
    assert "deps=reused:" in res.stdout and "build=cached:" in res.stdout, res.stdout[-2000:]
    assert app.file(f"{APP}/current/dist/index.html").exists


def test_no_process_ever_found_its_lock_held(app):
    """A second copy of a locked process exits naming the holder: in every start above, none did."""
    journal = app.check_output("journalctl --no-pager -o cat -u 'trader-backend@*' -u trader-worker.service")
    assert "backend SHORT listening" in journal
    assert "is already running as pid" not in journal


# --- the post-switch watch ---------------------------------------------------------------

WATCH = ["-e", "release_watch_interval=2", "-e", "release_watch_failures=3"]


def last_audit(app) -> dict:
    return json.loads(app.file(f"{APP}/shared/logs/deploy-audit.jsonl").content_string.splitlines()[-1])


def watch_state(app) -> dict:
    return json.loads(app.file(f"{APP}/shared/watch.json").content_string)


def test_the_watch_rolls_back_a_release_that_fails_after_the_switch(app, inventory):
    res = play(inventory, "deploy.yml", "-e", "ref=f", "-e", "release_watch_seconds=90", *WATCH)
    assert res.returncode == 0, res.stdout[-3000:]
    assert "watching for 90 s" in flat(res.stdout)
    assert current_sha(app) == sha("f")  # the play did not wait for the watch
    # current moves first; the audit entry follows once the singletons are back on b.
    assert wait_for(lambda: last_audit(app)["result"] == "auto-rollback", timeout=80), watch_state(app)
    assert current_sha(app) == sha("b")
    entry = last_audit(app)
    assert entry["result"] == "auto-rollback" and entry["from_sha"] == sha("f") and entry["sha"] == sha("b")
    assert len(entry["failures"]) == 3 and all("HTTP 503" in f for f in entry["failures"])
    assert wait_for(lambda: len(received(app, "watch:trader")) >= 1, timeout=20)
    time.sleep(5)
    alerts = received(app, "watch:trader")
    assert len(alerts) == 1 and sha("f")[:12] in alerts[0]["title"] and "rolled back" in alerts[0]["title"]
    res = play(inventory, "status.yml")
    assert f"post-switch watch of {sha('f')[:12]}: rolled-back" in flat(res.stdout), res.stdout[-2000:]


def test_the_watch_leaves_a_healthy_release_alone(app, inventory):
    res = play(inventory, "deploy.yml", "-e", "ref=a", "-e", "release_watch_seconds=8", *WATCH)
    assert res.returncode == 0, res.stdout[-3000:]
    assert wait_for(lambda: watch_state(app)["state"] != "watching", timeout=30)
    assert watch_state(app)["state"] == "passed" and current_sha(app) == sha("a")


def test_a_deploy_during_the_window_ends_the_watch(app, inventory):
    res = play(inventory, "deploy.yml", "-e", "ref=b", "-e", "release_watch_seconds=300", *WATCH)
    assert res.returncode == 0, res.stdout[-3000:]
    assert app.service("tradeops-watch-trader").is_running
    res = play(inventory, "deploy.yml", "-e", "ref=a")  # the sandbox's default: no watch
    assert res.returncode == 0, res.stdout[-3000:]
    assert watch_state(app)["state"] == "ended" and watch_state(app)["sha"] == sha("b")
    assert not app.service("tradeops-watch-trader").is_running
    res = play(inventory, "deploy.yml", "-e", "ref=b")
    assert res.returncode == 0 and current_sha(app) == sha("b")


def test_a_negative_watch_window_is_refused(app, inventory):
    res = play(inventory, "deploy.yml", "-e", "ref=a", "-e", "release_watch_seconds=-1")
    assert res.returncode != 0 and "release_watch_seconds (-1)" in flat(res.stdout), res.stdout[-2000:]
    assert current_sha(app) == sha("b")


# --- delta: FastAPI under uvicorn, the SPA built on the controller ---------------------------

def delta_play(inventory: Path, *args: str) -> subprocess.CompletedProcess:
    return play(inventory, "deploy.yml", "-e", "app=delta", *args)


def test_delta_serves_its_spa_and_proxies_api(app, sandbox):
    assert app.file("/srv/delta/current/REVISION").content_string.strip() == git_sha(DELTA_REPO, "a")
    assert "delta spa 1" in ui_script(sandbox, "delta")
    code, body = site(sandbox, "/api/strategies", name="delta")
    assert code == 200 and json.loads(body)[0]["name"] == "short-strangle"
    # The SPA's client-side routes get index.html; the app's JSON logs land in shared/logs.
    assert site(sandbox, "/positions/today", name="delta")[0] == 200
    assert '"message": "health check"' in app.file("/srv/delta/shared/logs/backend.log").content_string


def test_delta_host_has_no_node_and_uvicorn_runs_without_sd_notify(app):
    """The SPA was built on the controller: the release carries dist/, not frontend/node_modules."""
    assert not app.file("/srv/delta/current/frontend/node_modules").exists
    assert app.file("/srv/delta/current/dist/index.html").exists
    props = app.check_output("systemctl show -p Type,MemoryDenyWriteExecute --value delta-backend@8001.service")
    assert props.split() == ["exec", "yes"]


def test_delta_blue_green_deploy_with_a_health_contract_without_sha(app, sandbox, inventory):
    res = delta_play(inventory, "-e", "ref=b")
    assert res.returncode == 0, res.stdout[-3000:]
    assert "build=controller:built" in res.stdout
    assert app.check_output("readlink /srv/delta/slots/active") == "8002"
    assert "delta spa 2" in ui_script(sandbox, "delta")


def test_delta_failing_controller_build_is_refused_before_the_host(app, inventory):
    before = app.check_output("ls /srv/delta/releases")
    res = delta_play(inventory, "-e", "ref=c")
    assert res.returncode != 0
    assert "the build failed on the controller" in flat(res.stdout) and "Nothing was changed." in flat(res.stdout)
    assert app.check_output("ls /srv/delta/releases") == before
    assert app.file("/srv/delta/current/REVISION").content_string.strip() == git_sha(DELTA_REPO, "b")


def test_delta_failing_health_keeps_traffic_on_b(app, sandbox, inventory):
    res = delta_play(inventory, "-e", "ref=d")
    assert res.returncode != 0
    assert "did not keep the health contract" in flat(res.stdout), res.stdout[-3000:]
    assert app.check_output("readlink /srv/delta/slots/active") == "8002"
    code, body = site(sandbox, "/api/health", name="delta")
    assert code == 200 and json.loads(body)["status"] == "ok"


# --- board: runtime none, reached by IP on its own port, the whole site proxied ------------

def board(app, path: str) -> tuple[int, str, str]:
    """GET https://127.0.0.1:8080<path> on the host (no domain: by IP address and port, self-signed TLS)."""
    code = ("import ssl, urllib.request as u\nc=ssl.create_default_context(cafile='/etc/nginx/tradeops/tls/board/fullchain.pem')\n"
            "try:\n r=u.urlopen('https://127.0.0.1:8080" + path + "',timeout=5,context=c)\n"
            "except u.HTTPError as e:\n r=e\nprint(r.status);print(r.headers.get('Cache-Control'));"
            "print(r.read().decode())")
    status, cache, body = app.check_output(f"python3 -c {shlex.quote(code)}").split("\n", 2)
    return int(status), cache, body


def test_board_is_an_ip_only_site_proxied_whole_with_static_files_from_nginx(app):
    status, _, body = board(app, "/")
    assert status == 200 and f'<p id="sha">{git_sha(DELTA_REPO, "a")}</p>' in body
    status, cache, body = board(app, "/static/board.css")
    assert status == 200 and "monospace" in body and cache == "public, max-age=3600"
    assert board(app, "/static/missing.css")[0] == 404
    # TLS by IP: the certificate verifies against itself for 127.0.0.1 (the urlopen above), is
    # valid for a year, and plain HTTP on the port is sent to https on the same port.
    cert = app.check_output("openssl x509 -noout -ext subjectAltName -enddate -in /etc/nginx/tradeops/tls/board/fullchain.pem")
    assert "IP Address:127.0.0.1" in cert and str(time.gmtime().tm_year + 1) in cert, cert
    probe = ("import http.client as h; c=h.HTTPConnection('127.0.0.1',8080,timeout=5); c.request('GET','/x');"
             " r=c.getresponse(); print(r.status, r.getheader('Location'))")
    plain = app.check_output(f"python3 -c {shlex.quote(probe)}")
    assert plain == "301 https://127.0.0.1:8080/x", plain
    # runtime none: no dependency step, the host's python3, nothing installed for it.
    assert not app.file("/srv/board/current/.venv").exists
    assert not app.file("/srv/board/current/node_modules").exists


# --- maintenance.yml ---------------------------------------------------------------------

NGINX_TREE = "find /etc/nginx -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum"


def headers(sandbox, path: str) -> str:
    port = sandbox.https_port
    return subprocess.run(["curl", "-sk", "-D", "-", "-o", "/dev/null", "--max-time", "10", "--resolve",
                           f"trader.sandbox.test:{port}:127.0.0.1", f"https://trader.sandbox.test:{port}{path}"],
                          capture_output=True, text=True, timeout=20).stdout.lower()


def test_maintenance_check_mode_changes_nothing(app, inventory):
    before = app.check_output(NGINX_TREE)
    res = play(inventory, "maintenance.yml", "-e", "state=on", "--check", "--diff")
    assert res.returncode == 0, res.stdout[-2000:]
    assert re.search(r"changed=[1-9]", res.stdout)
    assert app.check_output(NGINX_TREE) == before


def test_maintenance_on_answers_503_and_lets_loopback_and_deploys_through(app, sandbox, inventory):
    before = app.check_output(NGINX_TREE)
    res = play(inventory, "maintenance.yml", "-e", "state=on", "-e", json.dumps({"message": "Back at 10:00 UTC"}))
    assert res.returncode == 0, res.stdout[-2000:]
    code, page = site(sandbox, "/", auth=True)
    assert code == 503 and "Back at 10:00 UTC" in page and "<h1>" in page
    assert "retry-after: 300" in headers(sandbox, "/")
    code, body = site(sandbox, "/api/trading/settings")
    assert code == 503 and json.loads(body) == {"ok": False, "error": "maintenance", "message": "Back at 10:00 UTC",
                                               "retry_after": 300}
    assert "content-type: application/json" in headers(sandbox, "/api/trading/settings")
    # Loopback still reaches the apps (here the IP-only board, answered by the app itself).
    status, _, body = board(app, "/")
    assert status == 200 and '<p id="sha">' in body
    # Deploys keep working: their health gate talks to the app directly.
    res = play(inventory, "deploy.yml", "-e", "ref=a")
    assert res.returncode == 0, res.stdout[-3000:]
    assert current_sha(app) == sha("a")
    res = play(inventory, "maintenance.yml", "-e", "state=off")
    assert res.returncode == 0, res.stdout[-2000:]
    assert app.check_output(NGINX_TREE) == before
    assert site(sandbox, "/api/trading/settings")[0] == 200
    assert "release A" in ui_script(sandbox)


@pytest.mark.parametrize("args, names", [
    (["-e", "state=maybe"], "nginx_maintenance_state"),
    (["-e", "state=on", "-e", "site=nope"], "nginx_maintenance_sites"),
])
def test_maintenance_refuses_bad_input(app, inventory, args, names):
    before = app.check_output(NGINX_TREE)
    res = play(inventory, "maintenance.yml", *args)
    assert res.returncode != 0 and names in flat(res.stdout), res.stdout[-2000:]
    assert app.check_output(NGINX_TREE) == before


# --- logs.yml ------------------------------------------------------------------------------

def test_logs_show_a_process_lines_filtered(inventory, sandbox):
    res = play(inventory, "logs.yml", "-e", "process=worker", "-e", "grep=worker SHORT started", "-e", "since=-2h")
    assert res.returncode == 0, res.stdout[-2000:]
    out = flat(res.stdout)
    assert f"{sandbox.name} | worker |" in out and "worker SHORT started" in out
    assert "backend SHORT listening" not in out


def test_logs_never_print_a_value_of_the_env_file(app, inventory):
    """A line that carries a secret (an app that logs its config, say) is redacted on the host."""
    app.check_output(f"echo 'connecting with secret={SECRET} now' | systemd-cat -t trader-backend")
    res = play(inventory, "logs.yml", "-e", "grep=connecting with secret", "-e", "lines=5")
    assert res.returncode == 0, res.stdout[-2000:]
    assert "[EXCHANGE_API_SECRET redacted]" in flat(res.stdout)
    assert SECRET not in res.stdout


def test_logs_follow_shows_lines_as_they_are_written(app, inventory, sandbox):
    """-e follow=N: lines written after the play started appear, redacted, and the play ends by itself."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    cmd = [str(ROOT / ".venv/bin/ansible-playbook"), "-i", str(inventory), "logs.yml", *EXTRA,
           "-e", "process=worker", "-e", "lines=1", "-e", "follow=12", "--limit", sandbox.name]
    started = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(6)  # the play is past its first read and asking for new lines
        for n in (1, 2):
            app.check_output(f"echo 'followed line {n} key={SECRET}' | systemd-cat -t trader-worker")
            time.sleep(1)
        out, _ = proc.communicate(timeout=120)
    finally:
        proc.kill()
    OUTPUTS.append(out)
    assert proc.returncode == 0, out[-3000:]
    text = flat(out)
    for n in (1, 2):
        assert f"{sandbox.name} | worker | " in text and f"followed line {n} key=[EXCHANGE_API_SECRET redacted]" in text
    assert SECRET not in out and time.monotonic() - started < 90


def test_logs_follow_is_for_one_host(inventory, tmp_path):
    ghost = tmp_path / "ghost.yml"
    ghost.write_text(yaml.safe_dump({"all": {"children": {"web": {"hosts": {"ghost": {
        "ansible_host": "127.0.0.1", "ansible_port": 9}}}}}}))
    res = play(inventory, "logs.yml", "-i", str(ghost), "-e", "follow=5")
    assert res.returncode != 0 and "shows one host" in flat(res.stdout) and "--limit" in res.stdout, res.stdout[-2000:]


@pytest.mark.parametrize("args, names", [
    (["-e", "follow=-1"], "release_logs_follow"),
    (["-e", "process=nope"], "release_logs_process"),
    (["-e", "lines=0"], "release_logs_lines"),
    (["-e", "since=$(reboot)"], "release_logs_since"),
])
def test_logs_refuse_bad_input(inventory, args, names):
    res = play(inventory, "logs.yml", *args)
    assert res.returncode != 0 and names in flat(res.stdout), res.stdout[-2000:]


BAD_APP = {"name": "trader", "user": "trader", "root": "/srv/trader", "port": 3081, "runtime": "node",
           "processes": [{"name": "backend", "command": "node server/index.js", "kind": "http",
                          "strategy": "stop_start"}]}
BAD_PROC = BAD_APP["processes"][0]


@pytest.mark.parametrize("app_override, names", [
    ({"runtime": "ruby"}, "runtime"),
    ({"processes": [BAD_PROC, {"name": "worker", "command": "node w.js", "kind": "singleton",
                               "strategy": "stop_start"}]}, 'strategy is only for the http process'),
    ({"processes": [dict(BAD_PROC, strategy="blue_green")]}, "strategy blue_green needs alt_port"),
    ({"processes": [BAD_PROC, {"name": "feed", "command": "node f.js", "kind": "singleton", "readiness": "tcp"}]},
     "readiness tcp needs the port"),
    ({"runtime": "python", "build": ["npm run build"]}, "needs npm, which runtime"),
    ({"processes": [dict(BAD_PROC, readiness="sometimes")]}, "readiness"),
    ({"build": ["npm run build"], "build_outputs": ["../etc"]}, "must be a path inside the release"),
], ids=["runtime", "strategy-on-singleton", "blue-green-without-alt-port", "tcp-without-port",
        "build-tool-of-another-runtime", "readiness", "build-output-outside"])
def test_bad_app_input_is_refused_before_anything_changes(app, inventory, app_override, names):
    units = app.check_output("cat /etc/systemd/system/trader-*.service | sha256sum")
    override = {"services_apps": [dict(BAD_APP, **app_override)]}
    res = play(inventory, "molecule/apps/converge.yml", "-e", json.dumps(override))
    assert res.returncode != 0 and names in flat(res.stdout), res.stdout[-2000:]
    assert "changed=0" in res.stdout
    assert app.check_output("cat /etc/systemd/system/trader-*.service | sha256sum") == units


SITE = {"name": "board", "upstream_port": 8090, "proxy_root": True}


@pytest.mark.parametrize("site, names", [
    (dict(SITE, ip_only={"port": 443}), "ip_only"),
    (dict(SITE, ip_only={"port": 8080}, server_names=["board.example.com"]), "ip_only"),
    (dict(SITE, upstream_port=0, server_names=["board.sandbox.test"]), "proxy_root needs upstream_port"),
    ({"name": "board", "server_names": ["board.sandbox.test"]}, "needs a root"),
    (dict(SITE, server_names=["board.sandbox.test"], static_locations=[{"path": "/static/", "alias": "static"}]),
     "static_locations"),
], ids=["ip-only-on-443", "ip-only-with-a-domain", "proxy-root-without-upstream", "no-root", "relative-alias"])
def test_bad_site_input_is_refused_before_anything_changes(app, inventory, site, names):
    conf = app.check_output("cat /etc/nginx/sites-enabled/* /etc/nginx/tradeops/sites/* 2>/dev/null | sha256sum")
    res = play(inventory, "molecule/apps/converge.yml", "-e", json.dumps({"nginx_sites": [site]}))
    assert res.returncode != 0 and names in flat(res.stdout), res.stdout[-2000:]
    assert "changed=0" in res.stdout
    assert app.check_output("cat /etc/nginx/sites-enabled/* /etc/nginx/tradeops/sites/* 2>/dev/null | sha256sum") == conf


def test_secrets_never_in_output():
    assert OUTPUTS
    for out in OUTPUTS:
        assert SECRET not in out
        assert PASSWORD not in out
