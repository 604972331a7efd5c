"""Untrusted text on the dashboard: bidi controls shown as what they are, so a name cannot lie.

Server names, memos and reasons are chosen by strangers. Control characters never reach the ledger
(``protocol.records.Text`` refuses them), but bidi embeddings, overrides and isolates are legitimate Unicode
that could still make ``evil‮lanigiro`` read as ``evilorignal`` on a page, or swap the columns a
reader sees. Every value a template prints passes through ``neutralise_bidi`` (the environment's
``finalize``), which replaces each such character with a visible ``[U+202E]``.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

# Embeddings and overrides (U+202A-U+202E), isolates (U+2066-U+2069), and the invisible marks that steer them.
BIDI_CONTROLS = frozenset({*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C})
_SHOWN = {code: f"[U+{code:04X}]" for code in BIDI_CONTROLS}


def neutralise_bidi(value: Any) -> Any:
    """``value`` with every bidi control replaced by its visible name; anything but text as it is."""
    if isinstance(value, Markup):  # markup a template made safe stays markup (the names it adds are plain text)
        return Markup(str.translate(value, _SHOWN))
    if isinstance(value, str):
        return value.translate(_SHOWN)
    return value
