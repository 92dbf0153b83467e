"""The data side of preparing a run: the targets' checks and dtypes, the validation set, and the
sample the untrained net's loss is measured on.

Everything here runs before training and raises :class:`~nettrain.errors.NetTrainError` for
data that does not fit the net or its loss, so a refused call costs no training.

Example:
    >>> import torch
    >>> from nettrain.data.batching import InMemorySource
    >>> from nettrain.data.table import PortTable
    >>> table = PortTable({"input": torch.zeros(100, 2), "target": torch.arange(100)}, "pairs")
    >>> sample = reference_sample(InMemorySource(table, 0), table.take(torch.arange(8)), "cpu")
    >>> sample["target"][:4].tolist(), len(sample["target"])  # spread over the whole data
    ([0, 2, 3, 5], 64)
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from .data.batching import BatchSource, InMemorySource
from .data.forms import normalize
from .data.split import split_fraction
from .data.streams import DatasetSource
from .errors import NetTrainError, dtype_name
from .losses import LossPlan
from .monitor import Validation, parse_validation_interval, task_of
from .options.resolved import Options
from .ports import PortBinding
from .preflight import probe_forward, probe_loss
from .scalars import as_real
from .typed import Typed

__all__ = [
    "check_class_targets",
    "check_validation_fits",
    "convert_targets",
    "move",
    "reference_sample",
    "resolve_validation",
]


def move(batch: Mapping[str, Tensor], device: torch.device | str) -> dict[str, Tensor]:
    """The batch's columns on ``device``."""
    return {k: v.to(device) for k, v in batch.items()}


def check_class_targets(source: BatchSource, plan: LossPlan, argument: str = "data") -> None:
    """Class indices outside [0, classes) would crash inside PyTorch: report the first one."""
    if not isinstance(source, InMemorySource):
        return
    for term in plan.terms:
        if term.classes is None or term.target is None:
            continue
        column = source.table.columns[term.target]
        bad = ((column < 0) | (column >= term.classes)).reshape(len(column), -1).any(1)
        if bool(bad.any()):
            index = int(bad.nonzero()[0, 0])
            raise NetTrainError(
                argument,
                f"target {term.target!r} holds a class index outside the net's classes",
                index=index,
                expected=f"an int from 0 to {term.classes - 1} (the output port "
                f"{term.output!r} has {term.classes} classes)",
                received=repr(column[index].tolist()),
                hint="check the labels, or give the net's last layer more outputs",
            )


def convert_targets(source: BatchSource, plan: LossPlan, argument: str = "data") -> BatchSource:
    """Give in-memory targets the dtype their loss wants once, not per batch.

    Raises:
        NetTrainError: complex targets for a real loss, or class labels given as floats that
            are not whole numbers (they would be truncated).
    """
    if not isinstance(source, InMemorySource):
        return source
    columns = dict(source.table.columns)
    for term in plan.terms:
        if term.target is None or term.target_dtype is None:
            continue
        column = columns[term.target]
        if column.is_complex() and not term.target_dtype.is_complex:
            raise NetTrainError(
                argument,
                f"target {term.target!r} holds complex numbers, and the {term.name} loss "
                "compares real ones",
                expected=f"real targets ({dtype_name(term.target_dtype)})",
                received=f"{dtype_name(column.dtype)} targets",
                hint="give the real and imaginary parts as two values: torch.view_as_real(t), "
                "or pass a loss_function for complex values",
            )
        if column.is_floating_point() and not term.target_dtype.is_floating_point:
            whole = column == column.round()
            if not bool(whole.all()):
                index = int((~whole).reshape(len(column), -1).any(1).nonzero()[0, 0])
                raise NetTrainError(
                    argument,
                    f"target {term.target!r} holds class labels that are not whole numbers",
                    index=index,
                    expected="integer class labels (0, 1, 2, ...) or class names",
                    received=repr(column[index].tolist()),
                    hint="give the labels as integers or names",
                )
        column = column.to(term.target_dtype)
        columns[term.target] = column.squeeze(-1) if term.squeeze_target else column
    table = type(source.table)(columns, source.table.form)
    return InMemorySource(table, source.seed)


# examples the untrained net's loss is measured on (divergence check): as many as the sample
# that the probes before training already ran on (no more memory), and at least this many
REFERENCE_EXAMPLES = 64
MIN_REFERENCE_EXAMPLES = 16  # fewer (a stream's first batch of 1, say) tell no loss level


def reference_sample(
    source: BatchSource, sample: Mapping[str, Tensor], device: torch.device | str
) -> Mapping[str, Tensor] | None:
    """Examples spread over the whole data set on which the untrained net's loss is measured:
    the level a sane run stays near. Not the first batch alone, which can be one example whose
    loss is 0 by chance, nor the first examples alone, which may all be of one class when the
    data are sorted. A stream gives its first batch, used only when it is large enough."""
    n = source.num_examples
    if isinstance(source, InMemorySource | DatasetSource) and n is not None:
        count = min(n, max(REFERENCE_EXAMPLES, len(next(iter(sample.values())))))
        indices = torch.linspace(0, n - 1, count).round().long()
        if isinstance(source, InMemorySource):
            return source.table.take(indices.to(source.table.device))
        return move(source.examples(indices.tolist()), device)
    size = len(next(iter(sample.values())))
    return sample if size >= MIN_REFERENCE_EXAMPLES or size == n else None


def _data_dtype(source: BatchSource) -> torch.dtype:
    """The floating dtype the training inputs were given (validation data gets the same)."""
    if isinstance(source, InMemorySource):
        for column in source.table.columns.values():
            if column.is_floating_point():
                return column.dtype
    return torch.float32


def _check_validation_examples(source: BatchSource, other: BatchSource, typed: Typed) -> None:
    """Each validation port's examples have the training examples' shape and dtype."""
    ours, theirs = source.sample(1), other.sample(1)
    for name, column in ours.items():
        encoder = typed.encoders.get(name)
        if encoder is not None and encoder.kind in ("tokens", "characters"):
            continue  # text is padded per column: lengths differ legitimately
        given = theirs.get(name)
        if given is None:  # the optional weight column
            continue
        if tuple(given.shape[1:]) != tuple(column.shape[1:]) or given.dtype != column.dtype:
            raise NetTrainError(
                "validation_set",
                f"the validation examples of {name!r} differ from the training examples",
                expected=f"examples of shape {tuple(column.shape[1:])} "
                f"({dtype_name(column.dtype)}) like the training data",
                received=f"examples of shape {tuple(given.shape[1:])} ({dtype_name(given.dtype)})",
                hint="give validation data in the same form, shape and type as the training "
                "data (class labels as the same integers or names)",
            )


def check_validation_fits(
    net: nn.Module,
    binding: PortBinding,
    plan: LossPlan,
    typed: Typed,
    validation: BatchSource,
    device: torch.device,
) -> None:
    """Refuse, before any training, validation data whose examples the net cannot take or the
    loss cannot compare (after training the net would already have changed)."""
    other = move(validation.sample(2), device)
    probe_forward(net, binding.inputs, other, typed.encoders, argument="validation_set")
    probe_loss(net, binding.inputs, plan, other, argument="validation_set")


def resolve_validation(
    opts: Options,
    source: BatchSource,
    plan: LossPlan,
    typed: Typed,
    inputs: tuple[str, ...],
    given: BatchSource | None = None,
) -> tuple[BatchSource, Validation | None]:
    """Resolve ``validation_set``: held-out fraction, other data, or None.

    ``source`` is the training data with its targets converted for the loss; ``given`` the
    same data as the user gave it (default ``source``), which validation data is compared with
    before both get the same conversion.
    """
    if opts.validation_set is None:
        return source, None
    spec, interval = parse_validation_interval(opts.validation_set)
    if isinstance(spec, str) and spec == "auto":
        raise NetTrainError(
            "validation_set",
            '"auto" means the test split of a named dataset',
            expected="a named dataset as training data",
            received=f"a {source.form} form",
            hint="give validation data or a fraction such as 0.1",
        )
    fraction = as_real(spec)
    if fraction is not None:
        if not isinstance(source, InMemorySource):
            raise NetTrainError(
                "validation_set",
                "a fraction can only be held out of data held in memory",
                expected="validation data in any form",
                received=f"{spec!r} with a {source.form} stream",
            )
        term = plan.terms[0]
        task = task_of(term)[0]
        stratify = term.target if task in ("classification", "binary") else None
        kept, out = split_fraction(source.table, fraction, seed=opts.seed, stratify=stratify)
        held_out = InMemorySource(out, source.seed)
        return InMemorySource(kept, source.seed), Validation(held_out, interval)
    spec = typed.encode_validation(spec, inputs)
    other = normalize(
        spec, seed=opts.seed, float_dtype=_data_dtype(source), argument="validation_set"
    )
    if isinstance(other, InMemorySource):
        other = other.to(opts.device)
    # a weight column is optional: validation examples without weights count alike
    column = getattr(plan.weights, "column", None)
    if set(other.names) - {column} != set(source.names) - {column}:
        raise NetTrainError(
            "validation_set",
            "the validation data has other ports than the training data",
            expected="ports " + ", ".join(map(repr, source.names)),
            received="ports " + ", ".join(map(repr, other.names)),
        )
    _check_validation_examples(given or source, other, typed)
    check_class_targets(other, plan, argument="validation_set")
    return source, Validation(convert_targets(other, plan, "validation_set"), interval)
