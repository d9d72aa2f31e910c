"""Sub-commands of the ``photonics`` CLI, one module each (``register(subparsers)``)."""

from __future__ import annotations

import argparse

__all__ = ["add_device_arguments", "device_from_args"]


def _parse_value(text: str):
    import json

    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("inf", "+inf"):
        return float("inf")
    try:
        return json.loads(text)
    except ValueError:
        return text


def add_device_arguments(p: argparse.ArgumentParser) -> None:
    """DEVICE (preset name or TOML path) plus --n-in/--n-out/--set/--seed."""
    p.add_argument("device", metavar="DEVICE", help="preset name (ideal, lab-cmos, lighton-like) or a device TOML file")
    p.add_argument("--n-in", type=int, default=None, help="override the number of input modes")
    p.add_argument("--n-out", type=int, default=None, help="override the number of camera pixels")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any config value, e.g. --set camera.read_noise_e=2 (repeatable)",
    )
    p.add_argument("--seed", type=int, default=0, help="device seed (default 0)")


def device_from_args(args):
    """The DeviceConfig described by the arguments of :func:`add_device_arguments`."""
    from ..config import DeviceConfig
    from ..errors import ConfigError

    over = {}
    if args.n_in is not None:
        over["n_in"] = args.n_in
    if args.n_out is not None:
        over["n_out"] = args.n_out
    for item in args.set:
        if "=" not in item:
            raise ConfigError(f"--set expects KEY=VALUE (got {item!r})")
        k, v = item.split("=", 1)
        over[k.strip()] = _parse_value(v.strip())
    from ..rng import check_seed

    check_seed(args.seed, "--seed")
    return DeviceConfig.resolve(args.device, **over)
