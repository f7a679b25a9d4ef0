"""Type stubs of the extension module ``psmi_rs._native`` (Rust, PyO3).

Inputs are already converted by the pure-Python layer: features are
C-contiguous float32 (n, d), labels int64 (n,).
"""

import os
from typing import List, Optional, Tuple, Union, final

import numpy as np
import numpy.typing as npt

__all__ = [
    "Estimator",
    "AutoRule",
    "RunningErrors",
    "Model",
    "Fitter",
    "dlpack_to_f32",
    "sweep_check_layers",
    "sweep_check_samples",
    "sweep_delta_mean",
    "evaluation_target",
    "evaluation",
    "__version__",
    "DEFAULT_DIRECTIONS",
]

__version__: str
DEFAULT_DIRECTIONS: str

_Scores = Tuple[
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    Optional[npt.NDArray[np.float32]],
    float,
    npt.NDArray[np.float64],
    float,
]

# One layer of a sweep: (mean, std, stderr, quantiles n × q or None, smi, smi_stderr).
_LayerScores = Tuple[
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    Optional[npt.NDArray[np.float64]],
    float,
    float,
]

# A proportion and its 95 % interval: (value, low, high).
_Interval = Tuple[float, float, float]

# Auto mode's report: (blocks, the rule's last statistic or None, converged).
_Report = Tuple[int, Optional[float], bool]

# Native classes, as PyO3 makes them: not subclassable (final), and built by
# __new__.
@final
class Estimator:
    def __new__(
        cls,
        n_estimators: Optional[int],
        min_n_estimators: int,
        lowest_psmi_quantile: float,
        max_variation_of_the_lowest: float,
        milestone: float,
        max_n_estimators: int,
        seed: int,
        threads: Optional[int],
        directions: str,
        frame_size: Optional[int],
        target_error: Optional[float] = None,
        precision: str = "f32",
    ) -> Estimator: ...
    def fit(self, x: npt.NDArray[np.float32], y: npt.NDArray[np.int64]) -> Model: ...
    def fitter(self, dim: int, n: int) -> Fitter: ...
    def block_fitter(self, dim: int, n: int, first: int, count: int) -> Fitter: ...
    def join(self, blocks: List[Model], n: int, report: _Report) -> Model: ...
    def running_errors(self, dim: int, n: int) -> RunningErrors: ...
    def auto_rule(self, n: int) -> AutoRule: ...
    def fit_transform(
        self, x: npt.NDArray[np.float32], y: npt.NDArray[np.int64], full: bool
    ) -> Tuple[Model, _Scores]: ...
    def score_layer(
        self, x: npt.NDArray[np.float32], y: npt.NDArray[np.int64], levels: List[float]
    ) -> Tuple[Model, _LayerScores]: ...

@final
class AutoRule:
    def step(
        self,
    ) -> Union[
        Tuple[str, int, int],
        Tuple[str, str, int, int, int],
        Tuple[str, Optional[_Report]],
    ]: ...
    def block_scored(self) -> None: ...
    def observe(
        self, full: npt.NDArray[np.float64], other: npt.NDArray[np.float64]
    ) -> None: ...

@final
class RunningErrors:
    def sums(self) -> Tuple[float, float]: ...
    def lowest(
        self, watched: int, pooled: Tuple[float, float]
    ) -> Tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...
    def to_bytes(self) -> bytes: ...
    @staticmethod
    def from_bytes(bytes: bytes) -> RunningErrors: ...
    @property
    def rows(self) -> int: ...

@final
class Model:
    def transform(
        self, x: npt.NDArray[np.float32], y: npt.NDArray[np.int64], full: bool, first_row: int = 0
    ) -> _Scores: ...
    def transform_kept(
        self, kept: npt.NDArray[np.float32], y: npt.NDArray[np.int64]
    ) -> Tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...
    def score_running_kept(
        self,
        kept: npt.NDArray[np.float32],
        y: npt.NDArray[np.int64],
        errors: RunningErrors,
        first_direction: int,
        row: int,
    ) -> None: ...
    def score_running(
        self,
        x: npt.NDArray[np.float32],
        y: npt.NDArray[np.int64],
        errors: RunningErrors,
        first_direction: int,
        row: int,
        first_row: int,
    ) -> None: ...
    def quantiles(
        self, x: npt.NDArray[np.float32], y: npt.NDArray[np.int64], levels: List[float]
    ) -> npt.NDArray[np.float64]: ...
    @property
    def precision(self) -> str: ...
    @property
    def scheme(self) -> Tuple[str, Optional[int]]: ...
    def set_threads(self, threads: int) -> None: ...
    @staticmethod
    def load(path: Union[str, os.PathLike[str]]) -> Model: ...
    def save(self, path: Union[str, os.PathLike[str]]) -> None: ...
    def to_bytes(self) -> bytes: ...
    @staticmethod
    def from_bytes(bytes: bytes) -> Model: ...
    @property
    def n_estimators(self) -> int: ...
    @property
    def dim(self) -> int: ...
    @property
    def seed(self) -> Optional[int]: ...
    @property
    def labels(self) -> npt.NDArray[np.int64]: ...
    @property
    def frequency(self) -> npt.NDArray[np.float64]: ...
    @property
    def mean(self) -> npt.NDArray[np.float64]: ...
    @property
    def std(self) -> npt.NDArray[np.float64]: ...
    @property
    def directions(self) -> npt.NDArray[np.float32]: ...
    @property
    def auto_report(self) -> Optional[Tuple[int, Optional[float], bool]]: ...

@final
class Fitter:
    def __new__(
        cls,
        dim: int,
        n_estimators: int,
        seed: int,
        threads: Optional[int],
        directions: str,
        frame_size: Optional[int],
        precision: str = "f32",
    ) -> Fitter: ...
    def update(
        self, x: npt.NDArray[np.float32], y: npt.NDArray[np.int64], first_row: int = 0
    ) -> None: ...
    def update_keeping(
        self, x: npt.NDArray[np.float32], y: npt.NDArray[np.int64], first_row: int = 0
    ) -> npt.NDArray[np.float32]: ...
    def merge(self, other: Fitter) -> None: ...
    def finish(self) -> Model: ...
    def to_bytes(self) -> bytes: ...
    @staticmethod
    def from_bytes(bytes: bytes, threads: Optional[int]) -> Fitter: ...
    @property
    def samples(self) -> int: ...
    @property
    def precision(self) -> str: ...
    @property
    def n_estimators(self) -> int: ...
    @property
    def dim(self) -> int: ...
    @property
    def seed(self) -> Optional[int]: ...

def dlpack_to_f32(capsule: object) -> npt.NDArray[np.float32]: ...
def sweep_check_layers(runs: List[Tuple[str, List[str]]]) -> None: ...
def sweep_check_samples(
    first: Tuple[str, npt.NDArray[np.int64]], run: Tuple[str, npt.NDArray[np.int64]]
) -> None: ...
def sweep_delta_mean(
    mean: npt.NDArray[np.float64], first: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]: ...
def evaluation_target(
    values: npt.NDArray[np.int64], samples: int, tpr: float
) -> npt.NDArray[np.bool_]: ...
def evaluation(
    mean: npt.NDArray[np.float64], target: npt.NDArray[np.bool_], tpr: float
) -> Tuple[_Interval, _Interval, int, int]: ...
