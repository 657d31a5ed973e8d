"""The loss registry: name -> class, filled by each loss module's ``@register`` decorator."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from bixse.losses.base import BixseLoss

LOSSES: dict[str, type[BixseLoss]] = {}


def register(name: str) -> Callable[[type[BixseLoss]], type[BixseLoss]]:
    def add(loss_class: type[BixseLoss]) -> type[BixseLoss]:
        LOSSES[name] = loss_class
        return loss_class
    return add


def get_loss(name: str, model: nn.Module | None = None, **params: Any) -> BixseLoss:
    """Build the loss registered as ``name`` for ``model`` with the given parameters."""
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose one of: {', '.join(sorted(LOSSES))}")
    return LOSSES[name](model, **params)
