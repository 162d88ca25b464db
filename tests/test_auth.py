"""cds.auth: JWT verification per cds-hooks.md "Security" with really signed tokens.

Keys are generated here (EC P-384, EC P-256, RSA 2048); the CDS Hooks specification's own
example token (ES384, expired in 2015) is verified with its published public key. JWK Sets
served by URL come from a real loopback server.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from flask import Flask, Response
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from loopback import closed_port_url, serve

from cds.auth import (
    JwksCache,
    JwtVerifier,
    TrustedIssuer,
    bearer_token,
    load_trusted_issuers,
)
from cds.config import Settings
from cds.errors import ConfigurationError, StoreUnavailable, Unauthorized

ISS = "https://ehr.example.org"
AUD = "https://cds.example.org/cds-services/calf-pain-triage"
NOW = 1_800_000_000.0

EC_KEY = ec.generate_private_key(ec.SECP384R1())
EC256_KEY = ec.generate_private_key(ec.SECP256R1())
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_EC_KEY = ec.generate_private_key(ec.SECP384R1())


def public_jwk(private_key: Any, kid: str, alg: str | None = None) -> dict[str, Any]:
    public = private_key.public_key()
    if isinstance(private_key, rsa.RSAPrivateKey):
        jwk: dict[str, Any] = RSAAlgorithm.to_jwk(public, as_dict=True)
    else:
        jwk = ECAlgorithm.to_jwk(public, as_dict=True)
    jwk.update({"kid": kid, "use": "sig"})
    if alg:
        jwk["alg"] = alg
    return jwk


JWKS = {
    "keys": [
        public_jwk(EC_KEY, "ec-1", "ES384"),
        public_jwk(EC256_KEY, "ec256-1", "ES256"),
        public_jwk(RSA_KEY, "rsa-1"),  # no alg: usable for RS256, RS384 and PS384
    ]
}

# The CDS Hooks specification's example ("Trusting CDS Clients", docs/specification/current.md
# in github.com/cds-hooks/docs): ES384, kid "example-kid", exp 1422568860 (2015-01-29).
SPEC_TOKEN = (
    "eyJhbGciOiJFUzM4NCIsInR5cCI6IkpXVCIsImtpZCI6ImV4YW1wbGUta2lkIiwiamt1IjoiaHR0cHM6Ly9maGly"
    "LWVoci5leGFtcGxlLmNvbS9qd2tfdXJpIn0.eyJpc3MiOiJodHRwczovL2ZoaXItZWhyLmV4YW1wbGUuY29tLyIs"
    "InN1YiI6ImNsaWVudF9pZCIsImF1ZCI6Imh0dHBzOi8vY2RzLmV4YW1wbGUub3JnL2Nkcy1zZXJ2aWNlcy9zb21l"
    "LXNlcnZpY2UiLCJleHAiOjE0MjI1Njg4NjAsImlhdCI6MTMxMTI4MDk3MCwianRpIjoiZWUyMmIwMjEtZTFiNy00"
    "NjExLWJhNWItOGVlYzZhMzNhYzFlIiwidGVuYW50IjoiMmRkZDZjM2EtOGU5YS00NGM2LWEzMDUtNTIxMTFhZDMw"
    "MmEyIn0.CUFPkplnWd6YGIvzoHolWCQBDsCL8QtTWKGg_QFpS169WrqDGzktRi-_we6-6rVzbjerU27ZKww_SW0-"
    "b9RTz-dPJNcqsueMio8r6EqXUXhbLm_ch3XFSbDlGHDl_tqo"
)
SPEC_ISS = "https://fhir-ehr.example.com/"
SPEC_AUD = "https://cds.example.org/cds-services/some-service"
SPEC_JKU = "https://fhir-ehr.example.com/jwk_uri"
SPEC_EXP = 1422568860
SPEC_JWKS = {
    "keys": [
        {
            "kty": "EC",
            "use": "sig",
            "crv": "P-384",
            "kid": "example-kid",
            "x": "46SDH7Znh821wblCBglA61sNE9ZrHYKKt3qRtRTmSXyOI_FIGBLWrWa0GPUkDCEk",
            "y": "XMcRuuoGW7CXjQdy-F5i3FeBE0x9hPLdeFdSoDd3ELmx404tLX0VRRcqzAsPhXcI",
            "alg": "ES384",
        }
    ]
}


@dataclass
class FrozenClock:
    now: float = NOW

    def __call__(self) -> float:
        return self.now


def claims(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "iss": ISS,
        "aud": AUD,
        "exp": int(NOW) + 300,
        "iat": int(NOW),
        "jti": str(uuid.uuid4()),
    }
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not None}


def sign(
    payload: Mapping[str, Any] | None = None,
    *,
    key: Any = EC_KEY,
    alg: str = "ES384",
    kid: str | None = "ec-1",
    **headers: Any,
) -> str:
    header: dict[str, Any] = {"typ": "JWT", **headers}
    if kid is not None:
        header["kid"] = kid
    return jwt.encode(dict(payload or claims()), key, algorithm=alg, headers=header)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: Mapping[str, Any], payload: Mapping[str, Any], secret: bytes = b"") -> str:
    """A token built by hand: alg none (empty signature) or HMAC with the given secret."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    signature = b""
    if header["alg"] == "HS256":
        signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


@dataclass
class FakeJtiStore:
    """The store's claim_jti contract in memory; can be made unavailable."""

    claimed: set[tuple[str, str]] = field(default_factory=set)
    expiries: list[datetime] = field(default_factory=list)
    down: bool = False

    def claim_jti(self, issuer: str, jti: str, expires_at: datetime) -> bool:
        if self.down:
            raise StoreUnavailable()
        if (issuer, jti) in self.claimed:
            return False
        self.claimed.add((issuer, jti))
        self.expiries.append(expires_at)
        return True


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def jti_store() -> FakeJtiStore:
    return FakeJtiStore()


@pytest.fixture
def verifier(clock: FrozenClock, jti_store: FakeJtiStore) -> JwtVerifier:
    issuers = {ISS: TrustedIssuer(ISS, jwks=JWKS, jku_allowlist=frozenset({f"{ISS}/jwks"}))}
    return JwtVerifier(issuers, claim_jti=jti_store.claim_jti, clock=clock)


def reason_of(verifier: JwtVerifier, token: str, audience: str = AUD) -> str:
    with pytest.raises(Unauthorized) as failure:
        verifier.verify(token, audience=audience)
    assert failure.value.diagnostics == "unauthorized"
    assert failure.value.status == 401
    return failure.value.reason


# --- accepted ----------------------------------------------------------------------------------


@pytest.mark.requirement(
    "cds-hooks_2.0:176", "cds-hooks_2.0:199", "cds-hooks_2.0:200", "cds-hooks_2.0:205"
)
@pytest.mark.parametrize(
    ("key", "alg", "kid"),
    [
        pytest.param(EC_KEY, "ES384", "ec-1", id="ES384"),
        pytest.param(EC256_KEY, "ES256", "ec256-1", id="ES256"),
        pytest.param(RSA_KEY, "RS384", "rsa-1", id="RS384"),
        pytest.param(RSA_KEY, "RS256", "rsa-1", id="RS256"),
        pytest.param(RSA_KEY, "PS384", "rsa-1", id="PS384"),
    ],
)
def test_a_token_signed_with_an_allowed_algorithm_is_accepted(
    verifier: JwtVerifier, key: Any, alg: str, kid: str
) -> None:
    payload = claims(tenant="hospital-1")
    assert verifier.verify(sign(payload, key=key, alg=alg, kid=kid), audience=AUD) == payload


def test_aud_may_be_an_array_containing_the_called_url(verifier: JwtVerifier) -> None:
    token = sign(claims(aud=["https://other.example/x", AUD]))
    assert verifier.verify(token, audience=AUD)["aud"][1] == AUD


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"exp": int(NOW) - 59}, id="expired-within-skew"),
        pytest.param({"iat": int(NOW) + 59}, id="iat-ahead-within-skew"),
    ],
)
def test_sixty_seconds_of_clock_skew_are_tolerated(
    verifier: JwtVerifier, overrides: dict[str, Any]
) -> None:
    verifier.verify(sign(claims(**overrides)), audience=AUD)


def test_an_allowlisted_jku_is_honoured(verifier: JwtVerifier) -> None:
    verifier.verify(sign(jku=f"{ISS}/jwks"), audience=AUD)


def test_typ_is_optional(verifier: JwtVerifier) -> None:
    token = jwt.encode(claims(), EC_KEY, algorithm="ES384", headers={"kid": "ec-1"})
    assert jwt.get_unverified_header(token).get("typ") in (None, "JWT")
    verifier.verify(token, audience=AUD)


# --- the specification's own example token ----------------------------------------------------


# The example was issued in 2011 and expires in 2015: no lifetime cap admits it, so its
# signature and claims are checked with the cap lifted (and the cap refuses it, below).
SPEC_LIFETIME_S = 4 * 365 * 86400.0


def spec_verifier(
    clock: Callable[[], float], *, allow_jku: bool = True, max_lifetime_s: float = SPEC_LIFETIME_S
) -> JwtVerifier:
    jku = frozenset({SPEC_JKU}) if allow_jku else frozenset()
    issuer = TrustedIssuer(SPEC_ISS, jwks=SPEC_JWKS, jku_allowlist=jku)
    return JwtVerifier({SPEC_ISS: issuer}, clock=clock, max_lifetime_s=max_lifetime_s)


def test_the_specification_example_token_is_rejected_as_expired() -> None:
    assert reason_of(spec_verifier(time.time), SPEC_TOKEN, SPEC_AUD) == "token expired"


@pytest.mark.requirement("cds-hooks_2.0:176")
def test_the_specification_example_token_verifies_with_the_clock_before_its_exp() -> None:
    verified = spec_verifier(FrozenClock(SPEC_EXP - 120)).verify(SPEC_TOKEN, audience=SPEC_AUD)
    assert verified["tenant"] == "2ddd6c3a-8e9a-44c6-a305-52111ad302a2"
    assert verified["jti"] == "ee22b021-e1b7-4611-ba5b-8eec6a33ac1e"


def test_the_specification_example_token_lives_too_long_for_the_default_cap() -> None:
    verifier = spec_verifier(FrozenClock(SPEC_EXP - 120), max_lifetime_s=300)
    assert reason_of(verifier, SPEC_TOKEN, SPEC_AUD) == "token lifetime exp - iat over 300 s"


def test_the_specification_example_token_with_a_flipped_signature_bit_is_rejected() -> None:
    head, body, signature = SPEC_TOKEN.split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=="))
    raw[10] ^= 1
    forged = f"{head}.{body}.{b64(bytes(raw))}"
    assert reason_of(spec_verifier(FrozenClock(SPEC_EXP - 120)), forged, SPEC_AUD) == (
        "bad signature"
    )


def test_the_specification_example_jku_must_be_allowlisted() -> None:
    verifier = spec_verifier(FrozenClock(SPEC_EXP - 120), allow_jku=False)
    assert reason_of(verifier, SPEC_TOKEN, SPEC_AUD) == "jku not on the issuer's allowlist"


# --- rejected ----------------------------------------------------------------------------------


def test_a_missing_authorization_header_is_unauthorized() -> None:
    with pytest.raises(Unauthorized, match="unauthorized") as failure:
        bearer_token(None)
    assert failure.value.reason == "no Authorization header"


@pytest.mark.parametrize(
    "header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer    ", "token-without-scheme"]
)
def test_a_non_bearer_authorization_header_is_unauthorized(header: str) -> None:
    with pytest.raises(Unauthorized):
        bearer_token(header)


def test_bearer_scheme_is_case_insensitive() -> None:
    assert bearer_token("bearer abc.def.ghi") == "abc.def.ghi"


@pytest.mark.requirement("cds-hooks_2.0:201")
def test_alg_none_is_rejected(verifier: JwtVerifier) -> None:
    token = unsigned({"alg": "none", "typ": "JWT", "kid": "ec-1"}, claims())
    assert reason_of(verifier, token) == "algorithm 'none' not allowed"


@pytest.mark.requirement("cds-hooks_2.0:203")
@pytest.mark.parametrize(
    "secret",
    [
        pytest.param(
            EC_KEY.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
            id="public-key-pem",
        ),
        pytest.param(json.dumps(JWKS["keys"][0]).encode(), id="public-jwk-json"),
    ],
)
def test_hs256_signed_with_the_public_key_as_secret_is_rejected(
    verifier: JwtVerifier, secret: bytes
) -> None:
    token = unsigned({"alg": "HS256", "typ": "JWT", "kid": "ec-1"}, claims(), secret)
    assert reason_of(verifier, token) == "algorithm 'HS256' not allowed"


def test_wrong_aud_is_rejected(verifier: JwtVerifier) -> None:
    token = sign(claims(aud="https://cds.example.org/cds-services/another-service"))
    assert reason_of(verifier, token) == "aud is not this endpoint"


def test_aud_array_without_the_called_url_is_rejected(verifier: JwtVerifier) -> None:
    token = sign(claims(aud=["https://a.example/", "https://b.example/"]))
    assert reason_of(verifier, token) == "aud is not this endpoint"


def test_an_expired_token_is_rejected(verifier: JwtVerifier) -> None:
    assert reason_of(verifier, sign(claims(exp=int(NOW) - 61))) == "token expired"


def test_a_token_issued_in_the_future_is_rejected(verifier: JwtVerifier) -> None:
    reason = reason_of(verifier, sign(claims(iat=int(NOW) + 120)))
    assert reason == "token issued in the future (iat)"


@pytest.mark.parametrize(
    ("missing", "reason"),
    [
        pytest.param("exp", "no numeric exp claim", id="exp"),
        pytest.param("iat", "no numeric iat claim", id="iat"),
        pytest.param("jti", "no jti claim", id="jti"),
        pytest.param("aud", "no aud claim", id="aud"),
        pytest.param("iss", "no iss claim", id="iss"),
    ],
)
def test_required_claims_are_required(verifier: JwtVerifier, missing: str, reason: str) -> None:
    assert reason_of(verifier, sign(claims(**{missing: None}))) == reason


def test_a_string_exp_is_not_a_number(verifier: JwtVerifier) -> None:
    assert reason_of(verifier, sign(claims(exp=str(int(NOW) + 300)))) == "no numeric exp claim"


def test_an_unknown_kid_is_rejected(verifier: JwtVerifier) -> None:
    assert reason_of(verifier, sign(kid="rotated-away")) == "unknown kid"


def test_a_missing_kid_is_rejected(verifier: JwtVerifier) -> None:
    assert reason_of(verifier, sign(kid=None)) == "no kid header"


@pytest.mark.requirement("cds-hooks_2.0:195")
def test_an_unknown_issuer_is_rejected(verifier: JwtVerifier) -> None:
    token = sign(claims(iss="https://evil.example"))
    assert reason_of(verifier, token) == "issuer not trusted"


@pytest.mark.requirement("cds-hooks_2.0:195")
def test_a_jku_not_on_the_allowlist_is_rejected(verifier: JwtVerifier) -> None:
    token = sign(jku="https://evil.example/jwks.json")
    assert reason_of(verifier, token) == "jku not on the issuer's allowlist"


def test_a_replayed_jti_is_rejected(verifier: JwtVerifier, jti_store: FakeJtiStore) -> None:
    token = sign()
    verifier.verify(token, audience=AUD)
    assert reason_of(verifier, token) == "replayed jti"
    assert len(jti_store.claimed) == 1


@pytest.mark.parametrize(
    "jti",
    [
        pytest.param("j" * 257, id="longer-than-the-column"),
        pytest.param("half an emoji \ud83d", id="lone-surrogate"),
        pytest.param("nul\x00inside", id="nul"),
    ],
)
def test_a_jti_the_store_cannot_record_is_rejected_before_the_store(
    verifier: JwtVerifier, jti_store: FakeJtiStore, jti: str
) -> None:
    token = sign(claims(jti=jti))
    assert reason_of(verifier, token) == ("jti not recordable (over 256 characters or not text)")
    assert len(jti_store.claimed) == 0


def test_a_jti_as_long_as_the_column_is_accepted(verifier: JwtVerifier) -> None:
    assert verifier.verify(sign(claims(jti="j" * 256)), audience=AUD)["jti"] == "j" * 256


@pytest.mark.parametrize(
    ("iat", "exp"),
    [
        pytest.param(int(NOW), int(NOW) + 301, id="301-seconds"),
        pytest.param(int(NOW) - 200, int(NOW) + 200, id="issued-before-now"),
        pytest.param(int(NOW), 253_402_000_000, id="exp-in-9999"),
    ],
)
def test_a_token_living_longer_than_the_cap_is_rejected(
    verifier: JwtVerifier, jti_store: FakeJtiStore, iat: int, exp: int
) -> None:
    assert reason_of(verifier, sign(claims(iat=iat, exp=exp))) == (
        "token lifetime exp - iat over 300 s"
    )
    assert not jti_store.claimed


def test_the_cap_is_the_setting(clock: FrozenClock) -> None:
    settings = Settings.load(
        {"max_token_lifetime_s": "600", "trusted_issuers": json.dumps({ISS: {"jwks": JWKS}})},
        environ={},
    )
    verifier = JwtVerifier.from_settings(settings, clock=clock)
    assert verifier.verify(sign(claims(exp=int(NOW) + 600)), audience=AUD)
    assert reason_of(verifier, sign(claims(exp=int(NOW) + 601))) == (
        "token lifetime exp - iat over 600 s"
    )


def test_a_replay_record_is_kept_no_longer_than_the_cap_and_the_skew_allow(
    verifier: JwtVerifier, jti_store: FakeJtiStore
) -> None:
    # The EHR's clock 60 s ahead: iat and exp both at the edge of what is accepted.
    verifier.verify(sign(claims(iat=int(NOW) + 60, exp=int(NOW) + 360)), audience=AUD)
    (expires_at,) = jti_store.expiries
    assert expires_at.timestamp() - NOW == 300 + 2 * 60


def test_a_jti_seen_by_another_instance_is_a_replay(
    clock: FrozenClock, jti_store: FakeJtiStore
) -> None:
    issuers = {ISS: TrustedIssuer(ISS, jwks=JWKS)}
    first = JwtVerifier(issuers, claim_jti=jti_store.claim_jti, clock=clock)
    second = JwtVerifier(issuers, claim_jti=jti_store.claim_jti, clock=clock)
    token = sign()
    first.verify(token, audience=AUD)
    assert reason_of(second, token) == "replayed jti"


@pytest.mark.requirement("cds-hooks_2.0:176")
def test_a_signature_by_another_key_is_rejected(verifier: JwtVerifier) -> None:
    assert reason_of(verifier, sign(key=OTHER_EC_KEY)) == "bad signature"


def test_a_tampered_payload_is_rejected(verifier: JwtVerifier) -> None:
    head, _, signature = sign().split(".")
    forged_body = b64(json.dumps(claims(tenant="someone-else")).encode())
    assert reason_of(verifier, f"{head}.{forged_body}.{signature}") == "bad signature"


@pytest.mark.parametrize(
    ("token_key", "alg", "kid", "reason"),
    [
        pytest.param(RSA_KEY, "RS384", "ec-1", "key type 'EC' does not fit RS384", id="rsa-on-ec"),
        pytest.param(EC_KEY, "ES384", "rsa-1", "key type 'RSA' does not fit ES384", id="ec-on-rsa"),
        pytest.param(
            EC256_KEY, "ES384", "ec256-1", "key curve 'P-256' does not fit ES384", id="curve"
        ),
        pytest.param(EC_KEY, "ES256", "ec-1", "key curve 'P-384' does not fit ES256", id="alg"),
    ],
)
def test_the_key_must_fit_the_algorithm(
    verifier: JwtVerifier, token_key: Any, alg: str, kid: str, reason: str
) -> None:
    # PyJWT refuses to sign with a key that does not fit: sign natively, then swap the header.
    native_alg = {RSA_KEY: "RS384", EC_KEY: "ES384", EC256_KEY: "ES256"}[token_key]
    signed = sign(key=token_key, alg=native_alg, kid=kid)
    head = b64(json.dumps({"alg": alg, "typ": "JWT", "kid": kid}).encode())
    token = f"{head}.{signed.split('.', 1)[1]}"
    assert reason_of(verifier, token) == reason


def test_a_key_pinned_to_another_alg_is_not_used_for_this_one(clock: FrozenClock) -> None:
    pinned = {"keys": [public_jwk(RSA_KEY, "rsa-1", "RS256")]}
    verifier = JwtVerifier({ISS: TrustedIssuer(ISS, jwks=pinned)}, clock=clock)
    token = sign(key=RSA_KEY, alg="RS384", kid="rsa-1")
    assert reason_of(verifier, token) == "key is for 'RS256', token says RS384"


def test_a_typ_other_than_jwt_is_rejected(verifier: JwtVerifier) -> None:
    token = jwt.encode(
        claims(), EC_KEY, algorithm="ES384", headers={"kid": "ec-1", "typ": "at+jwt"}
    )
    assert reason_of(verifier, token) == "typ header is not JWT"


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "e30.bm90LWpzb24.", "e30.W10.", "x" * 50])
def test_malformed_tokens_are_unauthorized_not_errors(verifier: JwtVerifier, token: str) -> None:
    assert reason_of(verifier, token) == "malformed token"


def test_checks_run_in_the_specified_order(verifier: JwtVerifier) -> None:
    # Untrusted iss AND wrong aud AND expired AND alg none: the iss check speaks first.
    token = unsigned(
        {"alg": "none", "kid": "ec-1"},
        claims(iss="https://evil.example", aud="https://x.example", exp=1),
    )
    assert reason_of(verifier, token) == "issuer not trusted"
    token = unsigned({"alg": "none", "kid": "ec-1"}, claims(aud="https://x.example", exp=1))
    assert reason_of(verifier, token) == "aud is not this endpoint"
    token = unsigned({"alg": "none", "kid": "ec-1"}, claims(exp=1))
    assert reason_of(verifier, token) == "token expired"


def test_a_rejected_token_is_never_recorded(verifier: JwtVerifier, jti_store: FakeJtiStore) -> None:
    reason_of(verifier, sign(key=OTHER_EC_KEY))
    assert not jti_store.claimed


# --- jti store outages -------------------------------------------------------------------------


def test_store_down_falls_back_to_a_per_process_jti_cache(
    verifier: JwtVerifier, jti_store: FakeJtiStore, caplog: pytest.LogCaptureFixture
) -> None:
    jti_store.down = True
    token = sign()
    # create_app stops the "cds" logger propagating to the root: listen on it directly.
    logging.getLogger("cds").addHandler(caplog.handler)
    try:
        verifier.verify(token, audience=AUD)
    finally:
        logging.getLogger("cds").removeHandler(caplog.handler)
    assert "degraded: jti replay protection is per-process" in caplog.text
    assert reason_of(verifier, token) == "replayed jti"


def test_a_jti_first_seen_while_the_store_was_down_stays_claimed(
    verifier: JwtVerifier, jti_store: FakeJtiStore
) -> None:
    jti_store.down = True
    token = sign()
    verifier.verify(token, audience=AUD)
    jti_store.down = False
    assert reason_of(verifier, token) == "replayed jti"


def test_the_local_jti_cache_forgets_tokens_after_they_expire(
    verifier: JwtVerifier, clock: FrozenClock
) -> None:
    verifier.verify(sign(claims(jti="same")), audience=AUD)
    clock.now += 1000  # the first token (exp NOW + 300) is long gone
    fresh = claims(jti="same", iat=int(clock.now), exp=int(clock.now) + 300)
    with pytest.raises(Unauthorized, match="unauthorized") as failure:
        verifier.verify(sign(fresh), audience=AUD)
    # The local cache forgot it; only the (fake, never-purging) store still knows the jti.
    assert failure.value.reason == "replayed jti"


# --- JWK Sets by URL ---------------------------------------------------------------------------


@dataclass
class JwksServer:
    url: str
    hits: list[str] = field(default_factory=list)
    jwks: dict[str, Any] = field(default_factory=lambda: JWKS)
    status: int = 200
    delay_s: float = 0.0


@pytest.fixture
def jwks_server() -> Iterator[JwksServer]:
    app = Flask("jwks")
    state = JwksServer(url="")

    @app.get("/<name>.json")
    def keys(name: str) -> Response:
        state.hits.append(name)
        time.sleep(state.delay_s)
        return Response(json.dumps(state.jwks), status=state.status, mimetype="application/json")

    with serve(app) as url:
        state.url = url
        yield state


def signed_at(clock: FrozenClock) -> str:
    """A token issued at the test clock's present time, valid for 5 minutes."""
    return sign(claims(iat=int(clock.now), exp=int(clock.now) + 300))


def url_verifier(
    jwks_url: str, clock: FrozenClock, *, jku: frozenset[str] = frozenset(), ttl_s: float = 600
) -> JwtVerifier:
    issuers = {ISS: TrustedIssuer(ISS, jwks_url=jwks_url, jku_allowlist=jku)}
    return JwtVerifier(issuers, clock=clock, jwks_cache=JwksCache(ttl_s=ttl_s, clock=clock))


def test_keys_are_fetched_from_the_jwks_url_and_cached(
    jwks_server: JwksServer, clock: FrozenClock
) -> None:
    verifier = url_verifier(f"{jwks_server.url}/main.json", clock)
    verifier.verify(sign(), audience=AUD)
    verifier.verify(sign(key=RSA_KEY, alg="RS384", kid="rsa-1"), audience=AUD)
    assert jwks_server.hits == ["main"]


def test_the_cache_is_refreshed_after_its_ttl(jwks_server: JwksServer, clock: FrozenClock) -> None:
    verifier = url_verifier(f"{jwks_server.url}/main.json", clock, ttl_s=60)
    verifier.verify(sign(), audience=AUD)
    clock.now += 61
    verifier.verify(signed_at(clock), audience=AUD)
    assert jwks_server.hits == ["main", "main"]


def test_cached_keys_are_used_when_a_refetch_fails(
    jwks_server: JwksServer, clock: FrozenClock
) -> None:
    verifier = url_verifier(f"{jwks_server.url}/main.json", clock, ttl_s=60)
    verifier.verify(sign(), audience=AUD)
    jwks_server.status = 503
    clock.now += 61
    verifier.verify(signed_at(clock), audience=AUD)
    assert jwks_server.hits == ["main", "main"]


def test_no_cached_keys_and_an_unreachable_jwks_url_is_unauthorized(clock: FrozenClock) -> None:
    verifier = url_verifier(f"{closed_port_url()}/jwks.json", clock)
    assert reason_of(verifier, sign()).startswith("no keys for issuer: JWKS")


@pytest.mark.parametrize(
    ("status", "body"),
    [
        pytest.param(500, JWKS, id="500"),
        pytest.param(200, {"not": "a key set"}, id="not-a-jwks"),
    ],
)
def test_a_bad_jwks_answer_without_cache_is_unauthorized(
    jwks_server: JwksServer, clock: FrozenClock, status: int, body: dict[str, Any]
) -> None:
    jwks_server.status, jwks_server.jwks = status, body
    verifier = url_verifier(f"{jwks_server.url}/main.json", clock)
    assert reason_of(verifier, sign()).startswith("no keys for issuer")


def test_an_unknown_kid_refetches_once_for_key_rotation(
    jwks_server: JwksServer, clock: FrozenClock
) -> None:
    verifier = url_verifier(f"{jwks_server.url}/main.json", clock)
    verifier.verify(sign(), audience=AUD)
    clock.now += 31  # past the refetch rate limit
    rotated = public_jwk(OTHER_EC_KEY, "ec-2", "ES384")
    jwks_server.jwks = {"keys": [*JWKS["keys"], rotated]}
    rotated_claims = claims(iat=int(clock.now), exp=int(clock.now) + 300)
    verifier.verify(sign(rotated_claims, key=OTHER_EC_KEY, kid="ec-2"), audience=AUD)
    # A burst of forged kids right after does not hammer the issuer's endpoint.
    for _ in range(3):
        assert reason_of(verifier, sign(kid="forged")) == "unknown kid"
    assert jwks_server.hits == ["main", "main"]


def test_an_allowlisted_jku_selects_the_key_set_url(
    jwks_server: JwksServer, clock: FrozenClock
) -> None:
    jku = f"{jwks_server.url}/rotating.json"
    verifier = url_verifier(f"{jwks_server.url}/main.json", clock, jku=frozenset({jku}))
    verifier.verify(sign(jku=jku), audience=AUD)
    assert jwks_server.hits == ["rotating"]


@pytest.mark.requirement("cds-hooks_2.0:195")
def test_a_jku_off_the_allowlist_is_never_fetched(
    jwks_server: JwksServer, clock: FrozenClock
) -> None:
    verifier = url_verifier(f"{jwks_server.url}/main.json", clock)
    reason = reason_of(verifier, sign(jku=f"{jwks_server.url}/attacker.json"))
    assert reason == "jku not on the issuer's allowlist"
    assert jwks_server.hits == []


def test_no_key_set_is_fetched_for_a_token_failing_the_claim_checks(
    jwks_server: JwksServer, clock: FrozenClock
) -> None:
    verifier = url_verifier(f"{jwks_server.url}/main.json", clock)
    reason_of(verifier, sign(claims(exp=1)))
    reason_of(verifier, sign(claims(aud="https://elsewhere.example")))
    assert jwks_server.hits == []


# --- configuration -----------------------------------------------------------------------------


def test_trusted_issuers_load_from_inline_json() -> None:
    issuers = load_trusted_issuers(json.dumps({ISS: {"jwks": JWKS}}))
    assert issuers[ISS].jwks == JWKS


def test_trusted_issuers_load_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "issuers.json"
    path.write_text(
        json.dumps(
            {
                "$comment": "ignored",
                ISS: {"jwks_url": f"{ISS}/jwks", "jku_allowlist": [f"{ISS}/jwks2"]},
            }
        )
    )
    issuers = load_trusted_issuers(str(path))
    assert list(issuers) == [ISS]
    assert issuers[ISS].allowed_jku == {f"{ISS}/jwks", f"{ISS}/jwks2"}


def test_the_shipped_sandbox_configuration_trusts_the_sandbox_key() -> None:
    repo = Path(__file__).resolve().parent.parent
    issuers = load_trusted_issuers(str(repo / "config" / "sandbox-issuers.json"))
    sandbox = issuers["https://sandbox.cds-hooks.org"]
    published = json.loads((repo / "tests/data/cds-hooks-sandbox/jwks.json").read_text())
    assert sandbox.jwks == published
    assert sandbox.jwks_url is None  # its jku is tolerated, never fetched
    assert sandbox.allowed_jku == {"https://sandbox.cds-hooks.org/.well-known/jwks.json"}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        pytest.param("{not json", "not valid JSON", id="json"),
        pytest.param("/nonexistent/issuers.json", "cannot read file", id="file"),
        pytest.param('{"i": {}}', "exactly one of", id="neither"),
        pytest.param(
            json.dumps({"i": {"jwks": JWKS, "jwks_url": "https://x/"}}), "exactly one", id="both"
        ),
        pytest.param('{"i": {"jwks_url": "http://ehr.example/jwks"}}', "https", id="plain-http"),
        pytest.param('{"i": {"jwks": {"keys": [{"d": "x"}]}}}', "private key", id="private"),
        pytest.param('{"i": {"jwks": {"keys": []}, "typo": 1}}', "unknown fields", id="unknown"),
        pytest.param('{"i": {"jwks_url": "https://x/", "jku_allowlist": "x"}}', "list", id="jku"),
    ],
)
def test_malformed_trusted_issuers_fail_at_startup(raw: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        load_trusted_issuers(raw)


def test_a_failing_jwks_url_is_asked_at_most_once_per_interval(
    jwks_server: JwksServer, clock: FrozenClock
) -> None:
    verifier = url_verifier(f"{jwks_server.url}/main.json", clock, ttl_s=5)
    verifier.verify(sign(), audience=AUD)
    jwks_server.status = 503
    clock.now += 31  # stale, and past the interval: one refetch, which fails
    for _ in range(5):  # the stale keys serve; the endpoint is not asked again
        verifier.verify(signed_at(clock), audience=AUD)
    assert jwks_server.hits == ["main", "main"]


def test_with_no_keys_a_failed_fetch_is_not_repeated_within_the_interval(
    jwks_server: JwksServer, clock: FrozenClock
) -> None:
    jwks_server.status = 503
    verifier = url_verifier(f"{jwks_server.url}/main.json", clock)
    reasons = [reason_of(verifier, sign()) for _ in range(4)]
    clock.now += 31
    jwks_server.status = 200
    verifier.verify(signed_at(clock), audience=AUD)

    assert reasons[0].startswith("no keys for issuer: JWKS")
    assert reasons[1:] == ["no keys for issuer: its JWKS could not be fetched just now"] * 3
    assert jwks_server.hits == ["main", "main"]


def test_calls_arriving_while_the_first_fetch_is_under_way_wait_for_it(
    jwks_server: JwksServer, clock: FrozenClock
) -> None:
    jwks_server.delay_s = 0.3
    verifier = url_verifier(f"{jwks_server.url}/main.json", clock)
    with ThreadPoolExecutor(max_workers=4) as pool:
        claims_seen = list(pool.map(lambda _: verifier.verify(sign(), audience=AUD), range(4)))

    assert [c["iss"] for c in claims_seen] == [ISS] * 4  # none refused with "not just now"
    assert jwks_server.hits == ["main"]  # one fetch; the others read its result
