"""Registry of data sets: a name -> a loader with documented options and training defaults.

A new data set plugs in with::

    @register_dataset("my-data", defaults={"model": "mlp", "epochs": 10})
    def load_my_data(seed: int = 0, n_train: int = 1000) -> ClassificationData: ...

The loader's keyword arguments are its options (``load_dataset(name, **options)`` checks
them); ``defaults`` are the training settings the trainer uses for this data set unless the
user overrides them (model, epochs, batch size, learning rate, model options).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable

from photonics.errors import ConfigError

__all__ = ["DatasetSpec", "register_dataset", "load_dataset", "dataset_names", "dataset_spec"]


@dataclass(frozen=True)
class DatasetSpec:
    """A registered data set: its loader, its options and its training defaults."""

    name: str
    loader: Callable[..., Any]
    description: str
    defaults: dict = field(default_factory=dict)

    @property
    def options(self) -> dict[str, Any]:
        """Option names and default values (the loader's keyword arguments)."""
        sig = inspect.signature(self.loader)
        return {k: (None if p.default is inspect.Parameter.empty else p.default) for k, p in sig.parameters.items()}


_REGISTRY: dict[str, DatasetSpec] = {}


def register_dataset(name: str, *, description: str = "", defaults: dict | None = None):
    """Decorator registering ``loader`` under ``name`` (see the module docstring)."""

    def deco(loader):
        doc = description or (inspect.getdoc(loader) or "").split("\n")[0]
        _REGISTRY[name] = DatasetSpec(name, loader, doc, dict(defaults or {}))
        return loader

    return deco


def dataset_names() -> tuple[str, ...]:
    """Names of the registered data sets."""
    return tuple(sorted(_REGISTRY))


def dataset_spec(name: str) -> DatasetSpec:
    """The spec of data set ``name``; unknown names raise a ConfigError listing the known ones."""
    if name not in _REGISTRY:
        raise ConfigError(f"unknown dataset {name!r}; available: {', '.join(dataset_names())}")
    return _REGISTRY[name]


def load_dataset(name: str, **options: Any):
    """Load data set ``name`` with ``options`` (checked against the loader's arguments)."""
    spec = dataset_spec(name)
    allowed = spec.options
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ConfigError(
            f"unknown option(s) {', '.join(repr(u) for u in unknown)} for dataset {name!r}; "
            f"allowed: {', '.join(sorted(allowed)) or 'none'}"
        )
    return spec.loader(**options)
