"""MLflow's rules for what a tracking store holds, as its `SqlAlchemyStore` applies them,
for the store's own SQL writer (`sql_writes`): a metric value as stored, a tag value's
length, and the error of a param logged again with another value."""

from __future__ import annotations

import logging
import math
import sys
from collections.abc import Mapping
from typing import Any, NoReturn

logger = logging.getLogger(__name__)

TAG_CHARS = 8000  # MLflow keeps at most this much of a tag value (`MAX_TAG_VAL_LENGTH`)


def sanitized(value: float) -> tuple[float, bool]:
    """MLflow's stored (value, is_nan) of a metric (`SqlAlchemyStore.sanitize_metric_value`)."""
    if math.isnan(value):
        return 0.0, True
    if math.isinf(value):
        return (sys.float_info.max if value > 0 else -sys.float_info.max), False
    return value, False


def cut_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """Tag values cut at MLflow's limit, with its warning."""
    out = {}
    for key, value in tags.items():
        if len(value) > TAG_CHARS:
            logger.warning("tag %s's value (%d characters) is truncated to %d characters to "
                           "meet the length limit", key, len(value), TAG_CHARS)  # fmt: skip
        out[key] = value[:TAG_CHARS]
    return out


def changed_param(param: Mapping[str, Any], old: str) -> NoReturn:
    """MLflow's error for a param logged again with another value."""
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

    change = [{"key": param["key"], "old_value": old, "new_value": param["value"]}]
    raise MlflowException(
        f"Changing param values is not allowed. Params were already logged='{change}' "
        f"for run ID='{param['run_uuid']}'.",
        INVALID_PARAMETER_VALUE,
    )
