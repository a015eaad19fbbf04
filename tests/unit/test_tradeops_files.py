"""roles/base/library/tradeops_files.py, run as Ansible runs a module (JSON arguments, JSON
result) against a temp directory: files, directories and key/value settings made right in one
call, nothing written when nothing differs, check mode, diffs, refused entries."""
from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

MODULE = Path(__file__).resolve().parents[2] / "roles/base/library/tradeops_files.py"


def run(tmp_path: Path, entries: list[dict], check: bool = False) -> dict:
    args = tmp_path / "args.json"
    args.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {
        "entries": entries, "_ansible_check_mode": check, "_ansible_diff": True}}))
    res = subprocess.run([sys.executable, str(MODULE), str(args)], capture_output=True, text=True, timeout=60)
    return json.loads(res.stdout)


def mode(path: Path) -> str:
    return oct(stat.S_IMODE(path.stat().st_mode))


def test_files_and_directories_are_made_once(tmp_path):
    conf = tmp_path / "conf.d"
    entries = [{"path": str(conf), "state": "directory", "mode": "0750"},
               {"path": str(conf / "10-a.conf"), "content": "a = 1\n", "mode": "0640"},
               {"path": str(conf / "20-b.conf"), "content": "b = 2\n", "mode": "0644"}]
    first = run(tmp_path, entries)
    assert first["changed"] and first["changed_paths"] == [e["path"] for e in entries]
    assert (conf / "10-a.conf").read_text() == "a = 1\n" and mode(conf / "10-a.conf") == "0o640"
    assert mode(conf) == "0o750" and mode(conf / "20-b.conf") == "0o644"
    before = (conf / "10-a.conf").stat().st_mtime_ns
    again = run(tmp_path, entries)
    assert again["changed"] is False and again["changed_paths"] == [] and again["diff"] == []
    assert (conf / "10-a.conf").stat().st_mtime_ns == before  # not rewritten


def test_only_what_differs_changes_and_the_diff_shows_it(tmp_path):
    f = tmp_path / "issue"
    f.write_text("old banner\n")
    f.chmod(0o600)
    res = run(tmp_path, [{"path": str(f), "content": "new banner\n", "mode": "0644"},
                         {"path": str(tmp_path), "state": "directory"}])
    assert res["changed_paths"] == [str(f)]
    assert {"before": "old banner\n", "after": "new banner\n"}.items() <= res["diff"][0].items()
    assert any("mode: 0600" in d["before"] and "mode: 0644" in d["after"] for d in res["diff"])
    assert f.read_text() == "new banner\n" and mode(f) == "0o644"


def test_settings_replace_the_last_line_of_a_key_and_append_missing_keys(tmp_path):
    defs = tmp_path / "login.defs"
    defs.write_text("# shadow settings\nUMASK 022\n#PASS_MAX_DAYS 99999\nUMASK 027\nMAIL_DIR /var/mail\n")
    entry = {"path": str(defs), "state": "settings", "settings": {"UMASK": "077", "PASS_MAX_DAYS": "365",
                                                                  "SHA_CRYPT_MIN_ROUNDS": "65536"}}
    assert run(tmp_path, [entry])["changed"]
    assert defs.read_text().splitlines() == [
        "# shadow settings", "UMASK 022", "PASS_MAX_DAYS\t365", "UMASK\t077", "MAIL_DIR /var/mail",
        "SHA_CRYPT_MIN_ROUNDS\t65536"]
    assert run(tmp_path, [entry])["changed"] is False


def test_check_mode_reports_changes_and_writes_nothing(tmp_path):
    existing = tmp_path / "limits.conf"
    existing.write_text("* hard core 1\n")
    res = run(tmp_path, [{"path": str(tmp_path / "new.d"), "state": "directory", "mode": "0755"},
                         {"path": str(tmp_path / "new.d" / "x.conf"), "content": "x\n"},
                         {"path": str(existing), "content": "* hard core 0\n"}], check=True)
    assert res["changed"] and len(res["changed_paths"]) == 3
    assert not (tmp_path / "new.d").exists() and existing.read_text() == "* hard core 1\n"


def test_bad_entries_are_refused_with_the_path_named(tmp_path):
    for entry, text in (({"path": "relative/file", "content": "x"}, "absolute path"),
                        ({"path": str(tmp_path / "f")}, "needs content"),
                        ({"path": str(tmp_path / "nope"), "state": "settings", "settings": {"A": "1"}}, "does not exist"),
                        ({"path": str(tmp_path / "f"), "state": "link"}, "state must be")):
        res = run(tmp_path, [entry])
        assert res.get("failed") and text in res["msg"], res
    assert not (tmp_path / "f").exists()


def test_attributes_set_modes_of_paths_that_exist_and_skip_absent_ones(tmp_path):
    crontab = tmp_path / "crontab"
    crontab.write_text("# m h dom mon dow user command\n")
    crontab.chmod(0o644)
    entries = [{"path": str(crontab), "state": "attributes", "mode": "0600"},
               {"path": str(tmp_path / "cron.d"), "state": "attributes", "mode": "0700"}]
    assert run(tmp_path, entries, check=True)["changed_paths"] == [str(crontab)]
    assert mode(crontab) == "0o644"  # check mode wrote nothing
    res = run(tmp_path, entries)
    assert res["changed_paths"] == [str(crontab)] and mode(crontab) == "0o600"
    assert crontab.read_text() == "# m h dom mon dow user command\n"  # content untouched
    assert not (tmp_path / "cron.d").exists()  # an absent path is not made
    assert run(tmp_path, entries)["changed"] is False


def test_absent_removes_a_former_file_once_and_refuses_a_directory(tmp_path):
    old = tmp_path / "jail.d-tradeops-sshd.local"
    old.write_text("[sshd]\n")
    entry = {"path": str(old), "state": "absent"}
    assert run(tmp_path, [entry], check=True)["changed_paths"] == [str(old)] and old.exists()
    assert run(tmp_path, [entry])["changed_paths"] == [str(old)] and not old.exists()
    assert run(tmp_path, [entry])["changed"] is False
    refused = run(tmp_path, [{"path": str(tmp_path), "state": "absent"}])
    assert refused.get("failed") and "absent removes files only" in refused["msg"] and tmp_path.is_dir()
