"""Sub-commands of the ``dfa`` CLI, one module each (``register(subparsers)``)."""

from __future__ import annotations

__all__ = ["parse_key_values"]


def _parse_value(text: str):
    import json

    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    if low in ("inf", "+inf"):
        return float("inf")
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_key_values(items, option: str) -> dict:
    """``["a=1", "b.c=[2, 3]"]`` -> ``{"a": 1, "b.c": [2, 3]}`` (JSON values, else strings)."""
    from photonics.errors import ConfigError

    out = {}
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"{option} expects KEY=VALUE (got {item!r})")
        k, v = item.split("=", 1)
        out[k.strip()] = _parse_value(v.strip())
    return out
