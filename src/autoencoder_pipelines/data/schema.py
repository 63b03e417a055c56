"""The schema of the data a run trained on: what ingestion found (data.validation, data.windows),
and what every later step reads (the feature columns, the classes, the shape of a row).

On disk it is readable JSON (data/02_intermediate/data_schema.json, the scoring bundle's meta):
the keys ingestion set, nothing else, so a file written before this class existed loads, and
one written now reads the same as before."""

from __future__ import annotations

from typing import Any, Optional

from pydantic import BaseModel, ConfigDict


class DataSchema(BaseModel):
    """What ingestion found: feature columns in order, the id and label columns, the classes of
    the label (None: no labels), the shape of a row (images, windows of a series), row counts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str  # the file read, or "sklearn digits"
    features: list[str]
    label_column: Optional[str] = None
    id_column: Optional[str] = None
    classes: Optional[list[Any]] = None  # sorted; None: no label column, or one empty in every row
    image_shape: Optional[list[int]] = None  # [height, width], or [channels, height, width] (colour): rows are images
    n_rows: int
    labelled_rows: Optional[int] = None  # None: counted before partial labels (then every row)
    unlabelled_rows: Optional[int] = None
    dropped_rows: int = 0  # rows with bad cells dropped (data.bad_rows: drop)
    ignored_columns: list[str] = []  # the file's other columns: text, booleans, or not in data.feature_columns
    default_normal_classes: Optional[list[Any]] = None  # the demo's: digit 9 is the anomaly
    # windows of a series (data.source windows): [channels, length], the step between windows
    window_shape: Optional[list[int]] = None
    window_stride: Optional[int] = None
    series_columns: Optional[list[str]] = None
    time_column: Optional[str] = None

    @property
    def n_features(self) -> int:
        return len(self.features)

    @property
    def has_labels(self) -> bool:
        return self.classes is not None

    @property
    def n_classes(self) -> int | None:
        return None if self.classes is None else len(self.classes)

    @property
    def is_images(self) -> bool:
        """Rows are images when the data says its shape (data.image_shape; the bundled digits)."""
        return bool(self.image_shape)

    @property
    def is_windows(self) -> bool:
        return bool(self.window_shape)

    @property
    def window_gap(self) -> int:
        """Windows that share a time step with window k: up to k + gap (length - 1 steps on)."""
        if not self.window_shape or not self.window_stride:
            raise ValueError(f"{self.source}: not windows of a series (no window_shape)")
        return (self.window_shape[1] - 1) // self.window_stride

    @property
    def labelled_count(self) -> int:
        """Rows that carry a label."""
        if not self.has_labels:
            return 0
        return self.n_rows if self.labelled_rows is None else self.labelled_rows

    def to_json(self) -> dict[str, Any]:
        """The JSON on disk: the keys set when the schema was made (or read), in field order."""
        return self.model_dump(mode="json", exclude_unset=True)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "DataSchema":
        return cls.model_validate(data)
