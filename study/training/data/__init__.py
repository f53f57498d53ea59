"""Datasets by name: one module per source (`cifar`: the CIFAR pickles, `digits`: scikit-learn's
digits, `emnist`: EMNIST-Letters through torchvision, `fake`: fake CIFAR-100 and EMNIST writers
for tests) registered in `registry.DATASETS`, and `loading`: noise, subsample and holdout for
a trial."""

from study.training.data import cifar, digits, emnist  # noqa: F401  (registers the sources)
from study.training.data.cifar import ensure_available
from study.training.data.fake import (
    CIFAR100_FINE_TO_COARSE,
    write_fake_cifar100,
    write_fake_emnist_letters,
)
from study.training.data.loading import load_dataset, preflight
from study.training.data.registry import (
    DATASETS,
    Dataset,
    DatasetSource,
    Split,
    list_datasets,
    stratified_holdout,
)

__all__ = [
    "CIFAR100_FINE_TO_COARSE", "DATASETS", "Dataset", "DatasetSource", "Split",
    "ensure_available", "list_datasets", "load_dataset", "preflight", "stratified_holdout",
    "write_fake_cifar100", "write_fake_emnist_letters",
]  # fmt: skip
