"""The batched rotation + perspective warp (study/training/warp.py), by hand."""

from __future__ import annotations

import math

import pytest
import torch

from study.training.warp import _solve_homography, random_homographies, random_warp, warp


def _images(b: int = 4, size: int = 9) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (b, 1, size, size), generator=g, dtype=torch.uint8)


def test_identity_and_a_quarter_turn_are_exact() -> None:
    x = _images()
    eye = torch.eye(3, dtype=torch.float64).expand(4, 3, 3)
    assert torch.equal(warp(x, eye), x)
    # input pixel (x, y) → output (y, 8 − x): torch.rot90's quarter turn of a 9 × 9 image
    quarter = torch.tensor([[0.0, 1.0, 0.0], [-1.0, 0.0, 8.0], [0.0, 0.0, 1.0]],
                           dtype=torch.float64).expand(4, 3, 3)  # fmt: skip
    assert torch.equal(warp(x, quarter), torch.rot90(x, 1, dims=(2, 3)))


def test_homography_maps_the_four_corners() -> None:
    src = torch.tensor([[[0, 0], [8, 0], [8, 8], [0, 8]]], dtype=torch.float64)
    dst = torch.tensor([[[1, 2], [7, 0], [8, 6], [0, 8]]], dtype=torch.float64)
    h = _solve_homography(src, dst)[0]
    pts = torch.cat([src[0], torch.ones(4, 1, dtype=torch.float64)], 1) @ h.T
    assert torch.allclose(pts[:, :2] / pts[:, 2:], dst[0])


def test_rotation_angles_stay_in_range_and_draws_are_seeded() -> None:
    gen = torch.Generator().manual_seed(3)
    hs = random_homographies(500, 28, 28, gen, rotation=10.0, perspective=0.0)
    angles = torch.atan2(hs[:, 1, 0], hs[:, 0, 0]) * 180 / math.pi
    assert angles.abs().max() <= 10.0 and angles.abs().max() > 9.0
    x = _images(8, 16)
    state = torch.Generator().manual_seed(5).get_state()
    first = random_warp(x, torch.Generator().manual_seed(5), 10.0, 0.5)
    resumed = torch.Generator()
    resumed.set_state(state)  # a checkpointed generator draws the same warps
    assert torch.equal(first, random_warp(x, resumed, 10.0, 0.5))
    assert not torch.equal(first, random_warp(x, torch.Generator().manual_seed(6), 10.0, 0.5))
    assert torch.equal(random_warp(x, torch.Generator(), 0.0, 0.0), x)  # off: untouched


def test_perspective_moves_corners_inward_by_at_most_the_scale() -> None:
    gen = torch.Generator().manual_seed(1)
    hs = random_homographies(200, 28, 28, gen, rotation=0.0, perspective=0.5,
                             perspective_p=1.0)  # fmt: skip
    corners = torch.tensor([[0, 0, 1], [27, 0, 1], [27, 27, 1], [0, 27, 1]],
                           dtype=torch.float64)  # fmt: skip
    moved = corners @ hs.transpose(1, 2)
    moved = moved[..., :2] / moved[..., 2:]
    shift = (moved - corners[:, :2]).abs()
    assert float(shift.max()) == pytest.approx(7.0)  # integers up to ⌊0.5 · 28 / 2⌋ = 7
    assert torch.allclose(shift, shift.round(), atol=1e-9)


def test_augmentations_are_a_registry_applied_in_pipeline_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each entry switches on by its config fields, keeps uint8 B×C×H×W, draws from the trial's
    generator only when active (so a seed fixes it), and a new one is one registration."""
    from study.training.augment import AUGMENTATIONS, augment, pipeline, train_batches
    from study.training.config import DataConfig

    assert AUGMENTATIONS.names() == ["crop", "flip", "warp"]
    images = torch.randint(0, 256, (8, 1, 16, 16), generator=torch.Generator().manual_seed(0),
                           dtype=torch.uint8)  # fmt: skip
    every = DataConfig(crop_padding=2, flip=True, rotation=10.0, perspective=0.5)
    assert [type(a).__name__ for a in pipeline(every)] == ["_Crop", "_Flip", "_Warp"]
    none = DataConfig(crop_padding=0, flip=False)
    assert pipeline(none) == []
    gen = torch.Generator().manual_seed(3)
    before = gen.get_state()
    assert torch.equal(augment(images, gen, none), images)
    assert torch.equal(gen.get_state(), before)  # nothing drawn
    for name in AUGMENTATIONS.names():
        step = AUGMENTATIONS.get(name)
        assert step.active(every)
        once = step(images, torch.Generator().manual_seed(4), every)
        again = step(images, torch.Generator().manual_seed(4), every)
        assert once.dtype == torch.uint8 and once.shape == images.shape
        assert torch.equal(once, again) and not torch.equal(once, images)

    class _Invert:
        order = 40

        def active(self, data: DataConfig) -> bool:
            return True

        def __call__(self, x: torch.Tensor, gen: torch.Generator, data: DataConfig) -> torch.Tensor:
            return 255 - x

    monkeypatch.setitem(AUGMENTATIONS._entries, "invert", _Invert())
    labels = torch.arange(8)
    zero = torch.zeros(1, 16, 16)
    ((x, y),) = train_batches(images, labels, 8, torch.Generator().manual_seed(0), zero, none)
    assert torch.allclose(x, (255 - images[y].float()) / 255)
