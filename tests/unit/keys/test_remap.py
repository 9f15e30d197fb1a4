"""The pseudonym generation chain: a keyed permutation per generation, reversible along
the chain, the same in batch and per value, and what each key store keeps of it."""

from __future__ import annotations

import os
import pickle
import stat
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fivesafes.deid.optout import OptOutFilter, carry_digest, optout_digest, optout_filter
from fivesafes.errors import ConfigurationError
from fivesafes.keys.local import LocalFileKeyStore
from fivesafes.keys.pseudonym import Pseudonymiser
from fivesafes.keys.remap import (
    PseudonymChain,
    RemappedPseudonymiser,
    current_generation,
    generation_of,
    remap_key_name,
)
from fivesafes.keys.store import InMemoryKeyStore
from fivesafes.release.pseudonyms import Generations, ProjectPseudonyms

KEYS = tuple(bytes([g]) * 32 for g in range(2, 6))  # remap keys of generations 2..5
CHAIN = PseudonymChain(KEYS)
blocks = st.lists(st.binary(min_size=16, max_size=16), min_size=1, max_size=40)
generations = st.integers(min_value=1, max_value=CHAIN.generation)


@given(blocks, generations, generations)
def test_moving_there_and_back_is_the_identity(values: list[bytes], a: int, b: int) -> None:
    data = b"".join(values)
    moved = CHAIN.move(data, a, b)
    assert CHAIN.move(moved, b, a) == data
    if a != b:
        assert moved != data


@given(blocks, generations, generations, generations)
def test_moves_compose(values: list[bytes], a: int, b: int, c: int) -> None:
    data = b"".join(values)
    assert CHAIN.move(CHAIN.move(data, a, b), b, c) == CHAIN.move(data, a, c)


@given(blocks, st.integers(min_value=1, max_value=CHAIN.generation))
def test_batch_equals_per_value(values: list[bytes], target: int) -> None:
    batch = CHAIN.move(b"".join(values), 1, target)
    step = CHAIN.stepper(1, target)
    assert batch == b"".join(step(v) for v in values)
    hexed = CHAIN.move_hex([v.hex() for v in values], 1, target)
    assert hexed == [batch[i : i + 16].hex() for i in range(0, len(batch), 16)]


@settings(max_examples=50)
@given(st.lists(st.binary(min_size=16, max_size=16), min_size=2, max_size=60, unique=True))
def test_distinct_inputs_stay_distinct(values: list[bytes]) -> None:
    moved = CHAIN.move(b"".join(values), 1, CHAIN.generation)
    out = {moved[i : i + 16] for i in range(0, len(moved), 16)}
    assert len(out) == len(values)


def test_each_generation_is_a_different_permutation() -> None:
    data = os.urandom(16 * 8)
    seen = {CHAIN.move(data, 1, g) for g in range(1, CHAIN.generation + 1)}
    assert len(seen) == CHAIN.generation


def test_direction_is_checked() -> None:
    with pytest.raises(ValueError, match="forward"):
        CHAIN.forward(bytes(16), 3, 2)
    with pytest.raises(ValueError, match="backward"):
        CHAIN.backward(bytes(16), 2, 3)
    with pytest.raises(ValueError, match="multiple of 16"):
        CHAIN.move(bytes(15), 1, 2)
    with pytest.raises(ConfigurationError, match="generation 9 is not known"):
        CHAIN.move(bytes(16), 1, 9)
    with pytest.raises(ValueError, match="hexadecimal"):
        CHAIN.move_hex(["zz" * 16], 1, 2)


def test_remapped_pseudonymiser_is_the_chain_applied_to_the_plain_one() -> None:
    master = b"m" * 32
    plain = Pseudonymiser(master, "nhs_number")
    remapped = RemappedPseudonymiser(master, "nhs_number", CHAIN)
    for number in ("9434765919", "4010232137"):
        expected = CHAIN.move(bytes.fromhex(plain(number)), 1, CHAIN.generation).hex()
        assert remapped(number) == expected
        assert len(remapped(number)) == 32
        assert remapped.matches(number, expected)
    column = ["9434765919", None, "4010232137"]
    assert remapped.many(column) == [remapped("9434765919"), None, remapped("4010232137")]
    assert remapped.many([None]) == [None]
    # Engine workers receive it pickled: the keys travel, contexts are rebuilt.
    clone = pickle.loads(pickle.dumps(remapped))
    assert clone("9434765919") == remapped("9434765919")


def test_opt_out_digests_are_carried_one_way_and_the_filter_follows() -> None:
    key, chain = b"k" * 32, (b"a" * 32, b"b" * 32)
    first = optout_digest(key, "9434765919")
    carried = carry_digest(chain, first)
    assert carried != first
    assert len(carried) == 64
    assert carry_digest((), first) == first
    plain = optout_filter(key, frozenset({first}), ())
    assert type(plain) is OptOutFilter  # generation 1: the unchanged class
    assert plain.contains("9434765919")
    chained = optout_filter(key, frozenset({carried}), chain)
    assert chained.contains("9434765919")
    assert not chained.contains("4010232137")
    assert pickle.loads(pickle.dumps(chained)).contains("9434765919")


def test_names_and_generations() -> None:
    assert remap_key_name(2) == "pseudonym-remap-2"
    assert generation_of("pseudonym-remap-12") == 12
    assert generation_of("pseudonym-remap-1") is None
    assert generation_of("pseudonym-remap-02") is None
    assert generation_of("pseudonym") is None
    assert current_generation(()) == 1
    with pytest.raises(ValueError, match="start at generation 2"):
        remap_key_name(1)


def test_in_memory_store_adds_generations() -> None:
    store = InMemoryKeyStore.generate()
    assert store.pseudonym_remap_keys() == ()
    assert store.add_pseudonym_remap_key() == 2
    assert store.add_pseudonym_remap_key(b"x" * 32) == 3
    assert store.pseudonym_remap_keys()[1] == b"x" * 32
    names = [info.name for info in store.status()]
    assert names[-2:] == ["pseudonym-remap-2", "pseudonym-remap-3"]
    with pytest.raises(ConfigurationError, match="32 bytes"):
        store.add_pseudonym_remap_key(b"short")


def test_local_store_writes_private_files_seen_by_another_instance(tmp_path: Path) -> None:
    folder = tmp_path / "keys"
    writer = LocalFileKeyStore(folder)
    writer.init()
    reader = LocalFileKeyStore(folder)
    assert reader.pseudonym_remap_keys() == ()
    assert writer.add_pseudonym_remap_key() == 2
    target = folder / "pseudonym-remap-2.key"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    # Another process (here: another instance) sees the new generation at once.
    assert reader.pseudonym_remap_keys() == (target.read_bytes(),)
    status = {info.name: info for info in reader.status()}
    assert "pseudonym-remap-2" in status
    assert target.read_bytes().hex() not in repr(status)
    assert writer.add_pseudonym_remap_key() == 3
    (folder / "pseudonym-remap-2.key").unlink()
    with pytest.raises(ConfigurationError, match="lacks remap key\\(s\\) pseudonym-remap-2"):
        LocalFileKeyStore(folder).pseudonym_remap_keys()


def test_local_store_refuses_a_readable_remap_key(tmp_path: Path) -> None:
    store = LocalFileKeyStore(tmp_path / "keys")
    store.init()
    store.add_pseudonym_remap_key()
    os.chmod(tmp_path / "keys" / "pseudonym-remap-2.key", 0o644)
    with pytest.raises(ConfigurationError, match="readable or writable by group"):
        LocalFileKeyStore(tmp_path / "keys").pseudonym_remap_keys()


def test_a_pinned_project_sees_the_same_values_from_any_stored_generation() -> None:
    master, dates = b"p" * 32, b"d" * 32
    first = [os.urandom(16).hex() for _ in range(20)]
    later = CHAIN.move_hex(first, 1, 4)
    stored_1 = pa.array([*first, None])
    stored_4 = pa.array([*later, None])
    today = ProjectPseudonyms(master, dates, 7, 30)
    pinned = ProjectPseudonyms(master, dates, 7, 30, Generations(4, 1, KEYS))
    expected = today.pseudonyms(today.blocks(stored_1)).to_pylist()
    assert pinned.pseudonyms(pinned.blocks(stored_4)).to_pylist() == expected
    assert expected[-1] is None
    offsets = today.offsets(today.blocks(stored_1)).to_pylist()
    assert pinned.offsets(pinned.blocks(stored_4)).to_pylist() == offsets
    assert pinned.key == today.key  # generation 1: derive_key(pseudonym key, "project", id)
    # A project reissued at generation 4 gets a key from remap key 4, and new values.
    reissued = ProjectPseudonyms(master, dates, 7, 30, Generations(4, 4, KEYS))
    assert reissued.key != today.key
    moved = reissued.pseudonyms(reissued.blocks(stored_4)).to_pylist()
    assert set(moved[:-1]).isdisjoint(expected[:-1])
    # Brought forward from an older version to a project pinned later: the same values.
    forward = ProjectPseudonyms(master, dates, 7, 30, Generations(1, 4, KEYS))
    assert forward.pseudonyms(forward.blocks(stored_1)).to_pylist() == moved
    with pytest.raises(ConfigurationError, match="generation 6"):
        Generations(6, 1, KEYS)
