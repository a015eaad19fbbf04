"""Load the roles' host-side helper scripts (files without .py) as modules, for unit tests."""
from __future__ import annotations

import os
import sys
from importlib.machinery import SourceFileLoader
from importlib.util import module_from_spec, spec_from_loader
from pathlib import Path
from types import ModuleType

# The helpers import the host conventions module from /usr/local/lib/tradeops on a host; here,
# from the role that installs it.
LIB = Path(__file__).resolve().parents[2] / "roles/host_conventions/files"
os.environ["TRADEOPS_LIB"] = str(LIB)
if str(LIB) not in sys.path:
    sys.path.insert(0, str(LIB))


def load_script(path: Path, name: str) -> ModuleType:
    spec = spec_from_loader(name, SourceFileLoader(name, str(path)))
    module = module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
