#!/usr/bin/env python3
"""Deploy and rollback: how long they take, quiet and under load, and how many requests fail.

On a throwaway sandbox host provisioned by site.yml (nginx, TLS, the sample app's units),
with the demo repository (scripts/demo_repo.py: a, b on main), this:

  1. measures an SSH round trip to the host (a new connection running `true`): the
     reference figures for Ansistrano and a shell deploy were taken where it was 0.22 s,
     so this tells whether a run on another machine can be compared with them;
  2. deploys a (warm-up: builds the venv), then, on a quiet host, deploys b and rolls
     back to a --quiet-rounds times: the figures the targets (deploy <= 5 s, rollback
     <= 2.5 s) are about;
  3. for each of --rounds rounds deploys b and rolls back to a while client threads send
     GET /api/health through nginx (HTTPS, 127.0.0.1) without pause; every answer that
     is not 200 counts as failed;
  4. times a plain shell deploy of the same release, like the seeds' deploy.sh (git archive
     over SSH, unpack, symlink, restart the live unit), quiet and under the same load, and
     prints the ratio;
  5. times the floor, `ansible -m raw -a true` on the host (ansible starting, one SSH round
     trip, stopping), so the targets are ratios that hold across machines of this kind: once
     in every quiet round (median of 3 runs), beside the deploy and the rollback it divides,
     since the machine's speed drifts within a run (seen: 0.97 s after the loaded rounds,
     0.83 s ten minutes later);
  6. unless --no-node: on a second fresh host, the Node fixture (examples/trader-node,
     bench/node.yml: npm ci, a Vite build on the host, a backend restarted stop_start) - the
     same quiet and loaded rounds, and the stop_start gap (seconds without a healthy backend,
     as the helper measured it);
  7. with --hosts N (N > 1): on N other fresh hosts, every one in group web (so site.yml gives
     each nginx and the app's units), site.yml once for all, deploy a (warm-up), then
     --quiet-rounds of deploy b + rollback on all N at once (no load), each round also timing
     the same steps on the 1-host host, so both see the same load from whatever else runs
     on the machine; prints both medians, the ratios, both floors, the helper's own time on
     the hosts, and, from profile_tasks' per-task times (ansible.cfg enables it), the tasks
     whose time grew most. Step 6 runs after this. Measured 2026-12-03 (5 rounds, while another
     job loaded the 2 cores): 3 hosts deploy 8.68 s = 1.66x one host (5.24 s), rollback 6.50 s
     = 1.43x (4.56 s); most of it the helper's own time on the hosts (1.53 -> 3.37 s, its CPU
     per host unchanged: the containers share this machine's cores), without which 1.31x and
     1.07x; the rest is Ansible's worker per host and task (~75 ms CPU each).

Targets (ratios): code-only deploy <= 2.5x the floor, rollback <= 2x the floor, a Node deploy
with an unchanged lockfile <= the Python deploy + 0.5 s, 0 failed requests for blue_green;
deploy and rollback on 3 hosts at once <= 1.3x one host.

The load is bounded: it stops when the timed step ends, or at --max-requests per step.
Figures are printed; nothing is asserted (see tests/ for behaviour).
"""
from __future__ import annotations

import argparse
import http.client
import os
import re
import socket
import ssl
import statistics
import subprocess
import threading
import time
from pathlib import Path

from _hosts import ROOT, VENV_BIN, down, host_names, read_inventory, recap, sh, up

SITE = "trader.sandbox.test"
REPO = ROOT / ".sandbox" / "bench-deploy-repo"
NODE_REPO = ROOT / ".sandbox" / "bench-deploy-node-repo"
NODE_VARS = ROOT / "bench" / "node.yml"


class SiteConnection(http.client.HTTPSConnection):
    """HTTPS to 127.0.0.1 with the site's name in SNI (nginx drops unknown names)."""

    def connect(self) -> None:
        sock = socket.create_connection(("127.0.0.1", self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=SITE)


class Load:
    """Client threads hammering /api/health on nginx's HTTPS port until stopped."""

    def __init__(self, port: int, threads: int, max_requests: int) -> None:
        self.port, self.threads, self.max_requests = port, threads, max_requests
        self.ok = self.failed = self.retried = 0
        self.errors: dict[str, int] = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.workers: list[threading.Thread] = []

    def _get(self, conn: SiteConnection) -> int:
        conn.request("GET", "/api/health", headers={"Host": SITE})
        resp = conn.getresponse()
        resp.read()
        return resp.status

    def _client(self) -> None:
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE  # the sandbox's self-signed cert
        conn, reused = None, False
        while not self.stop.is_set() and self.ok + self.failed < self.max_requests:
            retried = False
            try:
                if conn is None:
                    conn, reused = SiteConnection(SITE, self.port, context=ctx, timeout=10), False
                try:
                    status = self._get(conn)
                except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                    if not reused:
                        raise
                    # nginx closed an idle keep-alive connection (a reload retires old workers):
                    # a GET is retried once on a new connection, as browsers and HTTP libraries do.
                    conn.close()
                    conn, retried = SiteConnection(SITE, self.port, context=ctx, timeout=10), True
                    status = self._get(conn)
                reused = True
                good, why = status == 200, f"HTTP {status}"
            except (OSError, http.client.HTTPException) as exc:
                good, why = False, type(exc).__name__
                conn = None
            with self.lock:
                self.retried += retried
                if good:
                    self.ok += 1
                else:
                    self.failed += 1
                    self.errors[why] = self.errors.get(why, 0) + 1

    def __enter__(self) -> "Load":
        self.workers = [threading.Thread(target=self._client, daemon=True) for _ in range(self.threads)]
        for w in self.workers:
            w.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for w in self.workers:
            w.join(timeout=15)

    @property
    def total(self) -> int:
        return self.ok + self.failed


def playbook(inv: Path, name: str, *args: str, repo: Path = REPO) -> tuple[float, str]:
    t0 = time.monotonic()
    res = sh([str(VENV_BIN / "ansible-playbook"), "-i", str(inv), name, "-e", f"release_repo={repo}",
              "-e", "release_repo_subdir=", *args], check=False)
    took = time.monotonic() - t0
    if res.returncode != 0:
        print(res.stdout[-3000:])
        raise SystemExit(f"[bench] {name} {' '.join(args)} failed")
    return took, res.stdout


def under_load(port: int, args: argparse.Namespace, step) -> tuple[float, Load, str]:
    with Load(port, args.threads, args.max_requests) as load:
        time.sleep(0.3)  # the clients are connected and busy before the step starts
        took, out = step()
        time.sleep(0.3)
    return took, load, out


def floor(inv: Path, times: int = 3) -> float:
    """Median wall time of `ansible -m raw -a true`: the least any playbook run can take."""
    took = []
    for _ in range(times):
        t0 = time.monotonic()
        sh([str(VENV_BIN / "ansible"), "-i", str(inv), "web", "-b", "-m", "ansible.builtin.raw", "-a", "true"])
        took.append(time.monotonic() - t0)
    return statistics.median(took)


def rounds(port: int, args: argparse.Namespace, steps, quiet_rounds: int, loaded_rounds: int,
           tag: str, reference=None) -> dict[str, list]:
    """Quiet rounds of each step, then rounds under load; the figures of each, by step label.
    With reference (e.g. the floor), it is timed once in every quiet round too ("quiet floor"):
    the machine's speed drifts within a run, so a ratio is taken beside the steps it divides."""
    out: dict[str, list] = {}
    for i in range(1, quiet_rounds + 1):
        if reference is not None:
            took = reference()
            out.setdefault("quiet floor", []).append(took)
            print(f"[bench] {tag}quiet {i}/{quiet_rounds} floor    {took:5.2f} s", flush=True)
        for label, step in steps:
            took, text = step()
            out.setdefault(f"quiet {label}", []).append(took)
            out.setdefault(f"quiet {label} text", []).append(text)
            print(f"[bench] {tag}quiet {i}/{quiet_rounds} {label:8s} {took:5.2f} s   {recap(text)}", flush=True)
    for i in range(1, loaded_rounds + 1):
        for label, step in steps:
            took, load, text = under_load(port, args, step)
            out.setdefault(label, []).append(took)
            out.setdefault(f"{label} text", []).append(text)
            out.setdefault("loads", []).append(load)
            print(f"[bench] {tag}round {i}/{loaded_rounds} {label:8s} {took:5.2f} s  requests {load.total:5d}"
                  f"  failed {load.failed}  keep-alive retries {load.retried}   {recap(text)}", flush=True)
    return out


def gaps(texts: list[str]) -> list[float]:
    """The stop_start gaps the helper reported (`gap=<s> s` in each deploy's result line)."""
    return [float(m) for t in texts for m in re.findall(r"gap=([0-9.]+) s", t)]


# A line of profile_tasks' TASKS RECAP: "<task name> ------ 0.52s".
TASK_LINE = re.compile(r"^(.+?) -+ ([0-9]+[.][0-9]+)s$")
# profile_tasks (ansible.cfg) then lists every task, not the 20 longest: runs compare task by task.
PROFILE_ENV = {"PROFILE_TASKS_TASK_OUTPUT_LIMIT": "all", "PROFILE_TASKS_SORT_ORDER": "none"}


def helper_seconds(text: str) -> list[float]:
    """The helper's own time on each host (`<app> deploy: ok sha=... release=... in <s> s`)."""
    flat = " ".join(text.split())  # the YAML callback may fold the result line
    return [float(m) for m in re.findall(r"(?:deploy|rollback): [a-z]+ sha=[0-9a-f]* release=\S+ in ([0-9.]+) s", flat)]


def task_times(text: str) -> dict[str, float]:
    """Seconds per task name (summed over repeats) from a run's TASKS RECAP (profile_tasks)."""
    out: dict[str, float] = {}
    if "TASKS RECAP" not in text:
        return out
    for line in text.split("TASKS RECAP", 1)[1].splitlines():
        m = TASK_LINE.match(line.strip())
        if m:
            out[m[1]] = out.get(m[1], 0.0) + float(m[2])
    return out


def task_profile(walls: list[float], texts: list[str]) -> dict[str, float]:
    """Median seconds per task over rounds, plus "(outside the tasks)": the wall time none of them
    holds (ansible-playbook starting, parsing, the play's start, stopping)."""
    per_run = [task_times(t) for t in texts]
    names = list(dict.fromkeys(n for run in per_run for n in run))
    prof = {n: statistics.median([run.get(n, 0.0) for run in per_run]) for n in names}
    prof["(outside the tasks)"] = statistics.median([w - sum(run.values()) for w, run in zip(walls, per_run)])
    return prof


def profile_table(label: str, one: dict[str, float], many: dict[str, float], n: int, top: int = 8) -> None:
    """The tasks whose time grew most from one host to n hosts (medians of rounds)."""
    rows = sorted(dict.fromkeys([*one, *many]), key=lambda k: many.get(k, 0.0) - one.get(k, 0.0), reverse=True)
    print(f"{label}: where {n} hosts spend more (median s per task; 1 host -> {n} hosts, difference)")
    for name in rows[:top]:
        a, b = one.get(name, 0.0), many.get(name, 0.0)
        print(f"  {a:5.2f} -> {b:5.2f}  {b - a:+5.2f}  {name[:90]}")
    print(f"  {sum(one.values()):5.2f} -> {sum(many.values()):5.2f}  "
          f"{sum(many.values()) - sum(one.values()):+5.2f}  (every row: about the median wall time)")


def multi_bench(args: argparse.Namespace, one_inv: Path, first: dict[str, float]) -> None:
    """--hosts N: N fresh hosts, all in web, one site.yml run, then quiet rounds of deploy b +
    rollback on all N at once, interleaved with the same steps on the 1-host host (so both see
    the same load from whatever else runs on the machine: the ratios compare like with like)."""
    n, prefix = args.hosts, f"{args.prefix}-{args.hosts}h"
    inv = up(prefix, hosts=n, all_web=True)
    try:
        print(f"[bench] {n} hosts: site.yml on {n} fresh hosts in one run (first converge) ...", flush=True)
        took, out = playbook(inv, "site.yml")
        print(f"[bench] {n} hosts: site.yml {took:.0f} s   {recap(out)}")
        print(f"[bench] {n} hosts: deploy a (warm-up: builds the venv on each) ...", flush=True)
        took, _ = playbook(inv, "deploy.yml", "-e", "ref=a")
        print(f"[bench] {n} hosts: deploy a {took:.1f} s")
        # The shell deploy left b's tree live on the 1-host host: a deploy of a first, so its
        # rounds start where the N hosts' do.
        playbook(one_inv, "deploy.yml", "-e", "ref=a")
        steps = (("1 host deploy b", lambda: playbook(one_inv, "deploy.yml", "-e", "ref=b")),
                 (f"{n} hosts deploy b", lambda: playbook(inv, "deploy.yml", "-e", "ref=b")),
                 ("1 host rollback", lambda: playbook(one_inv, "rollback.yml")),
                 (f"{n} hosts rollback", lambda: playbook(inv, "rollback.yml")))
        res = rounds(0, args, steps, args.quiet_rounds, 0, "")
        one_floor, n_floor = floor(one_inv), floor(inv)
        names = host_names(inv)
    finally:
        if not args.keep:
            down(prefix)
    med = statistics.median
    print(f"\n== {n} hosts at once (quiet; medians of {args.quiet_rounds} rounds, each round also timing the"
          " 1-host host) ==")
    print(f"floor s           {n_floor:.2f}   ansible -m raw -a true on all {n}; 1 host {one_floor:.2f}"
          f" = {n_floor / one_floor:.2f}x")
    for step in ("deploy b", "rollback"):
        many, one = res[f"quiet {n} hosts {step}"], res[f"quiet 1 host {step}"]
        ratio = med(many) / med(one)
        print(f"quiet {step:8s} s  {med(many):.2f}   1 host {med(one):.2f} = {ratio:.2f}x (target <= 1.3x: "
              f"{'met' if ratio <= 1.3 else 'not met'})   (rounds: {n} hosts {fmt_rounds(many)};"
              f" 1 host {fmt_rounds(one)})")
    print(f"(the 1-host host's earlier quiet rounds: deploy {first['deploy']:.2f}, rollback {first['rollback']:.2f})")
    for step in ("deploy b", "rollback"):
        many = [max(helper_seconds(t), default=float("nan")) for t in res[f"quiet {n} hosts {step} text"]]
        one = [max(helper_seconds(t), default=float("nan")) for t in res[f"quiet 1 host {step} text"]]
        # The sandbox hosts are containers on this machine's cores: N helpers at once slow each
        # other (and Ansible) down, which N real hosts would not. Without that growth:
        rest = (med(res[f"quiet {n} hosts {step}"]) - (med(many) - med(one))) / med(res[f"quiet 1 host {step}"])
        print(f"helper {step:8s}   {med(many):.2f}   its own time on the host, the slowest of {n};"
              f" 1 host {med(one):.2f}; without that growth {n} hosts = {rest:.2f}x")
    print(f"hosts {', '.join(names)} (every one in web: nginx, the app's units)")
    for step in ("deploy b", "rollback"):
        profile_table(step, task_profile(res[f"quiet 1 host {step}"], res[f"quiet 1 host {step} text"]),
                      task_profile(res[f"quiet {n} hosts {step}"], res[f"quiet {n} hosts {step} text"]), n)


def node_bench(args: argparse.Namespace) -> dict[str, float | int | list]:
    """The Node fixture on its own fresh host: site.yml, warm-up, quiet and loaded rounds."""
    sh(["python3", "scripts/fixture_repo.py", "trader-node", str(NODE_REPO)], quiet=False)
    prefix = f"{args.prefix}-node"
    inv = up(prefix)
    extra = ["-e", f"@{NODE_VARS}"]
    try:
        (_, host), = read_inventory(inv).items()
        port = host["sandbox_https_port"]
        print("[bench] node: site.yml on a fresh host (first converge with nodejs and npm, ~3 min) ...", flush=True)
        took, out = playbook(inv, "site.yml", *extra, repo=NODE_REPO)
        print(f"[bench] node: site.yml {took:.0f} s   {recap(out)}")
        for ref in ("a", "b"):  # warm-up: npm ci once, a Vite build per commit (cached after)
            took, out = playbook(inv, "deploy.yml", *extra, "-e", f"ref={ref}", repo=NODE_REPO)
            print(f"[bench] node: deploy {ref} (warm-up) {took:.1f} s   {recap(out)}")
        steps = (("rollback", lambda: playbook(inv, "rollback.yml", *extra, repo=NODE_REPO)),
                 ("deploy b", lambda: playbook(inv, "deploy.yml", *extra, "-e", "ref=b", repo=NODE_REPO)))
        res = rounds(port, args, steps, args.quiet_rounds, args.rounds, "node: ", reference=lambda: floor(inv))
        loads = res["loads"]
        return {"floor": statistics.median(res["quiet floor"]), "deploy": statistics.median(res["quiet deploy b"]),
                "rollback": statistics.median(res["quiet rollback"]),
                "gaps": gaps(res["quiet deploy b text"] + res["quiet rollback text"]),
                "loaded_gaps": gaps(res["deploy b text"] + res["rollback text"]),
                "requests": sum(ld.total for ld in loads), "failed": sum(ld.failed for ld in loads)}
    finally:
        if not args.keep:
            down(prefix)


def fmt_rounds(times: list[float]) -> str:
    return ", ".join(f"{t:.2f}" for t in times)


def ssh_cmd(host: dict, *opts: str, user: str = "deploy") -> list[str]:
    return ["ssh", "-i", host["ansible_ssh_private_key_file"], "-p", str(host["ansible_port"]),
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
            "-o", "BatchMode=yes", *opts, f"{user}@127.0.0.1"]


def ssh_round_trip(host: dict, user: str, times: int) -> float:
    """Median wall time of a new SSH connection that runs `true`."""
    took = []
    for _ in range(times):
        t0 = time.monotonic()
        subprocess.run([*ssh_cmd(host, user=user), "true"], check=True)
        took.append(time.monotonic() - t0)
    return statistics.median(took)


def shell_deploy(host: dict, sha: str) -> float:
    """What the seeds' deploy.sh does: archive over SSH, unpack, symlink, restart the live unit."""
    rel = f"/srv/trader/shell-releases/{sha[:12]}-{time.time_ns()}"
    remote = (
        f"set -e; sudo mkdir -p {rel}; sudo tar -xzf - -C {rel};"
        f" sudo ln -sfn /srv/trader/shared/data {rel}/data; sudo ln -sfn /srv/trader/shared/.env {rel}/.env;"
        f" sudo ln -sfn $(readlink -f /srv/trader/current/.venv) {rel}/.venv;"
        f" echo {sha} | sudo tee {rel}/REVISION >/dev/null;"
        f" p=$(readlink /srv/trader/slots/active); sudo ln -sfn {rel} /srv/trader/slots/.shell;"
        f" sudo mv -T /srv/trader/slots/.shell /srv/trader/slots/$p; sudo systemctl restart trader-api@$p")
    ssh = ssh_cmd(host, "-o", "ControlMaster=auto", "-o", f"ControlPath=/tmp/tradeops-bench-{host['ansible_port']}",
                  "-o", "ControlPersist=60")
    subprocess.run([*ssh, "true"], check=True)  # the connection is up, as Ansible's is
    t0 = time.monotonic()
    archive = subprocess.Popen(["git", "-C", str(REPO), "archive", "--format=tar.gz", sha], stdout=subprocess.PIPE)
    subprocess.run([*ssh, remote], stdin=archive.stdout, check=True)
    archive.wait()
    return time.monotonic() - t0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--prefix", default="tradeops-bench-deploy", help="container name prefix")
    p.add_argument("--quiet-rounds", type=int, default=5,
                   help="deploy b + rollback rounds on a quiet host (default 5)")
    p.add_argument("--rounds", type=int, default=3, help="deploy b + rollback rounds under load (default 3)")
    p.add_argument("--threads", type=int, default=4, help="client threads (default 4)")
    p.add_argument("--max-requests", type=int, default=50000, help="cap per timed step (default 50000)")
    p.add_argument("--keep", action="store_true", help="keep the host afterwards")
    p.add_argument("--no-node", action="store_true", help="skip the Node fixture's host (saves ~6 min)")
    p.add_argument("--hosts", type=int, default=1, metavar="N",
                   help="also time deploy b + rollback on N fresh hosts at once, beside the 1-host figures"
                        " (default 1: only those)")
    p.add_argument("--inventory", type=Path,
                   help="use this provisioned one-host sandbox (e.g. make demo's) instead of a fresh host")
    args = p.parse_args()
    if args.quiet_rounds < 1 or args.rounds < 1:
        p.error("--quiet-rounds and --rounds must be at least 1 (the figures are medians of rounds)")
    if args.hosts < 1:
        p.error("--hosts must be at least 1")
    os.environ.update(PROFILE_ENV)

    sh(["python3", "scripts/demo_repo.py", str(REPO)], quiet=False)
    inv = args.inventory.resolve() if args.inventory else up(args.prefix)
    try:
        (name, host), = read_inventory(inv).items()
        port = host["sandbox_https_port"]
        # After site.yml, ufw rate-limits new SSH connections (6 in 30 s, each counted twice),
        # so a provisioned host gets one probe; a fresh one, before site.yml, gets five.
        probes = 1 if args.inventory else 5
        rtt = ssh_round_trip(host, "deploy" if args.inventory else "root", probes)
        print(f"[bench] SSH round trip (new connection, `true`) {rtt:.2f} s (median of {probes})")
        if not args.inventory:
            print("[bench] site.yml on the fresh host (first converge, ~2 min) ...", flush=True)
            took, out = playbook(inv, "site.yml")
            print(f"[bench] site.yml {took:.0f} s   {recap(out)}")
        print("[bench] deploy a (warm-up: builds the venv) ...", flush=True)
        took, _ = playbook(inv, "deploy.yml", "-e", "ref=a")
        print(f"[bench] deploy a {took:.1f} s")

        # One round: deploy b, then roll back to a; timed quiet first, then under load.
        steps = (("deploy b", lambda: playbook(inv, "deploy.yml", "-e", "ref=b")),
                 ("rollback", lambda: playbook(inv, "rollback.yml")))

        res = rounds(port, args, steps, args.quiet_rounds, args.rounds, "", reference=lambda: floor(inv))
        quiet_deploys, quiet_rollbacks = res["quiet deploy b"], res["quiet rollback"]
        deploys, rollbacks, loads = res["deploy b"], res["rollback"], res["loads"]
        requests, failed = sum(ld.total for ld in loads), sum(ld.failed for ld in loads)
        retried, errors = sum(ld.retried for ld in loads), {}
        for ld in loads:
            for k, v in ld.errors.items():
                errors[k] = errors.get(k, 0) + v

        py_floor = statistics.median(res["quiet floor"])
        sha_b = subprocess.run(["git", "-C", str(REPO), "rev-parse", "b^{commit}"], capture_output=True,
                               text=True, check=True).stdout.strip()
        quiet_shell = shell_deploy(host, sha_b)
        print(f"[bench] shell deploy, quiet {quiet_shell:.2f} s", flush=True)
        shell_took, load, _ = under_load(port, args, lambda: (shell_deploy(host, sha_b), ""))
        print(f"[bench] shell deploy (archive over SSH + symlink + restart) {shell_took:.2f} s"
              f"  requests {load.total}  failed {load.failed} {dict(load.errors) or ''}")

        dep, rb = statistics.median(deploys), statistics.median(rollbacks)
        qdep, qrb = statistics.median(quiet_deploys), statistics.median(quiet_rollbacks)
        print("\n== deploy benchmark (median of rounds; wall time of ansible-playbook) ==")
        print(f"quiet deploy s    {qdep:.2f}   target <= 5     (rounds: {fmt_rounds(quiet_deploys)})")
        print(f"quiet rollback s  {qrb:.2f}   target <= 2.5   (rounds: {fmt_rounds(quiet_rollbacks)})")
        print(f"quiet shell s     {quiet_shell:.2f}   deploy.yml / shell = {qdep / quiet_shell:.1f}x;"
              f" SSH round trip {rtt:.2f} s")
        print(f"deploy s          {dep:.2f}   under load   (rounds: {fmt_rounds(deploys)})")
        print(f"rollback s        {rb:.2f}   under load   (rounds: {fmt_rounds(rollbacks)})")
        print(f"requests          {requests}")
        print(f"failed            {failed} {errors or ''}")
        print(f"retried           {retried} (GETs re-sent once after nginx closed an idle keep-alive connection on reload)")
        print(f"shell deploy s    {shell_took:.2f}   under load, {load.failed} of {load.total} requests failed;"
              f" deploy.yml / shell = {dep / shell_took:.1f}x")
        print(f"floor s           {py_floor:.2f}   ansible -m raw -a true, timed in each quiet round beside the deploy"
              f" and the rollback (rounds: {fmt_rounds(res['quiet floor'])})")
        print(f"ratios            quiet deploy = {qdep / py_floor:.2f}x the floor (target <= 2.5x: "
              f"{'met' if qdep / py_floor <= 2.5 else 'not met'}), quiet rollback = {qrb / py_floor:.2f}x (target <= 2x: "
              f"{'met' if qrb / py_floor <= 2 else 'not met'})")
        print(f"host {name}; {args.threads} client threads through nginx (HTTPS) to /api/health")
        if args.hosts > 1:
            multi_bench(args, inv, {"deploy": qdep, "rollback": qrb})
    finally:
        if not args.keep and not args.inventory:
            down(args.prefix)
    if not args.no_node:
        node = node_bench(args)
        med = statistics.median
        print("\n== Node fixture (npm ci once, Vite build cached per input, backend stop_start) ==")
        print(f"floor s           {node['floor']:.2f}   ansible -m raw -a true on the Node host, in each quiet round")
        print(f"quiet deploy s    {node['deploy']:.2f}   = {node['deploy'] / node['floor']:.1f}x the floor;"
              f" Python deploy {node['deploy'] - qdep:+.2f} s (target <= +0.5 s; lockfile unchanged)")
        print(f"quiet rollback s  {node['rollback']:.2f}   = {node['rollback'] / node['floor']:.1f}x the floor")
        if node["gaps"]:
            print(f"stop_start gap s  {med(node['gaps']):.2f}   quiet, median (rounds: {fmt_rounds(node['gaps'])});"
                  f" under load {med(node['loaded_gaps']) if node['loaded_gaps'] else float('nan'):.2f}")
        print(f"requests          {node['requests']}   failed {node['failed']} (stop_start: the backend is down for"
              " the gap, so nginx answers 502 then; blue_green above: 0 is the target)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
