"""Defusing XLSX decompression bombs before openpyxl opens the workbook.

An XLSX file is a zip archive of XML parts. openpyxl, even in read-only mode, reads the
whole shared-string table into a Python list when the workbook is opened, and parses
every other part it needs in full; a few hundred kilobytes of zip can expand to gigabytes
of XML (a 585 KB workbook with ten million empty shared strings took 1.7 GB and four and
a half minutes). So before openpyxl sees the file:

* every member's *declared* uncompressed size is checked against
  ``xlsx_max_uncompressed_bytes``, and its compression ratio (for parts over 1 MiB)
  against ``xlsx_max_ratio``. Python's :mod:`zipfile` never yields more than the declared
  size (a member that lies is cut there and then fails its CRC), so the declared size
  also bounds what openpyxl can read;
* the shared-string part (found through ``[Content_Types].xml`` exactly as openpyxl
  finds it) is streamed once, counting ``<si>`` elements and actual bytes, and refused as
  soon as either passes its limit, before a single string is kept in memory.

An archive :mod:`zipfile` cannot open is left to openpyxl, which reports it as not a
readable workbook.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from typing import BinaryIO

from fivesafes.deid.io.limits import MIB, ReaderLimits, limit_error, size_text
from fivesafes.errors import InputFileError

#: Members an XLSX workbook may hold (a real one has tens; the central directory is
#: read into memory by zipfile, so a million tiny members is itself a bomb).
MAX_MEMBERS = 10_000
#: Parts smaller than this are not judged by their ratio (tiny parts compress wildly).
RATIO_FLOOR = MIB
_PREFIXED_SI = re.compile(rb"<[A-Za-z_][\w.-]{0,31}:si[\s/>]")
_PLAIN_SI = (b"<si>", b"<si ", b"<si/", b"<si\t", b"<si\n", b"<si\r")
_READ = 1 << 20


def check_workbook(handle: BinaryIO, file: str, limits: ReaderLimits) -> None:
    """Refuse a workbook whose parts or shared strings pass the limits; rewinds ``handle``."""
    position = handle.tell()
    try:
        archive = zipfile.ZipFile(handle)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        handle.seek(position)
        return  # not a zip: openpyxl says so in its own words
    try:
        with archive:
            members = archive.infolist()
            if len(members) > MAX_MEMBERS:
                raise limit_error(
                    f"workbook has {len(members)} parts, more than {MAX_MEMBERS}",
                    "xlsx_max_uncompressed_bytes",
                    file=file,
                )
            for info in members:
                _check_member(info, file, limits)
            strings = _shared_strings_part(archive)
            if strings is not None:
                _count_shared_strings(archive, strings, file, limits)
    finally:
        handle.seek(position)


def _check_member(info: zipfile.ZipInfo, file: str, limits: ReaderLimits) -> None:
    most = limits.xlsx_max_uncompressed_bytes
    part = _part_label(info.filename)
    if info.file_size > most:
        raise limit_error(
            f"workbook part {part} would be {size_text(info.file_size)} uncompressed, "
            f"more than the limit of {size_text(most)}",
            "xlsx_max_uncompressed_bytes",
            file=file,
        )
    if info.file_size > RATIO_FLOOR:
        ratio = info.file_size / max(info.compress_size, 1)
        if ratio > limits.xlsx_max_ratio:
            raise limit_error(
                f"workbook part {part} expands {ratio:,.0f} times when decompressed, "
                f"more than the limit of {limits.xlsx_max_ratio} (a decompression bomb?)",
                "xlsx_max_ratio",
                file=file,
            )


def _part_label(name: str) -> str:
    """A zip member's name as errors show it: only if it has the form of an XLSX part."""
    if re.fullmatch(r"[A-Za-z0-9_./\[\]-]{1,100}", name):
        return repr(name)
    return "(a part with an unusual name)"


def _shared_strings_part(archive: zipfile.ZipFile) -> str | None:
    """The member openpyxl would read as the shared-string table, or None."""
    from openpyxl.packaging.manifest import Manifest  # noqa: PLC0415 - only for XLSX
    from openpyxl.xml.constants import ARC_CONTENT_TYPES, SHARED_STRINGS  # noqa: PLC0415
    from openpyxl.xml.functions import fromstring  # noqa: PLC0415

    try:
        manifest = Manifest.from_tree(fromstring(archive.read(ARC_CONTENT_TYPES)))
    except Exception:
        return None
    found = manifest.find(SHARED_STRINGS)
    if found is None:
        return None
    name = str(found.PartName)[1:]
    return name if name in archive.NameToInfo else None


def _count_shared_strings(
    archive: zipfile.ZipFile, name: str, file: str, limits: ReaderLimits
) -> None:
    """Stream the shared-string part, refusing it once its count or size passes a limit."""
    most = limits.xlsx_max_shared_strings
    count = read = 0
    tail = b""  # text after the last "<" read: a tag that may continue in the next block
    try:
        with archive.open(name) as part:
            while block := part.read(_READ):
                read += len(block)
                if read > limits.xlsx_max_uncompressed_bytes:
                    raise limit_error(
                        f"the shared-string table is larger than "
                        f"{size_text(limits.xlsx_max_uncompressed_bytes)} uncompressed",
                        "xlsx_max_uncompressed_bytes",
                        file=file,
                    )
                buffer = tail + block
                cut = buffer.rfind(b"<")
                cut = len(buffer) if cut < 0 else cut
                count += _count_si(buffer, cut)
                tail = buffer[cut:]
                if count > most:
                    raise _too_many_strings(file, most)
            count += _count_si(tail, len(tail))
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, zlib.error):
        return  # a corrupt part: openpyxl reports it when it reads the workbook
    if count > most:
        raise _too_many_strings(file, most)


def _count_si(data: bytes, end: int) -> int:
    """``<si>`` start tags in ``data[:end]`` (all whole: ``end`` is at a ``<`` or the end).

    Counted with ``bytes.count`` (C speed); a namespace prefix (``<x:si>``), which
    Excel does not write but the format allows, is looked for only if one appears.
    """
    count = sum(data.count(tag, 0, end) for tag in _PLAIN_SI)
    if data.find(b":si", 0, end) >= 0:
        count += sum(1 for _ in _PREFIXED_SI.finditer(data, 0, end))
    return count


def _too_many_strings(file: str, most: int) -> InputFileError:
    return limit_error(
        f"workbook holds more than {most:,} shared strings",
        "xlsx_max_shared_strings",
        file=file,
    )
