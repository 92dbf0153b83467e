"""The arguments of the initialisers: shapes, fans, dtypes, devices and random sources.

Used by :mod:`nettrain.functional.init`: each check names the argument and says what it
expected; :func:`fan_in_and_out` is public.

Example:
    >>> fan_in_and_out([16, 3, 5, 5])
    Fans(num_in=75, num_out=400)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch
from torch import Tensor

from ..errors import NetTrainError, describe
from ..scalars import as_int, as_real

__all__ = [
    "MAX_SEED",
    "Device",
    "Fans",
    "Shape",
    "draw",
    "fan_in_and_out",
    "random_source",
    "read_count",
    "read_device",
    "read_dtype",
    "read_real",
    "read_shape",
    "resolve_fans",
]

Shape = int | Sequence[int]
Device = torch.device | str | None

# torch.Generator.manual_seed takes at most 64 bits; a larger seed would fail inside torch.
MAX_SEED = 2**64 - 1


class Fans(NamedTuple):
    """The fan-in and fan-out of a weight (``num_in`` and ``num_out`` in MATLAB's examples)."""

    num_in: int
    num_out: int


# --- argument checks ---------------------------------------------------------------------------


def read_shape(shape: object, argument: str = "shape") -> tuple[int, ...]:
    """``shape`` as a tuple of non-negative ints; an int is a vector of that length."""
    single = as_int(shape)
    items: list[object]
    if single is not None:
        items = [shape]
    elif isinstance(shape, (list, tuple, torch.Size)):
        items = list(shape)
    else:
        raise NetTrainError(
            argument,
            "is not a shape",
            expected="an int or a list/tuple of ints such as [out, in]",
            received=describe(shape),
        )
    sizes = []
    for item in items:
        size = as_int(item)
        if size is None or size < 0:
            raise NetTrainError(
                argument,
                "every size must be a non-negative int",
                expected="an int or a list/tuple of ints >= 0 such as [out, in]",
                received=f"{describe(item)} in {shape!r}",
                hint="compute sizes as ints (e.g. 4 * num_hidden, not 4.0 * num_hidden)"
                if as_real(item) is not None and size is None
                else None,
            )
        sizes.append(size)
    return tuple(sizes)


def read_count(value: object, argument: str) -> int:
    """A positive int (a number of units)."""
    number = as_int(value)
    if number is None or number < 1:
        raise NetTrainError(
            argument,
            "must be a positive int (a number of units)",
            expected="an int >= 1",
            received=describe(value),
        )
    return number


def read_real(value: object, argument: str, *, minimum: float | None = None) -> float:
    """A finite real number, at least ``minimum`` when given."""
    number = as_real(value)
    if number is None or not math.isfinite(number) or (minimum is not None and number < minimum):
        raise NetTrainError(
            argument,
            "must be a finite number" + (f" >= {minimum:g}" if minimum is not None else ""),
            expected="a finite float" + (f" >= {minimum:g}" if minimum is not None else ""),
            received=describe(value),
        )
    return number


def read_dtype(dtype: object) -> torch.dtype:
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise NetTrainError(
            "dtype",
            "must be a floating-point torch dtype",
            expected="torch.float32 (the default), torch.float64, torch.float16 or torch.bfloat16",
            received=describe(dtype),
        )
    return dtype


def read_device(device: object) -> torch.device:
    if device is None:
        # torch's default device (the CPU unless torch.set_default_device changed it)
        return torch.empty(0).device
    if isinstance(device, torch.device):
        return device
    if isinstance(device, str):
        try:
            return torch.device(device)
        except RuntimeError:
            pass
    raise NetTrainError(
        "device",
        "is not a device",
        expected='None, a torch.device, or a string such as "cpu" or "cuda:0"',
        received=describe(device),
    )


def random_source(
    seed: object, generator: object
) -> tuple[torch.Generator | None, torch.device | None]:
    """The generator to draw from and the device to draw on (None: the target device)."""
    if seed is not None and generator is not None:
        raise NetTrainError(
            "seed",
            "cannot be given together with generator",
            expected="seed=<int> or generator=<torch.Generator>, not both",
            received=f"seed={seed!r} and a generator",
        )
    if generator is not None:
        if not isinstance(generator, torch.Generator):
            raise NetTrainError(
                "generator",
                "is not a torch.Generator",
                expected="torch.Generator(), e.g. torch.Generator().manual_seed(0)",
                received=describe(generator),
                hint="pass an int as seed= instead",
            )
        return generator, generator.device
    if seed is not None:
        number = as_int(seed)
        if number is None or not 0 <= number <= MAX_SEED:
            raise NetTrainError(
                "seed",
                "cannot use this as a seed",
                expected="an int from 0 to 2**64 - 1",
                received=describe(seed),
            )
        # a private CPU generator: the same seed gives the same numbers on every device
        return torch.Generator(device="cpu").manual_seed(number), torch.device("cpu")
    return None, None


def draw(
    shape: tuple[int, ...],
    fill: Callable[[Tensor, torch.Generator | None], object],
    *,
    seed: object,
    generator: object,
    dtype: object,
    device: object,
) -> Tensor:
    """A tensor of ``shape`` filled in place by ``fill(tensor, generator)``, then moved."""
    dtype_ = read_dtype(dtype)
    target = read_device(device)
    source, draw_on = random_source(seed, generator)
    out = torch.empty(shape, dtype=dtype_, device=draw_on if draw_on is not None else target)
    with torch.no_grad():
        fill(out, source)
    return out.to(device=target)


# --- fans --------------------------------------------------------------------------------------


def fan_in_and_out(shape: Shape) -> Fans:
    """``num_in`` and ``num_out`` of a weight of ``shape`` in torch's layout.

    A linear weight ``[out, in]`` has ``num_in = in``, ``num_out = out``. A convolution filter
    ``[c_out, c_in, *kernel]`` has ``num_in = c_in * prod(kernel)`` and
    ``num_out = c_out * prod(kernel)``: MATLAB's convolution layers' ``prod(FilterSize) *
    NumChannels`` and ``prod(FilterSize) * NumFilters``, and ``torch.nn.init``'s fans. A grouped
    convolution's ``c_in`` is already the channels per group in torch's layout. A transposed
    convolution's weight is ``[c_in, c_out, *kernel]`` in torch: pass ``num_in`` and
    ``num_out`` yourself there (``torch.nn.init`` takes its first dimension as fan-out too).

    Args:
        shape: at least two sizes, torch's layout.

    Returns:
        ``Fans(num_in, num_out)``, a named tuple.

    Raises:
        NetTrainError: for a shape with fewer than two dimensions (a bias has no fans) or a bad
            size.

    >>> fan_in_and_out([50, 784])
    Fans(num_in=784, num_out=50)
    >>> fan_in_and_out([128, 3, 5, 5])  # MATLAB: filterSize [5 5], 3 channels, 128 filters
    Fans(num_in=75, num_out=3200)
    """
    sizes = read_shape(shape)
    if len(sizes) < 2:
        raise NetTrainError(
            "shape",
            "has no fan-in and fan-out: a weight needs at least two dimensions",
            expected="[out, in] or [c_out, c_in, *kernel]",
            received=f"shape {list(sizes)}",
            hint="pass num_in (and num_out) explicitly for a vector",
        )
    receptive = math.prod(sizes[2:])
    return Fans(num_in=sizes[1] * receptive, num_out=sizes[0] * receptive)


def resolve_fans(shape: tuple[int, ...], num_out: object, num_in: object) -> tuple[int, int]:
    if num_out is None and num_in is None:
        fans = fan_in_and_out(shape)
        return fans.num_out, fans.num_in
    if num_out is None or num_in is None:
        raise NetTrainError(
            "num_out" if num_out is None else "num_in",
            "is missing: give both num_out and num_in, or neither (then both come from the shape)",
            expected="both, as in MATLAB's initializeGlorot(sz,numOut,numIn), or neither",
            received=f"num_out={num_out!r}, num_in={num_in!r}",
        )
    return read_count(num_out, "num_out"), read_count(num_in, "num_in")


# --- the initialisers --------------------------------------------------------------------------
