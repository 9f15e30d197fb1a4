"""A thin typed wrapper over the ``rocrate`` library's crate: entities by id, once each.

``rocrate`` writes the RO-Crate metadata descriptor and root entity and serialises the
graph; it is only ever given entities as dictionaries (``ContextEntity``) and files by
name without a source, so it never opens a file or a URL (``fetch_remote`` stays False:
the platform never touches the network; tests build crates with sockets blocked).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from urllib.parse import quote

from rocrate.model.contextentity import ContextEntity  # type: ignore[import-untyped]
from rocrate.rocrate import ROCrate  # type: ignore[import-untyped]

from fivesafes.crate.terms import RO_CRATE_VERSION


def ref(entity_id: str) -> dict[str, str]:
    return {"@id": entity_id}


def refs(ids: list[str]) -> list[dict[str, str]]:
    return [ref(i) for i in ids]


def local_id(kind: str, key: object) -> str:
    """A crate-local ``#`` identifier (quoted: usernames and names become IRI-safe)."""
    return f"#{kind}-{quote(str(key), safe='')}"


def when(value: datetime | date | None) -> str | None:
    """RFC 3339 with its timezone (every platform time is aware, in UTC), or a date."""
    return None if value is None else value.isoformat()


class Graph:
    """The crate being built: add each entity once; the root is set last."""

    def __init__(self) -> None:
        self._crate = ROCrate(version=RO_CRATE_VERSION)
        self._ids: set[str] = set()

    def add(self, entity_id: str, entity_type: str | list[str], **properties: Any) -> str:
        if entity_id not in self._ids:
            shown = {k: v for k, v in properties.items() if v is not None}
            self._crate.add(
                ContextEntity(self._crate, entity_id, properties={"@type": entity_type, **shown})
            )
            self._ids.add(entity_id)
        return entity_id

    def add_file(self, member: str, **properties: Any) -> str:
        """A data entity in the crate (a zip member): described, never read by rocrate."""
        self._crate.add_file(
            dest_path=member,
            fetch_remote=False,
            validate_url=False,
            properties={k: v for k, v in properties.items() if v is not None},
        )
        self._ids.add(member)
        return member

    def root(self, **properties: Any) -> None:
        for key, value in properties.items():
            if value is not None:
                self._crate.root_dataset[key] = value

    def generate(self) -> dict[str, Any]:
        metadata: dict[str, Any] = self._crate.metadata.generate()
        return metadata
