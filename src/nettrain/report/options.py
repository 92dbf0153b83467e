"""The report's options section: every option as resolved, and each automatic choice.

The choices come from the result's own properties (``batch_size``, ``optimization_method``,
``loss_function``, ...); the options of the call, given or automatic, from its
``train_input_form``: the call as Python source, read here with :mod:`ast` (never run).

Example:
    >>> call_options("nettrain.train(net, data, batch_size=32, method=('adam', {'beta1': 0.9}))")
    [('batch_size', '32'), ('method', "('adam', {'beta1': 0.9})")]
    >>> call_options("not a call")
    []
"""

from __future__ import annotations

import ast
import math
from collections.abc import Mapping
from typing import Any

from ..plots.values import Values, get
from ..progress.notebook import scalar
from .page import escape, section, show, table

__all__ = ["call_options", "options_section"]

# what optimization_method holds besides the method's own options: shown in their own rows
_NOT_SUB_OPTIONS = ("method", "learning_rate", "learning_rate_multipliers", "update_schedule")


def call_options(source: object) -> list[tuple[str, str]]:
    """The keyword arguments of the call ``source`` as ``(name, source of the value)``, in
    order; none when ``source`` is not a call."""
    if not isinstance(source, str):
        return []
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError:
        return []
    if not isinstance(tree.body, ast.Call):
        return []
    return [
        (k.arg, ast.get_source_segment(source, k.value) or ast.unparse(k.value))
        for k in tree.body.keywords
        if k.arg is not None
    ]


def _learning_rate(values: Values) -> str | None:
    first, last = (
        scalar(get(values, "initial_learning_rate")),
        scalar(get(values, "final_learning_rate")),
    )
    if first is None:
        return None
    if last is None or math.isclose(first, last):
        return f"{first:.6g}"
    return f"{first:.6g} at the first update, {last:.6g} at the last"


def _multipliers(values: Values) -> str | None:
    multipliers = get(values, "weights_learning_rate_multipliers")
    if not isinstance(multipliers, Mapping):
        return None
    others = {k: v for k, v in multipliers.items() if v != 1.0}
    if not others:
        return f"1 for every parameter ({len(multipliers)} tensors)"
    return f"1 except {show(others)}"


def _method_rows(values: Values) -> list[tuple[str, Any]]:
    method = get(values, "optimization_method")
    if not isinstance(method, Mapping):
        return []
    subs = {k: v for k, v in method.items() if k not in _NOT_SUB_OPTIONS}
    return [("method", method.get("method")), ("method options", subs)]


def _loss_table(values: Values) -> str:
    losses = get(values, "loss_function")
    if not isinstance(losses, Mapping) or not losses:
        return ""
    rows = []
    for port, d in losses.items():
        d = d if isinstance(d, Mapping) else {"loss": d}
        rows.append((port, d.get("loss"), d.get("target"), d.get("weight"), d.get("computed_from")))
    head = ["output port", "loss", "target", "weight", "computed from"]
    return "<h3>Loss, per output port</h3>\n" + table(rows, head=head, key="loss.")


def _or_none(values: Values, name: str) -> Any:
    """The property ``name``; "none" when the result holds it as None (no criterion is a
    choice, shown), None when it lacks it."""
    if name not in values:
        return None
    value = get(values, name)
    return "none" if value is None else value


def options_section(values: Values) -> str:
    """The automatic choices and resolved options (see the module documentation), then the
    call with every choice resolved, in a ``<pre>``."""
    form = get(values, "train_input_form")
    given = dict(call_options(form))
    rows: list[tuple[str, Any]] = [
        ("batch size", get(values, "batch_size")),
        ("rounds", given.get("max_training_rounds")),
        ("time goal", given.get("time_goal")),
        *_method_rows(values),
        ("learning rate", _learning_rate(values)),
        ("learning rate schedule", given.get("learning_rate_schedule")),
        ("learning rate multipliers", _multipliers(values)),
        ("measurements", get(values, "measurements")),
        ("stopping criterion", _or_none(values, "stopping_criterion")),
        ("update schedule", get(values, "training_update_schedule")),
        ("device", get(values, "target_device")),
        ("working precision", get(values, "working_precision")),
        ("CPU threads", get(values, "cpu_threads")),
        ("random seed", get(values, "random_seed")),
    ]
    # a value the result lacks (a custom loop's has no method or device) leaves its row out
    shown = [(label, value) for label, value in rows if value is not None]
    body = [table(shown, key=True), _loss_table(values)]
    if given:
        body.append("<h3>Every option of the call</h3>")
        body.append(table(given.items(), head=["option", "value"], key="call."))
    if isinstance(form, str):
        body.append("<h3>The call, every automatic choice resolved</h3>")
        body.append(f'<pre class="train-input-form">{escape(form)}</pre>')
    return section("options", "Options and automatic choices", "\n".join(b for b in body if b))
