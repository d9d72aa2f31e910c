"""The DFA mechanism: feedback points, feedback providers, error quantizers, the two-pass rule.

This layer knows torch models and the simulated optics (:mod:`photonics`), nothing of the
trainer, the model zoo or the studies built on it:

* :mod:`dfa.mechanism.dfa`: :class:`DFA`, records a model's feedback points and injects B_l e;
* :mod:`dfa.mechanism.two_pass`: :class:`TwoPass`, the forward-only (PEPITA) update;
* :mod:`dfa.mechanism.feedback`: the providers of B e (Gaussian, optical, stored);
* :mod:`dfa.mechanism.quantize`: ternary and bit-plane error quantizers for the binary DMD.
"""
