"""Keras' ``model.summary()`` for any ``nn.Module``: layers, output shapes, parameter counts.

The table has Keras 3's layout (``keras.src.utils.summary_utils.print_summary`` for a
Sequential-like model): a title ``Model: "name"``, a box with a heavy header and a line between
rows, the columns "Layer (type)", "Output Shape" and "Param #" at 45%, 80% and 100% of the line,
counts right-aligned with thousands separators, and then the totals with their size in memory
(Keras' units: powers of 1024, two decimals, ``B``, ``KB``, ``MB``...).

Rows: an ``nn.Sequential``'s children (a nested Sequential is one row, as Keras shows a nested
model without ``expand_nested``); for any other module its leaf modules, named as
``named_modules`` names them (``"encoder.0"``), plus a row for each module that holds weights of
its own besides its children. A row's count is every weight of its module (Keras'
``layer.count_params()``, buffers included); the totals count each tensor once.

Weights are counted as :mod:`nettrain.keras.weights` defines them: parameters (trainable unless
``requires_grad`` is False) and floating-point persistent buffers (BatchNorm's running mean and
variance: non-trainable, as Keras' moving mean and variance are); integer counters such as
``num_batches_tracked`` are not weights.

Output shapes come from one forward pass on a sample batch (``input_shape`` or ``sample``), with
the batch dimension shown as None. The pass runs under ``torch.no_grad`` in evaluation mode (so
BatchNorm statistics do not move and Dropout draws nothing); afterwards every submodule's
training flag and the random number generators are restored exactly and the hooks removed.
The user's own forward hooks do see that pass. Lazy layers (``nn.LazyLinear``) are built by it:
this changes the module, as Keras builds a model on its first call. Without a sample the shapes
are "?" and lazy layers count "0 (unbuilt)".

Example:
    >>> import torch.nn as nn
    >>> net = nn.Sequential(nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 10))
    >>> text = summary(net, (784,), line_length=60, print_fn=None)
    >>> print(text)
    Model: "sequential"
    ┏━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━┓
    ┃ Layer (type)            ┃ Output Shape      ┃    Param # ┃
    ┡━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━┩
    │ 0 (Linear)              │ (None, 32)        │     25,120 │
    ├─────────────────────────┼───────────────────┼────────────┤
    │ 1 (ReLU)                │ (None, 32)        │          0 │
    ├─────────────────────────┼───────────────────┼────────────┤
    │ 2 (Linear)              │ (None, 10)        │        330 │
    └─────────────────────────┴───────────────────┴────────────┘
     Total params: 25,450 (99.41 KB)
     Trainable params: 25,450 (99.41 KB)
     Non-trainable params: 0 (0.00 B)
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.parameter import is_lazy

from ..errors import NetTrainError, describe
from ..runtime.modules import attach_forward_hook
from .weights import module_tensors

__all__ = ["DEFAULT_LINE_LENGTH", "SAMPLE_BATCH", "readable_size", "summary"]

# Keras 3's default for a Sequential-like model (it also caps it at the terminal's width; a fixed
# default keeps the returned text the same wherever it is made)
DEFAULT_LINE_LENGTH = 88
_POSITIONS = (0.45, 0.80, 1.0)
_HEADER = ("Layer (type)", "Output Shape", "Param #")
_MIN_WIDTH = 4  # the narrowest column Keras accepts
# the batch size of the sample made from input_shape: 3 rather than 1 or 2, so that a leading
# dimension that merely equals it (LSTM's layers, a bidirectional 2) is rarely taken for it
SAMPLE_BATCH = 3


@dataclass
class _Row:
    name: str
    module: nn.Module
    own_only: bool  # a container's row: only the weights it holds itself
    outputs: list[str] = field(default_factory=list)


def readable_size(size: float) -> str:
    """A size in bytes as Keras 3 writes it: powers of 1024, two decimals.

    >>> readable_size(101800), readable_size(0), readable_size(3 * 1024**2)
    ('99.41 KB', '0.00 B', '3.00 MB')
    """
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size / 1024 < 1:
            return f"{size:.2f} {unit}"
        size /= 1024
    return f"{size:.2f} PB"


def _rows(module: nn.Module, name: str) -> list[_Row]:
    if isinstance(module, nn.Sequential):
        return [_Row(n, child, False) for n, child in module.named_children()]
    rows = []
    for label, m in module.named_modules():
        leaf = next(m.children(), None) is None
        if leaf:
            rows.append(_Row(label or name, m, False))
        elif any(t is not None for t in (*m._parameters.values(), *m._buffers.values())):
            rows.append(_Row(label or name, m, True))
    return rows


def _count(module: nn.Module, own_only: bool) -> str:
    tensors = [t for _, t, _ in module_tensors(module)]
    if own_only:
        own = {id(t) for t in (*module._parameters.values(), *module._buffers.values())}
        tensors = [t for t in tensors if id(t) in own]
    if any(is_lazy(t) for t in tensors):
        return "0 (unbuilt)"
    return f"{sum(t.numel() for t in tensors):,}"


def _shape(value: Any, batch: int | None) -> str:
    """An output's shape in Keras' notation: ``(None, 32)``; nested outputs as their structure."""
    if isinstance(value, Tensor):
        dims = [str(d) for d in value.shape]
        if dims and batch is not None and value.shape[0] == batch:
            dims[0] = "None"
        return f"({', '.join(dims)})"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {_shape(v, batch)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_shape(v, batch) for v in value) + "]"
    if isinstance(value, tuple):
        return "(" + ", ".join(_shape(v, batch) for v in value) + ")"
    return "None" if value is None else type(value).__name__


def _home(module: nn.Module) -> tuple[torch.dtype, torch.device]:
    """The dtype and device a sample for ``module`` is made in: its first floating weight's."""
    for t in (*module.parameters(), *module.buffers()):
        if is_lazy(t) or t.is_floating_point():
            return (torch.get_default_dtype() if is_lazy(t) else t.dtype), t.device
    return torch.get_default_dtype(), torch.device("cpu")


def _dims(shape: Any) -> tuple[int, ...] | None:
    if isinstance(shape, (str, bytes)) or not isinstance(shape, Sequence):
        return None
    ok = all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in shape)
    return tuple(shape) if ok else None


def _sample_from_shape(module: nn.Module, input_shape: Any) -> tuple[Tensor, ...]:
    one = _dims(input_shape)
    shapes: list[tuple[int, ...]] = [] if one is None else [one]
    if one is None and isinstance(input_shape, (list, tuple)) and input_shape:
        several = [_dims(s) for s in input_shape]
        shapes = [s for s in several if s is not None]
        if len(shapes) < len(several):
            shapes = []
    if not shapes:
        raise NetTrainError(
            "input_shape",
            "must be the shape of one example, without the batch dimension",
            expected="a tuple of integers >= 1 such as (784,), or a list of them for several "
            "inputs",
            received=describe(input_shape),
            hint="for inputs of variable length or of integer dtype, give sample= a batch",
        )
    dtype, device = _home(module)
    return tuple(torch.zeros(SAMPLE_BATCH, *s, dtype=dtype, device=device) for s in shapes)


def _first_batch(value: Any) -> int | None:
    if isinstance(value, Tensor):
        return int(value.shape[0]) if value.dim() else None
    items = value.values() if isinstance(value, Mapping) else value
    if isinstance(items, (list, tuple)) or isinstance(value, Mapping):
        for item in items:
            found = _first_batch(item)
            if found is not None:
                return found
    return None


def _run(
    module: nn.Module, rows: list[_Row], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    """One forward pass that records each row's output shape, leaving no trace but lazy
    layers built: training flags, RNG states and hooks are as they were."""
    batch = _first_batch((args, kwargs))
    modes = [(m, m.training) for m in module.modules()]
    devices = sorted(
        {t.device.index or 0 for t in (*module.parameters(), *module.buffers())}
        if any(t.device.type == "cuda" for t in (*module.parameters(), *module.buffers()))
        else set()
    )
    handles = []
    try:
        for row in rows:
            # bound per row: the lambda's default keeps this row, not the loop's last
            handles.append(
                attach_forward_hook(
                    row.module, lambda m, i, o, row=row: row.outputs.append(_shape(o, batch))
                )
            )
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            module.eval()
            module(*args, **kwargs)
    except NetTrainError:
        raise
    except Exception as exc:  # the user's forward refused the sample: say so, in their terms
        text = " ".join(str(exc).split())[:300]
        raise NetTrainError(
            "input_shape",
            f"the module's forward failed on the sample batch ({type(exc).__name__}: {text})",
            received=_shape(args[0] if len(args) == 1 else args, None),
            hint="give the shape of one example without the batch dimension, or a sample= "
            "batch the module accepts",
        ) from exc
    finally:
        for handle in handles:
            handle.remove()
        for m, training in modes:
            m.training = training


def _columns(line_length: int) -> list[int]:
    """Each column's width between its borders (a space of padding on each side included)."""
    inner = line_length - len(_HEADER) - 1
    widths, current = [], 0
    for position in _POSITIONS:
        widths.append(int(position * inner) - current)
        current += widths[-1]
    return widths


def _check_line_length(line_length: Any) -> int:
    if line_length is None:
        return DEFAULT_LINE_LENGTH
    narrowest = next(n for n in range(8, 200) if min(_columns(n)) - 2 >= _MIN_WIDTH)
    ok = isinstance(line_length, int) and not isinstance(line_length, bool)
    if not ok or line_length < narrowest:
        raise NetTrainError(
            "line_length",
            "must be an integer wide enough for the three columns",
            expected=f"an int >= {narrowest}, or None for {DEFAULT_LINE_LENGTH}",
            received=describe(line_length),
        )
    return int(line_length)


def _table(cells: list[tuple[str, str, str]], widths: list[int]) -> list[str]:
    def line(left: str, fill: str, cross: str, right: str) -> str:
        return left + cross.join(fill * w for w in widths) + right

    def row(values: Sequence[str], bar: str) -> list[str]:
        wrapped = [
            textwrap.wrap(v, w - 2, break_on_hyphens=False) or [""]
            for v, w in zip(values, widths, strict=True)
        ]
        lines = []
        for k in range(max(map(len, wrapped))):
            parts = []
            for column, (texts, w) in enumerate(zip(wrapped, widths, strict=True)):
                text = texts[k] if k < len(texts) else ""
                # counts right-aligned, as Keras' "Param #" column
                parts.append(" " + (text.rjust if column == 2 else text.ljust)(w - 2) + " ")
            lines.append(bar + bar.join(parts) + bar)
        return lines

    out = [line("┏", "━", "┳", "┓"), *row(_HEADER, "┃"), line("┡", "━", "╇", "┩")]
    for i, values in enumerate(cells):
        if i:
            out.append(line("├", "─", "┼", "┤"))
        out += row(values, "│")
    out.append(line("└", "─", "┴", "┘"))
    return out


def summary(
    module: nn.Module,
    input_shape: Any = None,
    *,
    sample: Any = None,
    name: str = "sequential",
    line_length: int | None = None,
    print_fn: Callable[[str], Any] | None = print,
) -> str:
    """Keras' model summary of ``module``: printed and returned as a string.

    Args:
        module: any ``nn.Module``.
        input_shape: the shape of one example without the batch dimension, as Keras' (e.g.
            ``(784,)``; a list of shapes for a module with several inputs); a float batch of
            :data:`SAMPLE_BATCH` zeros in the module's dtype and device is made from it.
        sample: instead of ``input_shape``, a batch the module accepts: a tensor, a tuple of
            them (positional inputs) or a dict (keyword inputs). Default (neither): no forward
            pass, the shapes are "?".
        name: the model's name in the title (Keras' ``Model: "sequential"``).
        line_length: the table's width in characters (default :data:`DEFAULT_LINE_LENGTH`, 88,
            as Keras 3's); text too long for a column wraps onto more lines.
        print_fn: called once with the whole text (default ``print``); None prints nothing.

    Returns:
        the summary's text, lines joined by newlines (no final newline).

    Raises:
        NetTrainError: argument "module" for something that is not an ``nn.Module``;
            "input_shape" for a bad shape, both it and ``sample`` given, or a forward that
            fails on the sample (saying what it raised); "line_length" for a width the columns
            do not fit in.
    """
    if not isinstance(module, nn.Module):
        raise NetTrainError(
            "module", "must be a torch module", expected="an nn.Module", received=describe(module)
        )
    column_widths = _columns(_check_line_length(line_length))
    rows = _rows(module, name)
    if input_shape is not None and sample is not None:
        raise NetTrainError(
            "input_shape",
            "give input_shape or sample, not both",
            hint="sample= is a whole batch; input_shape= the shape of one example",
        )
    if input_shape is not None or sample is not None:
        if input_shape is not None:
            args: tuple[Any, ...] = _sample_from_shape(module, input_shape)
            kwargs: dict[str, Any] = {}
        elif isinstance(sample, Mapping):
            args, kwargs = (), dict(sample)
        else:
            args = tuple(sample) if isinstance(sample, (tuple, list)) else (sample,)
            kwargs = {}
        _run(module, rows, args, kwargs)
    shown = input_shape is not None or sample is not None
    cells = [
        (
            f"{row.name} ({type(row.module).__name__})",
            # a module that the pass did not reach has no shape; one called twice shows its
            # last call, as Keras shows its last node
            (row.outputs[-1] if row.outputs else "?") if shown else "?",
            _count(row.module, row.own_only),
        )
        for row in rows
    ]
    counts = {True: 0, False: 0}
    sizes = {True: 0, False: 0}
    for _, tensor, trainable in module_tensors(module):
        if not is_lazy(tensor):
            counts[trainable] += tensor.numel()
            sizes[trainable] += tensor.numel() * tensor.element_size()
    lines = [f'Model: "{name}"', *_table(cells, column_widths)]
    lines += [
        f" Total params: {counts[True] + counts[False]:,} "
        f"({readable_size(sizes[True] + sizes[False])})",
        f" Trainable params: {counts[True]:,} ({readable_size(sizes[True])})",
        f" Non-trainable params: {counts[False]:,} ({readable_size(sizes[False])})",
    ]
    text = "\n".join(lines)
    if print_fn is not None:
        print_fn(text)
    return text
