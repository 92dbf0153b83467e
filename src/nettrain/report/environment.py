"""The report's environment section: the versions, the machine, the device and the threads.

Read when the report is written (the machine a report is written on is, in practice, the one
that trained); what cannot be read (a CPU model outside Linux, an optional package not
installed) says so instead of failing.

Example:
    >>> rows = dict(environment_rows({"target_device": "cpu", "cpu_threads": 2}))
    >>> rows["device"], rows["training threads"], rows["torch"] == torch.__version__
    ('cpu', '2', True)
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch

from ..plots.values import Values, get
from .page import section, table

__all__ = ["cpu_model", "environment_rows", "environment_section"]


def cpu_model() -> str | None:
    """The CPU's model name from ``/proc/cpuinfo`` (Linux), else what :mod:`platform` says,
    else None."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Hardware", "cpu model") and value.strip():
            return value.strip()
    return platform.processor() or None


def _matplotlib() -> str:
    """Matplotlib's version, or "not installed" when it cannot be imported (the report then
    has no plots)."""
    try:
        import matplotlib
    except ImportError:
        return "not installed"
    return str(matplotlib.__version__)


def _device_name(device: object) -> str | None:
    """The accelerator's name for a CUDA device (None for the CPU, or when it cannot be read)."""
    if not isinstance(device, str) or not device.startswith("cuda"):
        return None
    try:
        return torch.cuda.get_device_name(torch.device(device))
    except (RuntimeError, AssertionError, ValueError):
        return None


def environment_rows(values: Values) -> list[tuple[str, str]]:
    """``(what, value)``: Python, torch, numpy, nettrain and matplotlib versions, the platform,
    the CPU, the device trained on and the threads."""
    import numpy

    from .. import __version__

    device = get(values, "target_device")
    name = _device_name(device)
    cuda = torch.version.cuda
    rows = [
        ("Python", f"{platform.python_version()} ({platform.python_implementation()})"),
        ("torch", torch.__version__ + (f" (CUDA {cuda})" if cuda else "")),
        ("numpy", numpy.__version__),
        ("nettrain", __version__),
        ("matplotlib", _matplotlib()),
        ("platform", platform.platform()),
        ("CPU", cpu_model() or "unknown"),
        ("logical CPUs", str(os.cpu_count() or "unknown")),
        ("torch threads", str(torch.get_num_threads())),
    ]
    if device is not None:
        rows.append(("device", f"{device} ({name})" if name else str(device)))
    threads = get(values, "cpu_threads")
    if threads is not None:
        rows.append(("training threads", str(threads)))
    return rows


def environment_section(values: Values) -> str:
    """The environment rows as a table."""
    return section("environment", "Environment", table(environment_rows(values), key=True))
