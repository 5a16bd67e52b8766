"""The docs check (scripts/check_docs.py): this tree passes, and each kind of rot fails."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.scripts import load_script

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "check_docs.py"


check_docs = load_script("check_docs")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A small project that passes: a Makefile, a module, a README and one docs page."""
    (tmp_path / "Makefile").write_text(".PHONY: run\nrun: venv\n\tpython -m app.serve\n")
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "serve.py").write_text("")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "guide.md").write_text(
        "# Guide\n\n## Running it\n\nSee [home](../README.md).\n"
    )
    write_readme(
        tmp_path, "[the guide](docs/guide.md#running-it), `make run`, `python -m app.serve`"
    )
    return tmp_path


def write_readme(root: Path, body: str, lines: int = 3) -> None:
    """A README of exactly ``lines`` lines whose second line is ``body``."""
    padding = "\n" * (lines - 1)
    (root / "README.md").write_text(f"# Project\n{body}{padding}")


def test_the_docs_of_this_tree_pass() -> None:
    done = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_small_tree_that_names_what_exists_passes(tree: Path) -> None:
    assert check_docs.check(tree) == []


def test_a_broken_link_fails(tree: Path) -> None:
    write_readme(tree, "See [the guide](docs/missing.md).")
    assert check_docs.check(tree) == [
        "README.md:2: broken link docs/missing.md: no such file",
    ]


def test_a_broken_image_in_a_docs_page_fails(tree: Path) -> None:
    (tree / "docs" / "guide.md").write_text('# Guide\n\n<img src="shots/gone.png" alt="x">\n')
    assert check_docs.check(tree) == [
        "README.md:2: broken link docs/guide.md#running-it: no heading #running-it",
        "docs/guide.md:3: broken link shots/gone.png: no such file",
    ]


def test_a_missing_anchor_fails(tree: Path) -> None:
    write_readme(tree, "See [the guide](docs/guide.md#deploying-it) and [here](#nowhere).")
    assert check_docs.check(tree) == [
        "README.md:2: broken link docs/guide.md#deploying-it: no heading #deploying-it",
        "README.md:2: broken link #nowhere: no heading #nowhere",
    ]


def test_a_missing_make_target_fails(tree: Path) -> None:
    write_readme(tree, "```sh\nPORT=9000 make run  # serve\nmake deploy\n```")
    assert check_docs.check(tree) == [
        "README.md:4: `make deploy`: no such target in the Makefile",
    ]


def test_a_missing_module_fails(tree: Path) -> None:
    write_readme(tree, "Measure with `python -m app.bench --quick`.")
    assert check_docs.check(tree) == [
        "README.md:2: `python -m app.bench`: no such module in the tree",
    ]


def test_a_readme_of_251_lines_fails_and_250_pass(tree: Path) -> None:
    write_readme(tree, "`make run`", lines=250)
    assert check_docs.check(tree) == []
    write_readme(tree, "`make run`", lines=251)
    assert check_docs.check(tree) == [
        "README.md: 251 lines, at most 250: move detail into docs/",
    ]


def test_placeholders_installed_tools_and_code_are_not_checked(tree: Path) -> None:
    write_readme(
        tree,
        "`make TARGET`, `python -m MODULE`, `python -m app.…`, `python -m pytest`, "
        "`[not a link](nowhere.md)`, and [a site](https://example.com/missing.md).",
    )
    assert check_docs.check(tree) == []


def test_a_heading_with_code_keeps_its_words_in_its_anchor() -> None:
    assert check_docs.slug("Smoke of the images (`make smoke-images`)") == (
        "smoke-of-the-images-make-smoke-images"
    )
    assert check_docs.slug("4. The gate") == "4-the-gate"


def test_the_command_prints_one_line_per_problem_and_exits_1(tree: Path) -> None:
    write_readme(tree, "[gone](gone.md) `make deploy`", lines=251)
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--root", str(tree)], capture_output=True, text=True
    )
    assert done.returncode == 1
    assert done.stdout.splitlines() == [
        "README.md: 251 lines, at most 250: move detail into docs/",
        "README.md:2: broken link gone.md: no such file",
        "README.md:2: `make deploy`: no such target in the Makefile",
    ]
