"""The model zoo and the data sets: each registers itself on import.

* :mod:`dfa.zoo.models`: MLP, CNN, GCN, char Transformer and the registry
  (:func:`build_model`, :func:`register_model`);
* :mod:`dfa.zoo.models_large`: GPT, ViT, MLP-Mixer, the DDPM denoiser;
* :mod:`dfa.zoo.diffusion`: the DDPM noise schedule, sampler and sample score;
* :mod:`dfa.zoo.data`: the data sets behind one registry (:func:`load_dataset`).

Imports neither the trainer nor the studies.
"""

from . import (  # noqa: F401  (register the models)
    data,  # noqa: F401  (registers the data sets)
    models,
    models_large,
)
