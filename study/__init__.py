"""lossbench's study library: configs, data, losses, one training loop, tracking, the runner.

Its Python API (`study.api`) is re-exported here: `study.run`, `study.resume`,
`study.status`, `study.load`, `study.compare`, `study.report`. They are imported at first use
(PEP 562), so that importing a part of `study` (the contract, the store) imports nothing else.
"""

from typing import Any

__version__ = "0.1.0"
__all__ = ["compare", "load", "report", "resume", "run", "status"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from study import api

        return getattr(api, name)
    raise AttributeError(f"module 'study' has no attribute {name!r}")
