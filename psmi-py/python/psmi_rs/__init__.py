"""psmi_rs: Pointwise Sliced Mutual Information, a fast drop-in for ``psmi``.

Replace ``from psmi import PSMI`` with ``from psmi_rs import PSMI``: same
constructor, methods, attributes and errors, computed in Rust on all cores.

>>> import numpy as np
>>> from psmi_rs import PSMI
>>> X, y = np.random.default_rng(0).normal(size=(300, 16)), np.arange(300) % 3
>>> mean, std, full = PSMI(n_estimators=100).fit_transform(X, y)

Beyond the package: :class:`PsmiModel` (save, load, transform, pickle),
:class:`PsmiFitter` (streaming and distributed fits), :class:`PsmiScores`
(results with ``stderr`` and ``smi``), :func:`sweep` (runs × layers of a
model's hidden states, as the ``psmi`` program's ``--runs``).
"""

from ._errors import TooFewSamplesError
from ._estimator import PSMI
from ._model import PsmiFitter, PsmiModel, PsmiScores
from ._native import __version__
from ._sweep import SweepResult, sweep

__all__ = [
    "PSMI",
    "PsmiFitter",
    "PsmiModel",
    "PsmiScores",
    "SweepResult",
    "TooFewSamplesError",
    "__version__",
    "sweep",
]
