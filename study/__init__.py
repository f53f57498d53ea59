"""lossbench's study library: configs, data, losses, one training loop, tracking, the runner."""

__version__ = "0.1.0"
