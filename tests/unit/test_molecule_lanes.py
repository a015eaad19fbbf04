"""scripts/molecule_lanes.py: how `make molecule` spreads scenarios over lanes, and what it
refuses before starting anything."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import molecule_lanes  # noqa: E402

SCENARIOS = sorted(p.parent.name for p in (ROOT / "molecule").glob("*/molecule.yml") if p.parent.name != "default")


def test_every_scenario_runs_exactly_once():
    lanes = molecule_lanes.plan(SCENARIOS, 2)
    assert sorted(s for lane in lanes for s in lane) == SCENARIOS


def test_the_longest_scenarios_start_first_in_separate_lanes():
    lanes = molecule_lanes.plan(["deploy", "web", "quadlet", "hardening", "ops"], 2)
    assert [lane[0] for lane in lanes] == ["quadlet", "hardening"]
    # Balanced: neither lane holds more than the longest scenario's worth of extra work.
    work = [sum(molecule_lanes.MEASURED[s] for s in lane) for lane in lanes]
    assert abs(work[0] - work[1]) <= max(molecule_lanes.MEASURED.values())


def test_senex_runs_right_after_quadlet_in_its_lane():
    lanes = molecule_lanes.plan(SCENARIOS, 2)
    lane = next(lane for lane in lanes if "quadlet" in lane)
    assert lane[lane.index("quadlet") + 1] == "senex"
    assert molecule_lanes.plan(["senex"], 2) == [["senex"]]


def test_no_more_lanes_than_scenarios():
    assert molecule_lanes.plan(["deploy"], 4) == [["deploy"]]


def test_unknown_scenario_and_bad_jobs_are_refused_before_anything_runs():
    for args, message in ((["nosuch"], "no such scenario: nosuch"), (["--jobs", "0", "deploy"], "--jobs must be")):
        res = subprocess.run([sys.executable, str(ROOT / "scripts/molecule_lanes.py"), *args],
                             capture_output=True, text=True, timeout=60)
        assert res.returncode == 2 and message in res.stderr
        assert "started" not in res.stdout


def test_a_failed_scenario_does_not_stop_its_lane_and_the_end_says_why(monkeypatch, tmp_path, capsys):
    ran: list[str] = []
    log = tmp_path / "molecule-web.log"
    log.write_text("INFO [web > verify] Executing\n    - FAILED tests/integration/test_web.py::test_x - assert 1 == 2\n"
                   "    - 1 failed, 36 passed in 30.1s\nok: [host]\n")
    monkeypatch.setattr(molecule_lanes, "LOGS", tmp_path)
    monkeypatch.setattr(molecule_lanes, "run_logged", lambda name, lane: ran.append(name) or name != "web")
    monkeypatch.setattr(sys, "argv", ["molecule_lanes.py", "--jobs", "2", "web", "ops", "deploy"])
    assert molecule_lanes.main() == 1
    assert sorted(ran) == ["deploy", "ops", "web"]
    out = capsys.readouterr().out
    assert "2/3 scenarios passed; failed: web" in out
    assert "FAILED tests/integration/test_web.py::test_x" in out.split("why web failed")[1]
    assert "ok: [host]" not in out


def test_a_long_failure_digest_keeps_its_first_and_last_lines(tmp_path):
    log = tmp_path / "molecule-x.log"
    log.write_text("".join(f"    - FAILED tests/integration/test_x.py::test_{i}\n" for i in range(50)))
    digest = molecule_lanes.failure_digest(log, most=10)
    assert digest[:5] == [f"    - FAILED tests/integration/test_x.py::test_{i}" for i in range(5)]
    assert digest[5] == "..." and digest[-1].endswith("test_49") and len(digest) == 11
