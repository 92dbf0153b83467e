"""Initialisers for the parameters of a model function, as in MATLAB's examples.

MATLAB's page "Initialize Learnable Parameters for Model Function" gives one small function per
initialisation (``initializeGlorot``, ``initializeHe``, ...). These are the same functions over
torch tensors, with the same formulas, argument order and defaults, in Python style:

* ``initializeGlorot(sz,numOut,numIn)``: ``initialize_glorot(shape, num_out, num_in)``
* ``initializeHe(sz,numIn)``: ``initialize_he(shape, num_in)``
* ``initializeGaussian(sz,mu,sigma)``: ``initialize_gaussian(shape, mean, standard_deviation)``
* ``initializeUniform(sz,bound)``: ``initialize_uniform(shape, bound)``
* ``initializeOrthogonal(sz)``: ``initialize_orthogonal(shape)``
* ``initializeUnitForgetGate(numHiddenUnits)``: ``initialize_unit_forget_gate(num_hidden)``
* ``initializeZeros(sz)``: ``initialize_zeros(shape)``
* ``initializeOnes(sz)``: ``initialize_ones(shape)``

Shapes are torch's layout, not MATLAB's: ``[out, in]`` for a linear weight (MATLAB's
``fullyconnect`` weight is ``[outputSize inputSize]`` too), ``[c_out, c_in, kh, kw]`` for a 2-D
convolution filter (MATLAB: ``[filterSize numChannels numFilters]``). An int shape is a vector:
``initialize_zeros(3)`` has 3 elements, where MATLAB's ``zeros(3)`` is 3-by-3. When
``num_in`` / ``num_out`` are left out they are computed from the shape by
:func:`fan_in_and_out`, as ``torch.nn.init`` does.

Randomness: every random initialiser takes ``seed=`` (an int: a private generator seeded with
it, the global random state untouched, the numbers drawn on the CPU so that the same seed gives
the same numbers on every device) or ``generator=`` (a ``torch.Generator``: drawn from it, on
its device; the global state untouched). With neither, they draw from PyTorch's global random
state on the target device, exactly as ``torch.nn.init`` does, so ``torch.manual_seed``
governs them. The default dtype is float32 (MATLAB's default ``'single'``).

Example (a two-layer model function's parameters, as in MATLAB's examples):
    >>> params = {
    ...     "fc1": {"Weights": initialize_glorot([7, 20], 7, 20, seed=0),
    ...             "Bias": initialize_zeros(7)},
    ...     "fc2": {"Weights": initialize_he([4, 7], 7, seed=1), "Bias": initialize_zeros(4)},
    ... }
    >>> params["fc1"]["Weights"].abs().max().item() <= (6 / 27) ** 0.5
    True
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
    "Fans",
    "fan_in_and_out",
    "initialize_gaussian",
    "initialize_glorot",
    "initialize_he",
    "initialize_ones",
    "initialize_orthogonal",
    "initialize_uniform",
    "initialize_unit_forget_gate",
    "initialize_zeros",
]

Shape = int | Sequence[int]
Device = torch.device | str | None

# torch.Generator.manual_seed takes at most 64 bits; a larger seed would fail inside torch.
_MAX_SEED = 2**64 - 1


class Fans(NamedTuple):
    """The fan-in and fan-out of a weight (``num_in`` and ``num_out`` in MATLAB's examples)."""

    num_in: int
    num_out: int


# --- argument checks ---------------------------------------------------------------------------


def _shape(shape: object, argument: str = "shape") -> tuple[int, ...]:
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


def _count(value: object, argument: str) -> int:
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


def _real(value: object, argument: str, *, minimum: float | None = None) -> float:
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


def _dtype(dtype: object) -> torch.dtype:
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise NetTrainError(
            "dtype",
            "must be a floating-point torch dtype",
            expected="torch.float32 (the default), torch.float64, torch.float16 or torch.bfloat16",
            received=describe(dtype),
        )
    return dtype


def _device(device: object) -> torch.device:
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


def _source(seed: object, generator: object) -> tuple[torch.Generator | None, torch.device | None]:
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
        if number is None or not 0 <= number <= _MAX_SEED:
            raise NetTrainError(
                "seed",
                "cannot use this as a seed",
                expected="an int from 0 to 2**64 - 1",
                received=describe(seed),
            )
        # a private CPU generator: the same seed gives the same numbers on every device
        return torch.Generator(device="cpu").manual_seed(number), torch.device("cpu")
    return None, None


def _draw(
    shape: tuple[int, ...],
    fill: Callable[[Tensor, torch.Generator | None], object],
    *,
    seed: object,
    generator: object,
    dtype: object,
    device: object,
) -> Tensor:
    """A tensor of ``shape`` filled in place by ``fill(tensor, generator)``, then moved."""
    dtype_ = _dtype(dtype)
    target = _device(device)
    source, draw_on = _source(seed, generator)
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
    sizes = _shape(shape)
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


def _fans(shape: tuple[int, ...], num_out: object, num_in: object) -> tuple[int, int]:
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
    return _count(num_out, "num_out"), _count(num_in, "num_in")


# --- the initialisers --------------------------------------------------------------------------


def initialize_glorot(
    shape: Shape,
    num_out: int | None = None,
    num_in: int | None = None,
    *,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
    device: Device = None,
) -> Tensor:
    """Glorot (Xavier) initialisation: uniform on ``[-b, b]``, ``b = sqrt(6 / (num_in + num_out))``.

    MATLAB's ``initializeGlorot(sz,numOut,numIn)`` (``bound * (2*rand(sz) - 1)``), the default
    of MATLAB's fully connected, convolution and LSTM input weights, and
    ``torch.nn.init.xavier_uniform_`` (the same numbers from the same generator state).

    Args:
        shape: the weight's shape, torch's layout (``[out, in]``, ``[c_out, c_in, kh, kw]``).
        num_out: the fan-out (MATLAB's ``numOut``); default: from ``shape``
            (:func:`fan_in_and_out`).
        num_in: the fan-in (MATLAB's ``numIn``); give both or neither.
        seed: an int: draw from a private generator seeded with it (on the CPU).
        generator: a ``torch.Generator`` to draw from instead. With neither, the global RNG.
        dtype: a floating-point dtype, default float32.
        device: where the result lives; default torch's default device (the CPU).

    Returns:
        A tensor of ``shape`` (``requires_grad`` False; ``value_and_grad`` differentiates it).

    Raises:
        NetTrainError: a bad shape, fan, seed, generator, dtype or device; both seed and
            generator.

    >>> w = initialize_glorot([50, 784], 50, 784, seed=0)
    >>> w.shape, bool(w.abs().max() <= (6 / (784 + 50)) ** 0.5)
    (torch.Size([50, 784]), True)
    """
    sizes = _shape(shape)
    out, inp = _fans(sizes, num_out, num_in)
    bound = math.sqrt(6.0 / (inp + out))
    return _draw(
        sizes,
        lambda t, g: t.uniform_(-bound, bound, generator=g),
        seed=seed,
        generator=generator,
        dtype=dtype,
        device=device,
    )


def initialize_he(
    shape: Shape,
    num_in: int | None = None,
    *,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
    device: Device = None,
) -> Tensor:
    """He (Kaiming) initialisation: normal with mean 0, standard deviation ``sqrt(2 / num_in)``.

    MATLAB's ``initializeHe(sz,numIn)`` (``randn(sz) * sqrt(2/numIn)``), and
    ``torch.nn.init.kaiming_normal_(w, mode="fan_in", nonlinearity="relu")``.

    Args:
        shape: the weight's shape, torch's layout.
        num_in: the fan-in (MATLAB's ``numIn``); default: from ``shape``
            (:func:`fan_in_and_out`: ``in``, or ``c_in * kh * kw`` for a filter).
        seed, generator, dtype, device: as in :func:`initialize_glorot`.

    Returns:
        A tensor of ``shape``.

    Raises:
        NetTrainError: as :func:`initialize_glorot`.

    >>> w = initialize_he([16, 3, 3, 3], seed=0)  # num_in = 3 * 3 * 3 = 27
    >>> w.shape
    torch.Size([16, 3, 3, 3])
    """
    sizes = _shape(shape)
    inp = fan_in_and_out(sizes).num_in if num_in is None else _count(num_in, "num_in")
    std = math.sqrt(2.0 / inp)
    return _draw(
        sizes,
        lambda t, g: t.normal_(0.0, std, generator=g),
        seed=seed,
        generator=generator,
        dtype=dtype,
        device=device,
    )


def initialize_gaussian(
    shape: Shape,
    mean: float = 0.0,
    standard_deviation: float = 0.01,
    *,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
    device: Device = None,
) -> Tensor:
    """Normal with the given mean and standard deviation.

    MATLAB's ``initializeGaussian(sz,mu,sigma)`` (``randn(sz)*sigma + mu``); the defaults
    (mean 0, standard deviation 0.01) are MATLAB's ``"narrow-normal"`` layer initialiser, which
    its examples pass as ``mu = 0; sigma = 0.01``. ``torch.nn.init.normal_`` draws the same.

    Args:
        shape: the shape.
        mean: the mean, default 0.
        standard_deviation: the standard deviation, >= 0, default 0.01.
        seed, generator, dtype, device: as in :func:`initialize_glorot`.

    Returns:
        A tensor of ``shape``.

    Raises:
        NetTrainError: a negative or non-finite standard deviation, a non-finite mean, and as
            :func:`initialize_glorot`.

    >>> initialize_gaussian([2, 3], seed=0).shape
    torch.Size([2, 3])
    """
    sizes = _shape(shape)
    mu = _real(mean, "mean")
    sigma = _real(standard_deviation, "standard_deviation", minimum=0.0)
    return _draw(
        sizes,
        lambda t, g: t.normal_(mu, sigma, generator=g),
        seed=seed,
        generator=generator,
        dtype=dtype,
        device=device,
    )


def initialize_uniform(
    shape: Shape,
    bound: float,
    *,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
    device: Device = None,
) -> Tensor:
    """Uniform on ``[-bound, bound]``.

    MATLAB's ``initializeUniform(sz,bound)`` (``bound * (2*rand(sz) - 1)``); ``bound`` has no
    default there, nor here. ``torch.nn.init.uniform_(w, -bound, bound)`` draws the same.

    Args:
        shape: the shape.
        bound: the half-width, >= 0.
        seed, generator, dtype, device: as in :func:`initialize_glorot`.

    Returns:
        A tensor of ``shape``.

    Raises:
        NetTrainError: a negative or non-finite bound, and as :func:`initialize_glorot`.

    >>> bool(initialize_uniform([1000], 0.1, seed=0).abs().max() <= 0.1)
    True
    """
    sizes = _shape(shape)
    b = _real(bound, "bound", minimum=0.0)
    return _draw(
        sizes,
        lambda t, g: t.uniform_(-b, b, generator=g),
        seed=seed,
        generator=generator,
        dtype=dtype,
        device=device,
    )


def _orthogonal_fill(t: Tensor, g: torch.Generator | None) -> None:
    rows = t.shape[0]
    cols = t.numel() // rows
    # QR has no half-precision kernels: draw and factor in float32, store in t's dtype
    work = t.dtype if t.dtype in (torch.float32, torch.float64) else torch.float32
    z = torch.empty((rows, cols), dtype=work, device=t.device).normal_(0.0, 1.0, generator=g)
    # MATLAB's economy QR of a tall Z; a wide Z is factored transposed (as torch.nn.init does)
    # so that the result has orthonormal rows, where MATLAB's Q would have the wrong shape
    wide = rows < cols
    q, r = torch.linalg.qr(z.T if wide else z)
    # MATLAB's Q * diag(D ./ abs(D)): the sign correction that makes Q uniformly (Haar)
    # distributed; a zero on R's diagonal (probability 0) counts as +1 instead of giving NaN
    sign = torch.sign(torch.diagonal(r))
    q = q * torch.where(sign == 0, torch.ones_like(sign), sign)
    t.copy_((q.T if wide else q).reshape(t.shape))


def initialize_orthogonal(
    shape: Shape,
    *,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
    device: Device = None,
) -> Tensor:
    """A (semi-)orthogonal matrix: the Q of the QR decomposition of a standard normal matrix.

    MATLAB's ``initializeOrthogonal(sz)``: ``Z = randn(sz); [Q,R] = qr(Z,0);
    Q = Q * diag(D ./ abs(D))`` with ``D = diag(R)``; the default of MATLAB's LSTM recurrent
    weights. For ``shape = [rows, cols]`` with ``rows >= cols`` the columns are orthonormal
    (``Q.T @ Q = I``); for ``rows < cols`` (where MATLAB's example would give the wrong shape)
    the rows are (``Q @ Q.T = I``). More than two dimensions are flattened to
    ``[shape[0], prod(shape[1:])]``. Identical, from the same generator state, to
    ``torch.nn.init.orthogonal_``. For an LSTM's ``weight_hh`` (``[4H, H]``) this is one
    orthogonal ``4H x H`` matrix, as in MATLAB, not four orthogonal ``H x H`` blocks.

    Args:
        shape: at least two sizes.
        seed, generator, dtype, device: as in :func:`initialize_glorot`.

    Returns:
        A tensor of ``shape``.

    Raises:
        NetTrainError: a shape with fewer than two dimensions, and as
            :func:`initialize_glorot`.

    >>> q = initialize_orthogonal([6, 3], seed=0, dtype=torch.float64)
    >>> torch.allclose(q.T @ q, torch.eye(3, dtype=torch.float64))
    True
    """
    sizes = _shape(shape)
    if len(sizes) < 2:
        raise NetTrainError(
            "shape",
            "an orthogonal matrix needs at least two dimensions",
            expected="[rows, cols] (or more, flattened to [rows, prod(rest)])",
            received=f"shape {list(sizes)}",
        )
    if math.prod(sizes) == 0:
        return _draw(
            sizes, lambda t, g: t, seed=seed, generator=generator, dtype=dtype, device=device
        )
    return _draw(
        sizes, _orthogonal_fill, seed=seed, generator=generator, dtype=dtype, device=device
    )


def initialize_unit_forget_gate(
    num_hidden: int,
    *,
    dtype: torch.dtype = torch.float32,
    device: Device = None,
) -> Tensor:
    """An LSTM bias with ones for the forget gate and zeros elsewhere.

    MATLAB's ``initializeUnitForgetGate(numHiddenUnits)``: a ``4*H`` vector whose elements
    ``H .. 2H-1`` (0-based) are 1, the default of MATLAB's LSTM bias. The layout assumes the gate
    order input, forget, cell candidate, output: MATLAB's, and also ``torch.nn.LSTM``'s
    (``i, f, g, o`` in ``bias_ih_l0`` and ``bias_hh_l0``). ``nn.LSTM`` adds two biases, so give
    this to one of them and zeros to the other, or the forget gate starts at 2. MATLAB's shape
    is ``[4H 1]``; torch's bias is a vector ``[4H]``.

    Args:
        num_hidden: the number of hidden units ``H``, >= 1.
        dtype: a floating-point dtype, default float32.
        device: where the result lives.

    Returns:
        A tensor of shape ``[4 * num_hidden]``.

    Raises:
        NetTrainError: ``num_hidden`` not a positive int, a bad dtype or device.

    >>> initialize_unit_forget_gate(2).tolist()
    [0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0]
    """
    hidden = _count(num_hidden, "num_hidden")
    bias = torch.zeros(4 * hidden, dtype=_dtype(dtype), device=_device(device))
    bias[hidden : 2 * hidden] = 1
    return bias


def initialize_zeros(
    shape: Shape, *, dtype: torch.dtype = torch.float32, device: Device = None
) -> Tensor:
    """Zeros: MATLAB's ``initializeZeros(sz)``, the default of its biases and offsets.

    Args:
        shape: the shape (an int is a vector).
        dtype: a floating-point dtype, default float32.
        device: where the result lives.

    Returns:
        A tensor of ``shape``.

    Raises:
        NetTrainError: a bad shape, dtype or device.

    >>> initialize_zeros(3).tolist()
    [0.0, 0.0, 0.0]
    """
    return torch.zeros(_shape(shape), dtype=_dtype(dtype), device=_device(device))


def initialize_ones(
    shape: Shape, *, dtype: torch.dtype = torch.float32, device: Device = None
) -> Tensor:
    """Ones: MATLAB's ``initializeOnes(sz)``, the default of its normalisation scales.

    Args:
        shape: the shape (an int is a vector).
        dtype: a floating-point dtype, default float32.
        device: where the result lives.

    Returns:
        A tensor of ``shape``.

    Raises:
        NetTrainError: a bad shape, dtype or device.

    >>> initialize_ones([1, 2]).tolist()
    [[1.0, 1.0]]
    """
    return torch.ones(_shape(shape), dtype=_dtype(dtype), device=_device(device))
