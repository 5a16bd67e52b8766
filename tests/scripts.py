"""The project's scripts (scripts/ is not a package), loaded as modules for their tests."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

from tests.processes import ROOT


def load_script(name: str) -> ModuleType:
    """``scripts/<name>.py`` as the module ``name``."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module
