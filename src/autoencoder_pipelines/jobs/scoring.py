"""The trained scorer: validation, scaling, codes, anomaly score and flag, class prediction.

One object holds everything fitted in training (schema, scaler, the reduction autoencoder,
the anomaly detector, the classifier), so a scoring job can never mix a scaler of one run
with a model of another. The `score` pipeline and the MLflow model both use it, so both
score rows identically. It is saved as one file of tensors plus JSON (nn.serialization).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import pandas as pd
import torch
from torch import nn

from autoencoder_pipelines.data.errors import DataValidationError
from autoencoder_pipelines.data.frames import FLOAT32_MAX, ID, LABEL
from autoencoder_pipelines.data.images import PATH
from autoencoder_pipelines.data.scaling import scaler_bounds
from autoencoder_pipelines.data.schema import DataSchema
from autoencoder_pipelines.data.tables import check_unique_columns
from autoencoder_pipelines.data.validation import check_features
from autoencoder_pipelines.jobs.monitoring import ReferenceProfile
from autoencoder_pipelines.nn.detector import AutoencoderDetector
from autoencoder_pipelines.nn.networks import EncoderClassifier
from autoencoder_pipelines.nn.serialization import read_bundle, save_bundle

IDS_SHOWN = 5  # duplicate ids named in a refusal


def check_ids(ids: pd.Series, column: str, source: str) -> None:
    """Ids must be present and unique within a file: every scored row is traced back by its id."""
    missing = int(ids.isna().sum())
    if missing:
        raise DataValidationError(f"{source}: column '{column}' (id): {missing} missing id(s)")
    duplicated = ids[ids.duplicated(keep=False)]
    if len(duplicated):
        shown = [str(value) for value in pd.unique(duplicated)[:IDS_SHOWN]]
        raise DataValidationError(
            f"{source}: column '{column}' (id): {len(duplicated)} rows share {duplicated.nunique()} id(s), "
            f"e.g. {shown}; ids must be unique within a file"
        )


class Scorer:
    # Rows per forward pass. Rows are scored in these batches from the start of a file, so a
    # file scored in chunks of a multiple of it gets exactly the numbers it gets scored whole.
    batch_rows = 4096

    def __init__(
        self,
        schema: DataSchema,
        scaler: dict[str, Any],
        autoencoder: nn.Module,
        detector: AutoencoderDetector,
        classifier: EncoderClassifier | None,
        example: list[dict[str, Any]] | None = None,
        profile: ReferenceProfile | None = None,
    ) -> None:
        """`example`: a few raw input rows (MLflow's input example, a smoke test for a copy).
        `profile`: the training rows' reference profile, what scoring runs are compared with
        (jobs/monitoring.py); None in a scorer saved before monitoring existed."""
        self.schema = schema
        self.scaler = scaler
        self.autoencoder = autoencoder.cpu().eval()
        self.detector = detector
        self.classifier = None if classifier is None else classifier.cpu().eval()
        self.example = example or []
        self.profile = profile
        # the fitted scaling, in the feature order of the rows scored
        order = {name: i for i, name in enumerate(scaler["features"])}
        index = [order[name] for name in self.features]
        low, span = scaler_bounds(scaler)
        self._low, self._span = low[index], span[index]
        self._classes = pd.Index(schema.classes) if schema.has_labels else None

    @property
    def features(self) -> list[str]:
        return self.schema.features

    @property
    def code_size(self) -> int:
        return self.autoencoder.code_size

    def input_example(self) -> pd.DataFrame | None:
        return pd.DataFrame(self.example) if self.example else None

    def _check_columns(self, frame: pd.DataFrame, source: str) -> None:
        allowed = {c for c in (self.schema.id_column, self.schema.label_column, ID, LABEL, self._path_column) if c}
        allowed |= set(self.schema.ignored_columns)  # in the training file too, and left out of the features there
        check_unique_columns(list(frame.columns), source)
        columns = [str(c) for c in frame.columns]
        missing = [c for c in self.features if c not in columns]
        unexpected = [c for c in columns if c not in self.features and c not in allowed]
        if missing or unexpected:
            parts = []
            if missing:
                parts.append(f"{len(missing)} training feature column(s) missing, e.g. {missing[:5]}")
            if unexpected:
                parts.append(f"{len(unexpected)} column(s) the model was not trained on, e.g. {unexpected[:5]}")
            raise DataValidationError(f"{source}: " + "; ".join(parts))

    def _features(self, frame: pd.DataFrame, source: str) -> np.ndarray:
        """The feature cells as one float32 matrix, after the checks: exactly the training
        features (plus id/label columns), rows, every cell a finite number within float32's range. Numeric columns are checked on
        the matrix itself (its minimum and maximum); anything else, or a failure, goes through
        data.BadCells, which names the file, line (or row), column and value."""
        self._check_columns(frame, source)
        if len(frame) == 0:
            raise DataValidationError(f"{source}: no rows")
        features = frame[self.features]
        if all(isinstance(dtype, np.dtype) and dtype.kind in "fiub" for dtype in features.dtypes):
            with np.errstate(over="ignore"):
                values = features.to_numpy(dtype="float32")  # beyond float32's range becomes inf
            low, high = values.min(), values.max()  # nan when a cell is nan
            if -FLOAT32_MAX < low and high < FLOAT32_MAX:
                return values
        check_features(frame, self.features, source, "Fix or remove those rows; the file is scored once it is fixed.")
        return features.to_numpy(dtype="float32")  # BadCells passed: numbers as text, nullable types

    @torch.no_grad()
    def _score_values(self, values: np.ndarray) -> dict[str, np.ndarray]:
        """Scale (as in training: float64, then float32) and score rows in batches of `batch_rows`."""
        rows = len(values)
        codes = np.empty((rows, self.code_size), dtype="float32")
        errors = np.empty(rows, dtype="float32")
        if self.classifier is not None:
            best = np.empty(rows, dtype="int64")
            probability = np.empty(rows, dtype="float32")
        # one batch's scaled rows, row-major (a frame's matrix is column-major: strided rows
        # would slow every layer), reused for every batch
        wide = np.empty((min(self.batch_rows, rows), values.shape[1]), dtype="float64")
        scaled = np.empty(wide.shape, dtype="float32")
        reasons: list[dict[str, np.ndarray]] = []  # why a flagged row is flagged: its features by share of its error
        for start in range(0, rows, self.batch_rows):
            stop = min(start + self.batch_rows, rows)
            np.subtract(values[start:stop], self._low, out=wide[: stop - start])
            np.divide(wide[: stop - start], self._span, out=scaled[: stop - start], casting="same_kind")
            x = torch.from_numpy(scaled[: stop - start])
            codes[start:stop] = self.autoencoder.encode(x).numpy()
            errors[start:stop] = self.detector.decision_function(x)
            reasons.append(self.detector.reasons(x, self.features, errors[start:stop] > self.detector.threshold_))
            if self.classifier is not None:
                top = self.classifier.predict_proba(x).max(dim=1)
                best[start:stop], probability[start:stop] = top.indices.numpy(), top.values.numpy()
        out = {f"z_{i}": codes[:, i] for i in range(self.code_size)}
        out["reconstruction_error"] = errors
        out["is_anomaly"] = errors > self.detector.threshold_
        for column in reasons[0]:
            values = np.concatenate([part[column] for part in reasons])
            # text even where no row of a chunk is flagged: every chunk of a file one Parquet schema
            out[column] = pd.array(values, dtype="string") if column.startswith("top_feature") else values
        if self.classifier is not None:
            out["predicted_class"] = self._classes.take(best)  # the classes' own dtype
            out["predicted_probability"] = probability
        return out

    @property
    def _path_column(self) -> str | None:
        """An image model's rows may carry their file's path (data.images.PATH), their id when
        the model has no id column of its own (the bundled digits)."""
        return PATH if self.schema.is_images else None

    def _score_frame(
        self, frame: pd.DataFrame, source: str, require_id: bool, first_row: int,
        observe: Callable[[np.ndarray, pd.DataFrame], None] | None = None,
    ) -> pd.DataFrame:
        frame = frame.rename(columns=str)
        id_column = self.schema.id_column or (self._path_column if self._path_column in frame.columns else None)
        if require_id and id_column and id_column not in frame.columns:
            raise DataValidationError(f"{source}: the id column '{id_column}' (data.id_column of the model) is missing")
        values = self._features(frame, source)
        if id_column in frame.columns:
            check_ids(frame[id_column], id_column, source)
            ids = frame[id_column].astype(str).to_numpy()
        else:
            ids = (f"{source}:" + pd.Series(np.arange(first_row, first_row + len(frame))).astype(str)).to_numpy()
        scored = pd.DataFrame({ID: ids, **self._score_values(values)})
        if observe is not None:
            observe(values, scored)
        return scored

    def score(self, frame: pd.DataFrame, source: str = "rows", require_id: bool = False) -> pd.DataFrame:
        """One output row per input row: id, z_*, reconstruction_error, is_anomaly, top_feature_i and
        top_share_i (the flagged rows' features with the largest shares of their error; empty for
        the others), predicted_class, probability.

        The id is the row's value in the id column the model was trained with (`data.id_column`),
        else `<source>:<row>` (the row's position in `source`, from 0), so ids from different
        files never collide. `require_id`: a model trained with an id column refuses rows without it."""
        return self._score_frame(frame, source, require_id, 0)

    def score_chunks(
        self,
        chunks: Iterable[pd.DataFrame],
        source: str = "rows",
        require_id: bool = False,
        ids_of_source: Callable[[], pd.Series] | None = None,
        observe: Callable[[np.ndarray, pd.DataFrame], None] | None = None,
    ) -> Iterator[pd.DataFrame]:
        """`score` for rows that come in chunks (a file read in parts): the scored chunks, each as
        `score` would score those rows of the whole file. Every check of `score` holds across
        chunks: ids are unique in the whole source (checked on 64-bit hashes, 8 bytes a row; a
        suspected duplicate is confirmed on `ids_of_source()`, the whole id column, which the
        refusal names). The check across chunks raises after the last chunk: a writer of the
        chunks must keep its output unpublished until the iteration ends. `observe(values,
        scored)`, when given, sees each chunk's feature matrix (float32, as scored) and its
        scored rows (monitoring tallies them)."""
        id_column = self.schema.id_column or self._path_column
        hashes: list[np.ndarray] = []
        first_row = 0
        for chunk in chunks:
            scored = self._score_frame(chunk, source, require_id, first_row, observe)  # ids unique in the chunk
            if id_column in chunk.columns:
                hashes.append(pd.util.hash_array(scored[ID].to_numpy(dtype=object)))
            first_row += len(chunk)
            yield scored
        if first_row == 0:
            raise DataValidationError(f"{source}: no rows")
        if len(hashes) > 1:
            ordered = np.sort(np.concatenate(hashes))
            if (ordered[1:] == ordered[:-1]).any():
                if ids_of_source is None:
                    raise DataValidationError(f"{source}: column '{id_column}' (id): ids repeat across chunks; "
                                              "ids must be unique within a file")
                check_ids(ids_of_source(), id_column, source)  # passes on a mere hash collision

    def profiled(self, training: pd.DataFrame, heldout: pd.DataFrame, grid: int, psi_bins: int) -> "Scorer":
        """This scorer with the reference profile scoring runs are compared with: the feature
        values of the `training` rows, and the reconstruction errors and flags of the `heldout`
        rows (rows the models never trained on), both raw and scored exactly as a scoring run
        scores them."""
        values = self._features(training, "training rows")
        scored = self.score(heldout[self.features], source="held-out rows")
        self.profile = ReferenceProfile.build(
            self.features, values, scored["reconstruction_error"].to_numpy(), scored["is_anomaly"].to_numpy(),
            self.detector.threshold_, grid, psi_bins,
        )
        return self

    def save(self, path: str | Path) -> None:
        parts = {"autoencoder": self.autoencoder, "detector": self.detector}
        if self.classifier is not None:
            parts["classifier"] = self.classifier
        meta = {"schema": self.schema.to_json(), "scaler": self.scaler, "example": self.example}
        tensors = None
        if self.profile is not None:  # its numbers as tensors, the rest as JSON
            meta["profile"] = self.profile.to_json()
            tensors = {f"profile.{name}": torch.from_numpy(np.ascontiguousarray(array))
                       for name, array in self.profile.arrays().items()}
        save_bundle(path, parts, meta=meta, tensors=tensors)

    @classmethod
    def load(cls, path: str | Path) -> "Scorer":
        return cls.from_parts(*read_bundle(path))

    @classmethod
    def from_parts(cls, meta: dict[str, Any], parts: dict[str, Any], tensors: dict[str, Any] | None = None) -> "Scorer":
        profile = None
        if "profile" in meta:
            arrays = {name.removeprefix("profile."): tensor.numpy() for name, tensor in (tensors or {}).items()
                      if name.startswith("profile.")}
            profile = ReferenceProfile.from_saved(meta["profile"], arrays)
        return cls(DataSchema.from_json(meta["schema"]), meta["scaler"], parts["autoencoder"], parts["detector"],
                   parts.get("classifier"), meta.get("example"), profile)

