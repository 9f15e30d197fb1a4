"""Project pseudonyms and offsets, CSV formula neutralising, streamed Parquet."""

from __future__ import annotations

import io
import secrets

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fivesafes.release.pseudonyms import ProjectPseudonyms
from fivesafes.release.writers import CsvWriter, ParquetWriter, neutralise_formulas

MASTER, DATES = secrets.token_bytes(32), secrets.token_bytes(32)
STORED = pa.array([secrets.token_hex(16) for _ in range(1000)] + [None])


def test_projects_differ_each_is_stable_and_injective() -> None:
    a = ProjectPseudonyms(MASTER, DATES, 1).rekey(STORED).to_pylist()
    again = ProjectPseudonyms(MASTER, DATES, 1).rekey(STORED).to_pylist()
    b = ProjectPseudonyms(MASTER, DATES, 2).rekey(STORED).to_pylist()
    assert a == again
    assert a[-1] is None
    assert not set(a[:-1]) & set(b[:-1])
    assert len(set(a[:-1])) == 1000
    assert all(len(v) == 32 and int(v, 16) >= 0 for v in a[:-1])
    assert not set(a[:-1]) & set(STORED.to_pylist()[:-1])


def test_offsets_are_never_zero_bounded_and_per_patient() -> None:
    p = ProjectPseudonyms(MASTER, DATES, 1, max_days=3)
    offsets = p.offsets(p.blocks(STORED)).to_pylist()
    assert offsets[-1] is None
    assert set(offsets[:-1]) <= {-3, -2, -1, 1, 2, 3}
    twice = pa.array([STORED[0].as_py()] * 5)
    assert len(set(p.offsets(p.blocks(twice)).to_pylist())) == 1


def test_bad_stored_pseudonyms_fail_loudly() -> None:
    with pytest.raises(ValueError, match="32 hex"):
        ProjectPseudonyms(MASTER, DATES, 1).rekey(pa.array(["abc"]))


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+44 7700", "'+44 7700"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("a=b", "a=b"),
        ("", ""),
        (None, None),
    ],
)
def test_formula_cells_are_prefixed(cell: str | None, expected: str | None) -> None:
    assert neutralise_formulas(pa.array([cell], pa.string())).to_pylist() == [expected]


def test_csv_writer_leaves_numbers_and_safe_columns_alone() -> None:
    schema = pa.schema([("n", pa.int64()), ("t", pa.string()), ("p", pa.string())])
    writer = CsvWriter(schema, safe=frozenset({"p"}))
    batch = pa.record_batch([[-5, 3], ["-x", "y"], ["-p", "q"]], schema=schema)
    text = (writer.write(batch) + writer.close()).decode()
    assert text.splitlines() == ['"n","t","p"', '-5,"\'-x","-p"', '3,"y","q"']


def test_parquet_writer_streams_row_groups() -> None:
    schema = pa.schema([("n", pa.int64())])
    writer = ParquetWriter(schema, metadata={"k": "v"})
    parts = [
        writer.write(pa.record_batch([list(range(i, i + 10))], schema=schema)) for i in (0, 10)
    ]
    parts.append(writer.close())
    table = pq.read_table(io.BytesIO(b"".join(parts)))
    assert table.column("n").to_pylist() == list(range(20))
    assert table.schema.metadata[b"k"] == b"v"


def test_parquet_pseudonyms_are_delta_length_encoded_and_read_back() -> None:
    schema = pa.schema([("p", pa.string()), ("sex", pa.string())])
    writer = ParquetWriter(schema, unique=frozenset({"p"}))
    values = [secrets.token_hex(16) for _ in range(1000)] + [None]
    batch = pa.RecordBatch.from_arrays(
        [pa.array(values), pa.array(["F", "M"] * 500 + [None])], schema=schema
    )
    data = writer.write(batch) + writer.close()
    file = pq.ParquetFile(io.BytesIO(data))
    chunk = file.metadata.row_group(0)
    assert "DELTA_LENGTH_BYTE_ARRAY" in chunk.column(0).encodings
    assert "RLE_DICTIONARY" in chunk.column(1).encodings  # repeated values keep a dictionary
    assert file.read().column("p").to_pylist() == values


def test_decoded_and_hex_pseudonyms_give_the_same_blocks() -> None:
    values = [secrets.token_hex(16) for _ in range(50)]
    values[3] = None  # type: ignore[call-overload]
    values[17] = None  # type: ignore[call-overload]
    hex_array = pa.array(values, pa.string())
    raw = pa.array([None if v is None else bytes.fromhex(v) for v in values], pa.binary())
    for stored in (hex_array, hex_array.slice(2, 30)):
        decoded = raw if len(stored) == 50 else raw.slice(2, 30)
        a, b = ProjectPseudonyms.blocks(stored), ProjectPseudonyms.blocks(decoded)
        assert a.data == b.data
        assert (a.missing == b.missing).all()  # type: ignore[union-attr]
    # A NULL slot may still hold bytes (Arrow allows it): they are not taken for a value.
    offsets = pa.array([0, 16, 20, 36], pa.int32())
    data = bytes(range(16)) + b"junk" + bytes(range(16, 32))
    validity = pa.array([True, False, True]).buffers()[1]
    odd = pa.Array.from_buffers(
        pa.binary(), 3, [validity, offsets.buffers()[1], pa.py_buffer(data)]
    )
    blocks = ProjectPseudonyms.blocks(odd)
    assert blocks.data == bytes(range(16)) + bytes(16) + bytes(range(16, 32))
    with pytest.raises(ValueError, match="not 16 bytes"):
        ProjectPseudonyms.blocks(pa.array([b"short"], pa.binary()))


def test_parquet_statistics_for_numbers_and_dates_not_text() -> None:
    schema = pa.schema([("p", pa.string()), ("day", pa.date32()), ("n", pa.int64())])
    writer = ParquetWriter(schema, unique=frozenset({"p"}))
    batch = pa.RecordBatch.from_arrays(
        [pa.array(["a", "b"]), pa.array([1, 400], pa.date32()), pa.array([3, -2])],
        schema=schema,
    )
    data = writer.write(batch) + writer.close()
    group = pq.ParquetFile(io.BytesIO(data)).metadata.row_group(0)
    assert group.column(0).statistics is None or not group.column(0).statistics.has_min_max
    assert group.column(2).statistics.min == -2
    assert str(group.column(1).statistics.max) == "1971-02-05"
