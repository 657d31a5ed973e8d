"""What machine a run happened on, in one line, read from the machine itself (reports and benchmarks)."""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path


def describe_cpu(cpuinfo: str | None = None, cores: int | None = None) -> str:
    """Model name, core count and the matrix-math ISA extensions that decide bf16 speed.

    ``cpuinfo``: the text of /proc/cpuinfo (read from the machine when None; empty off Linux).
    """
    if cpuinfo is None:
        cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    info = cpuinfo
    name = re.search(r"^model name\s*:\s*(.+)$", info, re.M)
    flag_line = re.search(r"^flags\s*:\s*(.+)$", info, re.M)
    flags = set(flag_line.group(1).split()) if flag_line else set()
    extensions = [label for flag, label in (("avx512f", "AVX-512"), ("avx512_bf16", "AVX512-BF16"),
                                            ("avx512_vnni", "VNNI"), ("amx_bf16", "AMX")) if flag in flags]
    missing = "" if "amx_bf16" in flags else "; no AMX"
    return (f"{name.group(1) if name else platform.processor()} ({', '.join(extensions) or 'no AVX-512'}{missing}), "
            f"{cores or os.cpu_count()} cores")


def describe_machine() -> dict[str, str]:
    """The CPU, the GPU (or "none") and the versions that decide a run's numbers."""
    import sentence_transformers
    import torch

    return {"cpu": describe_cpu(), "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none",
            "python": platform.python_version(), "torch": torch.__version__,
            "sentence-transformers": sentence_transformers.__version__}


def cpu_has_native_bf16() -> bool:
    """True when oneDNN runs bf16 matrix products natively on this CPU (AVX512-BF16 or AMX)."""
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch build without oneDNN
        return False
