"""What a run of the cycle-level model will cost, checked before it starts.

The model works per FIFO transfer, not per cycle: a kernel jumps over iterations without I/O, so
cycles cost nothing, but every read and write of every frame keeps its time (two Python ints in a
list, ~57 bytes a transfer), and every kernel keeps its issue slots for one frame (~75 bytes a
transfer). Measured on the shipped example (457,600 transfers a frame): 116 MB for 2 frames,
379 MB for 12, 0.55 s a frame. A schedule.json within its validator's limits (20 M transfers a
frame) needs 3.8 GB for 2 frames, so the run is refused up front, with the frames that would fit.
"""
from __future__ import annotations

from ..errors import QgenError
from .schedule import TimingModel

BYTES_PER_TRANSFER = 57          # per transfer and frame: its time, kept in the FIFO's history
BYTES_PER_SLOT = 75              # per transfer of one frame: the kernels' issue slots
MAX_BYTES = 3 << 30              # the shipped example's 100 frames need about 2.6 GiB


def transfers_per_frame(model: TimingModel) -> int:
    return sum(a.size for k in model.kernels for a in (*k.schedule.reads, *k.schedule.writes))


def estimated_bytes(model: TimingModel, frames: int) -> int:
    per_frame = transfers_per_frame(model)
    return per_frame * (frames * BYTES_PER_TRANSFER + BYTES_PER_SLOT)


def check_budget(model: TimingModel, frames: int) -> None:
    """QgenError if `frames` frames of `model` would need more than MAX_BYTES of memory."""
    need = estimated_bytes(model, frames)
    if need <= MAX_BYTES:
        return
    per_frame = transfers_per_frame(model)
    fit = (MAX_BYTES // per_frame - BYTES_PER_SLOT) // BYTES_PER_TRANSFER if per_frame else 0
    advice = f"at most {fit} frames fit" if fit >= 2 else "not even 2 frames fit: the design is too large to model"
    raise QgenError(f"{frames} frames of this design are {frames * per_frame:,} FIFO transfers, about "
                    f"{need / (1 << 30):.1f} GiB for the cycle model; it is limited to "
                    f"{MAX_BYTES >> 30} GiB ({advice})")
