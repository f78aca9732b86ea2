"""The layers of musicnn a classifier head can read (``model.layer``) and their widths.

No torch here: the training command checks ``model.layer`` before torch's seconds-long import.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from genre_lightning.errors import UserError
from genre_lightning.validate import shown

#: Width of each layer a head can read: the penultimate dense layer, the mid-end's max and mean
#: pool over time (753 features each), the 50 tag logits.
LAYERS = {"penultimate": 200, "pooled": 1506, "tags": 50}


def layer_names(layer: Any) -> tuple[str, ...]:
    """``model.layer`` as a tuple of distinct layer names.

    Raises:
        UserError: Not a name or a list of names, an unknown name, an empty list or a name
            twice.
    """
    names: tuple[Any, ...] = (
        (layer,)
        if isinstance(layer, str)
        else tuple(layer)
        if isinstance(layer, Sequence)  # a dict or a number is neither a name nor a list
        else ()
    )
    if (
        not names
        or any(not isinstance(n, str) or n not in LAYERS for n in names)
        or len(set(names)) < len(names)
    ):
        raise UserError(
            f"model.layer={shown(layer)}: use one of {', '.join(LAYERS)}, or a list of distinct "
            f"ones side by side, e.g. model.layer=[penultimate,pooled]"
        )
    return names
