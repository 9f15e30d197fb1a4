"""The input-directory rule shared by local and Hadoop listings (deid/spark/listing.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fivesafes.deid.spark.listing import ListedEntry, data_entries
from fivesafes.errors import InputFileError


def entry(name: str, *, is_file: bool = True) -> ListedEntry[str]:
    return ListedEntry(name, is_file, f"/in/{name}", name)


def test_bookkeeping_files_are_skipped_and_data_files_come_in_name_order() -> None:
    listing = [entry("b.csv"), entry("_SUCCESS"), entry(".a.csv.crc"), entry("a.csv")]
    assert data_entries(listing, "/in") == ["a.csv", "b.csv"]


@pytest.mark.parametrize(
    ("listing", "message", "named"),
    [
        ([entry("_SUCCESS")], "holds no data files", "/in"),
        ([entry("a.csv"), entry("b.parquet")], "mixes formats (csv, parquet)", "/in"),
        ([entry("a.csv"), entry("sub", is_file=False)], "not a regular file", "/in/sub"),
    ],
)
def test_a_directory_the_job_cannot_read_whole_is_refused_naming_what(
    listing: list[ListedEntry[str]], message: str, named: str
) -> None:
    with pytest.raises(InputFileError, match=message.replace("(", r"\(").replace(")", r"\)")) as e:
        data_entries(listing, "/in")
    assert e.value.file == named


names = st.text(alphabet="abcdefghij", min_size=1, max_size=8)


@given(st.lists(names, min_size=1, max_size=12, unique=True), st.permutations(range(12)))
def test_the_result_does_not_depend_on_listing_order(stems: list[str], order: list[int]) -> None:
    listing = [entry(f"{stem}.csv") for stem in stems]
    shuffled = [listing[i] for i in order if i < len(listing)]
    assert data_entries(shuffled, "/in") == sorted(f"{stem}.csv" for stem in stems)
