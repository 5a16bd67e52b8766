"""/static/ served by WhiteNoise: compressed, and cached for a year under fingerprinted names.

Flask sends web/static as it is on disk, uncompressed, revalidated on every visit. Here,
at start-up, the app builds a copy of web/static in which every file also exists under a
name carrying its content's hash (``js/draw.3f2a1b9c04de.js``), with ``.gz`` and ``.br``
siblings made once, ahead of time. WhiteNoise serves that copy in front of Flask: the
fingerprinted names as immutable for a year, the plain names (old pages, bookmarks, a
script's ``import("/static/js/i18n.js")``) with ``no-cache``, so they are revalidated.
``url_for('static', filename=...)`` yields the fingerprinted name, so templates are unchanged.

Our own ES modules import each other by relative name (``from "./api.js"``); in their
fingerprinted copies those imports name the fingerprinted files, and a module's name
hashes its rewritten text, so changing api.js renames every module that imports it too.
Plain copies are left as they are on disk and import plain names.

The copy is built once per content of web/static, under the system's temporary
directory, keyed by a hash of the tree: gunicorn's processes take turns on a lock, the
first builds into a temporary directory and renames it into place, the others find it.
Each start marks its build as used; a new build removes those no start has used for
``STALE_AFTER`` seconds, except the ``KEEP_BUILDS`` most recently used.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import posixpath
import re
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from flask import Flask
from whitenoise import WhiteNoise
from whitenoise.compress import Compressor, brotli_installed

from web.security import COMMON_HEADERS

#: Part of the cache key: bump it when the build's output changes for the same input.
BUILD_VERSION = "1"
#: Hex digits of the content hash in a fingerprinted name.
HASH_LENGTH = 12
#: Builds unused this long are removed when another is made (a week)...
STALE_AFTER = 7 * 24 * 3600
#: ...but the most recently used ones stay whatever their age.
KEEP_BUILDS = 3
#: A build's directory name: its key.
_BUILD_NAME = re.compile(r"[0-9a-f]{24}")
#: Plain names: revalidated on every use (a 304 while unchanged).
PLAIN_CACHE_CONTROL = "no-cache"
#: A static import, a re-export or a dynamic import of a relative specifier.
_IMPORT = re.compile(
    r"""(?P<lead>\bfrom\s*|\bimport\s*\(?\s*)(?P<quote>["'])(?P<spec>\.\.?/[^"'\s]+)(?P=quote)"""
)


@dataclass(frozen=True)
class StaticBuild:
    """A built copy of the static tree: where it is, and each file's fingerprinted name."""

    root: Path
    names: Mapping[str, str]

    @property
    def static_dir(self) -> Path:
        return self.root / "static"


def source_files(source: Path) -> dict[str, bytes]:
    """Every file under source by its relative POSIX path (dotfiles, e.g. editor swaps, left out)."""
    files = {}
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source).as_posix()
        if path.is_file() and not any(part.startswith(".") for part in relative.split("/")):
            files[relative] = path.read_bytes()
    return files


def tree_key(files: Mapping[str, bytes]) -> str:
    """A hash of the names and contents of files, and of how they are built."""
    digest = hashlib.sha256(f"{BUILD_VERSION} brotli={brotli_installed}\n".encode())
    for name in sorted(files):
        digest.update(f"{name}\0{hashlib.sha256(files[name]).hexdigest()}\n".encode())
    return digest.hexdigest()[:24]


def fingerprinted(name: str, data: bytes) -> str:
    """``js/draw.js`` -> ``js/draw.<hash of data>.js`` (the hash before the last suffix)."""
    path = PurePosixPath(name)
    digest = hashlib.sha256(data).hexdigest()[:HASH_LENGTH]
    return str(path.with_name(f"{path.stem}.{digest}{path.suffix}"))


def is_own_module(name: str) -> bool:
    """Our ES modules, whose relative imports are rewritten; vendored bundles are left alone."""
    return name.endswith((".js", ".mjs")) and not name.startswith("vendor/")


class _Fingerprints:
    """Fingerprinted names and contents, each module after the modules it imports."""

    def __init__(self, files: Mapping[str, bytes]) -> None:
        self.files = files
        self.names: dict[str, str] = {}
        self.contents: dict[str, bytes] = {}

    def name(self, name: str, importers: tuple[str, ...] = ()) -> str:
        if name not in self.names:
            if name in importers:
                cycle = " -> ".join([*importers, name])
                raise ValueError(f"static modules import each other in a cycle: {cycle}")
            data = self.files[name]
            if is_own_module(name):
                data = self._rewrite(name, data, (*importers, name))
            self.contents[name] = data
            self.names[name] = fingerprinted(name, data)
        return self.names[name]

    def _rewrite(self, name: str, data: bytes, importers: tuple[str, ...]) -> bytes:
        def replace(match: re.Match[str]) -> str:
            spec = match["spec"]
            target = posixpath.normpath(posixpath.join(posixpath.dirname(name), spec))
            if target not in self.files:
                return match[0]
            new = posixpath.basename(self.name(target, importers))
            return f"{match['lead']}{match['quote']}{posixpath.dirname(spec)}/{new}{match['quote']}"

        return _IMPORT.sub(replace, data.decode("utf-8")).encode("utf-8")


def fingerprint(files: Mapping[str, bytes]) -> tuple[dict[str, str], dict[str, bytes]]:
    """Each file's fingerprinted name, and its content under that name (imports rewritten)."""
    prints = _Fingerprints(files)
    for name in files:
        prints.name(name)
    return prints.names, prints.contents


def write_tree(directory: Path, files: Mapping[str, bytes]) -> dict[str, str]:
    """Write files under plain and fingerprinted names, with compressed siblings; the names."""
    names, contents = fingerprint(files)
    compressor = Compressor(quiet=True)
    # Brotli at its best is slow (0.3 s for Bootstrap's CSS): compress each content once.
    compressed: dict[str, list[str]] = {}
    for name, data in files.items():
        for written, body in ((name, data), (names[name], contents[name])):
            path = directory / written
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(body)
            if not compressor.should_compress(written):
                continue
            digest = hashlib.sha256(body).hexdigest()
            if digest in compressed:
                for sibling in compressed[digest]:
                    shutil.copyfile(sibling, f"{path}{sibling[-3:]}")
            else:
                compressed[digest] = compressor.compress(str(path))
    return names


def private_directory(path: Path) -> Path:
    """path, created if need be, refused unless it is ours alone: others must not plant files.

    The cache's names are predictable; in a shared temporary directory another user could
    otherwise prepare a "build" whose scripts the site would then serve.
    """
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.lstat()
    if (
        not stat.S_ISDIR(info.st_mode)
        or info.st_uid != os.getuid()
        or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    ):
        raise RuntimeError(f"{path} must be a directory of this user's, writable by no one else")
    return path


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One process at a time (gunicorn's workers start together): an exclusive file lock."""
    with path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _load(root: Path) -> StaticBuild | None:
    """The build at root, or None if there is none or a file of it has gone (a /tmp cleaner)."""
    try:
        manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    static = root / "static"
    for name, print_name in manifest["names"].items():
        if not ((static / name).is_file() and (static / print_name).is_file()):
            return None
    return StaticBuild(root, manifest["names"])


def build(source: Path, cache_dir: Path | None = None) -> StaticBuild:
    """The built copy of source, made now unless an identical one is already in cache_dir."""
    if cache_dir is None:
        cache_dir = Path(tempfile.gettempdir()) / f"digits-static-{os.getuid()}"
    cache = private_directory(cache_dir)
    files = source_files(source)
    key = tree_key(files)
    root = cache / key
    found = _load(root)
    if found is not None:
        return _used(found)
    with _locked(cache / f"{key}.lock"):
        found = _load(root)  # another process may have built it while this one waited
        if found is not None:
            return _used(found)
        if root.exists():  # incomplete: rebuild it whole
            shutil.rmtree(root)
        staging = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=cache))
        try:
            names = write_tree(staging / "static", files)
            (staging / "manifest.json").write_text(json.dumps({"names": names}, indent=1))
            # Atomic: a process sees the whole build or none of it.
            staging.rename(root)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    prune(cache, keep=root)
    return StaticBuild(root, names)


def _used(found: StaticBuild) -> StaticBuild:
    """Mark a build as used now (its directory's time), so pruning spares it."""
    os.utime(found.root)
    return found


def prune(cache: Path, keep: Path, now: float | None = None) -> list[str]:
    """Remove the builds in cache unused for STALE_AFTER, but never ``keep`` or the
    KEEP_BUILDS most recently used; the keys removed. Each goes under its own lock, so a
    process loading it waits and then builds it afresh."""
    now = time.time() if now is None else now
    builds = sorted(
        (p for p in cache.iterdir() if _BUILD_NAME.fullmatch(p.name) and p.is_dir() and p != keep),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    removed = []
    for old in builds[max(0, KEEP_BUILDS - 1) :]:
        if now - old.stat().st_mtime < STALE_AFTER:
            continue
        with _locked(cache / f"{old.name}.lock"):  # the empty lock file stays: another
            shutil.rmtree(old, ignore_errors=True)  # process may be waiting on it
        removed.append(old.name)
    return removed


def init_app(app: Flask) -> StaticBuild:
    """Serve the app's static folder through WhiteNoise and build its URLs with fingerprints.

    ``STATIC_CACHE_DIR`` in the app's configuration moves the cache (tests use their own).
    """
    if app.static_folder is None or app.static_url_path is None:
        raise RuntimeError("the app has no static folder to serve")
    cache_dir = app.config.get("STATIC_CACHE_DIR")
    built = build(Path(app.static_folder), Path(cache_dir) if cache_dir else None)
    immutable = frozenset(f"{app.static_url_path}/{name}" for name in built.names.values())

    def add_headers(headers: Any, path: str, url: str) -> None:
        for name, value in COMMON_HEADERS.items():
            headers[name] = value
        if url not in immutable:
            headers["Cache-Control"] = PLAIN_CACHE_CONTROL

    app.wsgi_app = WhiteNoise(  # type: ignore[method-assign]
        app.wsgi_app,
        root=built.static_dir,
        prefix=app.static_url_path,
        max_age=None,
        allow_all_origins=False,
        immutable_file_test=lambda path, url: url in immutable,
        add_headers_function=add_headers,
    )

    @app.url_defaults
    def fingerprinted_static(endpoint: str, values: dict[str, Any]) -> None:
        if endpoint == "static" and values.get("filename") in built.names:
            values["filename"] = built.names[values["filename"]]

    app.extensions["digits_static"] = built
    return built
