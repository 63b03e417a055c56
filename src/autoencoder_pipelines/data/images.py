"""Images as rows: a folder of PNG or JPEG files (class sub-folders give the labels, as
torchvision's ImageFolder reads them), MNIST's IDX files, and one image file to score.

Each image becomes one row of pixel values (0-255 for 8-bit images) in channel, row, column
order, so an image is scaled, split and trained like any pixel table; the schema's image_shape
([height, width] for grayscale, [3, height, width] for RGB) lets the conv kinds and the figures
see the images again. Pillow reads and resizes them; every problem names the file."""

from __future__ import annotations

import logging
import math
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd

from autoencoder_pipelines.data.errors import DataValidationError
from autoencoder_pipelines.data.frames import LABEL
from autoencoder_pipelines.data.tables import check_file

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
PATH = "path"  # the id column of image rows: the file's path (relative to the folder in training)
GRAY_MODES = {"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}  # one channel (alpha dropped)
BANDS = ("red", "green", "blue")
SHOWN = 10  # files named in a refusal


def is_image_file(path: str | Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def channels_of(mode: str) -> int:
    """1 for grayscale modes (alpha dropped), 3 for colour ones (RGB, RGBA, palette, CMYK, ...)."""
    return 1 if mode in GRAY_MODES else 3


def full_shape(image_shape: list[int] | tuple[int, ...]) -> tuple[int, int, int]:
    """(channels, height, width) of a schema's image_shape ([height, width] is one channel)."""
    return (1, *image_shape) if len(image_shape) == 2 else tuple(image_shape)  # type: ignore[return-value]


def schema_shape(channels: int, height: int, width: int) -> list[int]:
    """The image_shape a schema records: [height, width] for grayscale, [3, height, width] for colour."""
    return [height, width] if channels == 1 else [channels, height, width]


def pixel_names(image_shape: list[int] | tuple[int, ...]) -> list[str]:
    """Feature names in channel, row, column order: pixel_<row>_<col> (as the bundled digits'),
    or red_/green_/blue_<row>_<col>."""
    channels, height, width = full_shape(image_shape)
    prefixes = ["pixel"] if channels == 1 else list(BANDS[:channels])
    return [f"{prefix}_{r}_{c}" for prefix in prefixes for r in range(height) for c in range(width)]


def describe_mode(channels: int) -> str:
    return "grayscale (1 channel)" if channels == 1 else f"colour ({channels} channels)"


def _open(path: Path):
    """The image, its header read (size, mode); DataValidationError naming the file otherwise."""
    from PIL import Image, UnidentifiedImageError

    check_file(path, "PNG or JPEG")
    try:
        return Image.open(path)
    except UnidentifiedImageError:
        raise DataValidationError(f"{path}: not an image Pillow can read (PNG or JPEG expected)") from None
    except OSError as error:
        raise DataValidationError(f"{path}: cannot be read ({error.strerror or error})") from None


def header(path: Path) -> tuple[int, int, int]:
    """(channels, height, width) from the file's header, without decoding its pixels."""
    with _open(path) as image:
        width, height = image.size
        return channels_of(image.mode), height, width


def pixels(path: Path, shape: tuple[int, int, int], resize: bool) -> np.ndarray:
    """The image as a flat float32 row in channel, row, column order, converted to `shape`'s
    channels; resized to its height and width when `resize`, else refused when another size."""
    from PIL import Image

    channels, height, width = shape
    with _open(path) as image:
        try:
            image.load()  # decodes: a truncated or corrupt file fails here
            mode = "L" if channels == 1 else "RGB"
            converted = image if image.mode == mode else image.convert(mode)
            if converted.size != (width, height):
                if not resize:
                    raise DataValidationError(
                        f"{path}: {converted.size[1]}x{converted.size[0]} pixels (height x width); expected {height}x{width}")
                converted = converted.resize((width, height), Image.Resampling.BILINEAR)
            array = np.asarray(converted, dtype=np.float32)
        except DataValidationError:
            raise
        except (OSError, SyntaxError, ValueError) as error:  # Pillow's decoders raise these on broken files
            raise DataValidationError(f"{path}: truncated or corrupt image ({error})") from None
    return (array if channels == 1 else array.transpose(2, 0, 1)).reshape(-1)


def image_files(folder: Path) -> tuple[list[Path], list[Any]]:
    """The folder's image files (sorted, hidden files and other suffixes left out) and each one's
    class: the name of the first-level sub-folder it lies in (None for a file at the top)."""
    if not folder.exists():
        raise DataValidationError(f"{folder}: folder not found (data.path, source 'images')")
    if not folder.is_dir():
        raise DataValidationError(f"{folder}: not a folder; data.source 'images' reads a folder of PNG or JPEG files")
    found, skipped = [], 0
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if not path.is_file() or any(part.startswith(".") for part in relative.parts):
            continue
        if is_image_file(path):
            found.append(path)
        else:
            skipped += 1
    if not found:
        raise DataValidationError(f"{folder}: no image files ({', '.join(IMAGE_SUFFIXES)}) in the folder or its sub-folders")
    if skipped:
        logger.warning("%s: %d file(s) without an image suffix (%s) left out", folder, skipped, ", ".join(IMAGE_SUFFIXES))
    classes = [path.relative_to(folder).parts[0] if len(path.relative_to(folder).parts) > 1 else None for path in found]
    names = {c for c in classes if c is not None}
    if names and all(name.lstrip("-").isdigit() for name in names):  # folders 0..9: the classes are numbers
        classes = [None if c is None else int(c) for c in classes]
    return found, classes


def refuse_or_drop(problems: dict[Path, str], total: int, where: str, bad_rows: str) -> None:
    """One block naming the bad files (the first SHOWN), or a warning when data.bad_rows is drop."""
    if not problems:
        return
    lines = [f"  {message}" for message in list(problems.values())[:SHOWN]]
    more = [f"  ... and {len(problems) - SHOWN} more"] if len(problems) > SHOWN else []
    if bad_rows == "drop":
        logger.warning("%s: left out %d of %d image files that cannot be used (data.bad_rows: drop):\n%s",
                       where, len(problems), total, "\n".join(lines + more))
        return
    raise DataValidationError("\n".join([
        f"{where}: {len(problems)} of {total} image files cannot be used:", *lines, *more,
        "Fix or remove them, or set data.bad_rows: drop to leave them out.",
    ]))


def _sizes_block(where: str, sizes: dict[Path, tuple[int, int]]) -> str:
    groups: dict[tuple[int, int], list[Path]] = {}
    for path, size in sizes.items():
        groups.setdefault(size, []).append(path)
    ordered = sorted(groups.items(), key=lambda item: -len(item[1]))
    root = Path(where)
    lines = [f"  {h}x{w}: {len(paths)} file(s), e.g. {', '.join(p.relative_to(root).as_posix() for p in paths[:3])}"
             for (h, w), paths in ordered[:SHOWN]]
    common = ordered[0][0]
    return "\n".join([
        f"{where}: the images have {len(groups)} sizes (height x width):", *lines,
        f"Set data.image_shape to resize them all to one size, e.g. data.image_shape: [{common[0]}, {common[1]}]",
    ])


def target_shape(headers: dict[Path, tuple[int, int, int]], image_shape: list[int] | None, where: str) -> tuple[int, int, int]:
    """(channels, height, width) to read every image as: data.image_shape's, or the images' own
    size (all one, else refused naming the sizes) and colour when any image has it."""
    channels = 3 if any(c == 3 for c, _, _ in headers.values()) else 1
    if image_shape is not None:
        if len(image_shape) == 3:
            channels = image_shape[0]
        return channels, image_shape[-2], image_shape[-1]
    sizes = {path: (h, w) for path, (_, h, w) in headers.items()}
    if len(set(sizes.values())) > 1:
        raise DataValidationError(_sizes_block(where, sizes))
    height, width = next(iter(sizes.values()))
    return channels, height, width


def read_image_folder(
    folder: str | Path, image_shape: list[int] | None = None, bad_rows: str = "refuse"
) -> tuple[pd.DataFrame, list[int]]:
    """A folder of images as a raw table: `path` (relative to the folder), `label` (the class
    sub-folder's name, an int where every name is a number; empty for a file at the top; no
    column for a flat folder), one column per pixel. And the schema's image_shape. Every file's
    header is read first, so a folder of mixed sizes without data.image_shape, or with bad
    files, is refused before any pixel is decoded."""
    folder = Path(folder)
    where = str(folder)
    files, classes = image_files(folder)
    headers: dict[Path, tuple[int, int, int]] = {}
    problems: dict[Path, str] = {}
    for path in files:
        try:
            headers[path] = header(path)
        except DataValidationError as error:
            problems[path] = str(error)
    refuse_or_drop(problems, len(files), where, bad_rows)
    if not headers:
        raise DataValidationError(f"{where}: none of the {len(files)} image files can be used")
    shape = target_shape(headers, image_shape, where)
    kept = [(path, label) for path, label in zip(files, classes, strict=True) if path in headers]
    changed = Counter(channels for channels, _, _ in headers.values() if channels != shape[0])
    if changed:
        logger.info("%s: %d image(s) converted to %s", where, sum(changed.values()), describe_mode(shape[0]))
    resized = sum(1 for _, h, w in headers.values() if (h, w) != shape[1:])
    if resized:
        logger.info("%s: %d of %d images resized to %dx%d (data.image_shape)", where, resized, len(headers), *shape[1:])
    rows = np.empty((len(kept), math.prod(shape)), dtype=np.float32)
    good = np.ones(len(kept), dtype=bool)
    broken: dict[Path, str] = {}  # a header that reads, pixels that do not (a truncated file)
    for i, (path, _) in enumerate(kept):
        try:
            rows[i] = pixels(path, shape, resize=True)
        except DataValidationError as error:
            broken[path] = str(error)
            good[i] = False
    refuse_or_drop(broken, len(files), where, bad_rows)
    kept = [item for item, ok in zip(kept, good, strict=True) if ok]
    frame = pd.DataFrame(rows[good], columns=pixel_names(schema_shape(*shape)))
    labels = [label for _, label in kept]
    if any(label is not None for label in labels):
        frame.insert(0, LABEL, pd.array(labels, dtype="Int64") if all(isinstance(v, int) or v is None for v in labels)
                     else pd.Series(labels, dtype=object))
    frame.insert(0, PATH, [path.relative_to(folder).as_posix() for path, _ in kept])
    return frame, schema_shape(*shape)


def read_idx_images(images: str | Path, labels: str | Path | None = None,
                    image_shape: list[int] | None = None) -> tuple[pd.DataFrame, list[int]]:
    """MNIST-format IDX files as a raw table: `path` (<file>:<index>), `label` (from the labels
    file, when given), one column per pixel; and the schema's image_shape. The images file
    holds n x height x width values (grayscale); the labels file n values."""
    from autoencoder_pipelines.data.idx import read_idx

    array = read_idx(images, "data.path")
    if array.ndim != 3:
        raise DataValidationError(
            f"{images}: an IDX images file holds n x height x width values; this one is {' x '.join(map(str, array.shape))}")
    n, height, width = array.shape
    values = array.astype(np.float32)
    if image_shape is not None:
        if len(image_shape) == 3 and image_shape[0] != 1:
            raise DataValidationError(f"{images}: IDX images are grayscale; data.image_shape {image_shape} asks for "
                                      f"{image_shape[0]} channels")
        if tuple(image_shape[-2:]) != (height, width):
            values = _resized(values, tuple(image_shape[-2:]))
            logger.info("%s: %d images resized from %dx%d to %dx%d (data.image_shape)",
                        images, n, height, width, *image_shape[-2:])
            height, width = image_shape[-2:]
    frame = pd.DataFrame(values.reshape(n, -1), columns=pixel_names([height, width]))
    if labels is not None:
        classes = read_idx(labels, "data.labels_path")
        if classes.ndim != 1 or len(classes) != n:
            raise DataValidationError(
                f"{labels}: {' x '.join(map(str, classes.shape))} labels for the {n} images of {Path(images).name}; "
                "expected one label per image")
        frame.insert(0, LABEL, classes.astype(np.int64))
    frame.insert(0, PATH, [f"{Path(images).name}:{i}" for i in range(n)])
    return frame, [height, width]


def _resized(values: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    height, width = size
    return np.stack([np.asarray(Image.fromarray(v, mode="F").resize((width, height), Image.Resampling.BILINEAR))
                     for v in values])


class ImageFile:
    """One image file to score (the score pipeline's inbox): a one-row table of its path and
    pixels, read as the model's images were (its size and mode, never resized: another size or
    mode is refused naming the file). The handle the scoring loop streams, as data.TableFile."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not is_image_file(self.path):
            raise DataValidationError(f"{self.path}: not an image file ({', '.join(IMAGE_SUFFIXES)})")

    def __repr__(self) -> str:
        return f"ImageFile({str(self.path)!r})"

    def check(self) -> None:
        """The file exists and is not empty (named otherwise), before anything is written."""
        check_file(self.path, "PNG or JPEG")

    def row(self, image_shape: list[int] | None) -> pd.DataFrame:
        """The file as one row (`path`, the pixel columns) for a model of `image_shape`."""
        if not image_shape:
            raise DataValidationError(f"{self.path}: the model was trained on a table, not on images; score a table file")
        shape = full_shape(image_shape)
        channels, height, width = header(self.path)
        if channels != shape[0]:
            raise DataValidationError(f"{self.path}: a {describe_mode(channels)} image; the model was trained on "
                                      f"{describe_mode(shape[0])} images")
        if (height, width) != shape[1:]:
            raise DataValidationError(f"{self.path}: {height}x{width} pixels (height x width); the model was trained on "
                                      f"{shape[1]}x{shape[2]} images")
        values = pixels(self.path, shape, resize=False)
        frame = pd.DataFrame(values[None, :], columns=pixel_names(image_shape))
        frame.insert(0, PATH, [self.id])
        return frame

    @property
    def id(self) -> str:
        """The file's path: relative to the working folder (the project) when it lies inside it."""
        path = self.path.absolute()
        return (path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path).as_posix()

    def chunks(self, rows: int, text_columns: tuple[str, ...] = (),
               image_shape: list[int] | None = None) -> Iterator[pd.DataFrame]:
        """The one row (`rows` and `text_columns` are the table handle's: an image is one row)."""
        yield self.row(image_shape)

    def count_rows(self) -> int:
        return 1

    def column(self, name: str) -> pd.Series:
        return pd.Series([self.id], name=name)
