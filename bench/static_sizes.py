"""Bytes a first visit to a page costs in CSS and JS: raw, gzip and Brotli.

Renders the page with the real app (Redis at a closed port: a page needs none), follows
its stylesheets and scripts and the modules they import, and asks WhiteNoise for each
file in each encoding, as a browser with an empty cache would::

    python -m bench.static_sizes [PATH]
"""

from __future__ import annotations

import argparse
import re
import tempfile
from pathlib import PurePosixPath

from flask.testing import FlaskClient

from web import create_app

#: A stylesheet or script the page names, and a module a script imports.
_PAGE_FILE = re.compile(r"""(?:href|src)="(/static/[^"]+\.(?:css|js))\"""")
_IMPORT = re.compile(r"""from\s*"(\.\.?/[^"]+\.js)\"""")
ENCODINGS = ("identity", "gzip", "br")


def first_visit(client: FlaskClient, path: str) -> dict[str, dict[str, int]]:
    """Each CSS and JS file a visit to path loads: its bytes in each encoding."""
    page = client.get(path).get_data(as_text=True)
    todo, sizes = _PAGE_FILE.findall(page), {}
    while todo:
        url = todo.pop()
        if url in sizes:
            continue
        sizes[url] = {}
        for encoding in ENCODINGS:
            with client.get(url, headers={"Accept-Encoding": encoding}) as answer:
                assert answer.status_code == 200, url
                sizes[url][encoding] = len(answer.get_data())
                if encoding == "identity" and url.endswith(".js"):
                    base = PurePosixPath(url).parent
                    text = answer.get_data(as_text=True)
                    todo += [str(base / name) for name in _IMPORT.findall(text)]
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", default="/")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as store:
        env = {"REDIS_URL": "redis://127.0.0.1:1/0", "STORAGE_URL": store}
        client = create_app({"SETTINGS_ENV": env}).test_client()
        sizes = first_visit(client, args.path)
    totals = {encoding: sum(s[encoding] for s in sizes.values()) for encoding in ENCODINGS}
    print(f"{args.path}: {len(sizes)} CSS and JS files")
    print(", ".join(f"{encoding} {totals[encoding]:,} B" for encoding in ENCODINGS))


if __name__ == "__main__":
    main()
