"""The trainer: configuration, tasks, learning rules (methods), the loop, checkpoints, reports.

Builds on :mod:`dfa.mechanism` (how gradients are made) and :mod:`dfa.zoo` (models and data
sets); knows nothing of the studies (sweeps, privacy) built on top of it.
"""
