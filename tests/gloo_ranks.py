"""Run a function on N gloo processes of this machine and collect what each rank returns.

``function(rank, world, *args)`` must be a module-level function (spawned processes import it);
it runs with torch.distributed initialised (gloo, one thread) and its return value comes back
through a file per rank, in rank order.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _rank_entry(rank: int, world: int, port: int, function: Callable[..., Any], out_dir: str,
                args: tuple[Any, ...]) -> None:
    import torch.distributed as dist

    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        torch.save(function(rank, world, *args), Path(out_dir) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def run_on_gloo_ranks(function: Callable[..., Any], world: int, out_dir: Path, *args: Any) -> list[Any]:
    import torch.multiprocessing as mp

    mp.spawn(_rank_entry, args=(world, free_port(), function, str(out_dir), args), nprocs=world, join=True)
    return [torch.load(Path(out_dir) / f"rank{rank}.pt") for rank in range(world)]
