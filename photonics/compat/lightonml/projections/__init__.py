"""``OPUMap`` adapters (``lightonml.projections``): :mod:`.sklearn` (numpy arrays, the
scikit-learn transformer protocol) and :mod:`.torch` (an ``nn.Module``; imports torch, so it
is only loaded when you import it)."""
