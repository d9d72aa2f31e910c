"""Randomized numerical linear algebra on the simulated OPU.

* :func:`randomized_range_finder`, :func:`randomized_svd`: the sketch A Omega computed through
  the optics (rows of A sent to the DMD as bit planes + sign split, ``OPU.linear``), or with
  optical random test vectors, or digitally (Gaussian / Rademacher) for comparison;
* :func:`hutchinson`, :func:`hutch_plus_plus`: trace estimators with optical Rademacher probes
  (:func:`random_vectors` gives the probes themselves);
* :class:`OpticalRandomFeatures`: sklearn-compatible |T x|^2 random features (``OPU.project``);
* :class:`RandNLAReport`: frames, device time and digital matvecs of each call
  (``return_report=True``); :func:`linear_sketch_frames`, :func:`probe_frames`: the cost model.

Inputs: numpy arrays, scipy sparse matrices and ``scipy.sparse.linalg.LinearOperator``;
outputs have the shapes of the exact counterparts (``np.linalg.svd`` truncated, ``np.trace``).
"""

from __future__ import annotations

from .features import OpticalRandomFeatures
from .optics import linear_sketch_frames, probe_frames, sized_config
from .report import RandNLAReport
from .sketching import SKETCHES, random_vectors
from .svd import randomized_range_finder, randomized_svd
from .trace import hutch_plus_plus, hutchinson

__all__ = [
    "randomized_range_finder",
    "randomized_svd",
    "hutchinson",
    "hutch_plus_plus",
    "OpticalRandomFeatures",
    "RandNLAReport",
    "random_vectors",
    "linear_sketch_frames",
    "probe_frames",
    "sized_config",
    "SKETCHES",
]
