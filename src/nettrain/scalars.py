"""What counts as a number: Python and NumPy scalars, never booleans.

A module of its own at the bottom of the layers (it needs only NumPy), so that options,
runtime, data and losses can all read numbers the same way.

Options often come from NumPy code (``batch_size=np.int64(8)`` from an array's ``.sum()``,
``learning_rate=np.float32(0.01)`` from a config array), so every option that takes a number
reads it through these two functions, and the value is turned into a Python ``int`` or
``float`` at once: nothing after the options boundary ever sees a NumPy type.

The rules:

* :func:`as_int` takes Python ints and NumPy integer scalars (``np.int64``, ``np.uint8``, ...);
* :func:`as_real` takes those and Python floats and NumPy floating scalars (``np.float32``, ...),
  and other real numbers (``fractions.Fraction``);
* booleans (``True``, ``np.bool_``) are never numbers here, although Python's ``bool`` is an
  ``int``: ``batch_size=True`` is a mistake, not a batch of one;
* a float is never an int, even when it is whole (``8.0``, ``np.float64(8.0)``): where a count
  is wanted, a float usually means a computation went wrong, so it is refused, not rounded;
* range checks (``>= 1``, finite, ...) are the caller's: these functions only say whether a
  value is a number of the kind, and which one.

Example:
    >>> import numpy as np
    >>> as_int(np.int64(8)), type(as_int(np.int64(8))).__name__
    (8, 'int')
    >>> as_int(8.0), as_int(True), as_int(np.bool_(True)), as_int("8")
    (None, None, None, None)
    >>> as_real(np.float32(0.5)), as_real(3), as_real(np.bool_(False))
    (0.5, 3.0, None)
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["as_int", "as_real", "is_bool"]


def is_bool(value: object) -> bool:
    """Whether ``value`` is a Python or NumPy boolean (which is never a number in an option).

    >>> is_bool(True), is_bool(np.bool_(False)), is_bool(1)
    (True, True, False)
    """
    return isinstance(value, bool | np.bool_)


def as_int(value: object) -> int | None:
    """``value`` as a Python ``int`` when it is an integer scalar, else ``None``.

    Args:
        value: anything an option was given.

    Returns:
        ``int(value)`` for a Python int or a NumPy integer scalar (any width, signed or not);
        ``None`` for booleans, floats (even whole ones), strings, arrays and everything else.

    >>> as_int(np.uint8(200)), as_int(-3), as_int(np.float64(8.0))
    (200, -3, None)
    """
    # numbers.Integral covers int and every NumPy integer type (NumPy registers them), but
    # also bool, which is refused first.
    if is_bool(value) or not isinstance(value, numbers.Integral):
        return None
    return int(value)


def as_real(value: object) -> float | None:
    """``value`` as a Python ``float`` when it is a real number, else ``None``.

    Args:
        value: anything an option was given.

    Returns:
        ``float(value)`` for Python ints and floats, NumPy integer and floating scalars and
        other ``numbers.Real`` values; ``None`` for booleans, complex numbers, strings, arrays
        and everything else. NaN and infinities are returned as they are: the caller's range
        check refuses them with its own message.

    >>> as_real(np.int32(2)), as_real(1.5), as_real(complex(1, 0)), as_real(None)
    (2.0, 1.5, None, None)
    """
    if is_bool(value) or not isinstance(value, numbers.Real):
        return None
    return float(value)
