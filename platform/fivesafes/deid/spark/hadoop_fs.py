"""The driver's view of ``hdfs://``, ``s3a://``, ``abfss://`` (any Hadoop file system).

The job reads and writes such URIs through the JVM Spark already runs (Py4J to Hadoop's
``FileSystem``), configured as the cluster configures Spark (credentials, endpoints,
Kerberos): no second client, no library that would reach the network by itself. The
driver uses it for little: listing an input directory, reading the first file's header
(a few kilobytes, or a Parquet footer, by random access), and writing the signed
manifest beside the part files. The data itself is read and written by the executors.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fivesafes.deid.io.types import StreamInput
from fivesafes.deid.spark.listing import ListedEntry, data_entries
from fivesafes.errors import InputFileError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

#: How much the driver asks for per round trip when it reads a header.
READ_BLOCK = 1 << 20


@dataclass(frozen=True, slots=True)
class HadoopFile:
    """One data file: its fully qualified URI (as Spark's file sources name it), its size,
    and its label: the URI as the operator wrote it, which errors name."""

    uri: str
    name: str
    size: int
    label: str


class HadoopFileSystem:
    """The Hadoop file system of one URI, through the session's JVM."""

    def __init__(self, spark: SparkSession, uri: str) -> None:
        context: Any = spark.sparkContext
        self._jvm: Any = context._jvm
        self._gateway: Any = context._gateway
        self._path: Any = self._jvm.org.apache.hadoop.fs.Path(uri)
        self._fs: Any = self._path.getFileSystem(context._jsc.hadoopConfiguration())

    def _java_path(self, uri: str) -> Any:
        return self._jvm.org.apache.hadoop.fs.Path(uri)

    def qualified(self, uri: str) -> str:
        """``uri`` as Spark's file sources spell it (scheme and authority filled in)."""
        return str(self._fs.makeQualified(self._java_path(uri)).toString())

    def exists(self, uri: str) -> bool:
        return bool(self._fs.exists(self._java_path(uri)))

    def data_files(self, uri: str) -> list[HadoopFile]:
        """``uri`` itself, or a directory's data files in name order, one format only.

        The same rule as for a local directory: hidden and ``_``-prefixed files are
        bookkeeping (Spark's, Hadoop's) and skipped; anything else must be a data file of
        the directory's one format, or the job is refused naming it.
        """
        path = self._java_path(uri)
        if not self._fs.exists(path):
            raise InputFileError("input not found", file=uri)
        status = self._fs.getFileStatus(path)
        if not status.isDirectory():
            return [self._file(status, uri)]
        entries = []
        for child in self._fs.listStatus(path):
            name = str(child.getPath().getName())
            location = str(child.getPath().toString())
            item = self._file(child, f"{uri.rstrip('/')}/{name}") if child.isFile() else None
            entries.append(ListedEntry(name, bool(child.isFile()), location, item))
        return [file for file in data_entries(entries, uri) if file is not None]

    def _file(self, status: Any, label: str) -> HadoopFile:
        qualified = self._fs.makeQualified(status.getPath())
        name = str(qualified.getName())
        return HadoopFile(str(qualified.toString()), name, int(status.getLen()), label)

    def stream_input(self, file: HadoopFile) -> StreamInput:
        """``file`` for the local readers: opened on demand, read by random access."""

        def opener() -> io.BufferedReader:
            return io.BufferedReader(_HadoopReadable(self, file), buffer_size=READ_BLOCK)

        return StreamInput(name=file.label, opener=opener, size=file.size, seekable=True)

    def open_input(self, uri: str) -> Any:
        return self._fs.open(self._java_path(uri))

    def write_new(self, uri: str, data: bytes) -> None:
        """Write ``data`` to ``uri`` via a temporary name and a rename: it appears whole.

        The rename refuses to replace an existing file; HDFS renames atomically, object
        stores (s3a://) copy, which still never shows a partial manifest under its name.
        """
        target = self._java_path(uri)
        temporary = self._java_path(uri + ".tmp")
        stream = self._fs.create(temporary, False)
        try:
            stream.write(data)
            stream.hsync()
        finally:
            stream.close()
        if not self._fs.rename(temporary, target):
            self._fs.delete(temporary, False)
            raise OSError(f"{uri}: could not be written (it exists, or the rename failed)")


class _HadoopReadable(io.RawIOBase):
    """A seekable, read-only file over a Hadoop input stream (a few calls per header)."""

    def __init__(self, fs: HadoopFileSystem, file: HadoopFile) -> None:
        super().__init__()
        self._fs = fs
        self._size = file.size
        self._stream: Any = fs.open_input(file.uri)
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer: Any) -> int:
        wanted = min(len(buffer), READ_BLOCK, max(0, self._size - self._position))
        if wanted == 0:
            return 0
        self._stream.seek(self._position)
        # A byte[] returned by a Java method crosses Py4J by value, in one piece.
        data = bytes(self._stream.readNBytes(wanted))
        count = len(data)
        if count == 0:
            return 0
        view = memoryview(buffer).cast("B")
        view[:count] = data
        self._position += count
        return count

    def close(self) -> None:
        if not self.closed:
            self._stream.close()
        super().close()
