"""Device, precision and threads.

One process trains on one device; several GPUs (or hosts) run several processes started by an existing
launcher, and `accelerate.Accelerator` joins them into DDP:

    accelerate launch --multi_gpu --num_processes 4 -m agnews_trainer.cli run --data ... --preset roberta
    torchrun --nproc_per_node 4 -m agnews_trainer.cli run --data ... --preset roberta

`batch_size` is per process; each process takes every k-th length bucket, and only the main process writes the
model and checkpoints.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import torch

from ..types import TrainingConfig

log = logging.getLogger(__name__)


def cpu_has_native_bf16() -> bool:
    """True on CPUs with bf16 dot-product instructions (AVX512_BF16 or AMX), where oneDNN runs bf16 GEMMs fast."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            flags = next((line for line in f if line.startswith("flags")), "")
    except OSError:
        return False
    return bool({"avx512_bf16", "amx_bf16"} & set(flags.split()))


def choose_precision(requested: str, cuda: bool) -> str:
    """accelerate's mixed_precision for "auto": bf16 on GPUs that have it, fp16 (with a grad scaler) on older ones;
    on CPU bf16 autocast where the CPU has native bf16 (measured on an AVX512_BF16 2-core VM with minilm: 1.6x the
    examples/s of fp32 and no accuracy loss at equal training time), fp32 elsewhere (emulated bf16 is slower).
    """
    if requested != "auto":
        return requested
    if not cuda:
        return "bf16" if cpu_has_native_bf16() else "no"
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


def physical_cores() -> int:
    """Physical cores this process may use (hyper-threads slow down GEMM-bound training)."""
    try:
        allowed = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        allowed = os.cpu_count() or 1
    try:
        import psutil

        physical = psutil.cpu_count(logical=False) or allowed
    except ImportError:  # pragma: no cover
        physical = allowed
    return max(1, min(physical, allowed))


def make_accelerator(config: TrainingConfig) -> Any:
    """An Accelerator for this process: CUDA when present, DDP when launched by accelerate/torchrun."""
    from accelerate import Accelerator

    cuda = torch.cuda.is_available()
    return Accelerator(mixed_precision=choose_precision(config.mixed_precision, cuda), cpu=not cuda)


def configure_threads(config: TrainingConfig, local_processes: int = 1) -> int:
    """Set torch's intra-op threads to the physical cores (shared between local processes); return the count."""
    threads = config.num_threads or max(1, physical_cores() // max(1, local_processes))
    torch.set_num_threads(threads)
    return threads


def release_accelerator() -> None:
    """Forget accelerate's process-wide state so a later run in this process may pick another precision."""
    try:
        from accelerate.state import AcceleratorState, GradientState

        if not torch.distributed.is_initialized():
            AcceleratorState._reset_state(reset_partial_state=False)
            GradientState._reset_state()
    except Exception:  # pragma: no cover - best effort, only matters for several runs in one process
        log.debug("could not reset accelerate state", exc_info=True)
