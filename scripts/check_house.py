"""The house rules `make lint` holds the production code to: small pieces, one-way imports.

Why: the code grew from 4,000 to 11,800 lines inside the old folders, and the rules about
data gained many owners (issue 38). This check fails, one line per problem, when in
web/, worker/ or shared/

- a module is longer than ``MODULE_MAX_LINES`` or a function than ``FUNCTION_MAX_LINES``;
- more than ``FMT_SKIP_MAX`` lines ask the formatter to look away (``# fmt: skip``);
- an import runs the wrong way (``FORBIDDEN``): shared imports neither web nor a worker,
  web no worker, one worker not the other, the running trainer none of its offline tools,
  and nothing here imports the tests or the benchmarks. Imports inside functions count.

Usage: ``python scripts/check_house.py [--root DIR]``; exit status 1 when anything failed.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("web", "worker", "shared")
MODULE_MAX_LINES = 300
FUNCTION_MAX_LINES = 50
FMT_SKIP_MAX = 5
#: (where the importing module is, a module it may not import): prefixes of dotted names.
FORBIDDEN = (
    ("shared", "web"),
    ("shared", "worker"),
    ("web", "worker"),
    ("worker.predict", "worker.trainer"),
    ("worker.trainer", "worker.predict"),
    ("worker", "web"),
    ("", "tests"),
    ("", "bench"),
    ("", "scripts"),
)
#: The running trainer: every trainer module but the offline tools.
TRAINER_TOOLS = "worker.trainer.tools"


def _within(name: str, prefix: str) -> bool:
    return prefix == "" or name == prefix or name.startswith(prefix + ".")


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(tree: ast.AST, module: str, is_package: bool) -> Iterator[tuple[int, str]]:
    """Every module an import statement names, with its line, relative ones resolved."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield node.lineno, base
            yield from ((node.lineno, f"{base}.{alias.name}") for alias in node.names)


def import_problems(module: str, tree: ast.AST, is_package: bool) -> Iterator[str]:
    """One problem per import statement that runs the wrong way."""
    said: set[int] = set()
    for line, target in imported(tree, module, is_package):
        problem = wrong_way(module, target)
        if problem and line not in said:
            said.add(line)
            yield f"{line}: {module} imports {target} ({problem})"


def wrong_way(module: str, target: str) -> str | None:
    """Why ``module`` may not import ``target``, or None when it may."""
    for where, never in FORBIDDEN:
        if _within(module, where) and _within(target, never):
            return f"{where or 'production code'} never imports {never}"
    if _within(target, TRAINER_TOOLS) and not _within(module, TRAINER_TOOLS):
        return "the running trainer loads no offline tool"
    return None


def size_problems(source: str, tree: ast.AST) -> Iterator[str]:
    lines = len(source.splitlines())
    if lines > MODULE_MAX_LINES:
        yield f"1: {lines} lines (at most {MODULE_MAX_LINES})"
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > FUNCTION_MAX_LINES:
                yield f"{node.lineno}: {node.name} is {length} lines (at most {FUNCTION_MAX_LINES})"


def check(root: Path) -> list[str]:
    """Every problem in the tree at ``root``, as ``path:line: what``."""
    problems, skips = [], []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            source = path.read_text(encoding="utf-8")
            tree = ast.parse(source, str(path))
            module = module_name(root, path)
            shown = path.relative_to(root)
            found = [
                *size_problems(source, tree),
                *import_problems(module, tree, path.name == "__init__.py"),
            ]
            problems += [f"{shown}:{problem}" for problem in found]
            skips += [
                f"{shown}:{n}"
                for n, text in enumerate(source.splitlines(), 1)
                if "# fmt: skip" in text
            ]
    if len(skips) > FMT_SKIP_MAX:
        problems.append(
            f"{len(skips)} lines with '# fmt: skip' (at most {FMT_SKIP_MAX}): {', '.join(skips)}"
        )
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT)
    problems = check(parser.parse_args(argv).root)
    for problem in problems:
        print(problem)
    if problems:
        return 1
    print("check_house: modules, functions and imports keep the house rules")
    return 0


if __name__ == "__main__":
    sys.exit(main())
