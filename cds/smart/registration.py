"""What an EHR registers for the red-flag check, as discovery describes it.

`GET /cds-services` carries it under each service's `extension["example.calf-cds"].smartApp`
while the app is enabled: the smart link the cards carry, and the launch URL, redirect URI,
scopes and client type to register (README "The red-flag check app").
"""

from __future__ import annotations

from typing import Any

from ..config import Settings
from ..core.cards import SMART_LINK_LABEL
from . import oauth
from .questionnaire import QUESTIONNAIRE_ID

APP_CONTEXT_DOC = (
    "a JSON string: {hookInstance, ruleId, findings: [finding ids to complete], evaluationTime "
    "(only when the request asked for one), language (the card's: the app's pages speak it)}; "
    "the app reads it from the token response"
)


def registration(settings: Settings, host_url: str) -> dict[str, Any] | None:
    """The app's registration and link, or None while CDS_SMART_CLIENT_ID is unset."""
    launch = oauth.launch_url(settings, host_url)
    if launch is None:
        return None
    return {
        "link": {
            "label": SMART_LINK_LABEL,
            "type": "smart",
            "url": launch,
            "appContext": APP_CONTEXT_DOC,
            "on": "every card that lists unrecorded red-flag or Wells items",
        },
        "launchUrl": launch,
        "redirectUri": oauth.app_url(settings, host_url, oauth.CALLBACK_PATH),
        "scopes": oauth.SCOPES,
        "client": "public (token_endpoint_auth_method none) with PKCE S256",
        "launch": "SMART App Launch 2.x, EHR launch",
        "questionnaire": f"{oauth.app_url(settings, host_url, '/fhir/Questionnaire/')}"
        f"{QUESTIONNAIRE_ID}",
    }
