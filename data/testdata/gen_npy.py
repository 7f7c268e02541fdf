"""Writes the NumPy fixtures that data/npy_test.go checks ReadNPY, LoadNPY and LoadNPZ against.

Run from this directory with /usr/bin/python3 (numpy 1.24.2 made the committed files):

    /usr/bin/python3 gen_npy.py

Every array holds known values so the Go test can recompute them. With i the C-order
(row-major) element index, i = 0, 1, ..., the formulas are:

    float16             (i - 2.5) * 0.5           exact in half precision
    float32, float64    (i - 2.5) / 3             computed in float64, then cast
    signed ints         (i - 3) * s
    unsigned ints       i * s
    bool                i % 3 == 0

where s, by element width, is 7 (1 byte), 1000 (2), 100000 (4), 10**12 (8).
"""

import numpy as np

SCALE = {1: 7, 2: 1000, 4: 100000, 8: 10**12}


def values(dtype, shape):
    dt = np.dtype(dtype)
    i = np.arange(int(np.prod(shape)), dtype=np.float64)
    if dt.kind == "f" and dt.itemsize == 2:
        v = (i - 2.5) * 0.5
    elif dt.kind == "f":
        v = (i - 2.5) / 3
    elif dt.kind == "i":
        v = (i.astype(np.int64) - 3) * SCALE[dt.itemsize]
    elif dt.kind == "u":
        v = i.astype(np.uint64) * SCALE[dt.itemsize]
    elif dt.kind == "b":
        v = i % 3 == 0
    else:
        raise ValueError(dtype)
    return v.astype(dt).reshape(shape)


def main():
    # One (2, 3) array per dtype, little-endian (or byte order "|" for 1-byte types).
    for dtype in ["<f2", "<f4", "<f8", "|i1", "<i2", "<i4", "<i8",
                  "|u1", "<u2", "<u4", "<u8", "|b1"]:
        np.save(f"{np.dtype(dtype).name}.npy", values(dtype, (2, 3)))

    # Big-endian input is converted on read.
    for dtype in [">f2", ">f4", ">f8", ">i2", ">i8", ">u4"]:
        np.save(f"{np.dtype(dtype).name}_be.npy", values(dtype, (2, 3)))

    # Fortran order: np.save keeps the column-major layout and sets fortran_order True.
    np.save("float32_fortran.npy", np.asfortranarray(values("<f4", (2, 3, 4))))
    np.save("int16_fortran.npy", np.asfortranarray(values("<i2", (2, 3))))

    # 0-d arrays: shape (), one element (i = 0).
    np.save("float64_scalar.npy", values("<f8", ()))
    np.save("int64_scalar.npy", values("<i8", ()))

    # Empty arrays.
    np.save("float32_empty.npy", values("<f4", (3, 0)))
    np.save("bool_empty.npy", values("|b1", (0,)))

    # Archives; keys deliberately not in alphabetical order.
    arrays = dict(
        weight=values("<f4", (2, 3)),
        label=values("<i8", (4,)),
        scale=values("<f8", ()),
        mask=values("|b1", (2, 2)),
    )
    np.savez("savez.npz", **arrays)
    np.savez_compressed("savez_compressed.npz", **arrays)


if __name__ == "__main__":
    main()
