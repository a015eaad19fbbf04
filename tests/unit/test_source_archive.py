"""The controller's half of a deploy (roles/source_archive/files/tradeops-source) on a real git
repository: a ref resolved and archived once per sha, a build whose outputs travel and whose
by-products stay behind, failures that make nothing, and the cache kept to N archives."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "roles/source_archive/files/tradeops-source"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                          capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture()
def repo(tmp_path: Path) -> tuple[Path, str]:
    repo = tmp_path / "repo"
    (repo / "app").mkdir(parents=True)
    (repo / "app/index.txt").write_text("source\n")
    (repo / "app/run.sh").write_text("#!/bin/sh\n")
    (repo / "app/run.sh").chmod(0o700)
    (repo / "app/.gitignore").write_text("dist/\nnode_modules/\n")
    (repo / "top.txt").write_text("outside the subdir\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "one")
    git(repo, "tag", "v1")
    return repo, git(repo, "rev-parse", "HEAD")


def source(repo: Path, cache: Path, ref: str, *args: str) -> dict:
    res = subprocess.run([sys.executable, str(SOURCE), "--repo", str(repo), "--ref", ref, "--cache-dir", str(cache),
                          "--name", "demo", "--subdir", "app", *args], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_a_tag_is_resolved_and_its_subdir_archived_with_fixed_modes(repo, tmp_path):
    repo_dir, sha = repo
    old = os.umask(0o077)  # a strict local umask must not reach the host's files
    try:
        result = source(repo_dir, tmp_path / "cache", "v1")
    finally:
        os.umask(old)
    assert result["error"] == "" and result["sha"] == sha and result["build"] == ""
    assert result["file"] == str(tmp_path / "cache" / f"demo-{sha}.tar.gz")
    assert result["size"] == Path(result["file"]).stat().st_size > 0
    with tarfile.open(result["file"]) as tar:
        modes = {m.name.removeprefix("./"): m.mode for m in tar.getmembers() if m.isfile()}
    assert modes == {"index.txt": 0o644, "run.sh": 0o755, ".gitignore": 0o644}
    assert (tmp_path / "cache").stat().st_mode & 0o777 == 0o700


def test_a_ref_that_is_not_a_commit_makes_nothing(repo, tmp_path):
    repo_dir, _ = repo
    result = source(repo_dir, tmp_path / "cache", "no-such-branch")
    assert result["missing"] is True and result["sha"] == "" and result["size"] is None
    assert not (tmp_path / "cache").exists()


def test_the_cache_keeps_the_most_recently_used_archives(repo, tmp_path):
    repo_dir, _ = repo
    cache = tmp_path / "cache"
    cache.mkdir()
    stale = []
    for i in range(3):
        old = cache / f"demo-{str(i) * 40}.tar.gz"
        old.write_bytes(b"x")
        os.utime(old, (time.time() - 100 + i, time.time() - 100 + i))
        stale.append(old)
    other = cache / "base-image.tar"
    other.write_bytes(b"x")
    result = source(repo_dir, cache, "main", "--keep", "2", "--prune-pattern", "^demo-[0-9a-f]{40}[.]tar[.]gz$")
    # The one just used and the newest other one stay; older archives go; other files stay.
    assert sorted(p.name for p in cache.iterdir()) == sorted([Path(result["file"]).name, stale[2].name, other.name])


def test_controller_build_archives_the_commit_and_its_outputs_only(repo, tmp_path):
    repo_dir, sha = repo
    steps = ["--step=mkdir -p dist node_modules/x", "--step=echo built > dist/index.html", "--step=touch stray.txt",
             "--output=dist"]
    result = source(repo_dir, tmp_path / "cache", sha, *steps)
    assert result["error"] == "" and result["build"] == "built", result
    assert Path(result["file"]).name.startswith(f"demo-{sha}-b")
    with tarfile.open(result["file"]) as tar:
        names = set(tar.getnames())
        assert {"index.txt", ".gitignore", "dist", "dist/index.html"} <= names
        assert not any(n.startswith("node_modules") or n == "stray.txt" for n in names)
        assert all(m.uid == 0 and m.mode in (0o644, 0o755) for m in tar.getmembers())
    # The same build again: the cached archive, no build (a failing step would show).
    again = source(repo_dir, tmp_path / "cache", sha, *steps[:-1], "--output=dist")
    assert again["build"] == "cached" and again["file"] == result["file"]
    # Another build is another archive.
    other = source(repo_dir, tmp_path / "cache", sha, "--step=mkdir dist", "--output=dist")
    assert other["build"] == "built" and other["file"] != result["file"]


@pytest.mark.parametrize("steps, why", [
    (("echo compiling", "echo 'syntax error' >&2; exit 3"), "syntax error"),
    (("echo ok",), "did not make dist"),
], ids=["failing-step", "missing-output"])
def test_controller_build_failure_makes_nothing(repo, tmp_path, steps, why):
    repo_dir, sha = repo
    result = source(repo_dir, tmp_path / "cache", sha, *(f"--step={s}" for s in steps), "--output=dist")
    assert result["error"] and result["build"] == "" and why in result["error"] + result["detail"]
    assert result["size"] is None and list((tmp_path / "cache").iterdir()) == []


def test_a_cache_that_cannot_be_made_is_one_json_error_and_no_archive(repo, tmp_path):
    """The pipe lookup needs exit 0 and one JSON line even then, or the caller's message is lost."""
    repo_dir, _ = repo
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache should go\n")
    result = source(repo_dir, blocker / "cache", "main")
    assert result["error"].startswith(("FileExistsError", "NotADirectoryError")) and str(blocker) in result["error"]
    assert result["missing"] is False and result["size"] is None and blocker.read_text().startswith("a file")
