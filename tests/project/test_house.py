"""The house check (scripts/check_house.py): this tree passes, and each broken rule fails."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.scripts import load_script

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "check_house.py"


check_house = load_script("check_house")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A small tree that keeps the rules: each package imports only what it may."""
    files = {
        "shared/__init__.py": "",
        "shared/names.py": "A = 1\n",
        "web/__init__.py": "from shared import names\n",
        "worker/__init__.py": "",
        "worker/predict/tasks.py": "from shared.names import A\n",
        "worker/trainer/tasks.py": "from worker.trainer import training\n",
        "worker/trainer/training.py": "",
        "worker/trainer/tools/evaluate.py": "from worker.trainer import training\n",
    }
    for name, text in files.items():
        write(tmp_path, name, text)
    return tmp_path


def write(root: Path, name: str, text: str) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_this_tree_keeps_the_house_rules() -> None:
    done = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_small_tree_that_keeps_the_rules_passes(tree: Path) -> None:
    assert check_house.check(tree) == []


@pytest.mark.parametrize(
    ("name", "text", "said"),
    [
        ("shared/bad.py", "from web import create_app\n", "shared never imports web"),
        ("shared/bad.py", "def f():\n    import worker.predict\n", "shared never imports worker"),
        ("web/bad.py", "from worker.predict import tasks\n", "web never imports worker"),
        ("worker/predict/bad.py", "import worker.trainer.gate\n", "never imports worker.trainer"),
        ("worker/trainer/bad.py", "from worker.predict.inference import X\n", "worker.predict"),
        ("worker/trainer/bad.py", "from worker.trainer.tools import evaluate\n", "offline tool"),
        ("worker/trainer/bad.py", "from .tools.evaluate import run\n", "offline tool"),
        ("web/bad.py", "from tests.helpers import ROOT\n", "never imports tests"),
        ("shared/bad.py", "import bench.run\n", "never imports bench"),
    ],
)
def test_an_import_the_wrong_way_fails(tree: Path, name: str, text: str, said: str) -> None:
    write(tree, name, text)
    problems = check_house.check(tree)
    assert len(problems) == 1 and problems[0].startswith(name) and said in problems[0]


def test_a_long_module_and_a_long_function_fail(tree: Path) -> None:
    write(tree, "shared/long.py", "X = 1\n" * 301)
    body = "".join(f"    x{i} = {i}\n" for i in range(50))
    write(tree, "web/long.py", f"def long() -> None:\n{body}")
    write(tree, "web/fits.py", f"def fits() -> None:\n{body[: body.rindex('    x49')]}")
    assert check_house.check(tree) == [
        "web/long.py:1: long is 51 lines (at most 50)",
        "shared/long.py:1: 301 lines (at most 300)",
    ]


def test_more_than_a_handful_of_fmt_skips_fail(tree: Path) -> None:
    allowed = "x = [1,2]  # fmt: skip\n" * check_house.FMT_SKIP_MAX
    write(tree, "shared/skips.py", allowed)
    assert check_house.check(tree) == []
    write(tree, "shared/skips.py", allowed + "y = 1  # fmt: skip\n")
    (problem,) = check_house.check(tree)
    assert problem.startswith(f"{check_house.FMT_SKIP_MAX + 1} lines with '# fmt: skip'")
