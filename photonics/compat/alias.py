"""``import lightonml`` -> :mod:`photonics.compat.lightonml`, for scripts that cannot be edited.

:func:`install_lightonml` puts an import hook first on ``sys.meta_path``: ``lightonml`` and
``lightonml.X.Y`` resolve to ``photonics.compat.lightonml`` and ``photonics.compat.lightonml.X.Y``
(the same module objects, imported on demand, so ``lightonml.projections.torch`` still
imports torch only when asked for). A genuine lightonml installation is never shadowed unless
``force=True``.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import logging
import sys

from ..errors import ValidationError

log = logging.getLogger(__name__)

__all__ = ["install_lightonml", "uninstall_lightonml", "lightonml_installed"]

ALIAS = "lightonml"
TARGET = "photonics.compat.lightonml"


class _AliasLoader(importlib.abc.Loader):
    """Returns the already-importable target module instead of executing anything."""

    def __init__(self, target_spec):
        self.target_spec = target_spec

    def create_module(self, spec):
        module = importlib.import_module(self.target_spec.name)
        self._own_spec = module.__spec__
        return module

    def exec_module(self, module):
        # the import system has just set __spec__ to the alias spec: give the module its own back
        module.__spec__ = self._own_spec


class _AliasFinder(importlib.abc.MetaPathFinder):
    """Finds ``lightonml[.x]`` as ``photonics.compat.lightonml[.x]``."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != ALIAS and not fullname.startswith(ALIAS + "."):
            return None
        real = TARGET + fullname[len(ALIAS) :]
        try:
            real_spec = importlib.util.find_spec(real)
        except ModuleNotFoundError:
            return None
        if real_spec is None:
            return None
        is_package = real_spec.submodule_search_locations is not None
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(real_spec), is_package=is_package)


def _finder():
    for f in sys.meta_path:
        if isinstance(f, _AliasFinder):
            return f
    return None


def lightonml_installed() -> bool:
    """True while the ``lightonml`` alias is installed."""
    return _finder() is not None


def install_lightonml(force: bool = False) -> None:
    """Make ``import lightonml`` load :mod:`photonics.compat.lightonml`.

    Parameters
    ----------
    force : bool
        Install even if a real ``lightonml`` package is importable (it is then shadowed).

    Raises
    ------
    ValidationError
        A real lightonml is installed (or already imported) and ``force`` is False.
    """
    if lightonml_installed():
        return
    if not force:
        loaded = sys.modules.get(ALIAS)
        if loaded is not None and not getattr(loaded, "__name__", "").startswith(TARGET):
            raise ValidationError("a real lightonml is already imported; install_lightonml(force=True) would shadow it")
        if loaded is None and importlib.util.find_spec(ALIAS) is not None:
            raise ValidationError("a real lightonml package is installed; pass force=True to shadow it with the simulated facade")
    sys.meta_path.insert(0, _AliasFinder())
    log.info("import lightonml now loads %s (simulated OPU)", TARGET)


def uninstall_lightonml() -> None:
    """Remove the alias and forget the ``lightonml*`` modules it imported."""
    f = _finder()
    if f is None:
        return
    sys.meta_path.remove(f)
    for name in [n for n in sys.modules if n == ALIAS or n.startswith(ALIAS + ".")]:
        if getattr(sys.modules[name], "__name__", "").startswith(TARGET):
            del sys.modules[name]
