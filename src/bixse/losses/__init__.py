"""Losses: BiXSE and the objectives the papers compare it with, one per module.

Every loss reads the same batch layout (query, document slots, graded labels; see
``bixse.losses.base``) and is looked up by name:

>>> from bixse.losses import get_loss
>>> loss = get_loss("bixse", model)                        # doctest: +SKIP
"""

# Importing a loss module registers it.
from bixse.losses.base import LAYOUTS, BixseLoss
from bixse.losses.registry import LOSSES, get_loss, register
from bixse.losses import bixse as _bixse  # noqa: F401
from bixse.losses import ring_bixse as _ring_bixse  # noqa: F401
from bixse.losses import infonce as _infonce  # noqa: F401
from bixse.losses import soft_infonce as _soft_infonce  # noqa: F401
from bixse.losses import mw_auc as _mw_auc  # noqa: F401
from bixse.losses import jointlh as _jointlh  # noqa: F401
from bixse.losses import summarglh as _summarglh  # noqa: F401
from bixse.losses import lsepair as _lsepair  # noqa: F401
from bixse.losses import rand1lh as _rand1lh  # noqa: F401
from bixse.losses import ranknet as _ranknet  # noqa: F401
from bixse.losses import margin_mse as _margin_mse  # noqa: F401
from bixse.losses import listwise_kl as _listwise_kl  # noqa: F401

__all__ = ["LAYOUTS", "LOSSES", "BixseLoss", "get_loss", "register"]
