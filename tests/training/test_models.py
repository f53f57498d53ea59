from __future__ import annotations

import pytest
import torch

from study.training.models import count_parameters, create_model, resnet18


def test_resnet18_cifar_variant_parameter_count() -> None:
    assert count_parameters(resnet18(num_classes=100, width=64)) == 11_220_132


def test_stem_is_3x3_stride_1_without_max_pool() -> None:
    model = resnet18()
    stem_conv = model.stem[0]
    assert stem_conv.kernel_size == (3, 3) and stem_conv.stride == (1, 1)
    assert not any(isinstance(m, torch.nn.MaxPool2d) for m in model.modules())


def test_width_multiplier_and_small_inputs() -> None:
    model = create_model("resnet18", num_classes=10, width=8, in_channels=1)
    assert model(torch.zeros(2, 1, 8, 8)).shape == (2, 10)
    assert count_parameters(model) < count_parameters(resnet18(num_classes=10, width=16))


def test_vgg5_and_spinal_vgg5_match_the_published_counts() -> None:
    """SpinalNet's EMNIST-Letters code at 1 input channel: 26 and 62 classes."""
    from study.tools.bench import count_macs

    counts = {(name, k): count_parameters(create_model(name, k, 64, 1))
              for name in ("vgg5", "spinal_vgg5") for k in (26, 62)}  # fmt: skip
    assert counts == {
        ("vgg5", 26): 3_654_362, ("vgg5", 62): 3_672_830,
        ("spinal_vgg5", 26): 3_637_978, ("spinal_vgg5", 62): 3_656_446,
    }  # fmt: skip
    macs = count_macs(create_model("vgg5", 26, 64, 1), (1, 28, 28))
    assert macs == pytest.approx(161.03e6, rel=1e-4)


@pytest.mark.parametrize("name", ["vgg5", "spinal_vgg5"])
@pytest.mark.parametrize("size", [16, 28, 32])
def test_vgg5_takes_any_channels_and_inputs_of_16_or_more(name: str, size: int) -> None:
    model = create_model(name, num_classes=10, width=8, in_channels=3).eval()
    assert model(torch.zeros(2, 3, size, size)).shape == (2, 10)
