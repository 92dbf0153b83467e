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

import torch
from torch import Tensor

from ..errors import NetTrainError
from .init_args import (
    Device,
    Fans,
    Shape,
    draw,
    fan_in_and_out,
    read_count,
    read_device,
    read_dtype,
    read_real,
    read_shape,
    resolve_fans,
)

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
    sizes = read_shape(shape)
    out, inp = resolve_fans(sizes, num_out, num_in)
    bound = math.sqrt(6.0 / (inp + out))
    return draw(
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
    sizes = read_shape(shape)
    inp = fan_in_and_out(sizes).num_in if num_in is None else read_count(num_in, "num_in")
    std = math.sqrt(2.0 / inp)
    return draw(
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
    sizes = read_shape(shape)
    mu = read_real(mean, "mean")
    sigma = read_real(standard_deviation, "standard_deviation", minimum=0.0)
    return draw(
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
    sizes = read_shape(shape)
    b = read_real(bound, "bound", minimum=0.0)
    return draw(
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
    sizes = read_shape(shape)
    if len(sizes) < 2:
        raise NetTrainError(
            "shape",
            "an orthogonal matrix needs at least two dimensions",
            expected="[rows, cols] (or more, flattened to [rows, prod(rest)])",
            received=f"shape {list(sizes)}",
        )
    if math.prod(sizes) == 0:
        return draw(
            sizes, lambda t, g: t, seed=seed, generator=generator, dtype=dtype, device=device
        )
    return draw(sizes, _orthogonal_fill, seed=seed, generator=generator, dtype=dtype, device=device)


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
    hidden = read_count(num_hidden, "num_hidden")
    bias = torch.zeros(4 * hidden, dtype=read_dtype(dtype), device=read_device(device))
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
    return torch.zeros(read_shape(shape), dtype=read_dtype(dtype), device=read_device(device))


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
    return torch.ones(read_shape(shape), dtype=read_dtype(dtype), device=read_device(device))
