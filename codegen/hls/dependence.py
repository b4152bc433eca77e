"""Loop-carried buffers: arrays a pipelined kernel stores in one iteration and loads in a later one.

Vitis cannot tell how far apart such a store and load are when conditions separate them, so it
assumes the very next iteration and raises the II, unless a `DEPENDENCE` pragma says otherwise. A
pragma that says "independent" where the load really follows the store within the pipeline builds
wrong hardware, and C-simulation cannot see it. So every such buffer's true distance (the fewest
iterations from a store to a load of the same element) is computed by its op from the kernel's
actual shape and folding, and the storage and pragma follow from that figure:

- distance > bound: a memory with `DEPENDENCE inter false`. The bound is the kernel's estimated
  pipeline depth with the timing model's margin for pipelines deeper than estimated
  (timing.schedule.plausible_depth: 2x + 4 stages) plus MEMORY_READ_LATENCY cycles for a registered
  memory read: a store is then always out of the pipeline before the load of the same element issues.
- REGISTER_DISTANCE < distance <= bound: a memory with `DEPENDENCE inter true distance=d`: the tool
  is told the truth and schedules by it (an II above 1 would show in its report, never wrong values).
- distance <= REGISTER_DISTANCE: registers (complete partitioning): the buffer holds a handful of
  words, and a memory's store-to-load round trip could not meet II=1 at such a distance.

`codegen/hls/hazards.py` checks every DEPENDENCE pragma of the generated (or edited) kernels
against these figures.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..timing.schedule import plausible_depth

MEMORY_READ_LATENCY = 2      # cycles from address to data of a BRAM with its output register
REGISTER_DISTANCE = 4        # at or below: registers, not a memory

INDEPENDENT, TRUE_DISTANCE, REGISTERS = "independent", "distance", "registers"


def safe_distance(depth: int) -> int:
    """The largest distance at which a store may still be in flight when the load issues."""
    return plausible_depth(depth) + MEMORY_READ_LATENCY


@dataclass(frozen=True)
class CarriedBuffer:
    """A buffer of one kernel whose stores are loaded again in later iterations."""
    array: str          # the array's name in the kernel template
    distance: int       # fewest iterations from a store of an element to a load of it
    depth: int          # the kernel's estimated pipeline depth (its Schedule.depth)

    @property
    def bound(self) -> int:
        return safe_distance(self.depth)

    @property
    def storage(self) -> str:
        if self.distance > self.bound:
            return INDEPENDENT
        return TRUE_DISTANCE if self.distance > REGISTER_DISTANCE else REGISTERS

    def context(self, prefix: str) -> dict:
        """Template variables <PREFIX>_STORAGE, _DISTANCE and _BOUND."""
        return {f"{prefix}_STORAGE": self.storage, f"{prefix}_DISTANCE": self.distance,
                f"{prefix}_BOUND": self.bound}

    def to_json(self) -> dict:
        return {"array": self.array, "distance": self.distance, "depth": self.depth, "bound": self.bound,
                "storage": self.storage}
