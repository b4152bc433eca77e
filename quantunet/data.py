"""Segmentation data: a built-in MRI-like phantom and loaders for image folders on disk.

Everything returns a :class:`SegmentationSet` of 8-bit images ``[N, C, H, W]`` and binary
masks ``[N, H, W]``. The pixel value is the network's input code (the model divides by 256),
so images stay ``uint8`` all the way.

Three sources are understood by :func:`load_split`:

* ``"phantom"`` - a seeded generator of axial brain slices with tumours (no download);
* the Kaggle "lgg-mri-segmentation" tree (``<patient>/<name>_<slice>.tif`` + ``_mask.tif``);
* a generic folder with ``images/`` and ``masks/`` holding PNG/TIF files matched by stem.
"""
from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image

from .errors import DataError

PHANTOM_VERSION = 1

SPLITS = ("train", "val")
# Part of every phantom sample's seed, so train and val draw from disjoint random streams.
SPLIT_CODE = {"train": 1, "val": 2}
DEFAULT_PHANTOM_TRAIN = 800
DEFAULT_PHANTOM_VAL = 200

IMAGE_SUFFIXES = (".png", ".tif", ".tiff")
MAX_IMAGE_VALUES = 1 << 26      # pixels x channels of one image; slices are 256x256, presets at most 2048x2048
# In the Kaggle LGG images the channels are pre-contrast, FLAIR, post-contrast.
LGG_FLAIR_CHANNEL = 1

_EXPECTED = ("expected 'phantom', a Kaggle LGG folder with <patient>/<name>_<slice>.tif and "
             "_mask.tif files, or a folder with images/ and masks/")


@dataclass
class SegmentationSet:
    images: np.ndarray  # uint8 [N, C, H, W]
    masks: np.ndarray   # uint8 [N, H, W], 0/1
    ids: list[str]

    def __len__(self) -> int:
        return len(self.ids)


# --------------------------------------------------------------------------- public entry points

def load_split(spec: str, split: str, *, size: int, channels: int, seed: int = 0,
               n_train: int | None = None, n_val: int | None = None,
               val_fraction: float = 0.2) -> SegmentationSet:
    """Load one split ("train" or "val") of the data set named by ``spec``.

    For the phantom, ``n_train``/``n_val`` are the number of generated slices. For data on disk
    they cap the split size (an evenly spaced subset, so every patient stays represented).
    """
    _check_split(split)
    if channels not in (1, 3):
        raise DataError(f"channels must be 1 or 3, got {channels}")
    if size < 8:
        raise DataError(f"image size must be at least 8 pixels, got {size}")
    if not 0.0 < val_fraction < 1.0:
        raise DataError(f"val_fraction must be between 0 and 1 (exclusive), got {val_fraction}")
    limit = n_train if split == "train" else n_val

    if spec == "phantom":
        n = limit if limit is not None else (DEFAULT_PHANTOM_TRAIN if split == "train"
                                              else DEFAULT_PHANTOM_VAL)
        return phantom_set(n, size, channels, seed, split)

    kind, root = _detect(spec)
    if kind == "lgg":
        samples, rgb_to_gray = _lgg_split(root, split, seed, val_fraction, spec), _flair_channel
    else:
        samples, rgb_to_gray = _folder_split(root, split, seed, val_fraction, spec), _luminance
    if limit is not None and limit < len(samples):
        keep = np.linspace(0, len(samples) - 1, limit).round().astype(int)
        samples = [samples[i] for i in keep]
    return _read_samples(samples, size, channels, rgb_to_gray)


def describe(spec: str) -> dict:
    """JSON-able description of a data source, stored in checkpoints."""
    if spec == "phantom":
        return {"kind": "phantom", "spec": spec, "version": PHANTOM_VERSION}
    kind, root = _detect(spec)
    return {"kind": kind, "spec": spec, "path": str(root.resolve())}


# --------------------------------------------------------------------------- phantom generator
#
# A slice is built from soft tissue maps (scalp, brain, white matter, CSF, ventricles, bright
# distractor blobs); each MRI "sequence" is a weighted sum of those maps, then tumours are
# composited on top, then a smooth bias field, Rician noise and a random gain are applied.
# Geometry is in image units ([-1, 1] across the image) so slices look alike at any size.

# Mean tissue intensities per sequence (fraction of full scale, before bias field and gain).
_TISSUE_LEVELS = {
    #         scalp  skull  csf   gm    wm    blob
    "t1":    (0.72, 0.04, 0.10, 0.38, 0.50, 0.70),
    "flair": (0.55, 0.04, 0.10, 0.45, 0.36, 0.74),
    "t1c":   (0.72, 0.04, 0.10, 0.40, 0.50, 0.80),
}
# Channel order of the Kaggle LGG images; a 1-channel phantom is the FLAIR-like sequence.
_SEQUENCES = {1: ("flair",), 3: ("t1", "flair", "t1c")}


@functools.lru_cache(maxsize=8)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates (y, x) in [-1, 1]; float32 keeps the generator fast."""
    c = ((np.arange(size) + 0.5) / size * 2.0 - 1.0).astype(np.float32)
    y, x = np.meshgrid(c, c, indexing="ij")
    y.flags.writeable = x.flags.writeable = False
    return y, x


@functools.lru_cache(maxsize=32)
def _lattice_weights(size: int, cells: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each pixel along one axis: the lattice node to its left, the smoothstep weight of the
    node to its right, and 1 / the std that interpolating unit-variance nodes leaves there."""
    pos = (np.arange(size) + 0.5) / size * cells
    left = np.floor(pos).astype(np.intp)
    t = pos - left
    t = t * t * (3.0 - 2.0 * t)
    norm = 1.0 / np.sqrt((1.0 - t) ** 2 + t ** 2)
    return left, t.astype(np.float32), norm.astype(np.float32)


def _smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Smooth random field with unit variance everywhere and features about size/cells pixels
    wide: "value noise", i.e. white noise on a coarse lattice, interpolated separably. (Plain
    numpy: a BLAS matmul or FFT would be slower here and thrash threads on a busy machine.)"""
    lattice = rng.standard_normal((cells + 1, cells + 1), dtype=np.float32)
    left, t, norm = _lattice_weights(size, cells)
    tc = t[:, None]
    rows = (lattice[left] * (1.0 - tc) + lattice[left + 1] * tc) * norm[:, None]
    return (rows[:, left] * (1.0 - t) + rows[:, left + 1] * t) * norm


def _soft(t: np.ndarray, width: float) -> np.ndarray:
    """Smooth step from 0 (t << 0) to 1 (t >> 0) over about ``width``."""
    return 0.5 * (1.0 + np.tanh(t * (0.5 / width)))


def _polar(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Radius of (u, v) and its direction as a unit complex number (no per-pixel trig)."""
    r = np.sqrt(u * u + v * v)
    return r, (u + 1j * v) / np.maximum(r, 1e-6)


def _wobble(rng: np.random.Generator, direction: np.ndarray, strength: float) -> np.ndarray:
    """Radius factor 1 + sum_k a_k cos(k*angle + p_k), k = 2..5, for the unit complex numbers
    ``direction`` = exp(i*angle): turns a circle into an irregular outline."""
    amps = rng.normal(0.0, strength / np.arange(2, 6))
    coeffs = amps * np.exp(1j * rng.uniform(0, 2 * math.pi, 4))  # a_k * exp(i*p_k)
    poly = np.complex64(coeffs[3])
    for c in coeffs[2::-1]:  # Horner: z^2 * (c2 + z*(c3 + z*(c4 + z*c5)))
        poly = poly * direction + np.complex64(c)
    return np.maximum(1.0 + (poly * direction * direction).real, 0.4)


def phantom_slice(rng: np.random.Generator, size: int, channels: int) -> tuple[np.ndarray, np.ndarray]:
    """One MRI-like axial slice: image uint8 [C, H, W] and tumour mask uint8 [H, W].

    The random draws do not depend on ``channels`` except for the trailing noise, of which the
    FLAIR part comes first: a 1-channel slice equals channel 1 of the 3-channel slice.
    """
    if channels not in _SEQUENCES:
        raise DataError(f"channels must be 1 or 3, got {channels}")
    y, x = _grid(size)

    # Head: a rotated ellipse, taller than wide; smaller scales mimic slices near the crown.
    scale = rng.uniform(0.55, 0.9)
    ay, ax = scale, scale * rng.uniform(0.75, 0.9)
    cy, cx = rng.uniform(-0.07, 0.07, 2).tolist()
    theta = rng.uniform(-0.35, 0.35)
    u = ((y - cy) * math.cos(theta) + (x - cx) * math.sin(theta)) / ay   # anterior-posterior
    v = (-(y - cy) * math.sin(theta) + (x - cx) * math.cos(theta)) / ax  # left-right
    r, phi = _polar(u, v)
    px = 2.0 / (size * ax)  # one pixel in head-radius units: anatomical edges are ~1 px sharp

    tex_wm = _smooth_noise(rng, size, 8)
    tex_fine = _smooth_noise(rng, size, 32)
    tex_tumour = _smooth_noise(rng, size, 16)
    r_brain = r / _wobble(rng, phi, 0.02)
    head = _soft(1.0 - r, px)
    brain = _soft(0.87 - r_brain, px)
    scalp = head - _soft(0.93 - r, px)
    skull = head - scalp - brain
    # Sulcal CSF is a thin dark rim whose depth varies; white matter fills the inner brain with
    # a wavy boundary, leaving a grey-matter cortex in between.
    csf = brain * _soft(r_brain - 0.81 - 0.03 * tex_fine, px)
    wm = brain * (1.0 - csf) * _soft(0.7 - r_brain + 0.08 * tex_wm, 0.03)

    # Ventricles: a mirrored pair of dark ellipses near the centre (absent near the crown).
    if rng.random() < 0.8:
        vu, vv = rng.uniform(-0.15, 0.1), rng.uniform(0.06, 0.14)
        au, av = rng.uniform(0.1, 0.3), rng.uniform(0.04, 0.1)
        tilt = rng.uniform(0.0, 0.35)
        sides = []
        for sign in (-1.0, 1.0):
            du, dv = u - vu, v - sign * vv
            eu = (du * math.cos(tilt) + sign * math.sin(tilt) * dv) / au
            ev = (-sign * math.sin(tilt) * du + dv * math.cos(tilt)) / av
            sides.append(eu * eu + ev * ev)
        d_vent = np.sqrt(np.minimum(*sides))
        csf = np.maximum(csf, brain * _soft(1.0 - d_vent, 0.15))
        # FLAIR often shows bright caps around the ventricles: a non-tumour hyperintensity.
        cap = brain * rng.uniform(0.0, 0.15) * np.exp(-((d_vent - 1.3) / 0.3) ** 2)
    else:
        cap = np.zeros_like(r)
    gm = brain - wm - csf

    # Bright non-tumour blobs (vessels, fat) so that "bright means tumour" is not a safe rule.
    blobs = np.zeros_like(r)
    for _ in range(rng.choice(3, p=[0.55, 0.3, 0.15])):
        rho, ang = 0.75 * math.sqrt(rng.random()), rng.uniform(0, 2 * math.pi)
        rad = rng.uniform(0.015, 0.045)
        du, dv = u - rho * math.cos(ang), v - rho * math.sin(ang)
        blobs = np.maximum(blobs, brain * np.exp((du * du + dv * dv) * (-0.5 / rad ** 2)))

    # Tumours: irregular, soft-edged blobs inside the brain; the mask is where the (unblurred)
    # shape lies. Each tumour has its own contrast per sequence.
    tumours = []
    for _ in range(rng.choice(4, p=[0.35, 0.42, 0.16, 0.07])):
        radius = math.exp(rng.uniform(math.log(0.05), math.log(0.32)))
        rho = math.sqrt(rng.random()) * max(0.72 - 0.5 * radius, 0.1)
        ang = rng.uniform(0, 2 * math.pi)
        stretch, orient = rng.uniform(0.7, 1.3), rng.uniform(0, math.pi)
        du, dv = u - rho * math.cos(ang), v - rho * math.sin(ang)
        tu = (du * math.cos(orient) + dv * math.sin(orient)) / (stretch * radius)
        tv = (dv * math.cos(orient) - du * math.sin(orient)) * (stretch / radius)
        dist, direction = _polar(tu, tv)
        dist = dist / _wobble(rng, direction, 0.18)
        edge = max(rng.uniform(0.04, 0.2), px / radius)
        weak = rng.random() < 0.15
        flair = rng.uniform(0.08, 0.15) if weak else rng.uniform(0.18, 0.45)
        necrotic = radius > 0.12 and rng.random() < 0.3
        core = _soft(rng.uniform(0.35, 0.6) - dist, edge) if necrotic else 0.0
        enhancing = not weak and rng.random() < 0.5
        enhancement = rng.uniform(0.2, 0.4)
        tumours.append(dict(
            cover=brain * _soft(1.0 - dist, edge), mask=dist < 1.0, core=core,
            # contrast added to grey matter: FLAIR bright, T1 dark, T1c bright where enhancing
            # (only the rim when there is a necrotic core).
            flair=flair, flair_core=-rng.uniform(0.1, 0.3),
            t1=-rng.uniform(0.03, 0.12), t1_core=-rng.uniform(0.05, 0.15),
            t1c=enhancement if enhancing else -rng.uniform(0.0, 0.08),
            t1c_core=-(enhancement + rng.uniform(0.05, 0.15)) if enhancing else 0.0,
        ))

    # Smooth multiplicative bias field along a random direction, shared by all sequences.
    b_dir = rng.uniform(0, 2 * math.pi)
    bias = np.exp(rng.uniform(0.0, 0.3) * (y * math.cos(b_dir) + x * math.sin(b_dir))
                  + rng.uniform(-0.15, 0.15) * (y * y + x * x - 0.5))
    jitter = {seq: rng.uniform(0.9, 1.1, 6) for seq in _TISSUE_LEVELS}
    noise_sigma = {seq: rng.uniform(0.01, 0.045) for seq in _TISSUE_LEVELS}
    gain = {seq: rng.uniform(0.8, 1.1) for seq in _TISSUE_LEVELS}

    # FLAIR noise first, so the 1-channel slice is channel 1 of the 3-channel one.
    noise = {seq: rng.standard_normal((2, size, size), dtype=np.float32) * noise_sigma[seq]
             for seq in sorted(_SEQUENCES[channels], key=lambda seq: seq != "flair")}

    mask = np.zeros((size, size), dtype=bool)
    for t in tumours:
        mask |= t["mask"] & (brain > 0.5)

    image = np.empty((channels, size, size), dtype=np.uint8)
    for c, seq in enumerate(_SEQUENCES[channels]):
        levels = (np.array(_TISSUE_LEVELS[seq]) * jitter[seq]).tolist()
        l_scalp, l_skull, l_csf, l_gm, l_wm, l_blob = levels
        img = (l_scalp * scalp + l_skull * skull + l_csf * csf + l_gm * gm + l_wm * wm)
        img *= 1.0 + 0.04 * tex_fine * brain  # mottled tissue texture
        img += blobs * (l_blob - img)
        if seq == "flair":
            img += cap
        for t in tumours:
            level = l_gm + t[seq] + t[seq + "_core"] * t["core"]
            lesion = level * (1.0 + 0.08 * tex_tumour)
            img += t["cover"] * (lesion - img)
        img *= bias
        # Rician noise: magnitude of a complex signal with Gaussian noise in both parts.
        n_re, n_im = noise[seq]
        img += n_re
        img = np.sqrt(img * img + n_im * n_im)
        image[c] = np.clip(img * (255.0 * gain[seq]) + 0.5, 0, 255)
    return image, mask.astype(np.uint8)


def phantom_set(n: int, size: int, channels: int, seed: int, split: str) -> SegmentationSet:
    """``n`` phantom slices; sample i comes from ``default_rng([seed, SPLIT_CODE[split], i])``,
    so each sample is reproducible on its own and the splits never share a sample."""
    _check_split(split)
    images = np.empty((n, channels, size, size), dtype=np.uint8)
    masks = np.empty((n, size, size), dtype=np.uint8)
    for i in range(n):
        images[i], masks[i] = phantom_slice(np.random.default_rng([seed, SPLIT_CODE[split], i]),
                                            size, channels)
    return SegmentationSet(images, masks, [f"phantom-{split}-{i:05d}" for i in range(n)])


# --------------------------------------------------------------------------- data on disk

@dataclass
class _Sample:
    id: str
    image: Path
    mask: Path


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise DataError(f"unknown split '{split}' (expected 'train' or 'val')")


def _detect(spec: str) -> tuple[str, Path]:
    """Which layout a path holds: "folder" (images/ + masks/) or "lgg" (*_mask.tif files)."""
    root = Path(spec).expanduser()
    if not root.exists():
        raise DataError(f"data path '{spec}' does not exist ({_EXPECTED})")
    if not root.is_dir():
        raise DataError(f"data path '{spec}' is not a folder ({_EXPECTED})")
    # The generic layout is checked first: its masks may also be called *_mask.tif.
    if (root / "images").is_dir() and (root / "masks").is_dir():
        return "folder", root
    if next(root.rglob("*_mask.tif"), None) is not None:
        return "lgg", root
    raise DataError(f"data path '{spec}' holds neither *_mask.tif files nor images/ and masks/ "
                    f"folders ({_EXPECTED})")


def _split_keys(keys: list[str], split: str, seed: int, val_fraction: float, spec: str,
                unit: str) -> set[str]:
    """Seeded shuffle of the sorted keys; the first round(val_fraction * n) (at least 1) are val."""
    keys = sorted(keys)
    order = np.random.default_rng(seed).permutation(len(keys))
    n_val = max(1, round(val_fraction * len(keys)))
    chosen = order[:n_val] if split == "val" else order[n_val:]
    if len(chosen) == 0:
        raise DataError(f"the {split} split of '{spec}' is empty ({len(keys)} {unit} in all, "
                        f"val_fraction={val_fraction}); more data is needed")
    return {keys[i] for i in chosen}


def _lgg_split(root: Path, split: str, seed: int, val_fraction: float, spec: str) -> list[_Sample]:
    """Kaggle LGG: pair every <name>_<slice>_mask.tif with <name>_<slice>.tif, split by patient."""
    by_name: dict[str, Path] = {}
    for mask in sorted(root.rglob("*_mask.tif")):
        # The public archive holds the tree twice; the first copy in path order wins.
        by_name.setdefault(mask.name, mask)

    patients: dict[str, list[tuple[int, _Sample]]] = {}
    for mask in by_name.values():
        stem = mask.name[: -len("_mask.tif")]
        image = mask.with_name(stem + ".tif")
        if not image.is_file():
            raise DataError(f"mask '{mask}' has no matching image '{image.name}'")
        slice_no = stem.rsplit("_", 1)[-1]
        if not slice_no.isdigit():
            raise DataError(f"mask '{mask}' is not named <name>_<slice>_mask.tif "
                            "with a numeric slice")
        patient = mask.parent.name
        patients.setdefault(patient, []).append(
            (int(slice_no), _Sample(f"{patient}/{stem}", image, mask)))

    chosen = _split_keys(list(patients), split, seed, val_fraction, spec, "patients")
    return [sample for patient in sorted(chosen)
            for _, sample in sorted(patients[patient], key=lambda item: item[0])]


def _folder_split(root: Path, split: str, seed: int, val_fraction: float,
                  spec: str) -> list[_Sample]:
    """images/<stem>.* paired with masks/<stem>.* or masks/<stem>_mask.*, split by stem."""
    images_dir, masks_dir = root / "images", root / "masks"
    images = sorted(p for p in images_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise DataError(f"'{images_dir}' contains no PNG/TIF images ({_EXPECTED})")
    masks: dict[str, Path] = {}
    for p in sorted(masks_dir.iterdir()):
        if p.suffix.lower() in IMAGE_SUFFIXES:
            masks.setdefault(p.stem, p)
    samples: dict[str, _Sample] = {}
    for image in images:
        mask = masks.get(image.stem) or masks.get(image.stem + "_mask")
        if mask is None:
            raise DataError(f"image '{image}' has no mask in '{masks_dir}' (expected "
                            f"'{image.stem}.png/.tif/.tiff' or '{image.stem}_mask.*')")
        if image.stem in samples:
            raise DataError(f"two images share the stem '{image.stem}' in '{images_dir}'")
        samples[image.stem] = _Sample(image.stem, image, mask)

    chosen = _split_keys(list(samples), split, seed, val_fraction, spec, "images")
    return [samples[stem] for stem in sorted(chosen)]


def _read_array(path: Path, *, labels: bool = False) -> np.ndarray:
    """Pixels of an image file as [H, W] or [H, W, C]; tifffile for TIFs, Pillow otherwise.
    With ``labels``, palette images give their palette indices instead of colours.
    Regular files only (a FIFO would block), and the size is checked before any pixel is decoded:
    a 20000x20000 PNG of a few kB would otherwise take gigabytes."""
    if not path.is_file():
        raise DataError(f"image '{path}' is not a regular file")
    if path.suffix.lower() in (".tif", ".tiff"):
        try:
            with tifffile.TiffFile(path) as tif:
                _check_pixels(path, math.prod(tif.series[0].shape))
            arr = tifffile.imread(path)
        except DataError:
            raise
        except Exception:  # compressed/odd TIFs tifffile cannot decode: let Pillow try
            arr = None
        if arr is not None:
            arr = np.squeeze(arr)
            # Some TIF writers store planar [C, H, W]; the rest of the code expects [H, W, C].
            if arr.ndim == 3 and arr.shape[0] in (3, 4) and arr.shape[-1] not in (3, 4):
                arr = np.moveaxis(arr, 0, -1)
            return arr
    try:
        with warnings.catch_warnings():     # the size is checked just below, with a clear message
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path)
        with im:
            _check_pixels(path, im.width * im.height * len(im.getbands()))
            if im.mode == "LA":
                im = im.convert("L")
            elif not (labels and im.mode == "P") and im.mode not in (
                    "1", "L", "RGB", "RGBA", "I", "I;16", "F"):
                im = im.convert("RGB")
            return np.asarray(im)
    except Image.DecompressionBombError:
        raise DataError(f"image '{path}' has more pixels than an image qgen reads ({MAX_IMAGE_VALUES:,})") from None
    except OSError as e:
        raise DataError(f"cannot read image '{path}': {e}") from None


def _check_pixels(path: Path, values: int) -> None:
    if values > MAX_IMAGE_VALUES:
        raise DataError(f"image '{path}' has {values:,} pixel values; qgen reads images of at most "
                        f"{MAX_IMAGE_VALUES:,} (e.g. 4096x4096 RGB)")


def _to_uint8(arr: np.ndarray) -> np.ndarray:
    """8-bit pixels; other depths (16-bit, float) are stretched to 0..255 per image."""
    if arr.dtype == np.uint8:
        return arr
    arr = arr.astype(np.float64)
    lo, hi = arr.min(), arr.max()
    if hi <= lo:
        return np.zeros(arr.shape, np.uint8)
    return ((arr - lo) / (hi - lo) * 255).round().astype(np.uint8)


def _flair_channel(rgb: np.ndarray) -> np.ndarray:
    return rgb[..., LGG_FLAIR_CHANNEL]


def _luminance(rgb: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma, the usual RGB -> grey conversion."""
    grey = 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]
    return np.clip(grey.round(), 0, 255).astype(np.uint8)


def _resize(plane: np.ndarray, size: int, resample: int) -> np.ndarray:
    if plane.shape == (size, size):
        return plane
    return np.asarray(Image.fromarray(plane).resize((size, size), resample))


def _read_samples(samples: list[_Sample], size: int, channels: int, rgb_to_gray) -> SegmentationSet:
    images = np.empty((len(samples), channels, size, size), dtype=np.uint8)
    masks = np.empty((len(samples), size, size), dtype=np.uint8)
    for i, s in enumerate(samples):
        img = _to_uint8(_read_array(s.image))
        if img.ndim == 3 and img.shape[-1] < 3:
            img = img[..., 0]  # grey, possibly with alpha
        if img.ndim == 2:
            planes = [img] * channels
        elif img.ndim == 3:
            img = img[..., :3]  # drop alpha
            planes = [rgb_to_gray(img)] if channels == 1 else [img[..., c] for c in range(3)]
        else:
            raise DataError(f"image '{s.image}' has shape {img.shape}; expected a 2-D grey or "
                            "RGB image")
        images[i] = [_resize(p, size, Image.BILINEAR) for p in planes]

        mask = _read_array(s.mask, labels=True)
        if mask.shape[:2] != img.shape[:2]:   # each would be resized on its own: the labels would slide
            raise DataError(f"mask '{s.mask}' is {mask.shape[1]}x{mask.shape[0]} pixels but its image "
                            f"'{s.image}' is {img.shape[1]}x{img.shape[0]}; they must be the same size")
        if mask.ndim == 3:
            mask = mask.max(axis=-1)  # colour masks: tumour wherever any channel is set
        # 0/255 masks (possibly with resampling artefacts) split at mid-grey; label masks at 0.
        mask = mask > 127 if mask.max() > 1 else mask > 0
        masks[i] = _resize(mask.astype(np.uint8), size, Image.NEAREST) > 0
    return SegmentationSet(images, masks, [s.id for s in samples])
