"""Folding: how many output channels (PE) and input elements (SIMD) each weighted layer handles per cycle.

As in FINN's MVAU, a layer with a K x K x C_in window and C_out outputs runs
NF = C_out / PE neuron folds times SF = K*K*C_in / SIMD synapse folds per output pixel, with
PE x SIMD multipliers. The folding is plain data, written to the project as an editable JSON.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import QgenError
from ..resources.formulas import packs_pair
from ..safe_io import read_json_input


MULT_IMPLS = ("auto", "lut", "dsp", "dsp2")
MAX_FOLDING_BYTES = 16 << 20
MAX_PARALLEL = 1 << 16      # PE or SIMD beyond this is no real folding (and would blow up estimates)
NARROW_PRODUCT_BITS = 10     # "auto": products up to this width go to fabric LUTs, wider ones to DSPs


@dataclass(frozen=True)
class LayerFold:
    pe: int = 1
    simd: int = 1
    mult: str = "auto"       # multiplier implementation: lut (fabric), dsp, dsp2 (two PEs' products per
                             # DSP, kernels/mac_product.j2), or auto by product width (lut or dsp)

    def mult_impl(self, product_bits: int) -> str:
        if self.mult != "auto":
            return self.mult
        return "lut" if product_bits <= NARROW_PRODUCT_BITS else "dsp"


def divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


class Folding(dict):
    """layer name -> LayerFold."""

    def of(self, name: str) -> "LayerFold":
        """The layer's folding; PE = SIMD = 1 for a layer the folding does not name (unweighted ops)."""
        return self.get(name, LayerFold())

    def to_json(self) -> dict:
        return {"format": "qgen-folding", "version": 1,
                "layers": {name: {"pe": f.pe, "simd": f.simd, "mult": f.mult} for name, f in self.items()}}

    @classmethod
    def from_json(cls, data: dict, source: str = "folding") -> "Folding":
        if not isinstance(data, dict) or not isinstance(data.get("layers"), dict):
            raise QgenError(f"{source}: expected an object with a 'layers' map of {{'pe', 'simd'}}")
        out = cls()
        for name, entry in data["layers"].items():
            shown = str(name)[:40]
            if not isinstance(entry, dict):
                raise QgenError(f"{source}: layer {shown}: expected {{'pe', 'simd'}}")
            pe, simd, mult = entry.get("pe"), entry.get("simd"), entry.get("mult", "auto")
            for key, value in (("pe", pe), ("simd", simd)):
                # exactly an integer: 1.9 must not become 1, nor true become 1
                if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_PARALLEL:
                    raise QgenError(f"{source}: layer {shown}: '{key}' must be an integer 1..{MAX_PARALLEL}, "
                                    f"got {str(value)[:20]}")
            if mult not in MULT_IMPLS:
                raise QgenError(f"{source}: layer {shown}: mult must be one of {', '.join(MULT_IMPLS)}")
            out[name] = LayerFold(pe, simd, mult)
        return out

    @classmethod
    def load(cls, path: str | Path) -> "Folding":
        return cls.from_json(read_json_input(path, "folding file", MAX_FOLDING_BYTES), str(path))

    def validate(self, graph) -> None:
        """Every weighted layer present, PE | C_out, SIMD | window length."""
        weighted = {op.name: op for op in graph.weighted_ops}
        unknown = set(self) - set(weighted)
        if unknown:
            raise QgenError(f"folding names unknown layers: {', '.join(sorted(unknown))}")
        for name, op in weighted.items():
            if name not in self:
                raise QgenError(f"folding has no entry for layer {name}")
            fold = self[name]
            out_ch, window = op.fold_dims()
            if fold.pe < 1 or out_ch % fold.pe:
                raise QgenError(f"layer {name}: PE={fold.pe} must divide its {out_ch} output channels "
                                f"(options: {divisors(out_ch)})")
            if fold.simd < 1 or window % fold.simd:
                raise QgenError(f"layer {name}: SIMD={fold.simd} must divide its window of {window} "
                                f"inputs (options: {divisors(window)})")
            if fold.mult == "dsp2" and "dsp2" not in mult_choices(op, graph, fold.pe):
                w_bits, a_bits = op.weight_type.bits, graph.tensors[op.inputs[0]].dtype.bits
                raise QgenError(f"layer {name}: mult dsp2 shares each DSP between two PEs: needs an even PE "
                                f"(PE={fold.pe}) and {w_bits}-bit x {a_bits}-bit products that pack into one DSP48")


def mult_choices(op, graph, pe: int) -> tuple[str, ...]:
    """The multiplier implementations a layer may use at this PE: lut, dsp, and dsp2 where PE pairs
    can share a DSP (PE even, both products packable)."""
    w_bits, a_bits = op.weight_type.bits, graph.tensors[op.inputs[0]].dtype.bits
    return ("lut", "dsp", "dsp2") if pe % 2 == 0 and packs_pair(w_bits, a_bits) else ("lut", "dsp")


def fully_folded(graph) -> "Folding":
    """PE = SIMD = 1 everywhere: the smallest design."""
    return Folding({op.name: LayerFold() for op in graph.weighted_ops})


def fold_options(op) -> list[LayerFold]:
    """Valid (PE, SIMD) pairs of a weighted op, cheapest first; SIMD grows before PE (as FINN's SetFolding)."""
    out_ch, window = op.fold_dims()
    options = [LayerFold(pe, simd) for pe in divisors(out_ch) for simd in divisors(window)]
    return sorted(options, key=lambda f: (f.pe * f.simd, f.pe))
