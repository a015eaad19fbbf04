#!/usr/bin/env python3
"""Security audit of one fresh sandbox host, provisioned by site.yml with the sandbox inventory.

1. Lynis hardening index (Debian's package, inside the host) on the stock host;
2. site.yml, then deploy.yml -e ref=HEAD (the sample app, so its units run);
3. Lynis again, after applying the role's network sysctls in the host's network namespace as a
   VM's boot would (the container's /proc/sys is read-only; kernel keys are never applied);
4. gixy on the host's nginx configuration, testssl.sh on its HTTPS port (web_audit.py);
5. systemd-analyze security / verify of every app unit (unit_audit.py).

testssl.sh runs in the background during 3 and 5. The host is a container, so some Lynis
controls (kernel sysctls, auditd, separate partitions) cannot apply: see README.

Exit codes: 0 clean, 1 gixy issues, testssl findings of MEDIUM or worse, or a unit over the
exposure limit (or one systemd-analyze verify complains about); 2 a step could not run.
"""
from __future__ import annotations

import argparse
import re
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import unit_audit
import web_audit
from _hosts import VENV_BIN, down, host_names, recap, sh, up


def lynis(name: str) -> tuple[int, list[str]]:
    t0 = time.monotonic()
    res = sh(["podman", "exec", name, "lynis", "audit", "system", "--quick", "--no-colors"], check=False)
    match = re.search(r"Hardening index : (\d+)", res.stdout)
    if not match:
        raise SystemExit("Lynis printed no hardening index:\n" + res.stdout[-2000:])
    report = sh(["podman", "exec", name, "cat", "/var/log/lynis-report.dat"]).stdout
    suggestions = [ln.split("=", 1)[1] for ln in report.splitlines() if ln.startswith("suggestion[]=")]
    print(f"[audit] lynis ran in {time.monotonic() - t0:.0f} s", flush=True)
    return int(match.group(1)), suggestions


def apply_net_sysctls_as_at_boot(name: str) -> int:
    """A VM applies /etc/sysctl.d when it boots; this host is a container whose /proc/sys is
    read-only, so the role's network file is written but not applied. Apply that file's keys
    in the host's own network namespace (nsenter --net from this machine), as systemd-sysctl
    does at boot. Only net.* keys, which are per namespace: kernel/fs/vm keys stay unapplied,
    because they would change this machine's own kernel."""
    pid = sh(["podman", "inspect", "--format", "{{.State.Pid}}", name]).stdout.strip()
    conf = sh(["podman", "exec", name, "cat", "/etc/sysctl.d/90-tradeops-net.conf"]).stdout
    keys = [tuple(part.strip() for part in ln.split("=", 1)) for ln in conf.splitlines()
            if "=" in ln and not ln.lstrip().startswith(("#", ";"))]
    applied = 0
    for key, value in keys:
        if not key.startswith("net."):
            raise SystemExit(f"90-tradeops-net.conf holds {key}, which is not per network namespace; not applied")
        res = sh(["nsenter", "--target", pid, "--net", "sysctl", "-q", "-w", f"{key}={value}"], check=False)
        applied += res.returncode == 0
    print(f"[audit] applied {applied}/{len(keys)} keys of the role's 90-tradeops-net.conf in the host's network"
          " namespace, as a VM's boot would (kernel keys: not applied in a container)", flush=True)
    return applied


def https_port(inv: Path, name: str) -> int:
    match = re.search(rf'"{re.escape(name)}": \{{[^}}]*"sandbox_https_port": (\d+)', inv.read_text())
    if not match:
        raise SystemExit(f"no sandbox_https_port for {name} in {inv}")
    return int(match.group(1))


def playbook(inv: Path, *args: str) -> str:
    t0 = time.monotonic()
    out = sh([str(VENV_BIN / "ansible-playbook"), "-i", str(inv), *args]).stdout
    print(f"[audit] {args[0]}: {recap(out)} ({time.monotonic() - t0:.0f} s)", flush=True)
    return out


def audit(name: str, inv: Path, args: argparse.Namespace) -> int:
    print("[audit] installing lynis in the host (apt) ...", flush=True)
    sh(["podman", "exec", name, "sh", "-c",
        "apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q lynis >/dev/null"])
    before, _ = lynis(name)
    print(f"[audit] Lynis hardening index, stock host: {before}", flush=True)
    print("[audit] running site.yml, then deploy.yml -e ref=HEAD (the sample app) ...", flush=True)
    playbook(inv, "site.yml")
    sh(["python3", "scripts/demo_repo.py", ".sandbox/demo-repo"])  # the sandbox inventory deploys from it
    playbook(inv, "deploy.yml", "-e", "ref=HEAD")
    apply_net_sysctls_as_at_boot(name)
    port = https_port(inv, name)
    target = f"https://{args.server_name}:{port}/"
    with tempfile.TemporaryDirectory(prefix="tradeops-audit-") as tmp, ThreadPoolExecutor(1) as pool:
        work = Path(tmp)
        ca = web_audit.install_local_ca_cert(name, args.site, [args.server_name], work, args.tls_dir)
        print(f"[audit] testssl.sh {target} at 127.0.0.1, local CA trusted (in the background, ~3 min)", flush=True)
        t_ssl = time.monotonic()
        scan = pool.submit(web_audit.testssl, port, args.server_name, ca, work)
        after, suggestions = lynis(name)
        print(f"[audit] Lynis hardening index, after site.yml and a deploy: {after}", flush=True)
        if args.suggestions:
            print("\n".join(f"  - {s}" for s in suggestions))
        t0 = time.monotonic()
        issues = web_audit.gixy(name)
        web_audit.print_gixy(issues, name, time.monotonic() - t0)
        units_bad = unit_audit.report(name, args.app, args.max_exposure)
        findings = scan.result()
        renego_ok = web_audit.secure_renegotiation(port, args.server_name)
        web_audit.print_testssl(findings, target, time.monotonic() - t_ssl, renego_ok)
    ssl_bad = len(web_audit.bad_findings(findings)) + (not renego_ok)
    print(f"[audit] summary: Lynis {before} -> {after}; gixy {len(issues)} issue(s); testssl {ssl_bad} NOT ok;"
          f" units over {args.max_exposure} or failing verify: {units_bad}")
    return 1 if issues or ssl_bad or units_bad else 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--prefix", default="tradeops-audit")
    p.add_argument("--keep", action="store_true", help="keep the host afterwards")
    p.add_argument("--suggestions", action="store_true", help="list Lynis' remaining suggestions")
    p.add_argument("--app", default="trader", help="app of services_apps whose units are analysed (default trader)")
    p.add_argument("--max-exposure", type=float, default=2.5, help="highest unit exposure allowed (default 2.5)")
    p.add_argument("--site", default="trader", help="nginx site scanned by testssl.sh (default trader)")
    p.add_argument("--server-name", default="trader.sandbox.test", help="its SNI name (default trader.sandbox.test)")
    p.add_argument("--tls-dir", default="/etc/nginx/tradeops/tls", help="nginx_tls_dir (default %(default)s)")
    args = p.parse_args()
    t0 = time.monotonic()
    inv = up(args.prefix)
    name = host_names(inv)[0]
    try:
        rc = audit(name, inv, args)
    except SystemExit as exc:
        print(f"[audit] ERROR: {exc}")
        rc = 2
    finally:
        if not args.keep:
            down(args.prefix)
    print(f"[audit] done in {time.monotonic() - t0:.0f} s, exit {rc}")
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
