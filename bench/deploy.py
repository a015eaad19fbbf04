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
     prints the ratio.

The load is bounded: it stops when the timed step ends, or at --max-requests per step.
Figures are printed; nothing is asserted (see tests/ for behaviour).
"""
from __future__ import annotations

import argparse
import http.client
import socket
import ssl
import statistics
import subprocess
import threading
import time
from pathlib import Path

from _hosts import ROOT, VENV_BIN, down, read_inventory, recap, sh, up

SITE = "trader.sandbox.test"
REPO = ROOT / ".sandbox" / "bench-deploy-repo"


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


def playbook(inv: Path, name: str, *args: str) -> tuple[float, str]:
    t0 = time.monotonic()
    res = sh([str(VENV_BIN / "ansible-playbook"), "-i", str(inv), name, "-e", f"release_repo={REPO}",
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
    p.add_argument("--inventory", type=Path,
                   help="use this provisioned one-host sandbox (e.g. make demo's) instead of a fresh host")
    args = p.parse_args()

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

        quiet_deploys, quiet_rollbacks = [], []
        for i in range(1, args.quiet_rounds + 1):
            for (label, step), bucket in zip(steps, (quiet_deploys, quiet_rollbacks)):
                took, out = step()
                bucket.append(took)
                print(f"[bench] quiet {i}/{args.quiet_rounds} {label:8s} {took:5.2f} s   {recap(out)}", flush=True)

        deploys, rollbacks, requests, failed, retried, errors = [], [], 0, 0, 0, {}
        for i in range(1, args.rounds + 1):
            for (label, step), bucket in zip(steps, (deploys, rollbacks)):
                took, load, out = under_load(port, args, step)
                bucket.append(took)
                requests, failed, retried = requests + load.total, failed + load.failed, retried + load.retried
                for k, v in load.errors.items():
                    errors[k] = errors.get(k, 0) + v
                print(f"[bench] round {i}/{args.rounds} {label:8s} {took:5.2f} s  requests {load.total:5d}"
                      f"  failed {load.failed}  keep-alive retries {load.retried}   {recap(out)}", flush=True)

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
        print(f"host {name}; {args.threads} client threads through nginx (HTTPS) to /api/health")
    finally:
        if not args.keep and not args.inventory:
            down(args.prefix)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
