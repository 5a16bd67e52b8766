"""Print pyproject.toml's dependencies and those of the named extras, one a line.

The Dockerfile installs them before it copies the code, so that a code change reuses the
dependency layers (TensorFlow's is the slow one): ``python pyproject_requirements.py monitor``.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path


def requirements(pyproject: Path, extras: list[str]) -> list[str]:
    """The project's runtime dependencies followed by each extra's, in order."""
    project = tomllib.loads(pyproject.read_text())["project"]
    optional = project.get("optional-dependencies", {})
    unknown = [extra for extra in extras if extra not in optional]
    if unknown:
        raise SystemExit(f"unknown extras: {', '.join(unknown)}")
    return list(project["dependencies"]) + [dep for extra in extras for dep in optional[extra]]


if __name__ == "__main__":
    here = Path(__file__).resolve().parent
    pyproject = here / "pyproject.toml"
    if not pyproject.is_file():
        pyproject = here.parent / "pyproject.toml"
    print("\n".join(requirements(pyproject, [arg for arg in sys.argv[1:] if arg])))
