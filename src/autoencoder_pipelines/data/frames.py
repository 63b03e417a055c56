"""The frames passed between nodes: the reserved columns `id`, optionally `label`, then the
feature columns in schema order; the split of them a model trains on (ModelInput); labels,
tensors, and the bundled digits."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from autoencoder_pipelines.data.schema import DataSchema

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    import torch


ID, LABEL = "id", "label"
RESERVED = (ID, LABEL, "split")


def load_digits_frame() -> pd.DataFrame:
    """scikit-learn's bundled 8x8 digits: 1,797 real images, 10 classes, no download."""
    from sklearn.datasets import load_digits

    bunch = load_digits(as_frame=True)
    frame = bunch.frame.rename(columns={"target": LABEL})
    return frame


# The largest finite float32: features become float32 tensors, so a larger value would become inf.
FLOAT32_MAX = float(np.finfo(np.float32).max)
FLOAT32_MAX_SHOWN = "3.4e38"


def shown_names(columns: Any, limit: int = 10) -> str:
    """`['a', 'b', ... (12 in all)]`. Quoted: a name is told from its neighbours, and Kedro's
    console (Rich markup) would swallow `[a, b]` in a log line as a style tag."""
    names = [repr(str(c)) for c in columns]
    return "[" + ", ".join(names[:limit]) + (f", ... ({len(names)} in all)" if len(names) > limit else "") + "]"


def native(value: Any) -> Any:
    """numpy scalar -> Python value, for JSON and for readable messages."""
    return value.item() if hasattr(value, "item") else value


@dataclass(frozen=True, eq=False)
class ModelInput:
    """The split a model trains and is measured on (data/05_model_input): training, validation
    and test rows, scaled, and the schema they follow. The test rows are for evaluation only."""

    train: pd.DataFrame
    val: pd.DataFrame
    test: pd.DataFrame
    schema: DataSchema

    PARTS = ("train", "val", "test")

    def parts(self) -> dict[str, pd.DataFrame]:
        return {name: getattr(self, name) for name in self.PARTS}

    def values(self, part: str) -> np.ndarray:
        """The feature cells of one part, float32."""
        return getattr(self, part)[self.schema.features].to_numpy(dtype="float32")


def features_tensor(frame: pd.DataFrame, schema: DataSchema, device: "torch.device | str" = "cpu") -> "torch.Tensor":
    import torch

    # torch.tensor copies: pandas may hand out read-only arrays (copy-on-write).
    return torch.tensor(frame[schema.features].to_numpy(dtype="float32"), device=device)


def labels_tensor(frame: pd.DataFrame, schema: DataSchema, device: "torch.device | str" = "cpu") -> "torch.Tensor":
    import torch

    index = {value: i for i, value in enumerate(schema.classes or [])}
    classes = frame[LABEL].map(index)
    if classes.isna().any():  # a caller's bug, not the user's: name it plainly
        raise ValueError(f"labels_tensor: {int(classes.isna().sum())} of {len(frame)} rows have no label; "
                         "pass labelled_part(frame)")
    return torch.tensor(classes.to_numpy(dtype="int64"), device=device)


def is_labelled(frame: pd.DataFrame) -> pd.Series:
    """Per row: does it carry a label (False for every row of a frame without a label column)."""
    if LABEL not in frame.columns:
        return pd.Series(False, index=frame.index)
    return frame[LABEL].notna()


def labelled_part(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows with a label: what the classifiers train and are measured on."""
    return frame[is_labelled(frame).to_numpy()]


def stratified_sample(frame: pd.DataFrame, fraction: float, seed: int) -> pd.DataFrame:
    """`fraction` of the labelled rows of each class (rounded, at least one per class), drawn
    with `seed`. The draws are nested: with the same seed, a smaller fraction's rows are a
    subset of a larger one's, so a curve over fractions adds labels rather than redrawing them."""
    if not 0 < fraction <= 1:
        raise ValueError(f"a fraction of the labelled rows must be in (0, 1]; got {fraction}")
    rng = np.random.default_rng(seed)
    labelled = labelled_part(frame)
    chosen: list[np.ndarray] = []
    for _, rows in sorted(labelled.groupby(LABEL, sort=False).indices.items(), key=lambda item: str(item[0])):
        order = rng.permutation(len(rows))  # one order per class, whatever the fraction
        chosen.append(rows[order[: max(1, int(round(fraction * len(rows))))]])
    positions = np.sort(np.concatenate(chosen)) if chosen else np.array([], dtype=int)
    return labelled.iloc[positions]


class Skipped:
    """Stands in for an output that could not be made (Kedro cannot save None).

    E.g. the classifier when the data has no labels; consumers check `isinstance`.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __repr__(self) -> str:
        return f"Skipped({self.reason!r})"
