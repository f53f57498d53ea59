"""Random rotation and perspective, per sample, as one batched projective warp on the images'
device (torch's `grid_sample`; no per-image loop).

The second paper's recipe (SpinalNet's EMNIST scripts): torchvision's RandomPerspective
(distortion scale 0.5, probability 0.5) then RandomRotation(10°). Here both are one 3×3
homography per image, H = R · P, applied with bilinear sampling and zero fill:

* P maps the image's four corners to corners moved inward by up to `perspective`·half the
  side (torchvision's `RandomPerspective.get_params`: each corner offset uniform in
  [0, ⌊d·w/2⌋] × [0, ⌊d·h/2⌋] toward the centre), applied with probability `perspective_p`;
  otherwise P = I;
* R rotates by an angle uniform in [−`rotation`, `rotation`] degrees about the centre.

Draws from the trial's generator, in this order: B perspective coins, B × 4 × 2 corner
offsets, B angles (drawn whether used or not, so the stream does not depend on the coins), so
the seed fixes every warp and a resumed trial (the generator is in its checkpoint) draws the
same. Coordinates are pixel centres; output pixel x takes the input at H⁻¹x.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def _solve_homography(src: torch.Tensor, dst: torch.Tensor) -> torch.Tensor:
    """B × 3 × 3 homographies mapping the 4 points `src` (B × 4 × 2) onto `dst`."""
    b = src.shape[0]
    x, y = src[..., 0], src[..., 1]
    u, v = dst[..., 0], dst[..., 1]
    zeros, ones = torch.zeros_like(x), torch.ones_like(x)
    rows_u = torch.stack([x, y, ones, zeros, zeros, zeros, -u * x, -u * y], dim=-1)
    rows_v = torch.stack([zeros, zeros, zeros, x, y, ones, -v * x, -v * y], dim=-1)
    a = torch.cat([rows_u, rows_v], dim=1)  # B × 8 × 8
    rhs = torch.cat([u, v], dim=1)[..., None]
    h = torch.linalg.solve(a, rhs)[..., 0]
    return torch.cat([h, torch.ones(b, 1, dtype=h.dtype, device=h.device)], 1).view(b, 3, 3)


def random_homographies(
    b: int, h: int, w: int, gen: torch.Generator, rotation: float, perspective: float,
    perspective_p: float = 0.5,
) -> torch.Tensor:  # fmt: skip
    """B × 3 × 3 homographies H = R·P in pixel coordinates (module docstring), float64."""
    dev = gen.device
    coins = torch.rand(b, generator=gen, device=dev) < perspective_p
    corners = torch.tensor([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], dtype=torch.float64)
    corners = corners.to(dev).expand(b, 4, 2)
    limit = torch.tensor([math.floor(perspective * w / 2), math.floor(perspective * h / 2)],
                         dtype=torch.float64, device=dev)  # fmt: skip
    offsets = torch.rand(b, 4, 2, generator=gen, device=dev, dtype=torch.float64)
    offsets = torch.floor(offsets * (limit + 1))  # integers in [0, limit], as torchvision
    inward = torch.tensor([[1, 1], [-1, 1], [-1, -1], [1, -1]], dtype=torch.float64, device=dev)
    moved = corners + offsets * inward * coins[:, None, None].to(torch.float64)
    persp = _solve_homography(corners.clone(), moved)
    angle = (torch.rand(b, generator=gen, device=dev, dtype=torch.float64) * 2 - 1) * rotation
    theta = angle * math.pi / 180
    cx, cy = (w - 1) / 2, (h - 1) / 2
    cos, sin = torch.cos(theta), torch.sin(theta)
    rot = torch.zeros(b, 3, 3, dtype=torch.float64, device=dev)
    rot[:, 0, 0], rot[:, 0, 1], rot[:, 1, 0], rot[:, 1, 1] = cos, -sin, sin, cos
    rot[:, 0, 2] = cx - cos * cx + sin * cy
    rot[:, 1, 2] = cy - sin * cx - cos * cy
    rot[:, 2, 2] = 1.0
    return rot @ persp


def warp(images: torch.Tensor, homographies: torch.Tensor) -> torch.Tensor:
    """Apply B × 3 × 3 pixel-coordinate homographies to uint8 B × C × H × W images: output
    pixel x samples the input at H⁻¹x (bilinear, zero fill); returns uint8."""
    b, _, h, w = images.shape
    inv = torch.linalg.inv(homographies.to(images.device))
    ys, xs = torch.meshgrid(
        torch.arange(h, dtype=torch.float64, device=images.device),
        torch.arange(w, dtype=torch.float64, device=images.device),
        indexing="ij",
    )
    pts = torch.stack([xs, ys, torch.ones_like(xs)], dim=-1).view(1, -1, 3)
    src = pts @ inv.transpose(1, 2)  # B × HW × 3
    src = src[..., :2] / src[..., 2:]
    # pixel centres → grid_sample's [−1, 1] (align_corners=True: −1 and 1 are the end pixels)
    grid = torch.stack([src[..., 0] / (w - 1) * 2 - 1, src[..., 1] / (h - 1) * 2 - 1], dim=-1)
    out = F.grid_sample(images.float(), grid.view(b, h, w, 2).float(), mode="bilinear",
                        padding_mode="zeros", align_corners=True)  # fmt: skip
    return out.round_().clamp_(0, 255).to(torch.uint8)


def random_warp(
    images: torch.Tensor, gen: torch.Generator, rotation: float, perspective: float,
    perspective_p: float = 0.5,
) -> torch.Tensor:  # fmt: skip
    """`warp` with `random_homographies`; the images unchanged when both are 0 (nothing drawn)."""
    if rotation <= 0 and perspective <= 0:
        return images
    b, _, h, w = images.shape
    return warp(images, random_homographies(b, h, w, gen, rotation, perspective, perspective_p))
