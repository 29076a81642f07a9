"""Writes the two .npy fixtures of tests/io/npy_test.cpp with NumPy's own writer (numpy.save).

base_logits.npy: float32, C order, shape (3, 5), entries (i - 7) / 4 for i = 0..14 (exact in float).
next_tokens.npy: int64, shape (3,), entries 4, 0, 2.
Run from the repository root: python3 tests/reference/make_npy_fixtures.py
"""
import numpy as np

np.save("tests/reference/npy/base_logits.npy", ((np.arange(15, dtype=np.float32) - 7) / 4).reshape(3, 5))
np.save("tests/reference/npy/next_tokens.npy", np.array([4, 0, 2], dtype=np.int64))
