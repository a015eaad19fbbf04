#!/usr/bin/python
# -*- coding: utf-8 -*-
# tradeops: one module call for a whole step of small files, instead of one call each.
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: tradeops_files
short_description: Make several directories, files and key/value settings right in one call
description:
  - Each entry is a directory, a file with the given content, or settings (C(KEY value) lines)
    inside an existing file. Ownership and modes are set like M(ansible.builtin.file).
  - Files are written atomically and only when their content differs; unchanged entries cost
    no write at all, so a converged host reports C(changed=false).
  - Supports check mode and diff mode.
  - Not for secrets: contents travel as module arguments (shown with -vvv) and in diffs.
options:
  entries:
    description: What to make right, in order.
    type: list
    elements: dict
    required: true
    suboptions:
      path:
        description: Absolute path.
        type: path
        required: true
      state:
        description:
          - C(directory), C(file) (needs O(entries[].content)), C(settings), C(attributes):
            only the owner, group and mode of a path that may be absent (absent: left alone),
            or C(absent): a file that must not be there (one a former version wrote).
        type: str
        choices: [directory, file, settings, attributes, absent]
        default: file
      content:
        description: The whole content of a C(file) entry.
        type: str
      settings:
        description:
          - For C(settings) entries, C(KEY value) pairs. The last line that sets KEY (commented
            out or not) is replaced by C(KEY<TAB>value), as M(ansible.builtin.lineinfile) does
            (in files such as login.defs the last value wins); a KEY not in the file is appended.
        type: dict
      owner:
        description: Owner (name or uid).
        type: str
      group:
        description: Group (name or gid).
        type: str
      mode:
        description: Octal mode, as a string such as C("0644"). Empty (like an empty owner or group) leaves it as it is.
        type: str
author:
  - tradeops maintainers
"""

EXAMPLES = r"""
- name: Write the journald drop-in and its directory
  tradeops_files:
    entries:
      - {path: /etc/systemd/journald.conf.d, state: directory, owner: root, group: root, mode: "0755"}
      - path: /etc/systemd/journald.conf.d/10-tradeops.conf
        content: "{{ lookup('ansible.builtin.template', 'journald.conf.j2') }}"
        owner: root
        group: root
        mode: "0644"
"""

RETURN = r"""
changed_paths:
  description: The paths that were (or in check mode would be) changed.
  returned: always
  type: list
  elements: str
"""

import os
import re
import tempfile

from ansible.module_utils.basic import AnsibleModule


def file_args(module, entry):
    return module.load_file_common_arguments(
        {"path": entry["path"], "owner": entry.get("owner") or None, "group": entry.get("group") or None,
         "mode": entry.get("mode") or None})


def read_text(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def with_settings(text, settings):
    lines = text.splitlines()
    for key, value in settings.items():
        pattern = re.compile(r"^#?\s*" + re.escape(key) + r"\s")
        line = f"{key}\t{value}"
        matches = [index for index, old in enumerate(lines) if pattern.match(old)]
        if matches:
            lines[matches[-1]] = line
        else:
            lines.append(line)
    return "\n".join(lines) + "\n"


def write_atomic(module, path, content):
    handle, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tradeops-")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(content)
    module.atomic_move(tmp, path)


def main():
    module = AnsibleModule(
        argument_spec={"entries": {"type": "list", "elements": "dict", "required": True}},
        supports_check_mode=True,
    )
    changed_paths, diffs = [], []
    for entry in module.params["entries"]:
        path, state = entry.get("path"), entry.get("state", "file")
        if not path or not os.path.isabs(path):
            module.fail_json(msg=f"tradeops_files: every entry needs an absolute path, got {path!r}")
        if state not in ("directory", "file", "settings", "attributes", "absent"):
            module.fail_json(msg=f"tradeops_files: {path}: state must be directory, file, settings, attributes or absent")
        if state in ("attributes", "absent") and not os.path.lexists(path):
            continue
        if state == "absent":
            if os.path.isdir(path) and not os.path.islink(path):
                module.fail_json(msg=f"tradeops_files: {path} is a directory; absent removes files only")
            changed_paths.append(path)
            diffs.append({"before_header": path, "after_header": path, "before": "present\n", "after": "absent\n"})
            if not module.check_mode:
                os.unlink(path)
            continue
        diff = {"before_header": path, "after_header": path}
        changed = False
        if state == "attributes":
            pass
        elif state == "directory":
            if not os.path.isdir(path):
                diff.update(before="absent\n", after="directory\n")
                changed = True
                if not module.check_mode:
                    os.makedirs(path)
        else:
            before = read_text(path)
            if state == "file":
                if entry.get("content") is None:
                    module.fail_json(msg=f"tradeops_files: {path}: a file entry needs content")
                after = entry["content"]
            else:
                if before is None:
                    module.fail_json(msg=f"tradeops_files: {path} does not exist; settings go into an existing file")
                after = with_settings(before, entry.get("settings") or {})
            if before != after:
                diff.update(before=before or "", after=after)
                changed = True
                if not module.check_mode:
                    write_atomic(module, path, after)
        attrs = {}
        # In check mode a missing path has no ownership to compare: it would be made as asked.
        if not (module.check_mode and not os.path.exists(path)):
            changed = module.set_fs_attributes_if_different(file_args(module, entry), changed, attrs)
        if changed:
            changed_paths.append(path)
            if "before" in diff:
                diffs.append(diff)
            if attrs.get("before") != attrs.get("after"):
                diffs.append({"before_header": path, "after_header": path,
                              "before": "".join(f"{k}: {v}\n" for k, v in sorted(attrs["before"].items())),
                              "after": "".join(f"{k}: {v}\n" for k, v in sorted(attrs["after"].items()))})
    module.exit_json(changed=bool(changed_paths), changed_paths=changed_paths, diff=diffs)


if __name__ == "__main__":
    main()
