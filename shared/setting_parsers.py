"""How each setting's variable is read: parsers that raise ValueError with what was expected.

``shared.settings`` names one of these for each field; the message reaches the operator as
"VARIABLE=... is malformed: expected ...".
"""

from __future__ import annotations

import math


def boolean(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError("expected true or false")


def int_in(text: str, low: int, high: int, expected: str) -> int:
    """``int(text)`` within [low, high]; ``expected`` words the error for the operator."""
    digits = text.strip()
    if not digits.isdecimal() or not low <= int(digits) <= high:
        raise ValueError(f"expected {expected}")
    return int(digits)


def positive_int(text: str) -> int:
    return int_in(text, 1, 2**63 - 1, "a positive integer")


def non_negative_int(text: str) -> int:
    return int_in(text, 0, 2**63 - 1, "an integer of 0 or more")


def port(text: str) -> int:
    # 0 asks the system for a free port: tests and benchmarks bind that way.
    return int_in(text, 0, 65535, "a port number from 0 to 65535")


def float_at_least(text: str, low: float, strict: bool) -> float:
    """A finite ``float(text)`` above ``low`` (or equal when not ``strict``)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < low or (strict and value == low):
        raise ValueError(f"expected a number {'>' if strict else '>='} {low:g}")
    return value


def positive_float(text: str) -> float:
    return float_at_least(text, 0, strict=True)


def non_negative_float(text: str) -> float:
    return float_at_least(text, 0, strict=False)


def log_level(text: str) -> str:
    level = text.strip().upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise ValueError("expected DEBUG, INFO, WARNING, ERROR or CRITICAL")
    return level


def redis_url(text: str) -> str:
    if not text.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError("expected a redis://, rediss:// or unix:// URL")
    return text


def storage_url(text: str) -> str:
    if text.startswith("s3://"):
        if not text[len("s3://") :].split("/", 1)[0]:
            raise ValueError("s3:// URL needs a bucket name: s3://bucket/prefix")
        return text
    if "://" in text and not text.startswith("file://"):
        raise ValueError("expected s3://bucket/prefix, file:///path or a directory path")
    return text


def host(text: str) -> str:
    """An address gunicorn can bind: a name, an IPv4 address or a bracketed IPv6 one."""
    host = text.strip()
    if any(char.isspace() or char == "/" for char in host):
        raise ValueError("expected a host name or an IP address")
    if ":" in host and not (host.startswith("[") and host.endswith("]")):
        raise ValueError("expected an IPv6 address in brackets, e.g. [::]")
    return host
