"""A hook request body in one pass: the envelope and every prefetch value decoded together.

The plain path (`jsonio.envelope` over `jsonio.json_object`) reads the body three times: as an
object with undecoded members, the prefetch as values still undecoded, then each value into the
FHIR reader's elements. A request in the usual shape (only the members CDS Hooks 2.0 names, each
prefetch value a well-formed FHIR value or null) is decoded here in one pass instead, the
envelope's own members left raw and then decoded as the plain path decodes them. Any other body
(an unknown member, a malformed value, a lone surrogate, not JSON at all) goes the plain path,
which names what is wrong. The pass paid for itself in the profile of a served worker
(bench/README.md); tests/test_hook_body_fast.py proves both paths give the same request.
"""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import UNSET, Raw, UnsetType

from .config import Settings
from .fhir.elements import Value
from .jsonio import decode_member, envelope, json_object


class _HookBody(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    hook: Raw | UnsetType = UNSET
    hookInstance: Raw | UnsetType = UNSET
    fhirServer: Raw | UnsetType = UNSET
    fhirAuthorization: Raw | UnsetType = UNSET
    context: Raw | UnsetType = UNSET
    prefetch: dict[str, Value | None] | UnsetType | None = UNSET
    extension: Raw | UnsetType = UNSET


_DECODER = msgspec.json.Decoder(_HookBody)


def hook_members(raw: bytes, settings: Settings) -> dict[str, Any]:
    """A hook request's members as `jsonio.envelope` gives them, but each prefetch value
    decoded (`Value`, None for null) when the body is in the usual shape."""
    try:
        body = _DECODER.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
        return envelope(json_object(raw, settings).members, settings)
    members: dict[str, Any] = {}
    for name in body.__struct_fields__:
        member = getattr(body, name)
        if member is UNSET:
            continue
        members[name] = member if name == "prefetch" else decode_member(member, settings)
    return members
