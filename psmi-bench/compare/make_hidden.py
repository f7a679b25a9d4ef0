"""Writes LLM-shaped hidden states, chunk by chunk so that generation fits in memory:
the same values as bf16 safetensors (tensor `hidden`), optionally as f32 .npy, and
int64 labels .npy.

Shape of the data: `classes` classes with Gaussian centres; per-row scales drawn
from a log-normal (heavy-tailed row norms); per-coordinate noise z/2 + 0.15 z³ of a
standard normal z (kurtosis about 25, one normal draw per value); a few "massive" dimensions with a large offset and scale, as in the
residual stream of a transformer. Values are rounded to bfloat16 (nearest even),
so the f32 file holds exactly the bf16 values.

    python make_hidden.py N D OUT_PREFIX [--classes 20] [--f32] [--seed 0]
"""

import argparse
import json

import numpy as np

CHUNK = 8192
MASSIVE = (7, 300, 1500, 2222)


def to_bf16_bits(x):
    """Round-to-nearest-even f32 -> bf16 bits (the data holds no NaN)."""
    bits = x.view(np.uint32)
    rounded = bits + np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1))
    return (rounded >> np.uint32(16)).astype(np.uint16)


def npy_header(shape, descr):
    text = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}"
    pad = 64 - (10 + len(text) + 1) % 64
    text = text + " " * (pad % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text.encode()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("n", type=int)
    parser.add_argument("d", type=int)
    parser.add_argument("prefix")
    parser.add_argument("--classes", type=int, default=20)
    parser.add_argument("--f32", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    n, d, k = args.n, args.d, args.classes
    rng = np.random.default_rng(args.seed)
    centres = (rng.standard_normal((k, d), dtype=np.float32) * 0.35).astype(np.float32)
    massive = [m for m in MASSIVE if m < d]
    labels = rng.integers(0, k, size=n).astype(np.int64)
    np.save(f"{args.prefix}_labels.npy", labels)

    header = json.dumps(
        {"hidden": {"dtype": "BF16", "shape": [n, d], "data_offsets": [0, n * d * 2]}}
    ).encode()
    header += b" " * (-len(header) % 8)
    st = open(f"{args.prefix}_bf16.safetensors", "wb")
    st.write(len(header).to_bytes(8, "little") + header)
    f32 = open(f"{args.prefix}_f32.npy", "wb") if args.f32 else None
    if f32:
        f32.write(npy_header((n, d), "<f4"))
    for start in range(0, n, CHUNK):
        rows = min(CHUNK, n - start)
        y = labels[start : start + rows]
        scale = np.exp(0.5 * rng.standard_normal((rows, 1), dtype=np.float32))
        z = rng.standard_normal((rows, d), dtype=np.float32)
        noise = z * (np.float32(0.5) + np.float32(0.15) * z * z)
        x = centres[y] + scale * noise
        for m in massive:
            x[:, m] = x[:, m] * 20.0 + 60.0
        bits = to_bf16_bits(np.ascontiguousarray(x, dtype=np.float32))
        st.write(bits.tobytes())
        if f32:
            f32.write((bits.astype(np.uint32) << np.uint32(16)).view(np.float32).tobytes())
    st.close()
    if f32:
        f32.close()


if __name__ == "__main__":
    main()
