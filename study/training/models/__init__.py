"""Models behind one registry (`create_model(name, num_classes, width, in_channels)`):
`resnet18` (the CIFAR variant of the first paper) and `vgg5`, `spinal_vgg5` (SpinalNet's VGG-5
of the second paper's EMNIST-Letters leaderboard)."""

from study.training.models import resnet, vgg  # noqa: F401  (registers the models)
from study.training.models.registry import MODELS, count_parameters, create_model
from study.training.models.resnet import resnet18

__all__ = ["MODELS", "count_parameters", "create_model", "resnet18"]
