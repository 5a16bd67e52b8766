"""Docs that stay true: fail `make lint` when README.md or docs/*.md point at nothing.

Why: the README once grew to nearly 2,000 lines, with figures credited to scripts that
were gone and sections that had moved. A reader who follows a link, runs a `make` target
or a `python -m` command the docs name must find it. This check fails, one line per
problem, when

- a relative link or image points to a missing file, or to a missing ``#anchor`` of a
  Markdown file (GitHub's heading slugs);
- a ``make TARGET`` in backticks or a code block is not a target of the Makefile;
- a ``python -m MODULE`` in backticks or a code block is not a module of the tree
  (``MODULE.py``, or a package with ``__main__.py``; nothing is imported). A module whose
  top-level package is not in the tree is accepted when it is installed (``pytest``,
  ``pip``);
- README.md is longer than ``README_MAX_LINES``.

Placeholders are not checked: a name in capitals (``make TARGET``, ``python -m MODULE``)
or with an ellipsis (``python -m bench.…``). Links inside code are not links.

Usage: ``python scripts/check_docs.py [--root DIR]``; exit status 1 when anything failed.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parent.parent
README_MAX_LINES = 250

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_CODE_SPAN = re.compile(r"(`+)(.+?)(?<!`)\1(?!`)", re.S)
_MD_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+[\"'][^\"']*[\"'])?\s*\)")
_REF_LINK = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.M)
_HTML_LINK = re.compile(r"<(?:img|a|source)\b[^>]*?\b(?:src|href)=[\"']([^\"']+)[\"']", re.I)
_HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:|^//")
_PYTHON_M = re.compile(r"\bpython3?\s+-m\s+([\w.…]+)")
_MAKE_RULE = re.compile(r"^([^\s:=#][^:=#]*?)\s*::?(?!=)")
_TARGET = re.compile(r"^[A-Za-z0-9_][\w.-]*$")


@dataclass(frozen=True)
class Doc:
    """A Markdown file: its text without fenced blocks (``unfenced``), the same without
    inline code either (``prose``, where links are looked for), and its code snippets."""

    path: Path
    unfenced: str
    prose: str
    code: list[tuple[int, str]]

    def line_of(self, offset: int) -> int:
        """The line number of an offset into ``prose``."""
        return self.prose.count("\n", 0, offset) + 1


def read_doc(path: Path) -> Doc:
    """Fenced blocks and inline code spans become snippets; prose keeps their newlines."""
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    code: list[tuple[int, str]] = []
    fence = ""
    for number, line in enumerate(lines, 1):
        opened = _FENCE.match(line)
        if fence:
            if opened and opened.group(1)[0] == fence[0] and len(opened.group(1)) >= len(fence):
                fence = ""
            else:
                code.append((number, line))
            lines[number - 1] = ""
        elif opened:
            fence = opened.group(1)
            lines[number - 1] = ""
    blanked = "\n".join(lines)
    for span in _CODE_SPAN.finditer(blanked):
        code.append((blanked.count("\n", 0, span.start()) + 1, span.group(2)))
    prose = _CODE_SPAN.sub(lambda span: re.sub(r"[^\n]", " ", span.group(0)), blanked)
    return Doc(path, blanked, prose, sorted(code))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text, lower case, punctuation dropped, dashes."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = re.sub(r"<[^>]+>", "", text).replace("`", "").replace("*", "")
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(doc: Doc) -> set[str]:
    """Every heading's anchor, a repeated one numbered as GitHub does (``-1``, ``-2``)."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    for line in doc.unfenced.split("\n"):
        heading = _HEADING.match(line)
        if not heading:
            continue
        base = slug(heading.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def link_targets(doc: Doc) -> Iterator[tuple[int, str]]:
    """(line, target) of every Markdown, reference and HTML link or image in the prose."""
    for pattern in (_MD_LINK, _REF_LINK, _HTML_LINK):
        for found in pattern.finditer(doc.prose):
            yield doc.line_of(found.start(1)), found.group(1)


def check_links(doc: Doc, root: Path, docs: dict[Path, Doc]) -> list[str]:
    """A relative link must name a file in the tree, and an anchor a heading in it."""
    problems = []
    where = doc.path.relative_to(root)
    for line, target in link_targets(doc):
        if _SCHEME.match(target):
            continue
        file_part, _, anchor = unquote(target).partition("#")
        path = (doc.path.parent / file_part).resolve() if file_part else doc.path
        if not path.exists():
            problems.append(f"{where}:{line}: broken link {target}: no such file")
            continue
        if not anchor or path.suffix != ".md" or not path.is_file():
            continue
        linked = docs.get(path) or read_doc(path)
        if anchor.lower() not in anchors(linked):
            problems.append(f"{where}:{line}: broken link {target}: no heading #{anchor}")
    return problems


def makefile_targets(root: Path) -> set[str]:
    """The names of the Makefile's rules (recipe lines and variables left out)."""
    makefile = root / "Makefile"
    if not makefile.is_file():
        return set()
    targets: set[str] = set()
    for line in makefile.read_text(encoding="utf-8").splitlines():
        rule = _MAKE_RULE.match(line)
        if rule:
            targets.update(rule.group(1).split())
    return targets


def make_mentions(snippet: str) -> Iterator[str]:
    """The targets of each ``make`` command in a snippet: ``VAR=1 make a b  # note``."""
    for command in re.split(r"[;&|()\n]", snippet):
        words = command.split()
        if "make" not in words:
            continue
        for word in words[words.index("make") + 1 :]:
            if word.startswith("-") or "=" in word:
                continue  # an option or a variable, not a target
            if not _TARGET.match(word):
                break  # a comment, or prose after the command
            if not word.isupper():  # TARGET is a placeholder
                yield word


def check_make_targets(doc: Doc, root: Path, targets: set[str]) -> list[str]:
    """Every ``make TARGET`` the doc names in code must be a Makefile target."""
    where = doc.path.relative_to(root)
    return [
        f"{where}:{line}: `make {target}`: no such target in the Makefile"
        for line, snippet in doc.code
        for target in make_mentions(snippet)
        if target not in targets
    ]


def module_exists(root: Path, name: str) -> bool:
    """A module file of the tree, or (outside the tree's packages) an installed tool."""
    path = root.joinpath(*name.split("."))
    if path.with_suffix(".py").is_file() or (path / "__main__.py").is_file():
        return True
    top = name.split(".")[0]
    if (root / top).exists() or (root / f"{top}.py").exists():
        return False
    return "." not in name and importlib.util.find_spec(top) is not None


def check_modules(doc: Doc, root: Path) -> list[str]:
    """Every ``python -m MODULE`` the doc names in code must exist."""
    where = doc.path.relative_to(root)
    problems = []
    for line, snippet in doc.code:
        for found in _PYTHON_M.finditer(snippet):
            name = found.group(1).rstrip(".")
            if "…" in name or name.isupper():  # a pattern (bench.…) or a placeholder (MODULE)
                continue
            if not module_exists(root, name):
                problems.append(f"{where}:{line}: `python -m {name}`: no such module in the tree")
    return problems


def check_length(root: Path) -> list[str]:
    """The README is the front door: at most ``README_MAX_LINES`` lines."""
    readme = root / "README.md"
    if not readme.is_file():
        return ["README.md: missing"]
    count = len(readme.read_text(encoding="utf-8").splitlines())
    if count > README_MAX_LINES:
        return [f"README.md: {count} lines, at most {README_MAX_LINES}: move detail into docs/"]
    return []


def check(root: Path) -> list[str]:
    """Every problem in README.md and docs/*.md under ``root``, one line each."""
    root = root.resolve()
    paths = [root / "README.md", *sorted((root / "docs").glob("*.md"))]
    docs = {path: read_doc(path) for path in paths if path.is_file()}
    targets = makefile_targets(root)
    problems = check_length(root)
    for doc in docs.values():
        problems += check_links(doc, root, docs)
        problems += check_make_targets(doc, root, targets)
        problems += check_modules(doc, root)
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="the project's root")
    args = parser.parse_args(argv)
    problems = check(args.root)
    for problem in problems:
        print(problem)
    if not problems:
        print("check_docs: every link, make target and python -m module the docs name exists")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
