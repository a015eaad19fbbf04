#!/usr/bin/env python3
"""Audit the web edge of a provisioned sandbox host: gixy on nginx's config, testssl.sh on HTTPS.

gixy (gixy-ng, from .venv) reads a copy of the host's /etc/nginx (every include in it is
relative, so the copy is the configuration nginx loads). testssl.sh (Debian package) scans the host's HTTPS port on 127.0.0.1 with the
site's name as SNI. A self-signed certificate can only fail testssl's trust check, so
the site is first given a certificate from a throwaway local CA that testssl is told to
trust (--add-ca): then every finding is about nginx's TLS set-up (see README, "Figures").

  web_audit.py --host tradeops-sandbox-1 --port 2401 --server-name trader.sandbox.test

Exit codes: 0 no gixy issue and no testssl finding of MEDIUM or worse, 1 findings, 2 a
step could not run.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

from _hosts import VENV_BIN, exit_code, sh

# testssl's JSON severities that the screen shows as "NOT ok" or in red/orange.
BAD = ("MEDIUM", "HIGH", "CRITICAL")


def gixy(host: str) -> list[dict]:
    """gixy's issues on the host's /etc/nginx (copied here; its includes are relative)."""
    with tempfile.TemporaryDirectory(prefix="tradeops-gixy-") as tmp:
        # A copy of the tree rather than `nginx -T`: gixy resolves includes in a copy, while in a
        # dump it attaches a snippet included several times (security headers) only once.
        # Basic Auth files stay in the host.
        tar = subprocess.Popen(["podman", "exec", host, "tar", "-C", "/etc/nginx", "--exclude=htpasswd-*", "-c", "."],
                               stdout=subprocess.PIPE)
        subprocess.run(["tar", "-C", tmp, "-x"], stdin=tar.stdout, check=True)
        if tar.wait() != 0:
            raise SystemExit(f"could not copy /etc/nginx out of {host}")
        # gixy exits 1 when it finds issues; its JSON list is the answer either way.
        res = subprocess.run([str(VENV_BIN / "gixy"), "-f", "json", f"{tmp}/nginx.conf"],
                             capture_output=True, text=True, stdin=subprocess.DEVNULL)
        try:
            issues = json.loads(res.stdout or "[]")
        except json.JSONDecodeError:
            raise SystemExit(f"gixy printed no JSON (exit {res.returncode}):\n{res.stdout[-1000:]}{res.stderr[-1000:]}")
    for issue in issues:
        issue["where"] = f"/etc/nginx{issue['file'][len(tmp):]}:{issue['line']}"
    return issues


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def install_local_ca_cert(host: str, site: str, names: list[str], work: Path, tls_dir: str) -> Path:
    """Issue a certificate for `names` from a new local CA, serve it for `site`; return the CA file.

    The leaf looks like a public CA's: ECDSA P-256 (the certbot role's default), 90 days,
    serverAuth only, with a CRL distribution point. The CA key stays in `work` (a temp dir).
    """
    (work / "leaf.ext").write_text(
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\nsubjectAltName=" + ",".join(f"DNS:{n}" for n in names) + "\n"
        f"crlDistributionPoints=URI:http://{names[0]}/tradeops-audit-ca.crl\n"
        "authorityKeyIdentifier=keyid\nsubjectKeyIdentifier=hash\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    openssl("req", "-x509", *ec, "-days", "30", "-subj", "/CN=tradeops audit CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout", "ca.key", "-out", "ca.pem", cwd=work)
    openssl("req", *ec, "-subj", f"/CN={names[0]}", "-keyout", "privkey.pem", "-out", "leaf.csr", cwd=work)
    openssl("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "90", "-sha256", "-extfile", "leaf.ext", "-out", "fullchain.pem", cwd=work)
    # Like installing a certificate bought elsewhere: own directory, the site's links point at it.
    target = f"/etc/ssl/tradeops-audit/{site}"
    sh(["podman", "exec", host, "install", "-d", "-m", "0700", target])
    for name in ("fullchain.pem", "privkey.pem"):
        sh(["podman", "cp", str(work / name), f"{host}:{target}/{name}"])
        sh(["podman", "exec", host, "ln", "-sfn", f"{target}/{name}", f"{tls_dir}/{site}/{name}"])
    sh(["podman", "exec", host, "sh", "-c", f"chmod 0600 {target}/privkey.pem && nginx -t -q && systemctl reload nginx"])
    return work / "ca.pem"


def testssl(port: int, server_name: str, ca: Path, work: Path) -> list[dict]:
    """testssl.sh's findings for https://server_name:port/ reached at 127.0.0.1 (no DNS)."""
    out = work / "testssl.json"
    res = subprocess.run(
        ["testssl", "--quiet", "--color", "0", "--warnings", "off", "--nodns", "none",
         "--ip", "127.0.0.1", "--add-ca", str(ca), "--jsonfile", str(out),
         f"https://{server_name}:{port}/"],
        capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if not out.exists():
        raise SystemExit(f"testssl wrote no JSON (exit {res.returncode}):\n{res.stdout[-2000:]}{res.stderr[-1000:]}")
    return json.loads(out.read_text())


def secure_renegotiation(port: int, server_name: str) -> bool:
    """RFC 5746 support over TLS 1.2, with SNI (testssl.sh 3.0 checks it without SNI, which the
    default server refuses: its secure_renego test then ends in a WARN)."""
    res = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", server_name,
                          "-tls1_2"], capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=30)
    return "Secure Renegotiation IS supported" in res.stdout


def print_gixy(issues: list[dict], host: str, seconds: float) -> None:
    print(f"[audit] gixy (/etc/nginx of {host}): {len(issues)} issue(s) ({seconds:.0f} s)", flush=True)
    for issue in issues:
        print(f"  - {issue['severity']} [{issue['plugin']}] {issue['where']}: {issue['summary']} ({issue.get('reason', '')})")


def bad_findings(findings: list[dict]) -> list[dict]:
    return [f for f in findings if f["severity"] in BAD or "NOT ok" in f.get("finding", "")]


def print_testssl(findings: list[dict], target: str, seconds: float, renego_ok: bool) -> None:
    counts: dict[str, int] = {}
    for f in findings:
        counts[f["severity"]] = counts.get(f["severity"], 0) + 1
    summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    bad = bad_findings(findings)
    print(f"[audit] testssl.sh {target}: {len(bad)} NOT ok / MEDIUM+ finding(s) of {len(findings)}"
          f" ({summary}; {seconds:.0f} s)")
    # WARN is a test testssl could not run; LOW is advice. Both are shown, neither fails.
    for f in bad + [f for f in findings if f["severity"] in ("LOW", "WARN")]:
        print(f"  - {f['severity']} {f['id']}: {f['finding']}")
    print(f"[audit] secure renegotiation (RFC 5746) with SNI, by openssl s_client: "
          f"{'supported (OK)' if renego_ok else 'NOT supported (NOT ok)'}")


def report(host: str, port: int, server_name: str, site: str, tls_dir: str) -> int:
    """Run both audits, print their findings; return the number of failing findings."""
    t0 = time.monotonic()
    issues = gixy(host)
    print_gixy(issues, host, time.monotonic() - t0)
    with tempfile.TemporaryDirectory(prefix="tradeops-audit-") as tmp:
        work = Path(tmp)
        ca = install_local_ca_cert(host, site, [server_name], work, tls_dir)
        print(f"[audit] testssl.sh https://{server_name}:{port}/ at 127.0.0.1 (local CA trusted; ~3 min) ...",
              flush=True)
        t0 = time.monotonic()
        findings = testssl(port, server_name, ca, work)
    renego_ok = secure_renegotiation(port, server_name)
    print_testssl(findings, f"https://{server_name}:{port}/", time.monotonic() - t0, renego_ok)
    return len(issues) + len(bad_findings(findings)) + (not renego_ok)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", required=True, help="sandbox container name, e.g. tradeops-sandbox-1")
    p.add_argument("--port", type=int, required=True, help="the host's HTTPS port published on 127.0.0.1")
    p.add_argument("--server-name", default="trader.sandbox.test", help="SNI name (default trader.sandbox.test)")
    p.add_argument("--site", default="trader", help="nginx site whose certificate is replaced (default trader)")
    p.add_argument("--tls-dir", default="/etc/nginx/tradeops/tls", help="nginx_tls_dir (default %(default)s)")
    args = p.parse_args()
    return exit_code(lambda: report(args.host, args.port, args.server_name, args.site, args.tls_dir))


if __name__ == "__main__":
    raise SystemExit(main())
