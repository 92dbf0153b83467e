"""The one internal representation of in-memory training data: named columns of tensors.

Every in-memory data form (pairs, ``(xs, ys)``, port columns, rows, data frames, map-style
datasets small enough to hold) is normalised into a :class:`PortTable` at the data boundary
(:mod:`nettrain.data.forms`); everything downstream sees only this, or a stream
(:mod:`nettrain.data.streams`) that yields batches of the same shape.

Example:
    >>> import torch
    >>> table = PortTable({"input": torch.zeros(4, 2), "target": torch.arange(4)}, form="pairs")
    >>> len(table), table.names
    (4, ('input', 'target'))
    >>> table.take(torch.tensor([3, 1]))["target"].tolist()
    [3, 1]
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["Batch", "PortTable"]

# A batch is one dict from column (port) name to a tensor whose first dimension is the batch.
Batch = dict[str, torch.Tensor]


@dataclass(frozen=True)
class PortTable:
    """Columns of examples, one tensor per port, all with the same first dimension.

    Attributes:
        columns: ``{port name: tensor}``; ``columns[name][i]`` is example i's value for that port.
        form: the name of the data form it came from (reported as ``input_form``).
    """

    columns: dict[str, torch.Tensor]
    form: str

    def __post_init__(self) -> None:
        lengths = {name: len(col) for name, col in self.columns.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"PortTable columns differ in length: {lengths}")

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.columns)

    @property
    def device(self) -> torch.device:
        return next(iter(self.columns.values())).device

    def to(self, device: torch.device | str) -> PortTable:
        """The same table with every column on ``device`` (no copy if already there)."""
        return PortTable({k: v.to(device) for k, v in self.columns.items()}, self.form)

    def take(self, indices: torch.Tensor) -> Batch:
        """The examples at ``indices`` (a 1-D int64 tensor on the table's device), as a batch."""
        return {name: col.index_select(0, indices) for name, col in self.columns.items()}
