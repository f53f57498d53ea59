from __future__ import annotations

import torch

from study.models import count_parameters, create_model, resnet18


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
