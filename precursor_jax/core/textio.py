"""One way for every reader to open a text file: gzip, byte-order mark, UTF-8 or GB18030, line ends.

Rules (the same for every reader in precursor_jax.data):
- Compressed files are read transparently: a file is gunzipped when its name ends in `.gz` or its
  first two bytes are the gzip magic number 1f 8b (data centres strip suffixes). A damaged gzip
  stream is a DataFormatError naming the file. `logical_name("h1.DAT.gz") == "h1.DAT"` is the name
  a reader matches patterns against, so `h1.DAT.gz` is found wherever `h1.DAT` would be.
- A UTF-8 byte-order mark is dropped. The text is decoded as UTF-8, else as GB18030 (Chinese
  observatory software writes both); bytes that are neither raise a DataFormatError naming the file,
  the line of the first undecodable byte and the encodings tried. UTF-16 (a FF FE or FE FF mark)
  and NUL bytes (a binary file) are refused with the same kind of message.
- CRLF and lone CR line ends become LF, and lines are split on LF only, so line numbers are the
  ones an editor (or `sed -n`) shows, whatever system wrote the file.
"""

from __future__ import annotations

import gzip
import os
import pathlib
import zlib

from precursor_jax.core.errors import DataFormatError

ENCODINGS = ("utf-8", "gb18030")
GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def is_gzip_name(path: str | os.PathLike) -> bool:
  """True when the file name ends in `.gz` (any case)."""
  return os.fspath(path).lower().endswith(".gz")


def logical_name(path: str | os.PathLike) -> str:
  """The file name without a trailing `.gz`: `h1.DAT.gz` -> `h1.DAT`, `BOU.min` -> `BOU.min`."""
  name = pathlib.Path(path).name
  return name[:-3] if is_gzip_name(name) else name


def _is_gzip(path: pathlib.Path) -> bool:
  """A `.gz` name or the gzip magic number in the first two bytes."""
  if is_gzip_name(path):
    return True
  with open(path, "rb") as f:
    return f.read(2) == GZIP_MAGIC


def read_bytes(path: str | os.PathLike, max_bytes: int | None = None) -> bytes:
  """The file's bytes, gunzipped when it is compressed (module docstring); max_bytes: a prefix."""
  path = pathlib.Path(path)
  if not _is_gzip(path):
    if max_bytes is None:
      return path.read_bytes()
    with open(path, "rb") as f:
      return f.read(max_bytes)
  try:
    with gzip.open(path, "rb") as stream:
      return stream.read() if max_bytes is None else stream.read(max_bytes)
  except (gzip.BadGzipFile, EOFError, zlib.error) as error:
    raise DataFormatError(
      path, None, f"expected a gzip-compressed file, cannot inflate it: {error}"
    ) from None


def decode(raw: bytes, path: str | os.PathLike | None = None) -> str:
  """Text of `raw`: BOM dropped, UTF-8 else GB18030, line ends normalised to LF."""
  if raw.startswith(UTF8_BOM):
    raw = raw[len(UTF8_BOM) :]
  elif raw[:2] in _UTF16_BOMS:
    raise DataFormatError(
      path, 1, "is UTF-16 text (byte-order mark FF FE / FE FF); expected UTF-8 or GB18030"
    )
  try:
    text = raw.decode(ENCODINGS[0])
  except UnicodeDecodeError as utf8_error:
    try:
      text = raw.decode(ENCODINGS[1])
    except UnicodeDecodeError:
      start = utf8_error.start
      raise DataFormatError(
        path,
        raw[:start].count(b"\n") + 1,
        f"byte {raw[start]:#04x} at offset {start} is not text in any of the encodings tried "
        f"({', '.join(ENCODINGS)}); expected a UTF-8 (with or without BOM) or GB18030 text file",
      ) from None
  nul = text.find("\x00")
  if nul >= 0:
    raise DataFormatError(
      path, text.count("\n", 0, nul) + 1, "contains a NUL byte: expected a text file, not binary"
    )
  return text.replace("\r\n", "\n").replace("\r", "\n")


def read_text(path: str | os.PathLike) -> str:
  """The whole file as text (gunzipped, BOM dropped, UTF-8 else GB18030, LF line ends)."""
  return decode(read_bytes(path), path)


def split_lines(text: str) -> list[str]:
  """Lines of LF-normalised text, without their ends; no empty last line for a final LF."""
  lines = text.split("\n")
  if lines and lines[-1] == "":
    lines.pop()
  return lines


def read_lines(path: str | os.PathLike) -> list[str]:
  """The file's lines (see read_text); lines[i] is line i + 1 of the file."""
  return split_lines(read_text(path))


def read_head(path: str | os.PathLike, max_bytes: int = 4096) -> str:
  """The first max_bytes (decompressed) of a file as text, for recognising a format by its header.

  Undecodable bytes become U+FFFD instead of raising (a multi-byte character may be cut at the
  end), so any file can be sniffed; a damaged gzip stream still raises DataFormatError.
  """
  raw = read_bytes(path, max_bytes)
  if raw.startswith(UTF8_BOM):
    raw = raw[len(UTF8_BOM) :]
  try:
    text = raw.decode(ENCODINGS[0])
  except UnicodeDecodeError:
    text = raw.decode(ENCODINGS[1], errors="replace")
  return text.replace("\r\n", "\n").replace("\r", "\n")
