"""Device and dtype resolution: the one place that turns user strings into torch objects."""

from __future__ import annotations

from typing import Any

from atlas.errors import InputError

_DTYPES = {
    "fp32": "float32", "float32": "float32", "float": "float32",
    "bf16": "bfloat16", "bfloat16": "bfloat16",
    "fp16": "float16", "float16": "float16", "half": "float16",
}


def resolve_device(device: Any = None) -> "torch.device":
    """A torch.device from None (CPU), "auto" (CUDA when present, else CPU), a name or a device.

    Never defaults to CUDA: a caller that wants the GPU says so ("cuda", "cuda:0" or "auto").
    """
    import torch

    if device is None:
        return torch.device("cpu")
    if isinstance(device, torch.device):
        return device
    name = str(device).strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(name)
    except (RuntimeError, ValueError) as e:
        raise InputError(f"unknown device {device!r}; use cpu, cuda, cuda:N or auto") from e
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {device!r} requested but CUDA is not available; use --device cpu")
    return resolved


def resolve_dtype(dtype: Any = None) -> "torch.dtype":
    """A torch floating dtype from None (float32), a name (fp32, bf16, fp16, ...) or a dtype."""
    import torch

    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    name = _DTYPES.get(str(dtype).strip().lower().removeprefix("torch."))
    if name is None:
        raise InputError(f"unknown dtype {dtype!r}; valid dtypes are {', '.join(sorted(_DTYPES))}")
    return getattr(torch, name)
