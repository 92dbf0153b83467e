"""The library's own exception type and helpers that build messages users can act on.

Every user mistake (bad data, a wrong option, an unknown name) raises :class:`NetTrainError`,
never a bare PyTorch traceback. The message names the argument, the example index where there is
one, what was expected, what was received, and what to do.

Example:
    >>> err = NetTrainError("batch_size", "must be a positive integer", expected="an int >= 1",
    ...                     received="-3", hint="leave it out to let nettrain choose")
    >>> print(err)  # doctest: +NORMALIZE_WHITESPACE
    batch_size: must be a positive integer; expected an int >= 1, received -3.
    Fix: leave it out to let nettrain choose.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "NetTrainError",
    "NetTrainWarning",
    "add_note",
    "close_matches",
    "describe",
    "did_you_mean",
    "dtype_name",
]


class NetTrainWarning(UserWarning):
    """Something about a training run the user should know (divergence, no validation set...)."""


class NetTrainError(ValueError):
    """A problem with what the user passed to nettrain.

    Attributes:
        argument: the argument or option at fault ("data", "batch_size", ...).
        problem: one sentence saying what is wrong.
        index: the example (or batch) index where the problem was found, if any (0-based).
        unit: what ``index`` counts: "example" (default) or "batch".
        expected: what nettrain expected there.
        received: what it got instead.
        hint: what to do about it.
    """

    def __init__(
        self,
        argument: str,
        problem: str,
        *,
        index: int | None = None,
        expected: str | None = None,
        received: str | None = None,
        hint: str | None = None,
        unit: str = "example",
    ) -> None:
        self.argument = argument
        self.problem = problem
        self.index = index
        self.unit = unit
        self.expected = expected
        self.received = received
        self.hint = hint
        super().__init__(self._message())

    def renamed(self, argument: str) -> NetTrainError:
        """The same error for another argument's name: a face that passes its user's
        argument on to an engine option names it as the user wrote it.

        >>> NetTrainError("example_weights[7]", "is not one of the classes").renamed(
        ...     "class_weight[7]").argument
        'class_weight[7]'
        """
        return NetTrainError(
            argument,
            self.problem,
            index=self.index,
            expected=self.expected,
            received=self.received,
            hint=self.hint,
            unit=self.unit,
        )

    def _message(self) -> str:
        where = (
            self.argument if self.index is None else f"{self.argument}, {self.unit} {self.index}"
        )
        text = f"{where}: {self.problem}"
        parts = []
        if self.expected is not None:
            parts.append(f"expected {self.expected}")
        if self.received is not None:
            parts.append(f"received {self.received}")
        if parts:
            text += "; " + ", ".join(parts)
        text += "."
        if self.hint:
            end = "" if self.hint.endswith(("?", ".", "!")) else "."
            text += f" Fix: {self.hint}{end}"
        return text


def close_matches(name: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """Return up to ``n`` candidates that look like ``name`` (typos, case, dashes).

    >>> close_matches("learnig_rate", ["learning_rate", "batch_size"])
    ['learning_rate']
    """
    options = list(candidates)
    key = name.lower().replace("-", "_").replace(" ", "_")
    exact = [c for c in options if c.lower() == key]
    if exact:
        return exact[:n]
    return difflib.get_close_matches(key, options, n=n, cutoff=0.6)


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """A ' Did you mean ...?' phrase for an unknown name, or a list of the valid ones."""
    options = sorted(candidates)
    matches = close_matches(name, options)
    if matches:
        return "did you mean " + " or ".join(repr(m) for m in matches) + "?"
    return "valid names are " + ", ".join(repr(o) for o in options)


def dtype_name(dtype: object) -> str:
    """A dtype as users write it: ``torch.float32`` -> ``"float32"`` (numpy dtypes too).

    >>> import torch
    >>> dtype_name(torch.int64)
    'int64'
    """
    return str(dtype).replace("torch.", "")


def describe(value: object, limit: int = 60) -> str:
    """A short description of a value for error messages: its type, and shape where it has one.

    >>> import torch
    >>> describe(torch.zeros(2, 3))
    'a float32 tensor of shape (2, 3)'
    """
    shape = getattr(value, "shape", None)
    dtype = getattr(value, "dtype", None)
    if shape == () and type(value).__module__ == "numpy":  # a NumPy scalar, not an array
        return f"numpy.{type(value).__name__} {value.item()!r}"  # type: ignore[attr-defined]
    if shape is not None and dtype is not None:
        kind = "tensor" if type(value).__module__.startswith("torch") else "array"
        return f"a {dtype_name(dtype)} {kind} of shape {tuple(shape)}"
    text = repr(value)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"{type(value).__name__} {text}"


def add_note(error: BaseException, text: str) -> None:
    """Add ``nettrain: text`` to the notes an exception shows under its message (Python 3.11+:
    older versions show the exception alone). Used on exceptions from the user's own code
    during training (the net, the loss, the data, a progress function), which propagate as
    they are, with notes saying where they happened.

    >>> error = ValueError("boom")
    >>> add_note(error, "raised by the net's forward()")
    >>> getattr(error, "__notes__", ["nettrain: raised by the net's forward()"])
    ["nettrain: raised by the net's forward()"]
    """
    add = getattr(error, "add_note", None)
    if add is not None:
        add(f"nettrain: {text}")
