"""MNIST's IDX files (http://yann.lecun.com/exdb/mnist/): a 4-byte magic number (two zero
bytes, the element type, the number of dimensions), each dimension as a big-endian int32, then
the elements, big-endian, row-major. gzip-compressed files (.gz) are read as they are."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from autoencoder_pipelines.data.errors import DataValidationError

# the element type codes of the format, and numpy's big-endian type for each
IDX_TYPES = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
             0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
GZIP_MAGIC = b"\x1f\x8b"


def read_idx(path: str | Path, role: str = "data.path") -> np.ndarray:
    """The array an IDX file holds (gzip or not), in native byte order. Refused naming the file
    (and `role`, the setting that named it): missing, empty, not IDX (its magic number), or a
    size that disagrees with its header (truncated, or trailing bytes)."""
    path = Path(path)
    if not path.is_file():
        raise DataValidationError(f"{path}: {'is a directory' if path.is_dir() else 'file not found'} ({role}, an IDX file)")
    raw = path.read_bytes()
    if raw[:2] == GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as error:
            raise DataValidationError(f"{path}: a gzip file that cannot be decompressed ({error}); truncated?") from None
    if len(raw) < 4:
        raise DataValidationError(f"{path}: {len(raw)} bytes; not an IDX file ({role})")
    if raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_TYPES or raw[3] == 0:
        raise DataValidationError(
            f"{path}: not an IDX file: its magic number is {raw[:4].hex()}, expected 0000 then a type code "
            f"({', '.join(f'{code:02x}' for code in IDX_TYPES)}) and the number of dimensions ({role})"
        )
    dtype, ndim = IDX_TYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataValidationError(f"{path}: truncated IDX header ({len(raw)} bytes for {ndim} dimensions)")
    shape = tuple(int(n) for n in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        raise DataValidationError(
            f"{path}: the IDX header says {' x '.join(map(str, shape))} elements of {dtype.itemsize} byte(s) "
            f"({expected} bytes with the header), the file has {len(raw)}: "
            f"{'truncated' if len(raw) < expected else 'trailing bytes'}"
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """An array as an IDX file (gzip when the name ends in .gz): for tests and examples."""
    array = np.asarray(array)
    codes = {dtype.newbyteorder("="): code for code, dtype in IDX_TYPES.items()}
    code = codes.get(array.dtype.newbyteorder("="))
    if code is None:
        raise ValueError(f"IDX holds {', '.join(str(d) for d in codes)}; got {array.dtype}")
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    raw = header + array.astype(IDX_TYPES[code]).tobytes()
    Path(path).write_bytes(gzip.compress(raw) if str(path).endswith(".gz") else raw)
