"""The app's sessions: kept on the server, found through a signed, HttpOnly, SameSite cookie.

The access token, the PKCE verifier and the OAuth state never leave the server: the browser
holds only a random session id, signed (itsdangerous, Flask's own signer) so a forged or
altered cookie is refused before any file is opened. Sessions are JSON files in one directory
(mode 0700, files 0600) so every worker of a host finds them; each expires after
CDS_SMART_SESSION_S, checked on the server with an injectable clock and by the cookie's signed
timestamp. A deployment with several hosts sets CDS_SMART_SECRET_KEY on each and shares the
directory, or keeps a launch on one host (sticky sessions).

Anyone can open `/smart/launch`, so a launch not yet signed in is kept as `<id>.pending.json`
and at most MAX_PENDING_LAUNCHES of them live at once (the oldest go first): a flood of
launches costs bounded disk, and never the sessions of users who have signed in.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import stat
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
from itsdangerous import BadSignature, URLSafeTimedSerializer

from ..config import Settings
from ..errors import ConfigurationError

COOKIE_NAME = "calf_cds_smart"
COOKIE_PATH = "/smart"
_SALT = "calf-cds-smart-session"
_KEY_FILE = "cookie-signing.key"
_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{43}")
MAX_PENDING_LAUNCHES = 500  # a real launch is pending for the seconds of its EHR sign-in
_PENDING = ".pending.json"


class SmartSession(msgspec.Struct, kw_only=True):
    """One launch, from the EHR's redirect to the last form submitted."""

    id: str
    expires_at: float
    csrf: str
    iss: str
    launch: str
    state: str | None = None  # cleared once the callback used it
    code_verifier: str | None = None  # cleared once the code was exchanged
    token_endpoint: str = ""
    issuer: str | None = None  # the EHR's OpenID issuer (the id_token's iss)
    jwks_uri: str | None = None
    access_token: str | None = None
    patient: str | None = None  # the launch's patient id
    fhir_user: str | None = None  # "Practitioner/123": the performer of what is written
    scope: str = ""  # as granted ("": as asked, RFC 6749 5.1)
    app_context: dict[str, Any] | None = None
    # The form as last shown, kept so a failed write re-renders it without the EHR:
    shown: list[str] = msgspec.field(default_factory=list)  # its row keys
    recorded: dict[str, str] = msgspec.field(default_factory=dict)  # field -> pre-filled answer
    notes: dict[str, str] = msgspec.field(default_factory=dict)  # field -> "Recorded ..."
    side_notes: dict[str, str] = msgspec.field(default_factory=dict)  # row -> without a side
    banner: dict[str, str] = msgspec.field(default_factory=dict)  # the patient's name, ...
    unreadable: list[str] = msgspec.field(default_factory=list)  # queries the EHR refused
    saved: list[str] = msgspec.field(default_factory=list)  # what the last write saved, as text

    @property
    def authorised(self) -> bool:
        return self.access_token is not None and self.patient is not None


class SessionStore:
    """Sessions as files in `directory`; `clock` returns seconds since the epoch."""

    def __init__(
        self, directory: Path, lifetime_s: float, clock: Callable[[], float] = time.time
    ) -> None:
        self.directory = directory
        self.lifetime_s = lifetime_s
        self.clock = clock
        private_directory(directory)

    def new(self, *, iss: str, launch: str) -> SmartSession:
        self._purge()
        self._make_room_for_a_launch()
        session = SmartSession(
            id=secrets.token_urlsafe(32),
            expires_at=self.clock() + self.lifetime_s,
            csrf=secrets.token_urlsafe(32),
            iss=iss,
            launch=launch,
        )
        self.save(session)
        return session

    def renew(self, session: SmartSession) -> SmartSession:
        """The same session under a new id (the old file removed): called once the user has
        signed in, so an id seen before sign-in never reaches the token."""
        renewed = msgspec.structs.replace(session, id=secrets.token_urlsafe(32))
        self.save(renewed)
        self.delete(session.id)
        return renewed

    def load(self, session_id: str) -> SmartSession | None:
        """The live session, or None (unknown, expired: an expired one is deleted)."""
        path = self._path(session_id)
        if path is None:
            return None
        for candidate in (path, self._pending_path(session_id)):
            try:
                session = msgspec.json.decode(candidate.read_bytes(), type=SmartSession)
            except FileNotFoundError:
                continue
            except (OSError, msgspec.DecodeError, msgspec.ValidationError):
                return None
            if session.expires_at <= self.clock():
                self.delete(session_id)
                return None
            return session
        return None

    def save(self, session: SmartSession) -> None:
        path = self._path(session.id)
        assert path is not None  # ids are made here
        if session.access_token is None:
            path = self._pending_path(session.id)
        descriptor, temporary = tempfile.mkstemp(dir=self.directory, prefix=".tmp-")
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(msgspec.json.encode(session))
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise

    def delete(self, session_id: str) -> None:
        path = self._path(session_id)
        if path is not None:
            for each in (path, self._pending_path(session_id)):
                with contextlib.suppress(FileNotFoundError):
                    each.unlink()

    def _path(self, session_id: str) -> Path | None:
        # Only ids this module makes: nothing from a cookie can name another file.
        if not _SESSION_ID.fullmatch(session_id):
            return None
        return self.directory / f"{session_id}.json"

    def _pending_path(self, session_id: str) -> Path:
        return self.directory / f"{session_id}{_PENDING}"

    def _make_room_for_a_launch(self) -> None:
        """Delete the oldest pending launches until a new one fits under the cap."""
        pending = []
        for path in self.directory.glob(f"*{_PENDING}"):
            with contextlib.suppress(FileNotFoundError):
                pending.append((path.stat().st_mtime, path))
        excess = len(pending) - MAX_PENDING_LAUNCHES + 1
        for _, path in sorted(pending)[: max(excess, 0)]:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def _purge(self) -> None:
        """Delete expired sessions (cheap: a launch's own directory listing)."""
        now = self.clock()
        for path in self.directory.glob("*.json"):
            try:
                expires = msgspec.json.decode(path.read_bytes(), type=SmartSession).expires_at
            except (OSError, msgspec.DecodeError, msgspec.ValidationError):
                expires = 0.0
            if expires <= now:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()


class CookieSigner:
    """Signs the session id into the cookie value and checks it (with its age)."""

    def __init__(self, secret: str | bytes, lifetime_s: float) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt=_SALT)
        self.lifetime_s = lifetime_s

    def sign(self, session_id: str) -> str:
        return self._serializer.dumps(session_id)

    def session_id(self, cookie: str | None) -> str | None:
        """The session id of a genuine, unexpired cookie; None for anything else."""
        if not cookie:
            return None
        try:
            value = self._serializer.loads(cookie, max_age=int(self.lifetime_s) + 1)
        except BadSignature:  # also SignatureExpired, its subclass
            return None
        return value if isinstance(value, str) else None


def default_directory() -> Path:
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(tempfile.gettempdir()) / f"calf-cds-smart-{uid}"


def private_directory(directory: Path) -> None:
    """Create the directory 0700, or accept an existing one only if it is ours and private:
    a directory another user made in a shared temp directory could read the tokens."""
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = directory.stat()
        with tempfile.TemporaryFile(dir=directory):  # sessions are written here
            pass
    except OSError as exc:
        raise ConfigurationError(
            f"CDS_SMART_SESSION_DIR {directory} cannot be used: {exc.strerror or exc}"
        ) from exc
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise ConfigurationError(f"CDS_SMART_SESSION_DIR {directory} is not owned by this user")
    if stat.S_IMODE(info.st_mode) & 0o077:
        raise ConfigurationError(
            f"CDS_SMART_SESSION_DIR {directory} is readable by others (chmod 700 it)"
        )


def signing_key(settings: Settings, directory: Path) -> bytes:
    """CDS_SMART_SECRET_KEY, else a random key kept in the session directory (made once, with
    O_EXCL, so the workers of a host agree on it)."""
    if settings.smart_secret_key:
        return settings.smart_secret_key.encode()
    path = directory / _KEY_FILE
    try:
        with contextlib.suppress(FileExistsError):
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(secrets.token_bytes(32))
        for _ in range(50):  # another worker may be writing it this instant
            key = path.read_bytes()
            if len(key) == 32:
                return key
            time.sleep(0.01)
    except OSError as exc:
        raise ConfigurationError(
            f"CDS_SMART_SESSION_DIR {directory} cannot be used: {exc.strerror or exc}"
        ) from exc
    raise ConfigurationError(f"{path} does not hold a 32-byte key")
