"""roles/host_conventions/files/tradeops_conventions.py: what every helper relies on beyond what
their own tests already show (test_release_helper.py, test_watchdog.py, test_ops_tools.py)."""
from __future__ import annotations

import json

import pytest

from _scripts import LIB  # noqa: F401  (puts the module on sys.path)

import tradeops_conventions as conv  # noqa: E402


def test_a_helper_for_another_api_stops_and_says_to_run_site_yml():
    conv.require(conv.API, "tradeops-test")  # the matching one runs on
    with pytest.raises(SystemExit, match=r"\[tradeops-test\] .* has API 1, this helper needs 2: run site.yml"):
        conv.require(conv.API + 1, "tradeops-test")


def test_the_deploy_lock_is_exclusive_and_says_who_holds_it(tmp_path):
    lock = conv.DeployLock(tmp_path / "shared/deploy.lock")
    assert lock.try_acquire({"holder": "alice"}) is False  # no shared/: an app never deployed
    (tmp_path / "shared").mkdir()
    assert lock.held_for(0) == -1.0
    assert lock.try_acquire({"holder": "alice"}) is True
    with pytest.raises(conv.LockHeld, match="alice"):
        conv.DeployLock(lock.path).try_acquire({"holder": "bob"})
    assert lock.holder() == {"holder": "alice"} and lock.held_for(lock.path.stat().st_mtime + 5) == 5
    lock.release()
    assert not lock.path.exists() and lock.holder() == {}


def test_state_files_are_private_and_keep_each_update(tmp_path):
    path = tmp_path / "state/state.json"
    with conv.locked_json(path) as data:
        data["n"] = 1
    with conv.locked_json(path) as data:
        data["n"] += 1
    assert json.loads(path.read_text()) == {"n": 2}
    assert path.stat().st_mode & 0o777 == 0o600 and path.parent.stat().st_mode & 0o777 == 0o700


def test_unit_names_of_slots_and_singletons():
    assert conv.http_unit("demo", "api", 3081) == "demo-api@3081.service"
    assert conv.http_unit("demo", "api", 3081).startswith(conv.http_unit_prefix("demo", "api"))
    assert not conv.singleton_unit("demo", "apiary").startswith(conv.http_unit_prefix("demo", "api"))
    assert conv.singleton_unit("demo", "worker") == "demo-worker.service"
