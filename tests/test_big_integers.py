"""Integers beyond 64 bits, which the body parser reads as the nearest float (orjson) where
json keeps them exact (cds/http/body.py `parse_json_body`), change no answer.

Every sample, with every number in its prefetch resources made a 25-digit integer, gets the
same cards over real HTTP from both parsers but for how that number is spelled; and such an
`expires_in` is accepted as json's exact integer was.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from conftest import SAMPLES, LiveServer, load_json
from test_golden import SERVICE_FOR_HOOK, sample_files

from cds.http import body as http_body

BIG = 10**24 + 7
# json's exact integer, and orjson's float as Python prints it (the reader shows what was sent).
SPELLINGS = (str(BIG), repr(float(BIG)))


def _with_huge_numbers(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _with_huge_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_with_huge_numbers(item) for item in value]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return BIG
    return value


def _answer(live_server: LiveServer, request: dict[str, Any], *, exact: bool) -> str:
    url = f"/cds-services/{SERVICE_FOR_HOOK[request['hook']]}"
    with pytest.MonkeyPatch.context() as patch:
        if exact:  # every body through json.loads, as before orjson
            patch.setattr(http_body, "_fast_loads", lambda _raw, _limit: http_body._UNPARSED)
        with live_server.client() as client:
            response = client.post(
                url, content=json.dumps(request), headers={"Content-Type": "application/json"}
            )
    assert response.status_code == 200, response.text
    return response.text


def _cards(answer: str) -> list[Any]:
    """The cards answered, uuids dropped and the huge number's spellings made one."""
    for spelling in SPELLINGS:
        answer = answer.replace(spelling, "<N>")
    cards = json.loads(answer)["cards"]
    for card in cards:
        card.pop("uuid", None)
        for suggestion in card.get("suggestions", []):
            suggestion.pop("uuid", None)
    return cards  # type: ignore[no-any-return]


def _huge(name: str) -> dict[str, Any]:
    request = load_json(SAMPLES / name)
    request["prefetch"] = _with_huge_numbers(request.get("prefetch") or {})
    return request  # type: ignore[no-any-return]


@pytest.mark.parametrize("name", sample_files())
def test_huge_integers_in_the_resources_get_the_cards_exact_integers_get(
    live_server: LiveServer, name: str
) -> None:
    request = _huge(name)

    assert _cards(_answer(live_server, request, exact=False)) == _cards(
        _answer(live_server, request, exact=True)
    )


def test_the_two_parsers_differ_only_in_how_the_number_is_spelled(
    live_server: LiveServer,
) -> None:
    request = _huge("dvt-d-dimer-ddu-positive.json")
    fast = _answer(live_server, request, exact=False)
    exact = _answer(live_server, request, exact=True)

    assert SPELLINGS[1] in fast  # "D-dimer 1e+24 ng/mL ..."
    assert SPELLINGS[0] not in fast
    assert SPELLINGS[0] in exact
    assert SPELLINGS[1] not in exact
    assert _cards(fast) == _cards(exact)


def test_an_expires_in_beyond_64_bits_is_accepted(live_server: LiveServer) -> None:
    request = load_json(SAMPLES / "calf-pain-tachycardia-only.json")
    plain = _cards(_answer(live_server, request, exact=False))
    authorised = copy.deepcopy(request)
    authorised["fhirAuthorization"] = {
        "access_token": "opaque",
        "token_type": "Bearer",
        "expires_in": 10**20,
        "scope": "patient/Observation.read",
        "subject": "calf-cds",
    }

    assert _cards(_answer(live_server, authorised, exact=False)) == plain
    assert _cards(_answer(live_server, authorised, exact=True)) == plain
