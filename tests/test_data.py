"""Tests for quantunet.data: the phantom generator and the LGG / generic folder loaders."""
from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
from PIL import Image

from quantunet.data import (PHANTOM_VERSION, DataError, SegmentationSet, describe, load_split,
                            phantom_set, phantom_slice)


def best_threshold_dice(images: np.ndarray, masks: np.ndarray) -> float:
    """Best Dice of "pixel >= t" over all 256 global thresholds t (from per-value histograms)."""
    tumour = np.bincount(images[masks == 1], minlength=256)
    other = np.bincount(images[masks == 0], minlength=256)
    tp = np.cumsum(tumour[::-1])[::-1]  # tumour pixels >= t
    fp = np.cumsum(other[::-1])[::-1]
    return float((2 * tp / (tp + fp + tumour.sum())).max())


# --------------------------------------------------------------------------- phantom

@pytest.fixture(scope="module")
def phantom_val() -> SegmentationSet:
    return phantom_set(120, 96, 1, seed=0, split="val")


def test_phantom_shapes_and_dtypes():
    for channels in (1, 3):
        s = phantom_set(4, 48, channels, seed=1, split="train")
        assert s.images.shape == (4, channels, 48, 48) and s.images.dtype == np.uint8
        assert s.masks.shape == (4, 48, 48) and s.masks.dtype == np.uint8
        assert len(s) == 4 and s.ids == [f"phantom-train-{i:05d}" for i in range(4)]
        image, mask = phantom_slice(np.random.default_rng(0), 40, channels)
        assert image.shape == (channels, 40, 40) and mask.shape == (40, 40)


def test_phantom_deterministic_per_seed():
    a = phantom_set(6, 64, 1, seed=3, split="train")
    b = phantom_set(6, 64, 1, seed=3, split="train")
    c = phantom_set(6, 64, 1, seed=4, split="train")
    assert np.array_equal(a.images, b.images) and np.array_equal(a.masks, b.masks)
    assert not np.array_equal(a.images, c.images)


def test_phantom_sample_reproducible_alone():
    short = phantom_set(5, 64, 3, seed=0, split="train")
    long = phantom_set(10, 64, 3, seed=0, split="train")
    assert np.array_equal(short.images, long.images[:5])
    assert np.array_equal(short.masks, long.masks[:5])


def test_phantom_train_and_val_differ():
    train = phantom_set(20, 64, 1, seed=0, split="train")
    val = phantom_set(20, 64, 1, seed=0, split="val")
    # no val sample equals any train sample
    assert not (train.images[:, None] == val.images[None]).all(axis=(2, 3, 4)).any()


def test_phantom_one_channel_is_the_flair_channel_of_three():
    one = phantom_set(4, 64, 1, seed=2, split="val")
    three = phantom_set(4, 64, 3, seed=2, split="val")
    assert np.array_equal(one.images[:, 0], three.images[:, 1])
    assert np.array_equal(one.masks, three.masks)
    # the three sequences really are different images
    assert not np.array_equal(three.images[:, 0], three.images[:, 2])


def test_phantom_masks_and_intensities(phantom_val):
    masks, images = phantom_val.masks, phantom_val.images[:, 0]
    assert set(np.unique(masks)) <= {0, 1}
    per_slice = masks.reshape(len(masks), -1).sum(axis=1)
    empty = (per_slice == 0).mean()
    assert 0.15 < empty < 0.55, f"fraction of tumour-free slices {empty:.2f}"
    assert masks.mean() > 0.002  # tumour pixels exist in quantity
    # tumour sizes vary from small to large
    assert per_slice[per_slice > 0].min() < 40 and per_slice.max() > 400
    # values use the 8-bit range without saturating the brain
    assert images.max() > 180 and np.median(images) < 120
    assert (images == 255).mean() < 0.001
    # tumours are mostly brighter than the rest of the brain
    brain = (images > 40) & (masks == 0)
    assert images[masks == 1].mean() > images[brain].mean() + 20


def test_phantom_not_separable_by_a_global_threshold(phantom_val):
    dice = best_threshold_dice(phantom_val.images[:, 0], phantom_val.masks)
    assert 0.3 < dice < 0.8, f"best global-threshold Dice {dice:.3f}"


def test_load_split_phantom_defaults_and_counts():
    s = load_split("phantom", "val", size=32, channels=3, seed=5, n_val=7)
    assert s.images.shape == (7, 3, 32, 32)
    assert np.array_equal(s.images, phantom_set(7, 32, 3, seed=5, split="val").images)
    assert len(load_split("phantom", "val", size=16, channels=1)) == 200
    with pytest.raises(DataError, match="split"):
        load_split("phantom", "test", size=32, channels=1)
    with pytest.raises(DataError, match="channels"):
        load_split("phantom", "train", size=32, channels=2)


def test_describe_phantom_is_json():
    d = describe("phantom")
    assert d == {"kind": "phantom", "spec": "phantom", "version": PHANTOM_VERSION}
    json.dumps(d)


# --------------------------------------------------------------------------- Kaggle LGG layout

PATIENTS = ["TCGA_AA_0001_20000101", "TCGA_BB_0002_20000202", "TCGA_CC_0003_20000303"]
SLICES = [10, 2, 1]  # written out of order: loading must sort them numerically


def write_lgg_tree(kaggle_3m, patients=PATIENTS):
    """3 patients x 3 slices of 40x40 RGB tifs. Red = patient index, green (FLAIR) = slice
    number, blue = 200; the mask is the top-left quarter."""
    for p, patient in enumerate(patients):
        folder = kaggle_3m / patient
        folder.mkdir(parents=True)
        for n in SLICES:
            rgb = np.empty((40, 40, 3), np.uint8)
            rgb[..., 0], rgb[..., 1], rgb[..., 2] = p, n, 200
            mask = np.zeros((40, 40), np.uint8)
            mask[:20, :20] = 255
            tifffile.imwrite(folder / f"{patient}_{n}.tif", rgb, photometric="rgb")
            tifffile.imwrite(folder / f"{patient}_{n}_mask.tif", mask)


@pytest.fixture
def lgg_root(tmp_path):
    # The Kaggle archive holds the same tree twice, one copy nested inside the other.
    write_lgg_tree(tmp_path / "lgg-mri-segmentation" / "kaggle_3m")
    write_lgg_tree(tmp_path / "lgg-mri-segmentation" / "lgg-mri-segmentation" / "kaggle_3m")
    return tmp_path


def patients(s: SegmentationSet) -> set[str]:
    return {i.split("/")[0] for i in s.ids}


def test_lgg_dedup_and_patient_split(lgg_root):
    kw = dict(size=40, channels=1, seed=0, val_fraction=0.34)  # round(0.34 * 3) = 1 patient
    train = load_split(str(lgg_root), "train", **kw)
    val = load_split(str(lgg_root), "val", **kw)
    assert len(train) == 6 and len(val) == 3  # 9 unique slices, not 18
    assert len(patients(val)) == 1 and len(patients(train)) == 2
    assert patients(train).isdisjoint(patients(val))
    assert patients(train) | patients(val) == set(PATIENTS)
    assert describe(str(lgg_root))["kind"] == "lgg"


def test_lgg_slice_order_and_pixels(lgg_root):
    s = load_split(str(lgg_root), "val", size=16, channels=1, val_fraction=0.34)
    patient = s.ids[0].split("/")[0]
    assert s.ids == [f"{patient}/{patient}_{n}" for n in (1, 2, 10)]
    assert s.images.shape == (3, 1, 16, 16) and s.masks.shape == (3, 16, 16)
    # channels=1 takes the FLAIR (green) channel, which holds the slice number
    assert [int(v) for v in s.images[:, 0, 8, 8]] == [1, 2, 10]
    assert set(np.unique(s.masks)) == {0, 1}
    assert s.masks[:, :8, :8].all() and not s.masks[:, 8:, :].any() and not s.masks[:, :, 8:].any()

    rgb = load_split(str(lgg_root), "val", size=16, channels=3, val_fraction=0.34)
    assert rgb.images.shape == (3, 3, 16, 16)
    assert [int(v) for v in rgb.images[:, 1, 0, 0]] == [1, 2, 10]
    assert (rgb.images[:, 2] == 200).all()


def test_lgg_root_may_be_kaggle_3m_itself(lgg_root):
    inner = lgg_root / "lgg-mri-segmentation" / "kaggle_3m"
    kw = dict(size=20, channels=1, val_fraction=0.34)
    assert load_split(str(inner), "val", **kw).ids == load_split(str(lgg_root), "val", **kw).ids


def test_lgg_split_depends_on_seed_and_caps(tmp_path):
    names = [f"TCGA_XX_{i:04d}_20000101" for i in range(10)]
    write_lgg_tree(tmp_path / "kaggle_3m", names)
    val_patients = {seed: patients(load_split(str(tmp_path), "val", size=8, channels=1, seed=seed))
                    for seed in range(4)}
    assert all(len(p) == 2 for p in val_patients.values())  # round(0.2 * 10)
    assert len({frozenset(p) for p in val_patients.values()}) > 1
    capped = load_split(str(tmp_path), "train", size=8, channels=1, n_train=5)
    assert len(capped) == 5


def test_lgg_single_patient_gives_empty_train_split(tmp_path):
    write_lgg_tree(tmp_path / "kaggle_3m", PATIENTS[:1])
    with pytest.raises(DataError, match="train split .* is empty"):
        load_split(str(tmp_path), "train", size=16, channels=1)


# --------------------------------------------------------------------------- generic folder layout

def write_folder(root, stems=("a", "b", "c", "d", "e")):
    """RGB PNG images; masks as <stem>.png (0/255) or <stem>_mask.png (0/1)."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for k, stem in enumerate(stems):
        rgb = np.zeros((24, 32, 3), np.uint8)
        rgb[...] = (100, 50, 10 * k)
        Image.fromarray(rgb).save(root / "images" / f"{stem}.png")
        mask = np.zeros((24, 32), np.uint8)
        mask[12:, 16:] = 1
        if k % 2:
            Image.fromarray(mask).save(root / "masks" / f"{stem}_mask.png")
        else:
            Image.fromarray(mask * 255).save(root / "masks" / f"{stem}.png")


def test_folder_loader(tmp_path):
    write_folder(tmp_path)
    train = load_split(str(tmp_path), "train", size=16, channels=1)
    val = load_split(str(tmp_path), "val", size=16, channels=1)
    assert len(val) == 1 and len(train) == 4
    assert set(train.ids) | set(val.ids) == {"a", "b", "c", "d", "e"}
    assert train.ids == sorted(train.ids)
    assert train.images.shape == (4, 1, 16, 16) and train.masks.shape == (4, 16, 16)
    # RGB -> 1 channel is the luminance
    for i, stem in enumerate(train.ids):
        k = "abcde".index(stem)
        expected = round(0.299 * 100 + 0.587 * 50 + 0.114 * 10 * k)
        assert abs(int(train.images[i, 0, 5, 5]) - expected) <= 1
    # both mask conventions give the same binary bottom-right quadrant
    assert set(np.unique(train.masks)) == {0, 1}
    assert train.masks[:, 8:, 8:].all() and train.masks.sum() == 4 * 64

    three = load_split(str(tmp_path), "train", size=16, channels=3)
    assert three.images.shape == (4, 3, 16, 16) and (three.images[:, 0] == 100).all()
    assert describe(str(tmp_path))["kind"] == "folder"


def test_folder_grayscale_repeats_for_three_channels(tmp_path):
    write_folder(tmp_path, stems=("x", "y"))
    Image.fromarray(np.full((24, 32), 77, np.uint8)).save(tmp_path / "images" / "x.png")
    s = load_split(str(tmp_path), "train", size=24, channels=3, val_fraction=0.5, seed=0)
    t = load_split(str(tmp_path), "val", size=24, channels=3, val_fraction=0.5, seed=0)
    gray = s if s.ids == ["x"] else t
    assert (gray.images == 77).all()


def test_folder_16bit_tif_and_palette_mask(tmp_path):
    write_folder(tmp_path, stems=("p", "q"))
    ramp = np.tile(np.linspace(0, 4000, 24).astype(np.uint16)[:, None], (1, 24))
    tifffile.imwrite(tmp_path / "images" / "p.tif", ramp)
    (tmp_path / "images" / "p.png").unlink()
    palette = Image.fromarray(np.pad(np.ones((12, 12), np.uint8), 6), mode="P")
    palette.putpalette([0, 0, 0, 255, 255, 255] + [0] * 762)
    (tmp_path / "masks" / "p.png").unlink()
    palette.save(tmp_path / "masks" / "p_mask.png")
    kw = dict(size=24, channels=1, val_fraction=0.5, seed=0)
    both = [load_split(str(tmp_path), split, **kw) for split in ("train", "val")]
    p = next(s for s in both if s.ids == ["p"])
    assert p.images[0, 0, 0, 0] == 0 and p.images[0, 0, -1, 0] == 255  # stretched to 8 bits
    assert p.masks[0].sum() == 144 and p.masks[0, 6:18, 6:18].all()


def test_folder_missing_mask(tmp_path):
    write_folder(tmp_path)
    (tmp_path / "masks" / "c.png").unlink()
    with pytest.raises(DataError, match=r"c\.png.* has no mask"):
        load_split(str(tmp_path), "train", size=16, channels=1)


def test_folder_without_images(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    with pytest.raises(DataError, match="contains no PNG/TIF images"):
        load_split(str(tmp_path), "train", size=16, channels=1)


# --------------------------------------------------------------------------- path errors

def test_empty_folder_is_rejected(tmp_path):
    with pytest.raises(DataError) as err:
        load_split(str(tmp_path), "train", size=16, channels=1)
    message = str(err.value)
    assert "_mask.tif" in message and "images/" in message and "\n" not in message


def test_missing_path_is_rejected(tmp_path):
    missing = tmp_path / "nowhere"
    for call in (lambda: load_split(str(missing), "val", size=16, channels=1),
                 lambda: describe(str(missing))):
        with pytest.raises(DataError) as err:
            call()
        message = str(err.value)
        assert "does not exist" in message and str(missing) in message
        assert "'phantom'" in message and "Kaggle LGG" in message and "images/ and masks/" in message
