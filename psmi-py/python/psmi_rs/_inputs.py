"""Conversion of what users pass as features and labels.

Features become a C-contiguous float32 matrix: without a copy when they
already are one, with one conversion otherwise. Labels become int64.
"""

from __future__ import annotations

import os
from typing import Any, Optional, Tuple

import numpy as np

from . import _native

_INT64 = np.iinfo(np.int64)


def _dlpack_array(x: Any) -> np.ndarray:
    """A numpy view of a ``__dlpack__`` object, or a float32 copy of a
    float type numpy cannot view (bfloat16)."""
    try:
        return np.from_dlpack(x)
    except (TypeError, BufferError, RuntimeError, ValueError) as numpy_error:
        try:
            return _native.dlpack_to_f32(x.__dlpack__())
        except ValueError:
            raise
        except Exception:
            raise numpy_error from None


def _without_autograd(x: Any) -> Any:
    """``x.detach()`` for objects that have it (torch tensors, without
    importing torch): a tensor that requires grad refuses ``__array__`` and
    ``__dlpack__``, and its values are the same detached."""
    detach = getattr(x, "detach", None)
    if isinstance(x, np.ndarray) or not callable(detach):
        return x
    return detach()


def features(x: Any, name: str = "X") -> np.ndarray:
    """``x`` as a C-contiguous float32 array of shape (n_samples, dim).

    Accepts numpy arrays of any float (or integer) dtype and layout,
    bfloat16 arrays of ``ml_dtypes``, nested lists, objects with
    ``__array__`` (CPU torch tensors, pandas frames) and objects with
    ``__dlpack__`` (torch tensors of any float type, bfloat16 included);
    tensors that require grad are detached first.
    """
    x = _without_autograd(x)
    if isinstance(x, np.ndarray):
        a = x
    elif hasattr(x, "__dlpack__") and hasattr(x, "__dlpack_device__"):
        a = _dlpack_array(x)
    else:
        try:
            a = np.asarray(x)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{name}: cannot be read as an array: {e}") from None
    if a.ndim != 2:
        raise ValueError(
            f"{name}: incompatible shape {a.shape}; features should be (n_samples, dim)"
        )
    if a.dtype.name == "bfloat16":
        # bfloat16 is the upper half of a float32.
        a = (np.ascontiguousarray(a).view(np.uint16).astype(np.uint32) << 16).view(
            np.float32
        )
    elif a.dtype.kind not in "fiu":
        raise ValueError(
            f"{name}: features have dtype {a.dtype}; expected float16, float32 or float64"
        )
    # Values beyond the float32 range become infinities, which the library
    # reports with their row and column.
    # Aligned too: arrays received over a network (Dask, Spark) may not be,
    # and the native layer reads them in place.
    with np.errstate(over="ignore"):
        return np.require(a, dtype=np.float32, requirements=["C", "A"])


def labels(y: Any, n_samples: Optional[int], name: str = "y") -> Tuple[np.ndarray, type]:
    """``y`` as int64 labels, and the scalar type to show them with.

    Integer dtypes are taken as they are; floats must hold whole numbers (the
    package ``psmi`` accepts those); anything else is a :class:`ValueError`
    naming the first offending label.
    """
    y = _without_autograd(y)
    if hasattr(y, "__dlpack__") and not hasattr(y, "__array__"):
        a = np.from_dlpack(y)
    else:
        a = np.asarray(y)
    if a.ndim != 1 or (n_samples is not None and a.shape[0] != n_samples):
        raise ValueError(
            f"{name}: incompatible shape {a.shape}; labels should be (n_samples,)"
            + ("" if n_samples is None else f" = ({n_samples},), one per row of X")
        )
    kind = a.dtype.kind
    if kind in "ib":
        return np.require(a, dtype=np.int64, requirements=["C", "A"]), a.dtype.type
    if kind == "u":
        too_big = np.flatnonzero(a > _INT64.max)
        if too_big.size:
            i = int(too_big[0])
            raise ValueError(f"{name}: label {a[i].item()} at row {i} is beyond int64")
        return a.astype(np.int64), a.dtype.type
    if kind == "f":
        bad = ~np.isfinite(a)
        bad[~bad] = (a[~bad] != np.floor(a[~bad])) | (np.abs(a[~bad]) >= 2.0**63)
        wrong = np.flatnonzero(bad)
        if wrong.size:
            i = int(wrong[0])
            raise ValueError(
                f"{name}: label {a[i].item()!r} at row {i} is not a whole number; "
                "labels must be integers (or floats holding whole numbers)"
            )
        return a.astype(np.int64), a.dtype.type
    raise ValueError(
        f"{name}: labels have dtype {a.dtype}; expected integers "
        "(or floats holding whole numbers)"
    )


def threads(n_jobs: Optional[int]) -> Optional[int]:
    """scikit-learn's ``n_jobs`` as a number of threads (None: all cores)."""
    if n_jobs is None or n_jobs == -1:
        return None
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)):
        raise ValueError(f"n_jobs = {n_jobs!r}: expected None or a whole number")
    if n_jobs == 0:
        raise ValueError("n_jobs = 0: expected None, a positive number, or a negative one")
    if n_jobs > 0:
        return int(n_jobs)
    return max(cores() + 1 + int(n_jobs), 1)


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def seed(random_state: Any) -> int:
    """The seed of ``random_state``: itself if a whole number in [0, 2**64),
    a fresh one from the operating system if None."""
    if random_state is None:
        return int.from_bytes(os.urandom(8), "little")
    if isinstance(random_state, bool) or not isinstance(random_state, (int, np.integer)):
        raise ValueError(
            f"random_state = {random_state!r}: expected None or a whole number"
        )
    if not 0 <= int(random_state) < 2**64:
        raise ValueError(f"random_state = {random_state}: expected a number in [0, 2**64)")
    return int(random_state)
