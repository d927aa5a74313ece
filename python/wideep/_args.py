"""Argument checks of the public functions: types and shapes become TypeError /
ValueError naming the argument, before anything reaches C++; torch tensors in
and out without importing torch when the caller did not."""
import operator
import sys

import numpy as np

_INT_MAX = 2**31 - 1


def is_torch(x):
    torch = sys.modules.get("torch")  # a tensor exists only if torch is imported
    return torch is not None and isinstance(x, torch.Tensor)


def to_torch(arrays):
    import torch

    return tuple(torch.from_numpy(a) for a in arrays)


def count(value, name, minimum=1):
    """A whole number (int or numpy integer, not bool) in [minimum, 2^31 - 1]."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        try:  # 0-d tensors and other integer-likes
            if isinstance(value, bool):
                raise TypeError
            value = operator.index(value)
        except TypeError:
            raise TypeError(f"{name} must be an int, got {type(value).__name__}") from None
    value = int(value)
    if value < minimum or value > _INT_MAX:
        raise ValueError(f"{name} must be in [{minimum}, {_INT_MAX}], got {value}")
    return value


def _numpy(value, name):
    if is_torch(value):
        value = value.detach().cpu().numpy()
    try:
        a = np.asarray(value)
    except ValueError as e:  # ragged nested lists
        raise ValueError(f"{name} is not a rectangular array ({e})") from None
    return a


def float_matrix(value, name):
    """A [rows, cols] float64 C-contiguous array of numbers (ints or floats)."""
    a = _numpy(value, name)
    if a.dtype.kind not in "iuf":
        raise TypeError(f"{name} must hold integers or floats, has dtype {a.dtype}")
    if a.ndim != 2 or a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"{name} must have shape [layers, experts] with both > 0, has shape {list(a.shape)}")
    return np.ascontiguousarray(a, dtype=np.float64)


def int_array(value, name, ndim, shape_text):
    """An int64 C-contiguous array of ndim dimensions, none of them empty."""
    a = _numpy(value, name)
    if a.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integers, has dtype {a.dtype}")
    if a.ndim != ndim or 0 in a.shape:
        raise ValueError(f"{name} must have shape {shape_text} (none empty), has shape {list(a.shape)}")
    if a.dtype.kind == "u" and a.size and a.max() > np.iinfo(np.int64).max:
        raise ValueError(f"{name} holds a value above 2^63 - 1")
    return np.ascontiguousarray(a, dtype=np.int64)
