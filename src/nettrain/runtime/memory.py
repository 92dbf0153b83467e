"""How much memory is free for training, on the CPU or a GPU.

Example:
    >>> import torch
    >>> available_bytes(torch.device("cpu")) > 0
    True
"""

from __future__ import annotations

import os

import torch

__all__ = ["available_bytes", "is_out_of_memory"]


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def available_bytes(device: torch.device) -> int:
    """Free memory on ``device`` in bytes (CUDA: free device memory; CPU: MemAvailable)."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    found = _meminfo_available()
    if found is not None:
        return found
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 4 * 2**30  # unknown platform: assume 4 GiB, a safe figure for the 64 cap


def is_out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` is an allocation failure: CUDA's ``OutOfMemoryError``, or the CPU
    allocator's RuntimeError ("DefaultCPUAllocator: can't allocate memory", "not enough
    memory").

    >>> is_out_of_memory(RuntimeError("DefaultCPUAllocator: can't allocate memory: 8 GB"))
    True
    >>> is_out_of_memory(RuntimeError("shape mismatch"))
    False
    """
    if isinstance(error, torch.OutOfMemoryError | MemoryError):
        return True
    text = str(error).lower()
    return isinstance(error, RuntimeError) and (
        "can't allocate memory" in text or "out of memory" in text or "not enough memory" in text
    )
