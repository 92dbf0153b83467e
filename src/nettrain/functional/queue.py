"""``MiniBatchQueue``: MATLAB's ``minibatchqueue`` for custom training loops.

The queue reads data in any form :func:`nettrain.train` accepts, through the same boundary
(:func:`nettrain.data.forms.normalize`, with raw values encoded by
:func:`nettrain.data.raw.encode_raw` as ``train`` encodes them), and hands out mini-batches as
tuples of tensors in the data's column order, on the target device::

    queue = MiniBatchQueue(data, 64)
    for epoch in range(10):
        for x, t in queue:          # the rest of this epoch; an exhausted queue begins the next
            ...

or, as in MATLAB (``shuffle(mbq); while hasdata(mbq); [X,T] = next(mbq); ...``)::

    for epoch in range(10):
        queue.shuffle()             # begins the next epoch
        while queue.has_data():
            x, t = queue.next()

The order of epoch e is a pure function of (seed, e): the permutation of round e of
``nettrain.train`` with the same seed (:func:`nettrain.data.batching.round_permutation`), so
epoch e of a queue and round e of ``train`` visit the examples in the same order. Data held in
memory lives on the target device and a batch is an ``index_select`` of a slice of the epoch's
permutation: no Python runs per example.

Example:
    >>> import torch
    >>> x, y = torch.arange(10.0)[:, None], torch.arange(10)
    >>> queue = MiniBatchQueue((x, y), 4, device="cpu")
    >>> queue.names, queue.num_examples, len(queue)
    (('input', 'target'), 10, 3)
    >>> [len(t) for x, t in queue], queue.epoch, queue.has_data()
    ([4, 4, 2], 1, False)
    >>> sorted(torch.cat([t for _, t in queue]).tolist()) == list(range(10)), queue.epoch
    (True, 2)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from ..coders.base import Encoder
from ..data.batching import InMemorySource, round_permutation
from ..data.generator import GeneratorSource
from ..data.streams import BatchIterableSource, DatasetSource
from ..errors import NetTrainError, add_note, describe
from ..runtime.device import resolve_device
from ..runtime.seed import DEFAULT_SEED, resolve_seed
from ..scalars import as_int
from .queue_data import (
    DEFAULT_BATCH_SIZE,
    PARTIAL_MINI_BATCH_MODES,
    SHUFFLE_MODES,
    STATE_KEYS,
    QueueData,
    check_batch_size,
    check_dtype,
    check_encoders,
    choice,
    renamed,
)
from .queue_readers import IndexedReader, StreamReader

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "PARTIAL_MINI_BATCH_MODES",
    "SHUFFLE_MODES",
    "MiniBatchQueue",
    "QueueExhausted",
]


class QueueExhausted(NetTrainError):
    """``next()`` on a queue with no mini-batch left in its epoch (MATLAB's ``next`` errors
    too). Check ``has_data()`` first, or iterate: a ``for`` loop ends by itself."""


class MiniBatchQueue:
    """Mini-batches of any training data for a custom loop (MATLAB's ``minibatchqueue``).

    Args:
        data: any data form :func:`nettrain.train` accepts: pairs ``[(x, t), ...]``,
            ``(xs, ts)``, port columns ``{"input": X, "target": T}``, port rows, a pandas
            ``DataFrame``, a ``TensorDataset`` or any map-style ``Dataset``, a ``DataLoader``,
            an iterable of batches, a generator ``f(batch_size=..., round=...)`` or
            ``(f, {"round_length": n})``, or a dataset name ("FashionMNIST", "Digits", ...) or
            loaded :class:`~nettrain.datasets.DatasetSplit`. Raw values (class labels, images,
            strings) get the encoders ``train`` would infer (see ``encoders``).
        batch_size: examples per mini-batch (MATLAB's ``MiniBatchSize``). None (default):
            128, as MATLAB; a ``DataLoader`` or iterable of batches brings its own (another
            value is then an error).
        shuffle: the order of each epoch: ``"every_epoch"`` (default; epoch e in the order of
            round e of ``train``), ``"once"`` (epoch 1's order every epoch) or ``"never"``
            (the data's order); MATLAB's ``"every-epoch"`` is accepted. Streams (loaders,
            iterables, generators) keep their own order: only ``"every_epoch"`` applies.
        preprocess: MATLAB's ``MiniBatchFcn``: ``f(*tensors) -> tensors``, called with each
            batch's tensors (after the encoders' per-batch work: images as floats in [0, 1]),
            on the device; it returns the tuple to hand out (or one tensor).
        partial_mini_batch: ``"return"`` (default) hands out a last batch smaller than
            ``batch_size``; ``"discard"`` leaves it out (MATLAB's ``PartialMiniBatch``).
        seed: the seed of the data order (default 1234, as ``train``'s ``random_seeding``);
            ``"auto"`` draws a fresh one (``queue.seed`` records it).
        device: where batches are handed out (MATLAB's ``OutputEnvironment``): ``"auto"`` (the
            first GPU when there is one, else the CPU, as ``train``'s ``target_device``),
            ``"cpu"``, ``"gpu"``, ``("gpu", n)``, ``"cuda:n"`` or a ``torch.device``.
        dtype: the dtype of floating columns (MATLAB's ``OutputCast``): ``torch.float32``
            (default, ``"single"``), ``torch.float64`` (``"double"``), float16, bfloat16.
            Integer columns stay int64, booleans bool.
        split: for a dataset name, ``"train"`` (default) or ``"test"``.
        inputs: the columns that are inputs, for choosing encoders of raw values (strings are
            text as inputs, class labels as targets). Default: the column named ``input`` (or
            ``inputs``, ``x``) if there is one, else every column but ``target``.
        encoders: ``{column: encoder}`` to use as they are, as a ``nettrain.Net`` carries
            them (``nettrain.coders.encoder("image", size=(28, 28), color_space="grayscale")``
            for uint8 images held as an array); other raw columns get inferred ones.

    Raises:
        NetTrainError: naming the argument: a batch size that is not an int >= 1 (or differs
            from a data loader's own), an unknown ``shuffle`` or ``partial_mini_batch`` mode
            (with close matches), a shuffle mode a stream cannot follow, a ``preprocess`` that
            is not callable, a bad seed, device or dtype, ``"discard"`` with fewer examples
            than one batch; bad data with the data boundary's own message.

    Warns:
        NetTrainWarning: examples an encoder could not read (a corrupt image file) were left
            out; ``skipped`` lists them.

    Example:
        >>> import torch
        >>> xs, labels = torch.randn(6, 3), ["cat", "dog", "cat", "cat", "dog", "dog"]
        >>> queue = MiniBatchQueue((xs, labels), 4, partial_mini_batch="discard", device="cpu")
        >>> queue.classes, len(queue)
        (('cat', 'dog'), 1)
        >>> x, t = queue.next()
        >>> x.shape, t.dtype, queue.has_data()
        (torch.Size([4, 3]), torch.int64, False)
    """

    def __init__(
        self,
        data: Any,
        batch_size: int | None = None,
        *,
        shuffle: str = "every_epoch",
        preprocess: Callable[..., Any] | None = None,
        partial_mini_batch: str = "return",
        seed: int | str = DEFAULT_SEED,
        device: object = "auto",
        dtype: torch.dtype | str = torch.float32,
        split: str | None = None,
        inputs: str | Sequence[str] | None = None,
        encoders: Mapping[str, Encoder] | None = None,
    ) -> None:
        size = check_batch_size(batch_size)
        self.shuffle_mode = choice("shuffle", shuffle, SHUFFLE_MODES)
        self.partial_mini_batch = choice(
            "partial_mini_batch", partial_mini_batch, PARTIAL_MINI_BATCH_MODES
        )
        if preprocess is not None and not callable(preprocess):
            raise NetTrainError(
                "preprocess",
                "is not callable",
                expected="a function f(*tensors) returning the tensors to hand out",
                received=describe(preprocess),
            )
        self.preprocess = preprocess
        try:
            self.seed = resolve_seed(seed)
            self.device = resolve_device(device)
        except NetTrainError as error:
            argument = "seed" if error.argument == "random_seeding" else "device"
            raise renamed(error, argument) from None
        self.dtype = check_dtype(dtype)
        prepared = QueueData(
            data,
            split=split,
            inputs=inputs,
            encoders=check_encoders(encoders),
            dtype=self.dtype,
            seed=self.seed,
        )
        self._source = prepared.source
        self._encoders = prepared.encoders
        self.skipped = prepared.skipped
        self.batch_size = self._resolve_batch_size(size)
        if isinstance(self._source, GeneratorSource):
            # the first call, at the batch size used, is replayed as epoch 1's first batch (as
            # in train); reading the names first would spend a call of batch size 1
            try:
                self._source.sample(self.batch_size)
            except NetTrainError:
                raise
            except Exception as error:  # the user's generator: say when it ran
                add_note(error, "raised by the data's first call (epoch 1, batch 1)")
                raise
        self.form: str = self._source.form
        self.names: tuple[str, ...] = tuple(self._source.names)
        self.num_examples: int | None = self._source.num_examples
        self._reader = self._make_reader()
        # encoders with per-batch work (images: uint8 -> floats; text: trim the padding), run
        # on each batch where train runs them in a pre-hook of the net
        self._prepares = [
            (i, self._encoders[n].prepare)
            for i, n in enumerate(self.names)
            if n in self._encoders and type(self._encoders[n]).prepare is not Encoder.prepare
        ]
        self._epoch = 0  # the epoch being handed out; 0 before the first one begins
        self._position = 0  # batches of this epoch read so far (discarded ones included)
        self._frozen = True

    def __setattr__(self, name: str, value: Any) -> None:
        # MATLAB's queue properties are read-only too: a changed batch_size or seed would be
        # silently ignored by the batches already planned
        if not name.startswith("_") and getattr(self, "_frozen", False):
            raise AttributeError(
                f"MiniBatchQueue.{name} cannot be changed; build a new queue with the options "
                "you want (load_state_dict restores a saved position)"
            )
        object.__setattr__(self, name, value)

    # -- construction ----------------------------------------------------------------------

    def _resolve_batch_size(self, size: int | None) -> int:
        source = self._source
        if isinstance(source, BatchIterableSource):
            own = source.first_batch_size()
            if size is not None and size != own:
                raise NetTrainError(
                    "batch_size",
                    f"a {source.form.replace('_', ' ')} brings its own batches, of {own} examples",
                    expected=f"no batch_size, or the stream's own ({own})",
                    received=str(size),
                    hint="leave batch_size out, or set it where the batches are made "
                    "(DataLoader(..., batch_size=n))",
                )
            return own
        return DEFAULT_BATCH_SIZE if size is None else size

    def _make_reader(self) -> IndexedReader | StreamReader:
        source = self._source
        discard = self.partial_mini_batch == "discard"
        if isinstance(source, InMemorySource | DatasetSource):
            n = source.num_examples
            assert n is not None
            if discard and n < self.batch_size:
                raise NetTrainError(
                    "batch_size",
                    'is larger than the data, so partial_mini_batch="discard" leaves no batch',
                    expected=f"at most {n} (the number of examples)",
                    received=str(self.batch_size),
                    hint='use a smaller batch_size, or partial_mini_batch="return"',
                )
            if isinstance(source, InMemorySource):
                source = source.to(self.device)
            return IndexedReader(source, self.batch_size, discard, self.device)
        if self.shuffle_mode != "every_epoch":
            raise NetTrainError(
                "shuffle",
                f"a {source.form.replace('_', ' ')} stream keeps its own order",
                expected='"every_epoch" (each pass or round as the stream gives it)',
                received=repr(self.shuffle_mode),
                hint="set the order where the batches are made (DataLoader(..., shuffle=False)),"
                " or pass the data in memory",
            )
        return StreamReader(source, self.batch_size, discard, self.device)

    # -- what the queue is -----------------------------------------------------------------

    @property
    def epoch(self) -> int:
        """The epoch being handed out, 1-based; 0 before the first one begins (at the first
        ``has_data()``, ``next()``, ``shuffle()`` or iteration)."""
        return self._epoch

    @property
    def position(self) -> int:
        """Mini-batches of the current epoch read so far."""
        return self._position

    @property
    def encoders(self) -> dict[str, Encoder]:
        """The encoder of each column that held raw values (or came from a named dataset),
        ``{port: encoder}``: ``encoders["target"].encode(["cat"])``, ``.classes``, and
        ``nettrain.coders.decoder_for(encoder)`` to read a net's outputs back as labels."""
        return dict(self._encoders)

    @property
    def classes(self) -> tuple[Any, ...] | None:
        """The class names of the first column a class encoder made (the targets, for labels:
        MATLAB's ``categories(T)``), in the order of their indices; None without one."""
        for name in self.names:
            encoder = self._encoders.get(name)
            if encoder is not None and encoder.kind == "class":
                classes: tuple[Any, ...] | None = getattr(encoder, "classes", None)
                return classes
        return None

    def __len__(self) -> int:
        """Mini-batches per epoch.

        Raises:
            TypeError: for a stream that does not say how long it is (as ``len`` of any
                iterable without a length).
        """
        count = self._reader.count
        if count is None:
            raise TypeError(f"a {self.form} stream of unknown length has no len()")
        return count

    def __repr__(self) -> str:
        return (
            f"MiniBatchQueue(form={self.form!r}, names={self.names}, "
            f"num_examples={self.num_examples}, batch_size={self.batch_size}, "
            f"shuffle={self.shuffle_mode!r}, epoch={self._epoch}, position={self._position}, "
            f"device={str(self.device)!r})"
        )

    # -- MATLAB's methods ------------------------------------------------------------------

    def has_data(self) -> bool:
        """Whether the current epoch has a mini-batch left (MATLAB's ``hasdata``). On a new
        queue this begins epoch 1."""
        if self._epoch == 0:
            self._begin(1)
        return self._reader.has(self._position)

    def next(self) -> tuple[Any, ...]:
        """The next mini-batch of the current epoch (MATLAB's ``[X, T] = next(mbq)``).

        Returns:
            A tuple of tensors in the order of ``names`` (``x, t = queue.next()`` for pairs), on
            ``device``; what ``preprocess`` returns when there is one.

        Raises:
            QueueExhausted: the epoch has no batch left (see ``has_data``; ``shuffle()`` begins
                the next epoch, ``reset()`` repeats this one).
            NetTrainError: ``preprocess`` raised (the original error is the ``__cause__``).
        """
        if not self.has_data():
            raise QueueExhausted(
                "queue",
                f"has no mini-batch left in epoch {self._epoch}",
                expected="has_data() to be True before next()",
                received=f"all {self._position} batches of the epoch already read",
                hint="loop while queue.has_data(); call queue.shuffle() to begin the next epoch, "
                "or queue.reset() to repeat this one (a for loop begins the next epoch itself)",
            )
        return self._take()

    def shuffle(self) -> None:
        """Begin the next epoch, in its own order (MATLAB's ``shuffle``: a new order from the
        start of the data). The order is that of the ``shuffle`` mode for the new epoch, so
        ``"once"`` and ``"never"`` keep theirs; a new queue begins epoch 1."""
        self._begin(self._epoch + 1)

    def reset(self) -> None:
        """Back to the start of the current epoch, in the same order (MATLAB's ``reset``)."""
        if self._epoch > 0:
            self._begin(self._epoch)

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        """The rest of the current epoch; on a new or exhausted queue, the whole next epoch.

        Breaking out of the loop keeps the position: the next loop goes on from there.
        """
        if self._epoch == 0 or not self._reader.has(self._position):
            self._begin(self._epoch + 1)
        while self._reader.has(self._position):
            yield self._take()

    # -- saving and continuing -------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Where the queue is, as plain data (ints and strings): ``epoch``, ``position``,
        ``seed`` and, to check that a state fits, ``batch_size``, ``num_examples``,
        ``shuffle``. Save it with the net's weights; :meth:`load_state_dict` continues there.

        >>> import torch
        >>> queue = MiniBatchQueue((torch.zeros(10, 1), torch.arange(10)), 4, device="cpu")
        >>> _ = queue.next(); queue.state_dict()["epoch"], queue.state_dict()["position"]
        (1, 1)
        """
        return {
            "epoch": self._epoch,
            "position": self._position,
            "seed": self.seed,
            "batch_size": self.batch_size,
            "num_examples": self.num_examples,
            "shuffle": self.shuffle_mode,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue from a :meth:`state_dict`: the same epoch, order (its seed) and position.

        Raises:
            NetTrainError: ``state`` is not such a dict, or comes from a queue over other data
                (examples), another batch size or shuffle mode.
        """
        if not isinstance(state, Mapping) or any(k not in state for k in STATE_KEYS):
            raise NetTrainError(
                "state",
                "is not a MiniBatchQueue state",
                expected="the dict of queue.state_dict(), with keys " + ", ".join(STATE_KEYS),
                received=describe(state),
            )
        for key in ("batch_size", "num_examples", "shuffle"):
            ours = getattr(self, "shuffle_mode" if key == "shuffle" else key)
            if state[key] != ours:
                raise NetTrainError(
                    "state",
                    f"comes from a queue with another {key}",
                    expected=f"{key} {ours!r}, as this queue has",
                    received=f"{key} {state[key]!r}",
                    hint="build the queue with the same data and options as the saved one",
                )
        epoch, position = as_int(state["epoch"]), as_int(state["position"])
        count = self._reader.count
        if (
            epoch is None
            or position is None
            or epoch < 0
            or position < 0
            or (epoch == 0 and position != 0)
            or (count is not None and position > count)
        ):
            raise NetTrainError(
                "state",
                "holds an impossible position",
                expected=f"epoch >= 0 and a position from 0 to {count} batches",
                received=f"epoch {state['epoch']!r}, position {state['position']!r}",
            )
        try:
            object.__setattr__(self, "seed", resolve_seed(state["seed"]))
        except NetTrainError as error:
            raise renamed(error, "state") from None
        self._reader.forget()
        if epoch > 0:
            self._begin(epoch, position)
        else:
            self._epoch, self._position = 0, 0

    # -- the per-batch path ----------------------------------------------------------------

    def _begin(self, epoch: int, position: int = 0) -> None:
        self._reader.begin(self._order(epoch), epoch, position)
        self._epoch, self._position = epoch, position

    def _order(self, epoch: int) -> Tensor | None:
        """Epoch ``epoch``'s example order: the permutation of train's round ``epoch``."""
        n = self.num_examples
        if not isinstance(self._reader, IndexedReader) or n is None:
            return None  # a stream's own order
        if self.shuffle_mode == "never":
            return torch.arange(n)
        return round_permutation(self.seed, 1 if self.shuffle_mode == "once" else epoch, n)

    def _take(self) -> tuple[Any, ...]:
        """The batch at the current position (there is one), finished; then move on."""
        columns = self._reader.read(self._position)
        for i, prepare in self._prepares:
            column = prepare(columns[i])
            columns[i] = column.to(self.dtype) if column.is_floating_point() else column
        out = tuple(columns) if self.preprocess is None else self._preprocessed(columns)
        self._position += 1 + self._reader.discarded
        return out

    def _preprocessed(self, columns: list[Tensor]) -> tuple[Any, ...]:
        where = f"batch {self._position + 1} of epoch {self._epoch}"
        assert self.preprocess is not None
        try:
            result = self.preprocess(*columns)
        except Exception as error:  # the user's own function: say where, keep the original
            raise NetTrainError(
                "preprocess",
                f"raised {type(error).__name__}: {error} (on {where})",
                received="tensors " + ", ".join(describe(c) for c in columns),
                hint="fix the preprocess function; the original error is shown above",
            ) from error
        if isinstance(result, Tensor):
            return (result,)
        if isinstance(result, tuple | list):
            return tuple(result)
        raise NetTrainError(
            "preprocess",
            f"returned {type(result).__name__} (on {where})",
            expected="the tensors to hand out, as a tuple (return x, t), or one tensor",
            received=describe(result),
            hint="end the function with return x, t",
        )
