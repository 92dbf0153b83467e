"""A ``ProgressMonitor``'s history as plain data, and putting it back into another monitor.

:meth:`ProgressMonitor.state_dict <nettrain.functional.ProgressMonitor.state_dict>` and
``load_state_dict`` delegate here, so that a custom loop killed and continued (see
:mod:`nettrain.functional.checkpoints`) keeps one history: every metric value with its step,
the rounds (epochs) closed so far and the open one, the latest info values, the progress, the
status and the time spent. Used by :mod:`nettrain.functional.monitor` only; it reads and sets
the monitor's own fields, which is why it lives beside it.

Example:
    >>> from nettrain.functional import ProgressMonitor
    >>> with ProgressMonitor(metrics=["loss"], reporting=None) as first:
    ...     first.record_metrics(1, loss=0.5)
    ...     state = capture(first)
    >>> state["values"], state["positions"], state["step"]
    ({'loss': [0.5]}, {'loss': [1]}, 1)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import NetTrainError, describe

if TYPE_CHECKING:
    from .monitor import ProgressMonitor

__all__ = ["STATE_KEYS", "capture", "restore"]

STATE_KEYS = (
    "metrics", "info", "values", "positions", "step", "at_step", "records", "epoch",
    "round_start", "round_records", "rounds", "last_means", "round_positions", "latest_info",
    "first_rate", "progress", "status", "elapsed",
)  # fmt: skip


def capture(monitor: ProgressMonitor) -> dict[str, Any]:
    """The monitor's history as plain data (numbers, strings, lists, dicts): what
    :func:`restore` needs to continue it. Pending tensors are read first."""
    m = monitor
    m._flush()
    end = m._end if m._end is not None else m._clock()
    return {
        "metrics": list(m._metrics),
        "info": list(m._info),
        "values": {k: list(v) for k, v in m._values.items()},
        "positions": {k: list(v) for k, v in m._positions.items()},
        "step": m._step,
        "at_step": sorted(m._at_step),
        "records": m._records,
        "epoch": m._epoch,
        "round_start": dict(m._round_start),
        "round_records": m._round_records,
        "rounds": [dict(r) for r in m._rounds],
        "last_means": dict(m._last_means),
        "round_positions": list(m._round_positions),
        "latest_info": {k: m._read(v) for k, v in m._latest_info.items()},
        "first_rate": None if m._first_rate is None else m._read(m._first_rate),
        "progress": m._progress,
        "status": m._status,
        "elapsed": end - m._start,
    }


def _not_a_state(state: object) -> NetTrainError:
    return NetTrainError(
        "state",
        "is not a ProgressMonitor state",
        expected="the dict of monitor.state_dict(), with keys " + ", ".join(STATE_KEYS),
        received=describe(state),
    )


def _same_names(state: Mapping[str, Any], monitor: ProgressMonitor) -> None:
    for key, ours in (("metrics", monitor._metrics), ("info", monitor._info)):
        theirs = state[key]
        if not isinstance(theirs, list | tuple) or sorted(map(str, theirs)) != sorted(ours):
            raise NetTrainError(
                "state",
                f"comes from a monitor with other {key}",
                expected=f"{key} {sorted(ours)}, as this monitor has",
                received=f"{key} {theirs!r}",
                hint=f"create the monitor with the {key} of the saved one",
            )


def _parsed(state: Mapping[str, Any]) -> dict[str, Any]:
    """The fields to set, converted (a malformed value raises TypeError, ValueError, ...)."""

    def optional_int(value: object) -> int | None:
        return None if value is None else int(value)  # type: ignore[call-overload]

    def number(value: object) -> float | str:
        return value if isinstance(value, str) else float(value)  # type: ignore[arg-type]

    values = {str(k): [float(x) for x in v] for k, v in state["values"].items()}
    positions = {str(k): [int(x) for x in v] for k, v in state["positions"].items()}
    if any(len(values[k]) != len(positions.get(k, ())) for k in values):
        raise ValueError("values and positions differ in length")
    info = {
        str(k): v if type(v) in (int, str) else float(v) for k, v in state["latest_info"].items()
    }
    return {
        "_values": values,
        "_positions": positions,
        "_step": optional_int(state["step"]),
        "_at_step": {str(k) for k in state["at_step"]},
        "_records": int(state["records"]),
        "_epoch": optional_int(state["epoch"]),
        "_round_start": {str(k): int(v) for k, v in state["round_start"].items()},
        "_round_records": int(state["round_records"]),
        "_rounds": [{str(k): float(v) for k, v in r.items()} for r in state["rounds"]],
        "_last_means": {str(k): float(v) for k, v in state["last_means"].items()},
        "_round_positions": [int(p) for p in state["round_positions"]],
        "_latest_info": info,
        "_first_rate": None if state["first_rate"] is None else number(state["first_rate"]),
        "_progress": float(state["progress"]),
        "_status": str(state["status"]),
        "elapsed": float(state["elapsed"]),
    }


def restore(monitor: ProgressMonitor, state: object) -> None:
    """Put a :func:`capture` of a monitor with the same metrics and info into ``monitor``,
    replacing its history; the time spent then counts on in ``total_training_time``.

    Raises:
        NetTrainError: argument "state": not such a dict (nothing is changed), or one from a
            monitor with other metrics or info.
    """
    if not isinstance(state, Mapping) or any(k not in state for k in STATE_KEYS):
        raise _not_a_state(state)
    _same_names(state, monitor)
    try:
        fields = _parsed(state)
    except (TypeError, ValueError, AttributeError, KeyError):
        raise _not_a_state(state) from None
    if set(fields["_values"]) != set(monitor._metrics) or set(fields["_round_start"]) != set(
        monitor._metrics
    ):
        raise _not_a_state(state)
    elapsed = fields.pop("elapsed")
    for name, value in fields.items():
        setattr(monitor, name, value)
    monitor._pending.clear()
    monitor._reported = monitor._records  # what was reported before is not news to this run
    now = monitor._clock()
    monitor._start = now - elapsed
    monitor._next_check = now + monitor._check_every
