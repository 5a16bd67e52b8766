"""JSON in and out of the API with orjson, Flask's own provider for anything it cannot write.

The page's POST carries its strokes, about 10 KB of JSON, and every answer carries the
models' probabilities and previews: parsing and writing them with the standard library
was about 8 % of web's CPU per prediction at 32 clients (``python -m bench.profile_web``).
orjson reads and writes the same documents several times faster. What it refuses that
the standard library took: ``NaN`` and ``Infinity`` (not JSON) and integers past 64 bits
in a body, which now make the body unreadable, a 400 like any malformed JSON.
"""

from __future__ import annotations

from typing import Any

import orjson
from flask.json.provider import DefaultJSONProvider

#: Numbers as keys (per-digit counts) are written as strings, as the standard library does.
OPTIONS = orjson.OPT_NON_STR_KEYS


class OrjsonProvider(DefaultJSONProvider):
    """Flask's JSON provider, reading and writing with orjson."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        if kwargs:
            return super().loads(s, **kwargs)
        return orjson.loads(s)

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        """orjson's JSON: compact (Flask's responses ask for compact separators) or indented
        by 2 (its debug responses); Flask's own for any other option or type."""
        options = dict(kwargs)
        compact = options.pop("separators", (",", ":")) == (",", ":")
        indent = options.pop("indent", None)
        if options or self.sort_keys or not compact or indent not in (None, 2):
            return super().dumps(obj, **kwargs)
        try:
            return orjson.dumps(
                obj, option=OPTIONS | (orjson.OPT_INDENT_2 if indent else 0)
            ).decode()
        except TypeError:  # dates, UUIDs, dataclasses: Flask's provider knows them
            return super().dumps(obj, **kwargs)
