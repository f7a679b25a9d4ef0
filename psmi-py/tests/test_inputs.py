"""Every kind of features and labels gives the results of the same values
as a C-contiguous float32 array and int64 labels, bit for bit."""

import ctypes

import numpy as np
import pytest
from conftest import mixture

from psmi_rs import PSMI, _inputs


def scores(x, y, m=67, seed=5):
    est = PSMI(n_estimators=m, random_state=seed)
    return est, est.fit_transform(x, y)


def assert_same(a, b):
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)


@pytest.fixture
def data(rng):
    x, y = mixture(rng, 211, 13, 3)
    return x, y, scores(x, y)[1]


class ArrayLike:
    """An object numpy reads through ``__array__`` (as a CPU torch tensor or a pandas frame)."""

    def __init__(self, a):
        self.a = a

    def __array__(self, dtype=None, copy=None):
        return self.a if dtype is None else self.a.astype(dtype)


class DLPackOnly:
    """An object that offers its data only through the DLPack protocol."""

    def __init__(self, a):
        self.a = a

    def __dlpack__(self, **kwargs):
        return self.a.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return self.a.__dlpack_device__()


class DLTensor(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_void_p),
        ("device_type", ctypes.c_int32),
        ("device_id", ctypes.c_int32),
        ("ndim", ctypes.c_int32),
        ("code", ctypes.c_uint8),
        ("bits", ctypes.c_uint8),
        ("lanes", ctypes.c_uint16),
        ("shape", ctypes.POINTER(ctypes.c_int64)),
        ("strides", ctypes.POINTER(ctypes.c_int64)),
        ("byte_offset", ctypes.c_uint64),
    ]


class DLManagedTensor(ctypes.Structure):
    _fields_ = [
        ("dl_tensor", DLTensor),
        ("manager_ctx", ctypes.c_void_p),
        ("deleter", ctypes.c_void_p),
    ]


class BFloat16Tensor:
    """A bfloat16 matrix exported through DLPack, as torch exports one
    (numpy has no bfloat16, so this builds the capsule itself). ``strides``
    are in elements; the memory stays owned by this object."""

    def __init__(self, bits, strides=None):
        assert bits.dtype == np.uint16 and bits.ndim == 2
        self.bits = bits
        self.shape = (ctypes.c_int64 * 2)(*bits.shape)
        self.strides = None if strides is None else (ctypes.c_int64 * 2)(*strides)
        self.managed = DLManagedTensor()
        t = self.managed.dl_tensor
        t.data = bits.ctypes.data
        t.device_type, t.device_id, t.ndim = 1, 0, 2
        t.code, t.bits, t.lanes = 4, 16, 1  # kDLBfloat
        t.shape = self.shape
        t.strides = self.strides
        t.byte_offset = 0

    def __dlpack__(self, **kwargs):
        new = ctypes.pythonapi.PyCapsule_New
        new.restype, new.argtypes = ctypes.py_object, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
        return new(ctypes.addressof(self.managed), b"dltensor", None)

    def __dlpack_device__(self):
        return (1, 0)


def to_bfloat16_bits(x):
    """float32 → bfloat16 by truncation (the upper 16 bits)."""
    return (np.ascontiguousarray(x, dtype=np.float32).view(np.uint32) >> 16).astype(np.uint16)


def from_bfloat16_bits(bits):
    return (bits.astype(np.uint32) << 16).view(np.float32)


def test_c_contiguous_float32_is_used_in_place(data):
    x, y, expected = data
    assert _inputs.features(x) is x
    assert _inputs.labels(y, len(y))[0] is y
    assert not np.shares_memory(_inputs.features(np.asfortranarray(x)), x)
    assert_same(scores(x, y)[1], expected)
    # And the caller's array is left as it was.
    before = x.copy()
    scores(x, y)
    np.testing.assert_array_equal(x, before)


def test_fortran_order_and_strided_views(data):
    x, y, expected = data
    assert_same(scores(np.asfortranarray(x), y)[1], expected)
    wide = np.zeros((x.shape[0], 2 * x.shape[1]), dtype=np.float32)
    wide[:, ::2] = x
    assert_same(scores(wide[:, ::2], y)[1], expected)
    # Rows in another order fit other class statistics (sums in another
    # order): compare with the same reversed rows given C-contiguous.
    reversed_rows = np.ascontiguousarray(x[::-1])
    assert_same(scores(x[::-1], y[::-1])[1], scores(reversed_rows, y[::-1])[1])


@pytest.mark.parametrize("dtype", [np.float16, np.float64])
def test_other_float_dtypes_are_converted_once(data, dtype):
    x, y, _ = data
    converted = x.astype(dtype)
    assert_same(scores(converted, y)[1], scores(converted.astype(np.float32), y)[1])


def test_lists_and_array_likes(data):
    x, y, expected = data
    assert_same(scores(x.tolist(), y.tolist())[1], expected)
    assert_same(scores(ArrayLike(x), ArrayLike(y))[1], expected)


def test_dlpack_objects(data):
    x, y, expected = data
    assert_same(scores(DLPackOnly(x), y)[1], expected)
    assert_same(scores(DLPackOnly(x.astype(np.float64)), DLPackOnly(y))[1], expected)


def test_bfloat16_through_dlpack(data):
    x, y, _ = data
    bits = to_bfloat16_bits(x)
    expected = scores(from_bfloat16_bits(bits), y)[1]
    assert_same(scores(BFloat16Tensor(bits), y)[1], expected)
    # Column-major strides, as a transposed tensor has.
    fortran = np.ascontiguousarray(bits.T)
    strided = BFloat16Tensor(fortran.reshape(bits.shape[1], bits.shape[0]), strides=(1, bits.shape[0]))
    strided.shape[0], strided.shape[1] = bits.shape
    assert_same(scores(strided, y)[1], expected)


def test_bfloat16_numpy_arrays_of_ml_dtypes(data):
    ml_dtypes = pytest.importorskip("ml_dtypes")
    x, y, _ = data
    bf = x.astype(ml_dtypes.bfloat16)
    assert_same(scores(bf, y)[1], scores(bf.astype(np.float32), y)[1])


@pytest.mark.parametrize("dtype", [np.int8, np.uint16, np.int32, np.uint64, np.float32, np.float64])
def test_labels_of_any_integer_dtype_or_whole_floats(data, dtype):
    x, y, expected = data
    est, got = scores(x, y.astype(dtype))
    assert_same(got, expected)
    assert sorted(est.frequency_per_label) == sorted(set(y.tolist()))
    assert all(type(k) is np.dtype(dtype).type for k in est.mean_per_label)


def test_negative_and_sparse_labels(data):
    x, y, expected = data
    relabelled = np.array([-7, 40, 2**40])[y]
    est, got = scores(x, relabelled)
    assert_same(got, expected)
    assert list(est.frequency_per_label) == [-7, 40, 2**40]


def test_a_dlpack_tensor_of_an_unknown_type_or_on_another_device_is_refused(data):
    x, y, _ = data
    tensor = BFloat16Tensor(to_bfloat16_bits(x))
    tensor.managed.dl_tensor.code = 2
    tensor.managed.dl_tensor.bits = 8  # float8, which neither numpy nor we read
    with pytest.raises(ValueError, match="X: a DLPack tensor of type code 2, 8 bits"):
        PSMI(n_estimators=5).fit(tensor, y)
    tensor = BFloat16Tensor(to_bfloat16_bits(x))
    tensor.managed.dl_tensor.device_type = 2  # CUDA
    with pytest.raises(ValueError, match="device type 2"):
        PSMI(n_estimators=5).fit(tensor, y)
