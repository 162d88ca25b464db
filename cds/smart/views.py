"""The red-flag check's HTTP face: a thin blueprint (launch, callback, form, result) and the
published Questionnaire. Each view parses, delegates to the modules of `cds.smart`, renders.

Pages are server-rendered Jinja (autoescaped) with one local stylesheet and no script, under
the console's strict CSP (`cds.http.headers`); answers are never cached. Every failure is a
page that says what happened (`errors.SmartAppError`), never a stack trace.

Pages speak the launching card's language (appContext `language`, kept in the session), else
the `lang` parameter, `Accept-Language`, CDS_LANGUAGE: the order of `cds.http.language`, the
card's language standing where a hook request's extension stands.
"""

from __future__ import annotations

import hmac
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from flask import Blueprint, Flask, Response, current_app, redirect, render_template, request
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response as WerkzeugResponse

from ..config import Settings
from ..core.i18n import N_, Translator
from ..errors import NotFound
from ..http.errors import outcome_response
from ..http.jsonout import json_response
from ..http.language import prefer_language, request_translator
from ..http.runtime import runtime
from ..registry import DEFAULT_SERVICE_ID, SERVICES
from ..service import Deps, Presentation, evaluate_flattened
from . import chart as ehr
from . import oauth, page, questionnaire, writeback
from .answers import InvalidAnswers, Statement, parse, statements
from .chart import Why
from .checklist import Row, Section, asked_findings, sections, sections_for
from .errors import AppDisabled, LaunchRefused, NoSession, SmartAppError
from .prefill import prefill
from .session import (
    COOKIE_NAME,
    COOKIE_PATH,
    CookieSigner,
    SessionStore,
    SmartSession,
    default_directory,
    signing_key,
)

log = logging.getLogger("cds.smart")
EXTENSION_KEY = "calf-cds-smart"
_HERE = Path(__file__).resolve().parent
MAX_LAUNCH_CHARS = 2048
JSON, HTML = "application/json", "text/html"

blueprint = Blueprint(
    "smart",
    __name__,
    template_folder=str(_HERE / "templates"),
    static_folder=str(_HERE / "static"),
    static_url_path="/smart/static",
)


@dataclass
class SmartRuntime:
    sessions: SessionStore
    signer: CookieSigner


def session_directory(settings: Settings) -> Path:
    return Path(settings.smart_session_dir) if settings.smart_session_dir else default_directory()


def install_smart(app: Flask, settings: Settings) -> None:
    """Register the blueprint; when CDS_SMART_CLIENT_ID is set, open the session directory
    (ConfigurationError at startup when it is not private) and the cookie signer."""
    if settings.smart_client_id:
        directory = session_directory(settings)
        clock = settings.extra.get("smart_clock") or time.time  # tests move the session clock
        sessions = SessionStore(directory, settings.smart_session_s, clock)
        signer = CookieSigner(signing_key(settings, directory), settings.smart_session_s)
        app.extensions[EXTENSION_KEY] = SmartRuntime(sessions, signer)
    app.register_blueprint(blueprint)


def _smart() -> SmartRuntime:
    found = current_app.extensions.get(EXTENSION_KEY)
    if not isinstance(found, SmartRuntime):
        raise AppDisabled(N_("Set CDS_SMART_CLIENT_ID to the app's client id to enable it."))
    return found


def _settings() -> Settings:
    return runtime().settings


def _redirect_uri() -> str:
    return oauth.app_url(_settings(), request.host_url, oauth.CALLBACK_PATH)


# --- pages ------------------------------------------------------------------------------------


@blueprint.get("/smart/launch")
def launch() -> ResponseReturnValue:
    smart = _smart()
    settings = _settings()
    iss = oauth.checked_iss(request.args.get("iss"), settings)
    launch_id = request.args.get("launch", "")
    if not launch_id or len(launch_id) > MAX_LAUNCH_CHARS:
        raise LaunchRefused(N_("The launch has no `launch` parameter: open the app from the EHR."))
    config = oauth.discover(iss)
    session = smart.sessions.new(iss=iss, launch=launch_id)
    verifier = oauth.new_verifier()
    url, state = oauth.authorization_url(
        config,
        client_id=settings.smart_client_id,
        redirect_uri=_redirect_uri(),
        iss=iss,
        launch=launch_id,
        code_verifier=verifier,
    )
    session.state, session.code_verifier = state, verifier
    session.token_endpoint, session.issuer = config.token_endpoint, config.issuer
    session.jwks_uri = config.jwks_uri
    smart.sessions.save(session)
    response = redirect(url, code=302)
    _set_cookie(response, smart, session, settings)
    return response


@blueprint.get("/smart/callback")
def callback() -> ResponseReturnValue:
    smart = _smart()
    settings = _settings()
    session = _session(smart)
    state, verifier = session.state, session.code_verifier
    session.state = session.code_verifier = None  # one use, whatever happens next
    smart.sessions.save(session)
    if "error" in request.args:
        raise LaunchRefused(
            N_("The EHR did not grant access ({error})."), error=request.args.get("error", "")[:80]
        )
    token = oauth.exchange_code(
        token_endpoint=session.token_endpoint,
        client_id=settings.smart_client_id,
        redirect_uri=_redirect_uri(),
        callback_url=request.url,
        state=state,
        code_verifier=verifier,
    )
    config = oauth.SmartConfiguration("", session.token_endpoint, session.issuer, session.jwks_uri)
    granted = oauth.grant(token, iss=session.iss, config=config, client_id=settings.smart_client_id)
    session.access_token, session.patient = granted.access_token, granted.patient
    session.fhir_user, session.app_context = granted.fhir_user, granted.app_context
    session.scope = granted.scope
    session = smart.sessions.renew(session)
    log.info(
        "SMART launch authorised",
        extra={
            "app_context": granted.app_context is not None,
            "performer": bool(granted.fhir_user),
        },
    )
    response = redirect("/smart/form", code=303)  # see other: a reload never replays the code
    _set_cookie(response, smart, session, settings)
    return response


@blueprint.get("/smart/form")
def form() -> str:
    smart = _smart()
    settings = _settings()
    session = _authorised(smart)
    patient, token = _grant(session)
    record = ehr.read_chart(session.iss, patient, token, settings)
    extraction = record.read(settings, _now(session))
    shown = _asked(session)
    filled = prefill(_rows(shown), extraction.findings)
    notes, side_notes = page.recorded_notes(filled, request_translator())
    session.recorded = filled.choices()
    session.shown = [row.key for row in _rows(shown)]
    session.notes, session.side_notes = notes, side_notes
    session.banner = page.banner(record.patient)
    session.unreadable = list(record.unreadable)
    smart.sessions.save(session)
    return _render_form(session, shown, session.recorded)


@blueprint.post("/smart/form")
def submit() -> ResponseReturnValue:
    smart = _smart()
    settings = _settings()
    session = _authorised(smart)
    patient, token = _grant(session)
    sent = request.form.get("csrf", "")
    if not hmac.compare_digest(sent.encode(), session.csrf.encode()):
        raise LaunchRefused(N_("The form did not come from this session (CSRF check failed)."))
    t = request_translator()
    shown = _shown(session)
    rows = _rows(shown)
    try:
        answers = parse(rows, request.form)
    except InvalidAnswers as exc:
        kept = {k: v for k, v in request.form.items() if k != "csrf"}
        message = t.gettext(N_("Some answers were not understood: {fields}")).format(
            fields=", ".join(exc.fields[:5])
        )
        return _render_form(session, shown, kept, error=message), 400
    kept = {name: choice.value for name, choice in answers.items()}
    todo = statements(rows, answers, session.recorded)
    if not todo:
        note = t.gettext(
            N_("Nothing new to save: every answer is already on record or not examined.")
        )
        return _render_form(session, shown, kept, note=note)
    author = writeback.Author(f"Patient/{patient}", session.fhir_user, _now(session))
    # An EHR may grant less than asked: without patient/QuestionnaireResponse.c (not in the
    # issue's scope list) the response stays out, so the Observations are not refused with it.
    transaction = writeback.transaction(
        todo,
        author,
        fhir_base=settings.fhir_base,
        with_response=oauth.may_create(session.scope, "QuestionnaireResponse"),
    )
    result = ehr.post_transaction(
        session.iss,
        transaction.bundle,
        transaction.statements,
        token,
        with_response=transaction.with_response,
    )
    for statement, _location in result.saved:
        for name in statement.fields:
            session.recorded[name] = "present" if statement.present else "absent"
    session.saved = [_describe(statement, t) for statement, _ in result.saved]
    if not result.response_saved and not result.failed:
        session.saved.append(t.gettext(N_("(the questionnaire response was not saved)")))
    smart.sessions.save(session)
    if result.failed:
        failed = [_failure(s, why, t) for s, why in result.failed]
        return _render_form(session, shown, kept, failed=failed), 502
    return redirect("/smart/result", code=303)


@blueprint.get("/smart/result")
def result() -> str:
    smart = _smart()
    settings = _settings()
    session = _authorised(smart)
    patient, token = _grant(session)
    record = ehr.read_chart(session.iss, patient, token, settings)
    deps = runtime().deps
    t = request_translator()
    answer = evaluate_flattened(
        SERVICES[DEFAULT_SERVICE_ID],
        record.flattened,
        Deps(settings=settings, clock=deps.clock),  # no store: shown here, not issued
        Presentation(translator=t, as_of=_now(session)),
    )
    return render_template(
        "smart/result.html",
        banner=session.banner or page.banner(record.patient),
        saved=session.saved,
        cards=page.card_views(answer.cards, t),
    )


@blueprint.get("/fhir/Questionnaire/<questionnaire_id>")
def questionnaire_resource(questionnaire_id: str) -> Response:
    if questionnaire_id != questionnaire.QUESTIONNAIRE_ID:
        raise NotFound(
            N_("unknown Questionnaire '{name}'; known: {known}"),
            name=questionnaire_id,
            known=questionnaire.QUESTIONNAIRE_ID,
        )
    document = questionnaire.as_json(_settings().fhir_base)
    return json_response(document, mimetype="application/fhir+json")


@blueprint.errorhandler(SmartAppError)
def _error_page(error: SmartAppError) -> ResponseReturnValue:
    """A page for a browser; an OperationOutcome for any other caller (cds-hooks.md "Errors")."""
    title, message = error.translated(request_translator())
    if request.accept_mimetypes.best_match([JSON, HTML]) == HTML:
        page_html = render_template("smart/error.html", title=title, message=message)
        return page_html, error.status
    return outcome_response(error.status, error.issue_code, f"{title}: {message}")


@blueprint.after_request
def _no_store(response: Response) -> Response:
    """Pages carry patient data: never cached, never sent as a Referer."""
    if request.path.startswith(COOKIE_PATH + "/"):
        response.headers["Cache-Control"] = "no-store"
    return response


# --- helpers ----------------------------------------------------------------------------------


def _secure(settings: Settings) -> bool:
    return request.is_secure or settings.public_base_url.startswith("https://")


def _set_cookie(
    response: WerkzeugResponse, smart: SmartRuntime, session: SmartSession, settings: Settings
) -> None:
    response.set_cookie(
        COOKIE_NAME,
        smart.signer.sign(session.id),
        max_age=int(settings.smart_session_s),
        path=COOKIE_PATH,
        secure=_secure(settings),
        httponly=True,
        # Lax: sent on the EHR's redirect back (a top-level GET), never on a cross-site post.
        samesite="Lax",
    )


def _session(smart: SmartRuntime) -> SmartSession:
    session_id = smart.signer.session_id(request.cookies.get(COOKIE_NAME))
    session = smart.sessions.load(session_id) if session_id else None
    if session is None:
        raise NoSession(
            N_(
                "Open the red-flag check again from the card in the EHR. Sessions last "
                "{minutes} minutes; nothing was saved since."
            ),
            minutes=int(smart.sessions.lifetime_s // 60),
        )
    language = (session.app_context or {}).get("language")
    prefer_language(language if isinstance(language, str) else None)
    return session


def _authorised(smart: SmartRuntime) -> SmartSession:
    session = _session(smart)
    if not session.authorised:
        raise NoSession(N_("This session has not been signed in: open the app from the EHR."))
    return session


def _grant(session: SmartSession) -> tuple[str, str]:
    """(patient id, access token) of a signed-in session."""
    if session.patient is None or session.access_token is None:
        raise NoSession(N_("This session has not been signed in: open the app from the EHR."))
    return session.patient, session.access_token


def _now(session: SmartSession) -> datetime:
    """The launching card's evaluation time while authentication is off (testers and the
    samples, as `cds.http.presentation` honours it), else the service's clock."""
    context = session.app_context or {}
    text = context.get("evaluationTime")
    if _settings().auth_mode == "off" and isinstance(text, str):
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return parsed
    return runtime().deps.now()


def _asked(session: SmartSession) -> tuple[Section, ...]:
    findings = (session.app_context or {}).get("findings")
    return sections_for(asked_findings(findings if isinstance(findings, list) else None))


def _shown(session: SmartSession) -> tuple[Section, ...]:
    """The sections of the form this session was shown (a post cannot add questions)."""
    keys = set(session.shown)
    out = []
    for section in sections():
        rows = tuple(row for row in section.rows if row.key in keys)
        if rows:
            out.append(Section(section.key, section.title, rows))
    return tuple(out)


def _rows(shown: tuple[Section, ...]) -> tuple[Row, ...]:
    return tuple(row for section in shown for row in section.rows)


_DESCRIBED = {
    ("left", True): N_("{item} (left leg): present"),
    ("left", False): N_("{item} (left leg): absent"),
    ("right", True): N_("{item} (right leg): present"),
    ("right", False): N_("{item} (right leg): absent"),
    ("bilateral", True): N_("{item} (both legs): present"),
    ("bilateral", False): N_("{item} (both legs): absent"),
    ("", True): N_("{item}: present"),
    ("", False): N_("{item}: absent"),
}


def _describe(statement: Statement, t: Translator) -> str:
    """One saved or failed answer, as the clinician reads it ("Fever: absent")."""
    side = statement.side.value if statement.side.value in {"left", "right", "bilateral"} else ""
    text = t.gettext(_DESCRIBED[side, statement.present])
    return text.format(item=t.gettext(statement.row.label))


def _failure(statement: Statement, why: Why, t: Translator) -> str:
    return t.gettext(N_("{answer}: {why}")).format(answer=_describe(statement, t), why=why.text(t))


def _render_form(
    session: SmartSession,
    shown: tuple[Section, ...],
    answers: dict[str, str],
    *,
    error: str | None = None,
    note: str | None = None,
    failed: list[str] | None = None,
) -> str:
    context = session.app_context or {}
    t = request_translator()
    banner = session.banner or page.banner(None)
    return render_template(
        "smart/form.html",
        banner=banner,
        banner_details=page.banner_details(banner, t),
        sections=page.form_sections(shown, answers, session.notes, session.side_notes, t),
        choices=page.choices(t),
        csrf=session.csrf,
        performer=session.fhir_user,
        unreadable=session.unreadable,
        asked_by_card="ruleId" in context,
        error=error,
        note=note,
        failed=failed or [],
    )
