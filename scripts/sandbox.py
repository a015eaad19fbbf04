#!/usr/bin/env python3
"""Local sandbox hosts for tradeops: systemd containers that stand in for a fresh VPS.

Each host boots systemd, runs a real sshd and accepts root login with a key
generated for the project (as a new droplet does). SSH, HTTP and HTTPS are
published on 127.0.0.1 only. Ansible reaches the hosts over real SSH.

  sandbox.py image [--release bookworm]       build the cached base image
  sandbox.py up --prefix NAME [--hosts N] ... start hosts, write an inventory
  sandbox.py down --prefix NAME               remove the hosts

Exit codes: 0 ok, 1 a step failed (the message says which and what to do), 2 usage.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import NoReturn

ROOT = Path(__file__).resolve().parent.parent
STATE = ROOT / ".sandbox"
KEY = STATE / "id_ed25519"
LABEL = "io.tradeops.sandbox"

# The image recipe. Any change here changes the tag, so the image is rebuilt.
PACKAGES = [
    "systemd", "systemd-sysv", "dbus", "python3", "python3-apt", "sudo",
    "iproute2", "procps", "openssh-server", "ca-certificates", "less",
]
SOURCES = {
    "bookworm": "deb {m} bookworm main\ndeb {m} bookworm-updates main\n"
                "deb {s} bookworm-security main\n",
    "trixie": "deb {m} trixie main\ndeb {m} trixie-updates main\n"
              "deb {s} trixie-security main\n",
}
RECIPE_VERSION = "5"
# Like cloud-init on a droplet: each host makes its own SSH host keys at first boot.
HOSTKEYS_UNIT = """[Unit]
Description=Generate SSH host keys (sandbox first boot)
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=multi-user.target
"""


def say(msg: str) -> None:
    # Progress goes to stderr: stdout carries only results (`image` prints the tag).
    print(f"[sandbox] {msg}", file=sys.stderr, flush=True)


def debootstrap(args: list[str]) -> tuple[int, str]:
    """Run debootstrap, saying each phase it enters and, every 10 s, how far it got."""
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    tail: deque[str] = deque(maxlen=60)
    counts: dict[str, int] = {}
    t0 = last = time.monotonic()
    assert proc.stdout is not None
    for line in proc.stdout:
        tail.append(line)
        words = line.split()
        if len(words) < 2 or words[0] != "I:":
            continue
        verb, text, now = words[1], " ".join(words[1:])[:90], time.monotonic()
        counts[verb] = counts.get(verb, 0) + 1
        # "Unpacking required packages..." opens a phase; "Unpacking libc6..." or
        # "Retrieving libc6 2.36-9" is one package of it (hundreds: reported every 10 s).
        phase = len(words) >= 4 and text.endswith("...")
        if phase or counts[verb] == 1 or now - last >= 10:
            note = "" if phase or counts[verb] == 1 else f" ({verb.lower()}: {counts[verb]} packages so far)"
            say(f"  debootstrap {now - t0:3.0f} s: {text}{note}")
            last = now
    return proc.wait(), "".join(tail)


def die(msg: str) -> NoReturn:
    print(f"[sandbox] ERROR: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


def run(cmd: list[str], check: bool = True, **kw) -> subprocess.CompletedProcess:
    res = subprocess.run(cmd, text=True, **kw)
    if check and res.returncode != 0:
        die(f"command failed ({res.returncode}): {' '.join(cmd)}")
    return res


def podman(*args: str, check: bool = True, capture: bool = True, **kw) -> subprocess.CompletedProcess:
    if capture:
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
    res = subprocess.run(["podman", *args], text=True, **kw)
    if check and res.returncode != 0:
        die(f"podman {' '.join(args)} failed: {(res.stderr or '').strip()}")
    return res


def mirror() -> tuple[str, str]:
    """The Debian mirror this machine's apt already uses (no other host is reachable)."""
    uris: list[str] = []
    src = Path("/etc/apt/sources.list.d/debian.sources")
    if src.exists():
        uris += [u for ln in src.read_text().splitlines() if ln.startswith("URIs:") for u in ln.split(":", 1)[1].split()]
    lst = Path("/etc/apt/sources.list")
    if lst.exists():
        for ln in lst.read_text().splitlines():
            words = re.sub(r"\[[^]]*\]", " ", ln).split()  # "deb [signed-by=...] URI suite ..."
            if len(words) > 2 and words[0] == "deb":
                uris.append(words[1])
    sec = [u for u in uris if u.rstrip("/").endswith("-security")]
    main = [u for u in uris if not u.rstrip("/").endswith("-security")]
    if not main:
        die("no Debian mirror in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list:"
            " the sandbox image is built from the mirror this machine's apt uses")
    return main[0], sec[0] if sec else main[0].rstrip("/") + "-security"


def image_tag(release: str) -> str:
    recipe = json.dumps([RECIPE_VERSION, release, PACKAGES, SOURCES[release], HOSTKEYS_UNIT])
    return f"localhost/tradeops-host:{release}-{hashlib.sha256(recipe.encode()).hexdigest()[:10]}"


def build_image(release: str) -> str:
    tag = image_tag(release)
    if podman("image", "exists", tag, check=False).returncode == 0:
        say(f"image {tag} is cached")
        return tag
    if os.geteuid() != 0:
        die("building the image needs root (debootstrap); run as root")
    if not shutil.which("debootstrap"):
        die("debootstrap is missing; run `make deps` first")
    main, sec = mirror()
    cache = ROOT / ".cache"
    cache.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache, prefix="rootfs-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        say(f"building {tag} with debootstrap from {main} (about 70 s; only when the recipe changes)")
        t0 = time.monotonic()
        rc, tail = debootstrap(["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}",
                                release, str(rootfs), main])
        if rc != 0:
            print(tail[-3000:], file=sys.stderr)
            die("debootstrap failed; check that the Debian mirror is reachable and retry `make image`")
        say(f"debootstrap done in {time.monotonic() - t0:.0f} s; customising")
        (rootfs / "etc/apt/sources.list").write_text(SOURCES[release].format(m=main, s=sec))
        # Each host gets its own host keys at first start (see up()).
        for key in (rootfs / "etc/ssh").glob("ssh_host_*"):
            key.unlink()
        unit = rootfs / "etc/systemd/system/sandbox-ssh-hostkeys.service"
        unit.write_text(HOSTKEYS_UNIT)
        wants = rootfs / "etc/systemd/system/multi-user.target.wants"
        wants.mkdir(parents=True, exist_ok=True)
        (wants / unit.name).symlink_to(f"/etc/systemd/system/{unit.name}")
        (rootfs / "etc/machine-id").write_text("")
        for path in (rootfs / "var/lib/apt/lists").glob("*_dists_*"):
            path.unlink()
        for path in (rootfs / "var/cache/apt/archives").glob("*.deb"):
            path.unlink()
        # Lists are gone: make them look old so the first apt run updates them.
        os.utime(rootfs / "var/lib/apt/lists", (0, 0))
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        imp = podman("import", "--change", 'CMD ["/sbin/init"]', "-", tag, stdin=tar.stdout)
        tar.wait()
        if imp.returncode != 0 or tar.returncode != 0:
            die("podman import failed")
    say(f"image {tag} built in {time.monotonic() - t0:.0f} s")
    return tag


def ensure_key() -> Path:
    STATE.mkdir(exist_ok=True)
    if not KEY.exists():
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "tradeops-sandbox", "-f", str(KEY)])
    return KEY


def published(name: str, port: int) -> int:
    out = podman("port", name, f"{port}/tcp").stdout.strip().splitlines()
    if not out:
        die(f"{name} publishes no port for {port}")
    return int(out[0].rsplit(":", 1)[1])


def wait_ssh(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        res = subprocess.run(
            ["ssh", "-i", str(KEY), "-p", str(port), "-o", "BatchMode=yes",
             "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
             "-o", "ConnectTimeout=3", "-o", "LogLevel=ERROR", "root@127.0.0.1", "true"],
            capture_output=True, text=True)
        if res.returncode == 0:
            return
        time.sleep(0.5)
    die(f"no SSH on 127.0.0.1:{port} after {timeout:.0f} s; see `podman logs` of the host")


def start_host(name: str, image: str, ports: dict[int, int], args: argparse.Namespace) -> None:
    podman("rm", "-f", name, check=False)
    cmd = ["run", "-d", "--name", name, "--hostname", name, "--systemd=always",
           "--label", f"{LABEL}={args.prefix}"]
    for inner, outer in ports.items():
        cmd += ["-p", f"127.0.0.1:{outer or ''}:{inner}"]
    for cap in args.cap_add:
        cmd += ["--cap-add", cap]
    if args.privileged:
        cmd += ["--privileged"]
    for vol in args.volume:
        cmd += ["-v", vol]
    podman(*cmd, image, "/sbin/init")


def provision_host(name: str) -> None:
    # Wait for systemd, then install the root key (as a provider does for a new VPS).
    state, deadline = "", time.monotonic() + 90
    while state not in ("running", "degraded") and time.monotonic() < deadline:
        res = podman("exec", name, "systemctl", "is-system-running", "--wait", check=False)
        state = res.stdout.strip()
        if state not in ("running", "degraded"):
            time.sleep(0.5)
    if state not in ("running", "degraded"):
        die(f"{name}: systemd is {state!r}; see `podman exec {name} systemctl --failed`")
    pub = KEY.with_suffix(".pub").read_text()
    script = (
        "set -e; install -d -m 700 /root/.ssh; cat > /root/.ssh/authorized_keys;"
        " chmod 600 /root/.ssh/authorized_keys"
    )
    podman("exec", "-i", name, "sh", "-c", script, input=pub)
    # The controller's CA bundle, for test-time pip/uv behind this machine's TLS proxy (never used by roles).
    bundle = Path("/etc/ssl/certs/ca-certificates.crt")
    if bundle.exists():
        podman("cp", str(bundle), f"{name}:/usr/local/share/controller-ca-bundle.crt")


def groups_for(index: int, count: int) -> list[str]:
    if count == 1:
        return ["web", "workers", "db"]
    return [["web"], ["workers"], ["db"]][(index - 1) % 3]


def write_inventory(path: Path, hosts: list[dict]) -> None:
    groups: dict[str, dict] = {"web": {}, "workers": {}, "db": {}}
    for h in hosts:
        for g in h["groups"]:
            groups[g][h["name"]] = {
                "ansible_host": "127.0.0.1",
                "ansible_ssh_private_key_file": str(KEY),
                "ansible_port": h["ssh"],
                "sandbox_http_port": h["http"],
                "sandbox_https_port": h["https"],
            }
    inv = {"all": {"children": {"tradeops": {"children": {g: {"hosts": v} for g, v in groups.items()}}}}}
    path.parent.mkdir(parents=True, exist_ok=True)
    body = "# Written by scripts/sandbox.py; regenerated by `make sandbox`.\n" + json.dumps(inv, indent=2) + "\n"
    path.write_text(body)
    # Inventories written elsewhere (Molecule's) share the sandbox group_vars.
    shared = ROOT / "inventories" / "sandbox" / "group_vars"
    if path.parent.resolve() != shared.parent.resolve():
        link = path.parent / "group_vars"
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(shared)


def read_inventory(path: Path) -> dict[str, dict]:
    """Hosts of an inventory written by write_inventory: name -> its variables plus "groups"."""
    text = "".join(ln for ln in Path(path).read_text().splitlines(True) if not ln.startswith("#"))
    hosts: dict[str, dict] = {}
    for group, body in json.loads(text)["all"]["children"]["tradeops"]["children"].items():
        for name, hostvars in body["hosts"].items():
            hosts.setdefault(name, dict(hostvars, groups=[]))["groups"].append(group)
    return dict(sorted(hosts.items()))


def cmd_up(args: argparse.Namespace) -> None:
    image = build_image(args.release)
    ensure_key()
    hosts = []
    for i in range(1, args.hosts + 1):
        name = f"{args.prefix}-{i}"
        ports = {22: 0, 80: 0, 443: 0}
        if args.port_base:
            ports = {22: args.port_base + i, 80: args.port_base + 100 + i, 443: args.port_base + 200 + i}
        say(f"starting host {i}/{args.hosts}: {name}")
        start_host(name, image, ports, args)
    for i in range(1, args.hosts + 1):
        name = f"{args.prefix}-{i}"
        provision_host(name)
        ssh = published(name, 22)
        wait_ssh(ssh)
        hosts.append({"name": name, "ssh": ssh, "http": published(name, 80), "https": published(name, 443),
                      "groups": groups_for(i, args.hosts)})
        say(f"{name} ready: ssh -i {KEY.relative_to(ROOT)} -p {ssh} root@127.0.0.1")
    if args.inventory:
        write_inventory(Path(args.inventory), hosts)
        say(f"inventory written to {args.inventory}")


def cmd_down(args: argparse.Namespace) -> None:
    names = podman("ps", "-a", "--filter", f"label={LABEL}={args.prefix}", "--format", "{{.Names}}").stdout.split()
    for name in names:
        say(f"removing {name}")
        podman("rm", "-f", "-t", "2", name, check=False)
    if not names:
        say(f"no hosts with prefix {args.prefix}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    img = sub.add_parser("image", help="build (or reuse) the cached systemd host image")
    img.add_argument("--release", default="bookworm", choices=sorted(SOURCES))
    up = sub.add_parser("up", help="start N sandbox hosts and write an inventory")
    up.add_argument("--prefix", required=True, help="container name prefix, e.g. tradeops-sandbox")
    up.add_argument("--hosts", type=int, default=1, help="how many hosts (default 1)")
    up.add_argument("--release", default="bookworm", choices=sorted(SOURCES))
    up.add_argument("--port-base", type=int, default=0,
                    help="fixed ports: ssh BASE+i, http BASE+100+i, https BASE+200+i (default: random)")
    up.add_argument("--inventory", help="write an Ansible inventory (JSON-in-YAML) here")
    up.add_argument("--cap-add", action="append", default=["NET_ADMIN"], help="extra capability")
    up.add_argument("--privileged", action="store_true", help="privileged host (nested Podman only)")
    up.add_argument("--volume", action="append", default=[], help="extra -v for podman run")
    down = sub.add_parser("down", help="remove the hosts with this prefix")
    down.add_argument("--prefix", required=True)
    args = p.parse_args()
    if args.cmd == "image":
        print(build_image(args.release))
    elif args.cmd == "up":
        if args.hosts < 1:
            p.error("--hosts must be at least 1")
        cmd_up(args)
    else:
        cmd_down(args)


if __name__ == "__main__":
    main()
