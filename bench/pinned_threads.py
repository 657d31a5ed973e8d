"""Fix a benchmark's thread count before numpy and torch load their OpenMP and BLAS runtimes.

Import it first, before anything that imports numpy or torch: ``from pinned_threads import THREADS``.
``--threads N`` on the command line overrides the default of 2 (the machine's core count).
"""

from __future__ import annotations

import os
import sys

THREADS = int(sys.argv[sys.argv.index("--threads") + 1]) if "--threads" in sys.argv else 2
for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[variable] = str(THREADS)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402  (after the variables above)

torch.set_num_threads(THREADS)
