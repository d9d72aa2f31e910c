"""Compatibility layers: run code written for other OPU toolkits on the simulated device.

* :mod:`photonics.compat.lightonml`: LightOn's ``lightonml`` API (``OPU``, encoders, ``OPUMap``)
  over :class:`photonics.OPU`;
* :func:`install_lightonml`: make ``import lightonml`` (and its submodules) load that facade,
  so existing scripts run unchanged; :func:`uninstall_lightonml` undoes it.
"""

from __future__ import annotations

from .alias import install_lightonml, lightonml_installed, uninstall_lightonml

__all__ = ["install_lightonml", "uninstall_lightonml", "lightonml_installed"]
