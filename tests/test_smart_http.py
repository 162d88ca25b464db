"""The red-flag check over real HTTP (issue 20): calf-cds and `calf-cds dev-ehr` both served on
loopback, a cookie-keeping client as the browser. Launch, sign-in and its failures (allowlist,
state, PKCE, token endpoint, expiry), the form (CSRF, escaping), the write-back and its
failures (whole, partial), and the cards after it."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from conftest import REPO, SAMPLE_CLOCK, SAMPLES, load_json
from conftest_smart import (
    BROWSER_ACCEPT,
    CLIENT_ID,
    DVT_SAMPLE,
    SmartWorld,
    answer_names,
    csrf_of,
    sample_patient,
    smart_link,
    written,
)
from loopback import closed_port_url, connection_attempted, silent_listener

import cds.smart.session
from cds.fhir.resources import problems
from cds.observability import JsonFormatter
from cds.smart.dev_ehr import create_dev_ehr
from cds.smart.dev_ehr_store import PARTIAL, WHOLE
from cds.smart.oauth import SCOPES
from cds.smart.session import COOKIE_NAME

PATIENT = sample_patient()


def signed_in(world: SmartWorld, browser: httpx.Client, *, with_context: bool = True) -> str:
    """Launch from the DVT card's link and sign in; the form page's HTML."""
    link = smart_link(world.hook())
    response = world.launch(browser, PATIENT, link["appContext"] if with_context else None)
    assert response.status_code == 200, response.text
    assert str(response.url).endswith("/smart/form")
    return response.text


def to_the_callback(world: SmartWorld, browser: httpx.Client) -> str:
    """Follow the launch up to (not into) the app's callback; its URL (code and state)."""
    response = browser.get(
        f"{world.ehr_url}/launch",
        params={"patient": PATIENT, "url": f"{world.url}/smart/launch"},
        follow_redirects=False,
    )
    for _ in range(3):
        location = response.headers["location"]
        if "/smart/callback" in location:
            return location
        response = browser.get(location, follow_redirects=False)
    raise AssertionError("no redirect to the callback")


def session_file(world: SmartWorld) -> Path:
    (path,) = world.session_dir.glob("*.json")
    return path


def every_answer(page: str, value: str = "absent", **overrides: str) -> dict[str, str]:
    form = {name: value for name in answer_names(page)}
    form.update(overrides)
    form["csrf"] = csrf_of(page)
    return form


def statements_for(page: str) -> int:
    """The Observations a fully answered form makes with WELLS_3: one per question, two for a
    question whose legs differ (the four WELLS_3 legs: present left, absent right)."""
    names = answer_names(page)
    unsided = [name for name in names if ":" not in name]
    legs = {name.split(":")[0] for name in names if ":" in name}
    return len(unsided) + len(legs) + len(WELLS_3)


def checked(page: str) -> dict[str, str]:
    return dict(re.findall(r'name="([^"]+)" value="([a-z-]+)" checked', page))


WELLS_3 = {
    "F-LEG-SWELLING:left": "present",
    "F-CALF-SWELLING-3CM:left": "present",
    "F-PITTING-EDEMA:left": "present",
    "F-DEEP-VEIN-TENDERNESS:left": "present",
}


@pytest.fixture
def browser() -> Iterator[httpx.Client]:
    with httpx.Client(follow_redirects=True, timeout=20, headers={"Accept": BROWSER_ACCEPT}) as c:
        yield c


# --- the card's link and discovery ------------------------------------------------------------


def test_a_card_with_unrecorded_items_links_to_the_app(smart_world: SmartWorld) -> None:
    card = smart_world.hook()

    link = smart_link(card)
    context = json.loads(link["appContext"])
    own = card["extension"]["example.calf-cds"]
    assert link["label"] == "Complete the red-flag check"
    assert link["url"] == f"{smart_world.url}/smart/launch"
    assert context["hookInstance"] == load_json(SAMPLES / DVT_SAMPLE)["hookInstance"]
    assert context["ruleId"] == own["ruleId"] == "R-DVT-PATHWAY"
    assert context["findings"] == own["missingItems"]
    assert {"F-ACTIVE-CANCER", "F-ALTERNATIVE-DX-LIKELY", "F-WARMTH"} <= set(context["findings"])
    assert context["evaluationTime"] == "2026-11-25T12:00:00+00:00"  # the sample's own


@pytest.mark.parametrize(
    "smart_overrides", [{"public_base_url": "https://cds.hospital.example"}], indirect=True
)
def test_the_link_and_discovery_use_the_public_base_url(smart_world: SmartWorld) -> None:
    link = smart_link(smart_world.hook())
    discovery = httpx.get(f"{smart_world.url}/cds-services").json()

    assert link["url"] == "https://cds.hospital.example/smart/launch"
    for service in discovery["services"]:
        app = service["extension"]["example.calf-cds"]["smartApp"]
        assert app["launchUrl"] == "https://cds.hospital.example/smart/launch"
        assert app["redirectUri"] == "https://cds.hospital.example/smart/callback"
        assert app["scopes"] == SCOPES
        assert app["link"]["label"] == "Complete the red-flag check"


def test_the_data_quality_card_carries_no_smart_link(smart_world: SmartWorld) -> None:
    body = load_json(SAMPLES / "prefetch-operation-outcome-conditions.json")
    cards = httpx.post(f"{smart_world.url}/cds-services/calf-pain-triage", json=body).json()
    quality = [c for c in cards["cards"] if "ruleId" not in c["extension"]["example.calf-cds"]]

    assert quality
    assert all("links" not in card for card in quality)


def test_without_a_client_id_there_is_no_link_and_no_app(client: Any) -> None:
    answer = client.post("/cds-services/calf-pain-triage", json=load_json(SAMPLES / DVT_SAMPLE))
    page = client.get("/smart/launch?iss=x&launch=y", headers={"Accept": BROWSER_ACCEPT})
    api = client.get("/smart/launch?iss=x&launch=y")
    discovery = client.get("/cds-services").get_json()

    assert all(
        link["type"] == "absolute" for card in answer.get_json()["cards"] for link in card["links"]
    )
    assert page.status_code == 404
    assert "not enabled" in page.get_data(as_text=True)
    assert api.status_code == 404
    assert api.get_json()["resourceType"] == "OperationOutcome"
    assert all("extension" not in service for service in discovery["services"])


# --- launch -----------------------------------------------------------------------------------


def test_an_iss_not_on_the_allowlist_is_refused_without_any_fetch(
    smart_world: SmartWorld, browser: httpx.Client
) -> None:
    with silent_listener() as (url, sock):
        response = browser.get(
            f"{smart_world.url}/smart/launch", params={"iss": url + "/fhir", "launch": "abc"}
        )

        assert response.status_code == 400
        assert "not registered with calf-cds" in response.text
        assert response.headers["content-type"].startswith("text/html")
        assert not connection_attempted(sock)
    assert COOKIE_NAME not in browser.cookies


@pytest.mark.parametrize("character", ["\t", "\n", "\r", "\x01", " "])
def test_an_iss_with_a_control_character_or_space_is_refused_not_a_500(
    smart_world: SmartWorld, browser: httpx.Client, character: str
) -> None:
    response = browser.get(
        f"{smart_world.url}/smart/launch",
        params={"iss": f"{smart_world.fhir_base}{character}x", "launch": "abc"},
    )

    assert response.status_code == 400
    assert "no valid `iss`" in response.text
    assert COOKIE_NAME not in browser.cookies


def test_a_launch_without_launch_is_refused(smart_world: SmartWorld, browser: httpx.Client) -> None:
    response = browser.get(f"{smart_world.url}/smart/launch", params={"iss": smart_world.fhir_base})

    assert response.status_code == 400
    assert "open the app from the EHR" in response.text
    assert ("GET", "/fhir/.well-known/smart-configuration") not in smart_world.ehr.requests


def test_an_ehr_without_smart_configuration_gets_a_clear_page(tmp_path: Path) -> None:
    from conftest import serving
    from conftest_smart import FakeClock, app_config

    from cds import create_app

    down = closed_port_url()
    application = create_app(app_config(tmp_path, down, FakeClock()))
    with serving(application) as url:
        response = httpx.get(
            f"{url}/smart/launch",
            params={"iss": down + "/fhir", "launch": "x"},
            headers={"Accept": BROWSER_ACCEPT},
        )

    assert response.status_code == 502
    assert "SMART configuration could not be reached" in response.text


def test_the_launch_redirects_to_authorize_with_pkce_state_launch_and_aud(
    smart_world: SmartWorld, browser: httpx.Client
) -> None:
    launched = browser.get(
        f"{smart_world.ehr_url}/launch",
        params={"patient": PATIENT, "url": f"{smart_world.url}/smart/launch"},
        follow_redirects=False,
    )
    response = browser.get(launched.headers["location"], follow_redirects=False)
    query = {k: v[0] for k, v in parse_qs(urlsplit(response.headers["location"]).query).items()}
    stored = json.loads(session_file(smart_world).read_text())
    cookie = response.headers["set-cookie"]

    assert response.status_code == 302
    assert response.headers["location"].startswith(f"{smart_world.ehr_url}/oauth/authorize?")
    assert query["response_type"] == "code"
    assert query["client_id"] == CLIENT_ID
    assert query["redirect_uri"] == f"{smart_world.url}/smart/callback"
    assert query["scope"] == SCOPES
    assert query["aud"] == smart_world.fhir_base
    assert query["launch"] == parse_qs(urlsplit(launched.headers["location"]).query)["launch"][0]
    assert query["code_challenge_method"] == "S256"
    assert query["code_challenge"] == create_s256_code_challenge(stored["code_verifier"])
    assert query["state"] == stored["state"]
    assert len(query["state"]) >= 20
    for part in ("HttpOnly", "SameSite=Lax", "Path=/smart", "Max-Age=900"):
        assert part in cookie
    assert stored["code_verifier"] not in cookie
    assert stored["state"] not in cookie


def test_the_access_token_stays_on_the_server(
    smart_world: SmartWorld, browser: httpx.Client
) -> None:
    page = signed_in(smart_world, browser)
    stored = json.loads(session_file(smart_world).read_text())

    token = stored["access_token"]
    assert token in smart_world.ehr.tokens
    assert token not in page
    assert all(token not in value for value in browser.cookies.values())
    assert stored["fhir_user"] == "Practitioner/dev-clinician"  # from the verified id_token
    assert stored["patient"] == PATIENT
    assert stored["state"] is None  # used once
    assert stored["code_verifier"] is None


# --- callback: state, PKCE, token endpoint ----------------------------------------------------


def test_a_callback_with_another_state_is_refused_before_any_token_request(
    smart_world: SmartWorld, browser: httpx.Client
) -> None:
    callback = to_the_callback(smart_world, browser)
    forged = re.sub(r"state=[^&]+", "state=forged-state", callback)

    response = browser.get(forged)

    assert response.status_code == 400
    assert "state mismatch" in response.text
    assert ("POST", "/oauth/token") not in smart_world.ehr.requests
    assert browser.get(callback).status_code == 400  # the real state was spent too


def test_a_callback_is_used_once(smart_world: SmartWorld, browser: httpx.Client) -> None:
    callback = to_the_callback(smart_world, browser)
    assert browser.get(callback).status_code == 200

    replayed = browser.get(callback)

    assert replayed.status_code == 400
    assert "already used" in replayed.text


def test_the_dev_ehr_token_endpoint_checks_the_pkce_verifier(
    smart_world: SmartWorld, browser: httpx.Client
) -> None:
    callback = to_the_callback(smart_world, browser)
    code = parse_qs(urlsplit(callback).query)["code"][0]
    verifier = json.loads(session_file(smart_world).read_text())["code_verifier"]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": f"{smart_world.url}/smart/callback",
        "client_id": CLIENT_ID,
    }
    token_url = f"{smart_world.ehr_url}/oauth/token"

    missing = httpx.post(token_url, data=form)
    wrong = httpx.post(token_url, data={**form, "code_verifier": "w" * 64})
    right = httpx.post(token_url, data={**form, "code_verifier": verifier})

    assert missing.status_code == 400
    assert missing.json()["error"] == "invalid_request"
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_grant"
    assert right.status_code == 200
    assert right.json()["patient"] == PATIENT


def test_a_wrong_verifier_ends_on_a_clear_page_with_no_token(
    smart_world: SmartWorld, browser: httpx.Client
) -> None:
    callback = to_the_callback(smart_world, browser)
    path = session_file(smart_world)
    stored = json.loads(path.read_text())
    path.write_text(json.dumps({**stored, "code_verifier": "x" * 64}))

    response = browser.get(callback)

    assert response.status_code == 502
    assert "refused the sign-in at its token endpoint (invalid_grant)" in response.text
    assert json.loads(path.read_text())["access_token"] is None
    assert browser.get(f"{smart_world.url}/smart/form").status_code == 401


def test_a_failing_token_endpoint_ends_on_a_clear_page(
    smart_world: SmartWorld, browser: httpx.Client
) -> None:
    smart_world.ehr.token_fault = True

    response = browser.get(to_the_callback(smart_world, browser))

    assert response.status_code == 502
    assert "token endpoint did not answer" in response.text
    assert "Traceback" not in response.text


def test_an_ehr_that_refuses_the_sign_in_gets_a_clear_page(
    smart_world: SmartWorld, browser: httpx.Client
) -> None:
    callback = to_the_callback(smart_world, browser)
    refused = callback.split("?")[0] + "?error=access_denied&state=whatever"

    response = browser.get(refused)

    assert response.status_code == 400
    assert "did not grant access (access_denied)" in response.text


# --- the session ------------------------------------------------------------------------------


def test_an_expired_session_asks_to_open_the_app_again(
    smart_world: SmartWorld, browser: httpx.Client
) -> None:
    page = signed_in(smart_world, browser)
    smart_world.clock.now += 901

    shown = browser.get(f"{smart_world.url}/smart/form")
    posted = browser.post(f"{smart_world.url}/smart/form", data=every_answer(page))

    assert shown.status_code == 401
    assert "Your session has ended" in shown.text
    assert posted.status_code == 401
    assert list(smart_world.session_dir.glob("*.json")) == []  # deleted once expired
    assert written(smart_world, PATIENT) == []


def test_a_forged_cookie_finds_no_session(smart_world: SmartWorld, browser: httpx.Client) -> None:
    signed_in(smart_world, browser)
    browser.cookies.set(COOKIE_NAME, "x" * 43, domain="127.0.0.1", path="/smart")

    assert browser.get(f"{smart_world.url}/smart/form").status_code == 401


def test_a_post_without_the_csrf_token_is_refused(
    smart_world: SmartWorld, browser: httpx.Client
) -> None:
    page = signed_in(smart_world, browser)

    response = browser.post(
        f"{smart_world.url}/smart/form", data={**every_answer(page), "csrf": "forged"}
    )

    assert response.status_code == 400
    assert "CSRF" in response.text
    assert written(smart_world, PATIENT) == []


# --- the form ---------------------------------------------------------------------------------


def test_the_form_asks_the_cards_items_pre_filled_with_their_dates(
    smart_world: SmartWorld, browser: httpx.Client
) -> None:
    page = signed_in(smart_world, browser)

    assert "Perry Example" in page
    assert 'data-row="F-ALTERNATIVE-DX-LIKELY"' in page  # a Wells item
    assert 'data-row="F-WARMTH"' in page  # a red-flag item of the card
    assert 'data-row="F-COLD-LIMB.pallor"' not in page  # not asked by this card
    # Leg swelling recorded without a side: a note, no leg pre-filled.
    assert "Recorded without a side: present, 2026-11-25" in page
    assert checked(page)["F-LEG-SWELLING:left"] == "not-examined"
    assert page.count('type="radio"') == 3 * len(answer_names(page))


def test_without_app_context_the_app_works_from_the_patient_alone(
    smart_world: SmartWorld, browser: httpx.Client
) -> None:
    page = signed_in(smart_world, browser, with_context=False)

    assert 'data-row="F-PULSELESS"' in page  # the default check asks the foot pulses
    assert 'data-row="F-ACTIVE-CANCER"' in page


def test_markup_in_patient_data_is_shown_as_text(
    smart_world: SmartWorld, browser: httpx.Client
) -> None:
    evil = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
    smart_world.ehr.store.load(
        [{"resourceType": "Patient", "id": "xss", "name": [{"text": evil}], "gender": evil}]
    )

    page = smart_world.launch(browser, "xss")

    assert page.status_code == 200
    assert "<img src=x" not in page.text
    assert "<script>alert" not in page.text
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"


# --- write-back -------------------------------------------------------------------------------


def test_a_saved_check_writes_valid_observations_and_shows_the_new_cards(
    smart_world: SmartWorld, browser: httpx.Client
) -> None:
    page = signed_in(smart_world, browser)
    form = every_answer(page, **WELLS_3)

    result = browser.post(f"{smart_world.url}/smart/form", data=form)

    assert result.status_code == 200
    assert str(result.url).endswith("/smart/result")
    assert "DVT likely (Wells 3): proximal leg-vein ultrasound within 4 h" in result.text
    assert "Wells 3 (likely)" in result.text
    observations = written(smart_world, PATIENT)
    assert len(observations) == statements_for(page) == 21
    responses = [
        r
        for (kind, _), r in smart_world.ehr.store.resources.items()
        if kind == "QuestionnaireResponse"
    ]
    (response,) = responses
    assert problems(response) == []
    for observation in observations:
        assert problems(observation) == []
        assert observation["performer"] == [{"reference": "Practitioner/dev-clinician"}]
        assert observation["effectiveDateTime"] == SAMPLE_CLOCK
        assert observation["derivedFrom"] == [
            {"reference": f"QuestionnaireResponse/{response['id']}"}
        ]


def test_the_next_hook_call_reads_the_saved_check(
    smart_world: SmartWorld, browser: httpx.Client
) -> None:
    before = smart_world.hook()
    page = signed_in(smart_world, browser)
    browser.post(f"{smart_world.url}/smart/form", data=every_answer(page, **WELLS_3))
    request = load_json(SAMPLES / DVT_SAMPLE)
    del request["prefetch"]["observations"]  # fetched from the EHR, as an EHR without it
    request["fhirServer"] = smart_world.fhir_base
    request["fhirAuthorization"] = {
        "access_token": smart_world.ehr.issue_token(PATIENT),
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "patient/Observation.rs",
        "subject": CLIENT_ID,
    }

    after = httpx.post(f"{smart_world.url}/cds-services/calf-pain-triage", json=request).json()
    card = after["cards"][0]
    own = card["extension"]["example.calf-cds"]

    assert before["summary"].startswith("Possible DVT (Wells incomplete")
    assert card["summary"].startswith("DVT likely (Wells 3)")
    assert own["wells"]["classification"] == "likely"
    assert all(item["status"] != "not-recorded" for item in own["wells"]["items"])
    assert "Complete the Wells items; until then treat as likely." not in own["nextSteps"]
    assert "missingItems" not in own  # everything the card asks is recorded now
    assert all(link["type"] == "absolute" for link in card["links"])


def test_answers_already_on_record_are_not_written_again(
    smart_world: SmartWorld, browser: httpx.Client
) -> None:
    page = signed_in(smart_world, browser)
    browser.post(f"{smart_world.url}/smart/form", data=every_answer(page, **WELLS_3))
    count = len(written(smart_world, PATIENT))

    again = browser.get(f"{smart_world.url}/smart/form")
    resent = browser.post(f"{smart_world.url}/smart/form", data=every_answer(again.text, **WELLS_3))

    assert "Recorded absent, 2026-11-25" in again.text
    assert checked(again.text)["F-DEEP-VEIN-TENDERNESS:left"] == "present"
    assert resent.status_code == 200
    assert "Nothing new to save" in resent.text
    assert len(written(smart_world, PATIENT)) == count


def test_a_refused_write_keeps_every_answer_and_lists_what_was_not_saved(
    smart_world: SmartWorld, browser: httpx.Client
) -> None:
    page = signed_in(smart_world, browser)
    form = every_answer(page, **WELLS_3)
    smart_world.ehr.store.write_fault = WHOLE

    response = browser.post(f"{smart_world.url}/smart/form", data=form)

    assert response.status_code == 502
    assert "Not saved" in response.text
    assert "Tenderness along the deep veins (left leg): present: the EHR refused the write" in (
        response.text
    )
    assert "the record is locked by another user" in response.text
    kept = checked(response.text)
    assert all(kept[name] == form[name] for name in answer_names(page))
    assert written(smart_world, PATIENT) == []


def test_a_partly_saved_write_lists_the_rest_and_a_retry_sends_only_those(
    smart_world: SmartWorld, browser: httpx.Client
) -> None:
    page = signed_in(smart_world, browser)
    form = every_answer(page, **WELLS_3)
    store = smart_world.ehr.store
    store.write_fault, store.reject_codes = PARTIAL, frozenset({"386661006"})  # fever

    response = browser.post(f"{smart_world.url}/smart/form", data=form)
    saved = len(written(smart_world, PATIENT))
    store.write_fault = None
    retried = browser.post(f"{smart_world.url}/smart/form", data=form)

    assert response.status_code == 502
    (line,) = re.findall(r"<li>(Fever[^<]*)</li>", response.text)
    assert "code not allowed here" in line
    assert "Pitting oedema" not in response.text.split("Not saved")[1].split("</ul>")[0]
    assert saved == statements_for(page) - 1  # everything but the fever
    assert retried.status_code == 200
    assert str(retried.url).endswith("/smart/result")
    fevers = [
        o for o in written(smart_world, PATIENT) if o["code"]["coding"][0]["code"] == "386661006"
    ]
    assert len(fevers) == 1
    assert len(written(smart_world, PATIENT)) == saved + 1


def test_an_ehr_that_withholds_the_questionnaire_response_scope_still_gets_the_observations(
    smart_world: SmartWorld, browser: httpx.Client
) -> None:
    """The issue's own scope list has no patient/QuestionnaireResponse.c: an EHR that grants
    only that list would refuse a transaction holding the QuestionnaireResponse, and with it
    every Observation. The app reads the granted scope and leaves the response out."""
    smart_world.ehr.client.withheld = frozenset({"patient/QuestionnaireResponse.c"})
    page = signed_in(smart_world, browser)

    result = browser.post(f"{smart_world.url}/smart/form", data=every_answer(page, **WELLS_3))

    assert result.status_code == 200, result.text
    assert str(result.url).endswith("/smart/result")
    assert "the questionnaire response was not saved" in result.text
    assert "DVT likely (Wells 3)" in result.text
    observations = written(smart_world, PATIENT)
    assert len(observations) == statements_for(page)
    assert all("derivedFrom" not in observation for observation in observations)
    assert not [
        kind for kind, _ in smart_world.ehr.store.resources if kind == "QuestionnaireResponse"
    ]


def test_the_dev_ehr_refuses_a_write_the_token_does_not_grant(smart_world: SmartWorld) -> None:
    token = smart_world.ehr.issue_token(PATIENT, scope="launch patient/Observation.rs")
    observation = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "x"},
        "subject": {"reference": f"Patient/{PATIENT}"},
    }
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"resource": observation, "request": {"method": "POST", "url": "Observation"}}],
    }
    headers = {"Authorization": f"Bearer {token}"}

    single = httpx.post(f"{smart_world.fhir_base}/Observation", json=observation, headers=headers)
    whole = httpx.post(smart_world.fhir_base, json=bundle, headers=headers)

    assert single.status_code == whole.status_code == 403
    assert "patient/Observation.c" in whole.json()["issue"][0]["diagnostics"]
    assert written(smart_world, PATIENT) == []


def test_app_pages_need_no_cds_hooks_jwt_in_required_mode(tmp_path: Path) -> None:
    from test_auth_http import make_app

    application = make_app(
        f"sqlite:///{tmp_path / 'auth.sqlite3'}",
        smart_client_id=CLIENT_ID,
        smart_session_dir=str(tmp_path / "sessions"),
        fhir_server_allowlist="https://ehr.example.org",
    )
    client = application.test_client()

    page = client.get("/smart/form", headers={"Accept": BROWSER_ACCEPT})
    api = client.get("/cds-services")

    assert page.status_code == 401
    assert "Your session has ended" in page.get_data(as_text=True)  # the app's own sign-in
    assert api.status_code == 401
    assert api.get_json()["issue"][0]["diagnostics"] == "unauthorized"


def test_the_session_gets_a_new_id_once_signed_in(
    smart_world: SmartWorld, browser: httpx.Client
) -> None:
    callback = to_the_callback(smart_world, browser)
    before = browser.cookies[COOKIE_NAME]

    browser.get(callback)

    assert browser.cookies[COOKIE_NAME] != before
    with httpx.Client(headers={"Accept": BROWSER_ACCEPT}, timeout=20) as stale:
        stale.cookies.set(COOKIE_NAME, before, domain="127.0.0.1", path="/smart")
        assert stale.get(f"{smart_world.url}/smart/form").status_code == 401


def test_a_flood_of_launches_keeps_few_pending_and_never_a_signed_in_session(
    smart_world: SmartWorld, browser: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cds.smart.session, "MAX_PENDING_LAUNCHES", 3)
    signed_in(smart_world, browser)
    first = to_the_callback(smart_world, smart_world.browser())  # its own browser, pending
    params = {"iss": smart_world.fhir_base, "launch": "x"}

    flood = [
        httpx.get(f"{smart_world.url}/smart/launch", params=params, timeout=20) for _ in range(6)
    ]
    pending = list(smart_world.session_dir.glob("*.pending.json"))
    signed = [p for p in smart_world.session_dir.glob("*.json") if p not in pending]

    assert {r.status_code for r in flood} == {302}
    assert len(pending) == 3
    assert len(signed) == 1
    assert browser.get(f"{smart_world.url}/smart/form").status_code == 200  # still signed in
    with smart_world.browser() as late:  # the first pending launch was the oldest: gone
        assert late.get(first).status_code == 401


def test_the_flow_logs_no_patient_data_and_no_secrets(
    smart_world: SmartWorld, browser: httpx.Client
) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.setLevel(logging.DEBUG)
    logger = logging.getLogger("cds")
    logger.addHandler(handler)
    try:
        page = signed_in(smart_world, browser)
        browser.post(f"{smart_world.url}/smart/form", data=every_answer(page, **WELLS_3))
    finally:
        logger.removeHandler(handler)
    stored = json.loads(session_file(smart_world).read_text())
    lines = stream.getvalue().splitlines()

    assert any('"SMART write"' in line for line in lines)
    for secret in (PATIENT, "Perry", "1973-10-03", stored["access_token"], stored["csrf"]):
        assert not [line for line in lines if secret in line], secret


def test_the_dev_ehr_index_names_each_patients_sample() -> None:
    ehr = create_dev_ehr(app_base="http://127.0.0.1:9")
    page = ehr.test_client().get("/").get_data(as_text=True)

    request = load_json(SAMPLES / "acute-limb-ischaemia-cold-pulseless-right-foot.json")
    patient = request["context"]["patientId"]
    assert (
        f'<a href="/launch?patient={patient}">{patient}</a>: '
        "acute-limb-ischaemia-cold-pulseless-right-foot</li>"
    ) in page


def test_the_dev_ehr_listens_on_loopback_only(capsys: pytest.CaptureFixture[str]) -> None:
    from cds.cli import main

    assert main(["dev-ehr", "--host", "0.0.0.0", "--port", "0"]) == 2
    assert "loopback only" in capsys.readouterr().err


def test_the_dev_ehr_takes_localhost_and_127_0_0_1_for_the_same_app(
    smart_world: SmartWorld, browser: httpx.Client
) -> None:
    """A tester who opens the console at http://localhost:<port>/ (the README's curl lines use
    localhost) goes through the whole flow: loopback names of one port are one app."""
    app = smart_world.url.replace("127.0.0.1", "localhost")
    body = load_json(SAMPLES / DVT_SAMPLE)
    card = httpx.post(f"{app}/cds-services/calf-pain-triage", json=body, timeout=20).json()
    link = smart_link(card["cards"][0])

    response = browser.get(
        f"{smart_world.ehr_url}/launch",
        params={"patient": PATIENT, "url": link["url"], "appContext": link["appContext"]},
    )

    assert link["url"] == f"{app}/smart/launch"
    assert response.status_code == 200, response.text
    assert str(response.url) == f"{app}/smart/form"
    elsewhere = smart_world.url.rsplit(":", 1)[0] + ":9/smart/launch"  # another port: not ours
    refused = browser.get(
        f"{smart_world.ehr_url}/launch", params={"patient": PATIENT, "url": elsewhere}
    )
    assert refused.status_code == 400


def test_the_docker_image_never_starts_the_dev_ehr() -> None:
    lines = (REPO / "Dockerfile").read_text(encoding="utf-8").splitlines()
    command = [line for line in lines if line.startswith("CMD")]

    assert command
    assert all("dev-ehr" not in line for line in command)


@pytest.mark.parametrize(
    "iss",
    [
        pytest.param("", id="empty"),
        pytest.param("ftp://ehr.example/fhir", id="not-http"),
        pytest.param("https://user@ehr.example/fhir", id="userinfo"),
        pytest.param("{ehr}/fhir?x=1", id="query"),
    ],
)
def test_a_malformed_iss_is_refused(
    smart_world: SmartWorld, browser: httpx.Client, iss: str
) -> None:
    response = browser.get(
        f"{smart_world.url}/smart/launch",
        params={"iss": iss.format(ehr=smart_world.ehr_url), "launch": "x"},
    )

    assert response.status_code == 400
    assert "no valid `iss`" in response.text
