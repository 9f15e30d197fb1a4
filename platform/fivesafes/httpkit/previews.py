"""The disclosure previewer of a request: who acts, and the app's keys, engine and limit.

The API and the pages both preview (and review, which previews an approval) through it.
"""

from __future__ import annotations

from starlette.requests import Request

from fivesafes.access.acting import Acting
from fivesafes.keys.store import KeyStore
from fivesafes.release.preview import Previewer


def previewer(request: Request, acting: Acting) -> Previewer:
    state = request.app.state

    def keys() -> KeyStore:
        keystore: KeyStore = state.keystore  # loaded on first use (a rejection needs none)
        return keystore

    return Previewer(acting, keys, state.engine, state.settings.release_max_rows)
