#!/usr/bin/env python3
"""Write each role's variable table into its README, from meta/argument_specs.yml.

The table sits between `<!-- vars:begin -->` and `<!-- vars:end -->` in roles/<role>/README.md.
  role_docs.py            rewrite the tables
  role_docs.py --check    exit 1 if a README table is out of date (used by tests)
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- vars:begin -->", "<!-- vars:end -->"


def table(role: Path) -> str:
    spec = yaml.safe_load((role / "meta/argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
    defaults = yaml.safe_load((role / "defaults/main.yml").read_text()) or {}
    if not spec:
        return "This role has no variables."
    rows = ["| Variable | Type | Default | Description |", "| --- | --- | --- | --- |"]
    for name, opt in spec.items():
        if opt.get("required"):
            default = "**required**"
        else:
            value = defaults.get(name, opt.get("default"))
            text = json.dumps(value)
            default = f"`{text}`" if len(text) <= 60 else "see defaults/main.yml"
        kind = opt.get("type", "str") + (f" of {opt['elements']}" if "elements" in opt else "")
        desc = " ".join(opt.get("description", "")) if isinstance(opt.get("description"), list) else opt.get("description", "")
        rows.append(f"| `{name}` | {kind} | {default} | {desc.replace('|', '/')} |")
    return "\n".join(rows)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--check", action="store_true", help="report stale tables, change nothing")
    args = p.parse_args()
    stale = []
    for role in sorted((ROOT / "roles").iterdir()):
        readme = role / "README.md"
        if not (role / "meta/argument_specs.yml").exists() or not readme.exists():
            continue
        text = readme.read_text()
        if BEGIN not in text:
            stale.append(f"{readme.relative_to(ROOT)}: no {BEGIN} marker")
            continue
        new = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), f"{BEGIN}\n{table(role)}\n{END}", text, flags=re.S)
        if new != text:
            stale.append(str(readme.relative_to(ROOT)))
            if not args.check:
                readme.write_text(new)
    if args.check and stale:
        print("out of date (run scripts/role_docs.py):\n  " + "\n  ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
