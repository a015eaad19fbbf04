#!/usr/bin/env python3
"""Print where to look after `make demo`: how to SSH into each sandbox host, and its ports.

Usage: demo_summary.py INVENTORY   (the JSON-in-YAML file written by scripts/sandbox.py)
"""
from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path

from sandbox import read_inventory


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inventory", type=Path)
    args = parser.parse_args()
    hosts = read_inventory(args.inventory)
    print("\n== tradeops sandbox ready ==")
    for name, hv in sorted(hosts.items()):
        key = Path(hv["ansible_ssh_private_key_file"]).relative_to(Path.cwd()) \
            if Path(hv["ansible_ssh_private_key_file"]).is_relative_to(Path.cwd()) else hv["ansible_ssh_private_key_file"]
        print(f"\n{name} ({', '.join(hv['groups'])})")
        print(f"  ssh:    ssh -i {key} -p {hv['ansible_port']} deploy@127.0.0.1   (root login is now refused)")
        print(f"  http:   http://127.0.0.1:{hv['sandbox_http_port']}/")
        print(f"  https:  https://127.0.0.1:{hv['sandbox_https_port']}/")
        https = hv["sandbox_https_port"]
        resolve = f"--resolve trader.sandbox.test:{https}:127.0.0.1"
        url = f"https://trader.sandbox.test:{https}"
        health = subprocess.run(f"curl -sk --max-time 5 {resolve} {url}/api/health".split(),
                                capture_output=True, text=True).stdout.strip()
        print(f"  app:    {url}/   (Basic Auth user trader, password sandbox-ui-password;")
        print(f"          no DNS: curl -k {resolve} ..., or map trader.sandbox.test to 127.0.0.1 in /etc/hosts)")
        print(f"  health: {health or '(no answer)'}")
        ssh = ["ssh", "-i", str(key), "-p", str(hv["ansible_port"]), "-o", "BatchMode=yes", "-o", "LogLevel=ERROR",
               "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "deploy@127.0.0.1"]
        listing = subprocess.run([*ssh, "sudo tradeops-backup list trader"], capture_output=True, text=True).stdout
        print("  backups (sudo tradeops-backup list trader):")
        for line in listing.strip().splitlines() or ["(none)"]:
            print(f"          {line}")
        audit = subprocess.run([*ssh, "sudo tail -n 20 /srv/trader/shared/logs/deploy-audit.jsonl"],
                               capture_output=True, text=True).stdout
        drills = [json.loads(line) for line in audit.splitlines() if '"restore"' in line]
        if drills:
            last = drills[-1]
            print(f"  restore drill: {last['ref']} -> {last['result']} in {last['seconds']} s "
                  "(verified, app stopped, data swapped, started, health 200)")
    print("\nThe app's repository is .sandbox/demo-repo (tags a, b = main; c fails its health check).")
    print("Deploy another commit:  .venv/bin/ansible-playbook -i inventories/sandbox/hosts.yml deploy.yml -e ref=<sha|tag|branch>")
    print("Roll back:              .venv/bin/ansible-playbook -i inventories/sandbox/hosts.yml rollback.yml")
    print("Status (like pm2 ls):   .venv/bin/ansible-playbook -i inventories/sandbox/hosts.yml status.yml")
    print("Restore a backup:       .venv/bin/ansible-playbook -i inventories/sandbox/hosts.yml restore.yml -e backup=latest")
    print("\nRe-converge:  .venv/bin/ansible-playbook -i inventories/sandbox/hosts.yml site.yml   (expect changed=0)")
    print("Tear down:    make sandbox-down")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
