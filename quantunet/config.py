"""Model configuration and the named presets.

A `ModelConfig` is plain data: it is stored in every checkpoint (as a dict) and is enough to
rebuild the exact network, so nothing here may depend on code state.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

UPSAMPLE_MODES = ("transpose", "nearest")
# Upper bounds of the integer fields (far above any preset; they keep a hostile config from
# asking for terabytes): a 2048x2048 input, 1024 base channels, 8 levels.
LIMITS = {"in_channels": 16, "input_size": 2048, "base_width": 1024, "depth": 8, "min_bits": 16,
          "max_bits": 16, "init_bits": 16, "input_bits": 16, "head_bias_bits": 32, "act_stats_steps": 1_000_000}


@dataclass(frozen=True)
class ModelConfig:
    in_channels: int = 1
    input_size: int = 128
    base_width: int = 8
    depth: int = 4                     # encoder levels; the classic U-Net has 4 (23 weighted layers)
    upsample: str = "transpose"        # "transpose": ConvTranspose2d k2 s2; "nearest": 2x nearest + conv3x3
    quantized: bool = True             # False: the float baseline of the identical topology
    min_bits: int = 2                  # allowed range of every learned bitwidth
    max_bits: int = 8
    init_bits: int = 8                 # where learned bitwidths start
    input_bits: int = 8                # fixed width of the (unsigned) input quantizer
    head_bias_bits: int = 24           # integer bias of the final 1x1 conv, in accumulator units
    act_stats_steps: int = 30          # batches that initialise each activation range before it is learned

    def __post_init__(self):
        # a config arrives from checkpoint files too: check types and sizes before anything is built
        for f in fields(self):
            value = getattr(self, f.name)
            expected = bool if f.type == "bool" else int if f.type == "int" else str
            if type(value) is not expected:
                raise ValueError(f"{f.name} must be {expected.__name__}, got {type(value).__name__}")
            if expected is int and not 0 <= value <= LIMITS[f.name]:
                shown = value if value.bit_length() <= 64 else f"an integer of {value.bit_length():,} bits"
                raise ValueError(f"{f.name} = {shown} is outside 0..{LIMITS[f.name]}")  # str() of 10**5000 raises
        if self.upsample not in UPSAMPLE_MODES:
            raise ValueError(f"upsample must be one of {UPSAMPLE_MODES}, got {self.upsample!r}")
        if not 1 <= self.min_bits <= self.init_bits <= self.max_bits <= 16:
            raise ValueError("bitwidths must satisfy 1 <= min_bits <= init_bits <= max_bits <= 16")
        if self.min_bits < 2:
            raise ValueError("Brevitas learned bitwidths have a minimum of 2 bits")
        if self.input_size % (2 ** self.depth):
            raise ValueError(f"input_size must be divisible by 2**depth = {2 ** self.depth}")
        if self.in_channels < 1 or self.base_width < 1 or self.depth < 1:
            raise ValueError("in_channels, base_width and depth must be positive")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown model config keys: {sorted(unknown)}")
        return cls(**data)

    def replace(self, **changes) -> "ModelConfig":
        return ModelConfig.from_dict({**self.to_dict(), **changes})


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    model: ModelConfig
    batch_size: int
    n_train: int = field(default=800)
    n_val: int = field(default=200)


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("tiny", "tests and smoke runs: 1x32x32, base width 4, trains in seconds",
               ModelConfig(in_channels=1, input_size=32, base_width=4, act_stats_steps=5),
               batch_size=8, n_train=64, n_val=16),
        Preset("wearable", "1x128x128, base width 8: meant to fit a Zynq-7020 with weights on chip",
               ModelConfig(in_channels=1, input_size=128, base_width=8),
               batch_size=8, n_train=800, n_val=200),
        Preset("paper", "3x256x256, base width 32 (about 7.8 M parameters), as in the QuantU-Net paper",
               ModelConfig(in_channels=3, input_size=256, base_width=32),
               batch_size=8, n_train=2000, n_val=400),
    )
}


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; known presets: {', '.join(PRESETS)}") from None
