#!/usr/bin/env python3
"""Point an example inventory (inventories/examples/<name>) at a sandbox host, for tests.

  example_inventory.py SANDBOX_INVENTORY OUT_DIR NAME=VARS_FILE[,VARS_FILE...] [NAME=...]

For the i-th NAME, the i-th host of SANDBOX_INVENTORY (written by scripts/sandbox.py) becomes
the only host of OUT_DIR/NAME/hosts.yml, in the groups the example's own hosts.yml uses, and
OUT_DIR/NAME/group_vars links to the example's group_vars: the playbooks read the example
exactly as a user would. What only the sandbox needs (its SSH port and key, self-signed
certificates instead of Let's Encrypt, the test repository, stand-ins for the vault values)
comes from the VARS_FILEs (merged, later wins), as host variables, which win over group_vars and lose to -e.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from sandbox import read_inventory  # noqa: E402 (scripts/ is not a package)

CONNECTION = ("ansible_host", "ansible_port", "ansible_ssh_private_key_file", "sandbox_http_port", "sandbox_https_port")


def example_groups(name: str) -> list[str]:
    """The groups of the example's (single) host, from its hosts.yml."""
    inv = yaml.safe_load((ROOT / "inventories" / "examples" / name / "hosts.yml").read_text())
    children = inv["all"]["children"]["tradeops"]["children"]
    return sorted(g for g, body in children.items() if body and body.get("hosts"))


def write(out: Path, name: str, host: str, hostvars: dict, extra: dict) -> Path:
    groups = {g: {"hosts": {host: {}}} for g in example_groups(name)}
    first = next(iter(groups))
    groups[first]["hosts"][host] = {**{k: hostvars[k] for k in CONNECTION}, **extra}
    inv = {"all": {"children": {"tradeops": {"children": groups}}}}
    target = out / name
    target.mkdir(parents=True, exist_ok=True)
    path = target / "hosts.yml"
    path.write_text(f"# Written by scripts/example_inventory.py: inventories/examples/{name} on a sandbox host.\n"
                    + json.dumps(inv, indent=2) + "\n")
    link = target / "group_vars"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(ROOT / "inventories" / "examples" / name / "group_vars")
    return path


def main(argv: list[str]) -> int:
    if len(argv) < 3 or any("=" not in a for a in argv[2:]):
        print(__doc__, file=sys.stderr)
        return 2
    hosts = list(read_inventory(Path(argv[0])).items())
    pairs = [a.split("=", 1) for a in argv[2:]]
    if len(pairs) > len(hosts):
        print(f"example_inventory: {len(pairs)} examples but {len(hosts)} sandbox hosts", file=sys.stderr)
        return 1
    for (name, vars_file), (host, hostvars) in zip(pairs, hosts):
        if not (ROOT / "inventories" / "examples" / name / "hosts.yml").is_file():
            print(f"example_inventory: no example inventory {name!r} in inventories/examples", file=sys.stderr)
            return 1
        extra: dict = {}
        for one in vars_file.split(","):
            extra.update(yaml.safe_load(Path(one).read_text()) or {})
        path = write(Path(argv[1]), name, host, hostvars, extra)
        print(f"[example-inventory] {name} on {host}: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
