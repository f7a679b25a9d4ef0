"""DLPack tensors that numpy cannot view, read by the native reader: every
element from where its strides and byte offset put it, and a malformed
tensor refused with an error naming what is wrong."""

import numpy as np
import pytest
from conftest import mixture
from test_inputs import BFloat16Tensor, from_bfloat16_bits, to_bfloat16_bits

from psmi_rs import PSMI, _native


def read(tensor):
    return _native.dlpack_to_f32(tensor.__dlpack__())


def test_strides_and_a_byte_offset_pick_the_elements(rng):
    n, d, pad = (int(v) for v in rng.integers([3, 2, 1], [40, 17, 6]))
    buffer = to_bfloat16_bits(rng.normal(size=(n + 1, d + pad)).astype(np.float32))
    # Rows of d values in rows of d + pad, from the buffer's second row on.
    tensor = BFloat16Tensor(buffer, strides=(d + pad, 1))
    tensor.shape[0], tensor.shape[1] = n, d
    tensor.managed.dl_tensor.byte_offset = (d + pad) * buffer.itemsize
    np.testing.assert_array_equal(read(tensor), from_bfloat16_bits(buffer[1:, :d]))
    # Every row the same one (stride 0), as a broadcast tensor has.
    tensor.strides[0] = 0
    np.testing.assert_array_equal(read(tensor), np.tile(from_bfloat16_bits(buffer[1, :d]), (n, 1)))


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_float_types_are_widened_or_narrowed_as_numpy_does(rng, dtype):
    n, d = (int(v) for v in rng.integers([2, 1], [30, 12]))
    x = rng.normal(size=(n, d)).astype(dtype)
    tensor = BFloat16Tensor(x.view(np.uint16))
    tensor.shape[1] = d
    tensor.managed.dl_tensor.code, tensor.managed.dl_tensor.bits = 2, 8 * x.itemsize
    np.testing.assert_array_equal(read(tensor), x.astype(np.float32))


@pytest.mark.parametrize("field, axis", [("shape", 0), ("shape", 1), ("strides", 0), ("strides", 1)])
def test_a_negative_shape_or_stride_is_named(rng, field, axis):
    x, y = mixture(rng, 31, 5, 2)
    tensor = BFloat16Tensor(to_bfloat16_bits(x), strides=(5, 1))
    values = getattr(tensor, field)
    values[axis] = -1 - values[axis]
    message = rf"X: a DLPack tensor of {field} \[.*-.*\]: {field} {axis} is negative"
    with pytest.raises(ValueError, match=message):
        PSMI(n_estimators=5).fit(tensor, y)
    with pytest.raises(ValueError, match=message):
        read(tensor)


def test_a_tensor_larger_than_memory_is_refused(rng):
    tensor = BFloat16Tensor(to_bfloat16_bits(rng.normal(size=(2, 3)).astype(np.float32)), strides=(0, 0))
    tensor.shape[0], tensor.shape[1] = 2**40, 2**40
    with pytest.raises(ValueError, match=r"X: a DLPack tensor of shape \[1099511627776, 1099511627776\]"):
        read(tensor)
    tensor.strides[0], tensor.strides[1] = 2**62, 1
    tensor.shape[0], tensor.shape[1] = 2**20, 2**20
    with pytest.raises(ValueError, match="spans more memory than exists"):
        read(tensor)
