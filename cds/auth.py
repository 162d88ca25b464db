"""Verifying the EHR's JWT (cds-hooks.md "Security"; CDS Hooks 2.0 "Trusting CDS Clients").

Owns: the trusted-issuer configuration, JWK Set loading and caching, and the check order
iss -> aud -> exp/iat (60 s skew) -> signature (kid, allowlisted alg, key fits alg) -> jti.
No Flask here: the HTTP guard (cds/http/auth.py) turns `Unauthorized` into a 401. Every
failure raises `errors.Unauthorized(reason)`; the reason is for the log and never quotes the
token. The clock is injected (`clock() -> epoch seconds`) so tests can freeze time.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import jwt
from jwt.api_jws import PyJWS

from .config import Settings
from .errors import ConfigurationError, StoreUnavailable, Unauthorized
from .store.records import MAX_ISSUER_LENGTH, MAX_JTI_LENGTH, is_storable_text

log = logging.getLogger("cds.auth")

# The algorithms the specification allows an EHR to sign with. Never "none", never HMAC: an
# HMAC "verified" with an issuer's public key as the secret is the classic key-confusion attack.
ALLOWED_ALGORITHMS = frozenset({"ES384", "RS384", "ES256", "RS256", "PS384"})
_KEY_TYPE_FOR_ALG = {"ES384": "EC", "ES256": "EC", "RS384": "RSA", "RS256": "RSA", "PS384": "RSA"}
_CURVE_FOR_ALG = {"ES384": "P-384", "ES256": "P-256"}
MIN_RSA_BITS = 2048
CLOCK_SKEW_S = 60
JWKS_FETCH_TIMEOUT_S = 3.0
JWKS_MAX_BYTES = 256 * 1024
# An unknown kid may mean the issuer rotated keys: refetch, but at most this often per URL so a
# stream of forged kids cannot turn us into a traffic amplifier against the issuer.
JWKS_REFRESH_MIN_INTERVAL_S = 30.0
DEFAULT_MAX_LIFETIME_S = 300.0  # CDS_MAX_TOKEN_LIFETIME_S
LOCAL_JTI_CACHE_MAX = 100_000
JTI_PURGE_INTERVAL_S = 30.0

Clock = Callable[[], float]
ClaimJti = Callable[[str, str, datetime], bool]


# --- configuration -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TrustedIssuer:
    """One `iss` we accept, and where its keys come from.

    Inline `jwks`: keys never fetched; `jku_allowlist` only names the `jku` header values we
    tolerate (the public sandbox sends one we must not fetch). `jwks_url`: keys fetched from the
    token's `jku` when it is `jwks_url` or on `jku_allowlist`, else from `jwks_url`.
    """

    issuer: str
    jwks: Mapping[str, Any] | None = None
    jwks_url: str | None = None
    jku_allowlist: frozenset[str] = field(default_factory=frozenset)

    @property
    def allowed_jku(self) -> frozenset[str]:
        return self.jku_allowlist | ({self.jwks_url} if self.jwks_url else set())


MIN_SALT_CHARACTERS = 16


def check_required_mode(settings: Settings) -> dict[str, TrustedIssuer]:
    """The trusted issuers `CDS_AUTH_MODE=required` runs with; ConfigurationError at startup
    when they or the patient-hash salt are missing ({} in `off` mode)."""
    if settings.auth_mode != "required":
        return {}
    issuers = load_trusted_issuers(settings.trusted_issuers)
    missing = []  # all at once: an operator should not find them one restart at a time
    if not issuers:
        missing.append("CDS_TRUSTED_ISSUERS (the EHRs whose tokens it accepts)")
    if not settings.patient_hash_salt.strip():
        # Without it the salt is a random one kept in the database beside the hashes: a copy
        # of the database is then enough to recover predictable patient ids by brute force.
        missing.append(
            "CDS_PATIENT_HASH_SALT (a long random secret): without it the patient-id hashes "
            "are keyed by a salt stored in the database beside them, and a copy of the "
            "database would reveal the patient ids"
        )
    elif len(settings.patient_hash_salt.strip()) < MIN_SALT_CHARACTERS:
        # A short salt can be guessed, and with it the patient ids behind the hashes.
        missing.append(
            f"a CDS_PATIENT_HASH_SALT of at least {MIN_SALT_CHARACTERS} characters (e.g. "
            "`openssl rand -hex 32`)"
        )
    if missing:
        raise ConfigurationError("CDS_AUTH_MODE=required needs " + " and ".join(missing))
    return issuers


def load_trusted_issuers(raw: str) -> dict[str, TrustedIssuer]:
    """Parse CDS_TRUSTED_ISSUERS: inline JSON, or a path to a JSON file holding it.

    Shape: `{"<iss>": {"jwks": {"keys": [...]}} | {"jwks_url": "https://..."},
    optional "jku_allowlist": ["https://..."]}`; top-level keys starting with "$" are comments.
    Raises ConfigurationError at startup.
    """
    text = raw.strip()
    if not text:
        return {}
    if not text.startswith("{"):
        try:
            text = Path(text).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigurationError(f"CDS_TRUSTED_ISSUERS: cannot read file {text!r}") from exc
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise ConfigurationError(f"CDS_TRUSTED_ISSUERS is not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise ConfigurationError("CDS_TRUSTED_ISSUERS must be a JSON object keyed by issuer")
    # Keys starting with "$" are comments ("$comment"): JSON has no other way to carry one.
    return {iss: _issuer(iss, entry) for iss, entry in document.items() if not iss.startswith("$")}


def _issuer(iss: str, entry: Any) -> TrustedIssuer:
    where = f"CDS_TRUSTED_ISSUERS[{iss!r}]"
    if len(iss) > MAX_ISSUER_LENGTH or not is_storable_text(iss):
        # The issuer is recorded with each jti; the store could not hold this one.
        raise ConfigurationError(
            f"{where}: an issuer is at most {MAX_ISSUER_LENGTH} characters of plain text"
        )
    if not isinstance(entry, dict):
        raise ConfigurationError(f"{where} must be an object")
    unknown = set(entry) - {"jwks", "jwks_url", "jku_allowlist"}
    if unknown:
        raise ConfigurationError(f"{where}: unknown fields {sorted(unknown)}")
    jwks, jwks_url = entry.get("jwks"), entry.get("jwks_url")
    if (jwks is None) == (jwks_url is None):
        raise ConfigurationError(f"{where} needs exactly one of 'jwks' or 'jwks_url'")
    if jwks is not None:
        _check_jwks(jwks, where)
    if jwks_url is not None:
        _check_url(jwks_url, f"{where}.jwks_url")
    allowlist = entry.get("jku_allowlist", [])
    if not isinstance(allowlist, list):
        raise ConfigurationError(f"{where}.jku_allowlist must be a list of URLs")
    for url in allowlist:
        _check_url(url, f"{where}.jku_allowlist")
    return TrustedIssuer(iss, jwks, jwks_url, frozenset(allowlist))


def _check_jwks(jwks: Any, where: str) -> None:
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise ConfigurationError(f"{where}.jwks must be a JWK Set: {{'keys': [...]}}")
    for key in jwks["keys"]:
        if isinstance(key, dict) and "d" in key:
            raise ConfigurationError(f"{where}.jwks holds a private key; give public keys only")


def _check_url(url: Any, where: str) -> None:
    """https only; plain http only on loopback (local test issuers)."""
    if not isinstance(url, str):
        raise ConfigurationError(f"{where}: {url!r} is not a URL")
    parsed = httpx.URL(url)
    loopback = parsed.host in {"127.0.0.1", "localhost", "::1"}
    if parsed.scheme != "https" and not (parsed.scheme == "http" and loopback):
        raise ConfigurationError(f"{where}: {url!r} must be an https URL")


# --- JWK Sets ----------------------------------------------------------------------------------


@dataclass
class _CachedSet:
    jwks: Mapping[str, Any]
    fetched_at: float


class JwksCache:
    """JWK Sets fetched by URL, cached for `ttl_s`; thread-safe.

    When a refetch fails the cached set is still used (an issuer's JWKS endpoint being down
    must not lock every clinician out); with no cached set a failed fetch is Unauthorized.
    A URL is fetched by one call at a time (the calls behind it read its result), and again at
    most once per JWKS_REFRESH_MIN_INTERVAL_S whatever the reason (expired, failed, unknown
    kid): tokens, forged ones too, cannot make each call wait on it.
    """

    def __init__(
        self,
        *,
        ttl_s: float,
        clock: Clock = time.time,
        timeout_s: float = JWKS_FETCH_TIMEOUT_S,
        client: httpx.Client | None = None,
    ) -> None:
        self._ttl_s = ttl_s
        self._clock = clock
        self._timeout_s = timeout_s
        self._client = client
        self._sets: dict[str, _CachedSet] = {}
        self._last_attempt: dict[str, float] = {}
        self._last_failure: dict[str, float] = {}  # of a fetch with no key set to fall back on
        self._lock = threading.Lock()
        self._url_locks: dict[str, threading.Lock] = {}  # the configured URLs: a bounded set

    def get(self, url: str, *, refresh: bool = False) -> Mapping[str, Any]:
        """The JWK Set at `url`; `refresh` asks for a refetch (rate-limited) e.g. on unknown kid."""
        with self._lock:
            url_lock = self._url_locks.setdefault(url, threading.Lock())
        with url_lock:
            return self._get(url, refresh=refresh)

    def _get(self, url: str, *, refresh: bool) -> Mapping[str, Any]:
        now = self._clock()
        with self._lock:
            cached = self._sets.get(url)
            last = self._last_attempt.get(url)
            failed = self._last_failure.get(url)
        fresh = cached is not None and now - cached.fetched_at < self._ttl_s
        recently_tried = last is not None and now - last < JWKS_REFRESH_MIN_INTERVAL_S
        if cached is not None and ((fresh and not refresh) or recently_tried):
            return cached.jwks
        if cached is None and failed is not None and now - failed < JWKS_REFRESH_MIN_INTERVAL_S:
            raise Unauthorized("no keys for issuer: its JWKS could not be fetched just now")
        with self._lock:
            self._last_attempt[url] = now
        try:
            jwks = self._fetch(url)
        except _JwksFetchError as exc:
            if cached is not None:
                log.warning("JWKS refetch failed; using the cached key set: %s", exc)
                return cached.jwks
            with self._lock:
                self._last_failure[url] = now
            raise Unauthorized(f"no keys for issuer: {exc}") from exc
        with self._lock:
            self._sets[url] = _CachedSet(jwks, now)
        return jwks

    def _fetch(self, url: str) -> Mapping[str, Any]:
        client = self._client or httpx.Client()
        try:
            with client.stream(
                "GET",
                url,
                headers={"Accept": "application/jwk-set+json, application/json"},
                timeout=self._timeout_s,
                follow_redirects=False,
            ) as response:
                if response.status_code != 200:
                    raise _JwksFetchError(f"JWKS {url} answered HTTP {response.status_code}")
                body = b""
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > JWKS_MAX_BYTES:
                        raise _JwksFetchError(f"JWKS {url} is larger than {JWKS_MAX_BYTES} bytes")
        except httpx.HTTPError as exc:
            raise _JwksFetchError(f"JWKS {url}: {type(exc).__name__}") from exc
        finally:
            if self._client is None:
                client.close()
        try:
            jwks = json.loads(body)
        except ValueError as exc:
            raise _JwksFetchError(f"JWKS {url} is not JSON") from exc
        if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
            raise _JwksFetchError(f"JWKS {url} is not a JWK Set")
        return jwks


class _JwksFetchError(Exception):
    pass


# --- jti replay protection ---------------------------------------------------------------------


class JtiGuard:
    """A jti is accepted once until its token's exp (cds-hooks.md "Security").

    The store's `claim_jti` makes this hold across workers and instances. While the store
    raises StoreUnavailable a per-process TTL cache stands in and a degraded warning is logged;
    every jti is also remembered locally, so a token replayed to this process is caught even
    if it was first seen while the store was down.
    """

    def __init__(self, claim_jti: ClaimJti | None, *, clock: Clock = time.time) -> None:
        self._claim_jti = claim_jti
        self._clock = clock
        self._local: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()
        self._degraded = False
        self._next_purge = 0.0

    def claim(self, issuer: str, jti: str, expires_at: float) -> bool:
        """True the first time (issuer, jti) is seen before `expires_at`; False for a replay."""
        key = (issuer, jti)
        now = self._clock()
        with self._lock:
            self._purge(now)
            if key in self._local:
                return False
            self._local[key] = expires_at
        if self._claim_jti is None:
            return True
        try:
            claimed = self._claim_jti(issuer, jti, datetime.fromtimestamp(expires_at, UTC))
        except StoreUnavailable:
            if not self._degraded:
                log.warning("degraded: jti replay protection is per-process (store unreachable)")
            self._degraded = True
            return True
        if self._degraded:
            log.info("jti replay protection is shared again (store reachable)")
            self._degraded = False
        return claimed

    def _purge(self, now: float) -> None:
        """Forget expired jtis (at most every JTI_PURGE_INTERVAL_S); cap memory under a flood."""
        if now >= self._next_purge:
            self._next_purge = now + JTI_PURGE_INTERVAL_S
            for key in [k for k, exp in self._local.items() if exp + CLOCK_SKEW_S < now]:
                del self._local[key]
        if len(self._local) >= LOCAL_JTI_CACHE_MAX:
            # Insertion order = age: dropping the oldest tenth only weakens the local fallback.
            for key in list(self._local)[: LOCAL_JTI_CACHE_MAX // 10]:
                del self._local[key]


# --- verification ------------------------------------------------------------------------------


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer <token>` header; Unauthorized otherwise."""
    if not authorization:
        raise Unauthorized("no Authorization header")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Authorization header is not a Bearer token")
    return token.strip()


class JwtVerifier:
    """Verifies CDS Hooks client JWTs against the trusted issuers; thread-safe."""

    def __init__(
        self,
        issuers: Mapping[str, TrustedIssuer],
        *,
        claim_jti: ClaimJti | None = None,
        clock: Clock = time.time,
        jwks_cache: JwksCache | None = None,
        jwks_cache_ttl_s: float = 3600.0,
        max_lifetime_s: float = DEFAULT_MAX_LIFETIME_S,
    ) -> None:
        self.issuers = dict(issuers)
        self._clock = clock
        self._max_lifetime_s = max_lifetime_s
        self._jwks = jwks_cache or JwksCache(ttl_s=jwks_cache_ttl_s, clock=clock)
        self._jti = JtiGuard(claim_jti, clock=clock)

    @classmethod
    def from_settings(
        cls, settings: Settings, *, claim_jti: ClaimJti | None = None, clock: Clock = time.time
    ) -> JwtVerifier:
        """Raises ConfigurationError when CDS_TRUSTED_ISSUERS is malformed."""
        return cls(
            load_trusted_issuers(settings.trusted_issuers),
            claim_jti=claim_jti,
            clock=clock,
            jwks_cache_ttl_s=settings.jwks_cache_ttl_s,
            max_lifetime_s=settings.max_token_lifetime_s,
        )

    def verify(self, token: str, *, audience: str) -> dict[str, Any]:
        """The verified claims of `token` called at URL `audience`; raises Unauthorized.

        Order (cds-hooks.md): iss allowlisted -> aud -> exp/iat -> signature -> jti. The claims
        are read unverified for the first three checks, which only reject; nothing is trusted,
        fetched or recorded before the signature has been checked, except a JWKS fetch from an
        issuer's own allowlisted URL.
        """
        try:
            header = jwt.get_unverified_header(token)
            unverified = _json_object(
                PyJWS().decode_complete(token, options={"verify_signature": False})["payload"]
            )
        except (jwt.InvalidTokenError, ValueError, RecursionError) as exc:
            raise Unauthorized("malformed token") from exc
        issuer = self._check_issuer(unverified)
        _check_audience(unverified, audience)
        self._check_times(unverified)
        claims = self._check_signature(token, header, issuer)
        self._check_jti(claims, issuer)
        return claims

    def _check_issuer(self, claims: Mapping[str, Any]) -> TrustedIssuer:
        iss = claims.get("iss")
        if not isinstance(iss, str) or iss not in self.issuers:
            raise Unauthorized("issuer not trusted" if isinstance(iss, str) else "no iss claim")
        return self.issuers[iss]

    def _check_times(self, claims: Mapping[str, Any]) -> None:
        now = self._clock()
        exp, iat, nbf = _number(claims, "exp"), _number(claims, "iat"), claims.get("nbf")
        if exp is None:
            raise Unauthorized("no numeric exp claim")
        if iat is None:
            raise Unauthorized("no numeric iat claim")
        if now > exp + CLOCK_SKEW_S:
            raise Unauthorized("token expired")
        if iat > now + CLOCK_SKEW_S:
            raise Unauthorized("token issued in the future (iat)")
        # Short-lived tokens only (CDS Hooks "Trusting CDS Clients"): a long-lived one is worth
        # more to whoever copies it, and its replay record would have to be kept as long. With
        # iat at most the skew ahead, this also holds exp - now to the cap plus the skew.
        if exp - iat > self._max_lifetime_s:
            raise Unauthorized(f"token lifetime exp - iat over {self._max_lifetime_s:.0f} s")
        if nbf is not None:
            not_before = _number(claims, "nbf")
            if not_before is None or not_before > now + CLOCK_SKEW_S:
                raise Unauthorized("token not yet valid (nbf)")

    def _check_signature(
        self, token: str, header: Mapping[str, Any], issuer: TrustedIssuer
    ) -> dict[str, Any]:
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in ALLOWED_ALGORITHMS:
            raise Unauthorized(f"algorithm {str(alg)[:20]!r} not allowed")
        typ = header.get("typ")
        if typ is not None and (not isinstance(typ, str) or typ.upper() != "JWT"):
            raise Unauthorized("typ header is not JWT")
        if "crit" in header:
            # RFC 7515 §4.1.11: we understand no critical extensions, so must reject.
            raise Unauthorized("crit header not supported")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise Unauthorized("no kid header")
        jwk = self._find_key(issuer, header.get("jku"), kid)
        key = _verification_key(jwk, alg)
        try:
            payload = PyJWS().decode_complete(token, key=key, algorithms=[alg])["payload"]
        except jwt.InvalidSignatureError as exc:
            raise Unauthorized("bad signature") from exc
        except (jwt.InvalidTokenError, ValueError) as exc:
            raise Unauthorized(f"signature not verifiable: {type(exc).__name__}") from exc
        return _json_object(payload)

    def _find_key(self, issuer: TrustedIssuer, jku: Any, kid: str) -> Mapping[str, Any]:
        if jku is not None and (not isinstance(jku, str) or jku not in issuer.allowed_jku):
            raise Unauthorized("jku not on the issuer's allowlist")
        if issuer.jwks is not None:
            key = _key_by_kid(issuer.jwks, kid)
        else:
            url = jku or issuer.jwks_url
            assert isinstance(url, str)  # load_trusted_issuers guarantees jwks or jwks_url
            key = _key_by_kid(self._jwks.get(url), kid)
            if key is None:
                key = _key_by_kid(self._jwks.get(url, refresh=True), kid)
        if key is None:
            raise Unauthorized("unknown kid")
        return key

    def _check_jti(self, claims: Mapping[str, Any], issuer: TrustedIssuer) -> None:
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            raise Unauthorized("no jti claim")
        if len(jti) > MAX_JTI_LENGTH or not is_storable_text(jti):
            # The replay record must be stored: a jti it cannot hold (over-long, a NUL, a lone
            # surrogate from a JSON escape) is not a real client's, and is refused.
            raise Unauthorized(f"jti not recordable (over {MAX_JTI_LENGTH} characters or not text)")
        # Remembered until exp + skew (at most the lifetime cap ahead, see _check_times): a
        # token is accepted that long, so a replay is too.
        if not self._jti.claim(issuer.issuer, jti, float(claims["exp"]) + CLOCK_SKEW_S):
            raise Unauthorized("replayed jti")


def _check_audience(claims: Mapping[str, Any], audience: str) -> None:
    aud = claims.get("aud")
    if isinstance(aud, str):
        matches = aud == audience
    elif isinstance(aud, list) and all(isinstance(item, str) for item in aud):
        matches = audience in aud
    else:
        raise Unauthorized("no aud claim")
    if not matches:
        raise Unauthorized("aud is not this endpoint")


def _key_by_kid(jwks: Mapping[str, Any], kid: str) -> Mapping[str, Any] | None:
    keys = jwks.get("keys")
    if not isinstance(keys, list):
        return None
    return next((k for k in keys if isinstance(k, Mapping) and k.get("kid") == kid), None)


def _verification_key(jwk: Mapping[str, Any], alg: str) -> Any:
    """The public key object for `alg`; Unauthorized when the JWK does not fit the algorithm."""
    if jwk.get("kty") != _KEY_TYPE_FOR_ALG[alg]:
        raise Unauthorized(f"key type {jwk.get('kty')!r} does not fit {alg}")
    if alg in _CURVE_FOR_ALG and jwk.get("crv") != _CURVE_FOR_ALG[alg]:
        raise Unauthorized(f"key curve {jwk.get('crv')!r} does not fit {alg}")
    if jwk.get("alg") not in (None, alg):
        raise Unauthorized(f"key is for {jwk.get('alg')!r}, token says {alg}")
    if jwk.get("use") not in (None, "sig"):
        raise Unauthorized("key is not a signature key")
    if "d" in jwk:
        raise Unauthorized("key set holds a private key")
    try:
        key = jwt.PyJWK(dict(jwk), algorithm=alg).key
    except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError) as exc:
        raise Unauthorized(f"key unusable: {type(exc).__name__}") from exc
    if _KEY_TYPE_FOR_ALG[alg] == "RSA" and key.key_size < MIN_RSA_BITS:
        raise Unauthorized(f"RSA key shorter than {MIN_RSA_BITS} bits")
    return key


def _json_object(payload: bytes) -> dict[str, Any]:
    claims = json.loads(payload)
    if not isinstance(claims, dict):
        raise ValueError("JWT payload is not a JSON object")
    return claims


# A NumericDate must name an instant a datetime can hold, with room for the skew (9999-12-31): a
# larger, non-finite or float-overflowing value is no date at all, so the claim is refused.
MAX_NUMERIC_DATE = 253_402_200_000


def _number(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, int) and abs(value) > MAX_NUMERIC_DATE:
        return None  # float() of a huge int would overflow
    number = float(value)
    if not math.isfinite(number) or abs(number) > MAX_NUMERIC_DATE:
        return None
    return number
