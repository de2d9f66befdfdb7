"""The embedded flowers32 dataset: sizes, types, classes, license shipped with it."""

from __future__ import annotations

import numpy as np
import pytest

import rnpa
from rnpa.data import FLOWERS32_CLASSES, asset_path, load_flowers32


@pytest.fixture(scope="module")
def flowers():
    return load_flowers32()


def test_split_sizes_and_classes(flowers):
    # fixed stratified split (shared/data/flowers32/README.md)
    assert len(flowers.train[0]) == 2931
    assert len(flowers.val[0]) == 367
    assert len(flowers.test[0]) == 367
    assert flowers.class_names == ("daisy", "dandelion", "roses", "sunflowers", "tulips")
    assert flowers.class_names == FLOWERS32_CLASSES
    assert flowers.num_classes == 5
    assert flowers.image_shape == (32, 32, 3)
    assert rnpa.load_flowers32 is load_flowers32


def test_images_and_labels(flowers):
    for x, y in (flowers.train, flowers.val, flowers.test):
        assert x.dtype == np.uint8
        assert x.shape[1:] == (32, 32, 3)
        assert y.shape == (len(x),)
        assert set(np.unique(y)) == {0, 1, 2, 3, 4}
    # per-class counts of the stratified split
    assert np.bincount(flowers.train[1]).tolist() == [506, 718, 512, 557, 638]
    assert np.bincount(flowers.val[1]).tolist() == [63, 90, 64, 70, 80]
    assert np.bincount(flowers.test[1]).tolist() == [63, 90, 64, 70, 80]
    # real photos, not blank arrays
    assert 60 < flowers.train[0].mean() < 200
    assert flowers.train[0].std() > 30


def test_labels_match_the_source_folders(flowers):
    for split in ("train", "val", "test"):
        files = flowers.files[split]
        y = getattr(flowers, split)[1]
        folders = [f.split("/")[0] for f in files]
        assert folders == [flowers.class_names[i] for i in y]


def test_splits_do_not_overlap(flowers):
    sets = [set(flowers.files[s]) for s in ("train", "val", "test")]
    assert sum(len(s) for s in sets) == len(set.union(*sets)) == 3665


def test_license_is_installed_beside_the_data_and_credits_every_photo(flowers):
    lic = asset_path("LICENSE.txt")
    assert lic.parent == asset_path("flowers32.npz").parent
    text = lic.read_text(encoding="utf-8")
    assert "creativecommons.org/licenses/by/2.0" in text
    credited = {line.split(" ", 1)[0] for line in text.splitlines() if ".jpg " in line}
    for split in ("train", "val", "test"):
        missing = set(flowers.files[split]) - credited
        assert not missing, f"photos without attribution: {sorted(missing)[:3]}"
    readme = (lic.parent / "README.md").read_text(encoding="utf-8")
    assert "cropped" in readme and "resized" in readme and "CC BY 2.0" in readme


def test_asset_path_names_a_missing_file():
    with pytest.raises(FileNotFoundError, match="no_such_file.bin"):
        asset_path("no_such_file.bin")
