"""Who is calling: an App (RS256 JWT), an installation (token) or a user (token)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import jwt

from .world import World

MAX_JWT_LIFETIME = 600  # GitHub: exp no more than 10 minutes after iat
CLOCK_SKEW = 60


@dataclass(frozen=True)
class Principal:
    kind: str  # "app" | "installation" | "user" | "anonymous"
    app_id: int | None = None
    installation_id: int | None = None
    login: str | None = None  # acting user ("<slug>[bot]" for installations)

    @property
    def label(self) -> str | None:
        if self.kind == "app":
            return f"app:{self.app_id}"
        if self.kind == "installation":
            return f"installation:{self.installation_id}"
        if self.kind == "user":
            return f"user:{self.login}"
        return None


ANONYMOUS = Principal(kind="anonymous")


class AuthError(Exception):
    def __init__(self, message: str, status: int = 401):
        super().__init__(message)
        self.message = message
        self.status = status


def verify_app_jwt(world: World, token: str, *, now: float | None = None) -> Principal:
    """Check a GitHub App JWT the way GitHub does: RS256, iss = app id, iat/exp window <= 10 min."""
    now = time.time() if now is None else now
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise AuthError(f"A JSON web token could not be decoded: {exc}") from exc
    if header.get("alg") != "RS256":
        raise AuthError("'alg' must be RS256")
    try:
        app_id = int(claims.get("iss"))
    except (TypeError, ValueError) as exc:
        raise AuthError("'Issuer' claim ('iss') must be an Integer") from exc
    app = world.apps.get(app_id)
    if app is None:
        raise AuthError(f"Integration not found: {app_id}")
    try:
        jwt.decode(token, app.public_key_pem, algorithms=["RS256"],
                   options={"verify_exp": False, "verify_iat": False, "require": ["iat", "exp", "iss"]})
    except jwt.PyJWTError as exc:
        raise AuthError("A JSON web token could not be decoded") from exc
    iat, exp = int(claims["iat"]), int(claims["exp"])
    if iat > now + CLOCK_SKEW:
        raise AuthError("'Issued at' claim ('iat') must be an Integer representing a time in the past.")
    if exp < now:
        raise AuthError("'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires.")
    if exp - iat > MAX_JWT_LIFETIME:
        raise AuthError("'Expiration time' claim ('exp') is too far in the future")
    return Principal(kind="app", app_id=app_id)


def resolve(world: World, authorization: str | None) -> Principal:
    if not authorization:
        return ANONYMOUS
    scheme, _, value = authorization.partition(" ")
    scheme = scheme.lower()
    value = value.strip()
    if scheme == "bearer" and value.count(".") == 2:
        return verify_app_jwt(world, value)
    if scheme in ("token", "bearer"):
        tok = world.tokens.get(value)
        if tok is None:
            raise AuthError("Bad credentials")
        if tok.expires_at is not None and tok.expires_at < time.time():
            raise AuthError("Bad credentials")
        if tok.kind == "installation":
            inst = world.installations.get(tok.installation_id or -1)
            if inst is None:
                raise AuthError("Bad credentials")
            return Principal(kind="installation", app_id=inst.app_id, installation_id=inst.id, login=tok.user)
        return Principal(kind="user", login=tok.user)
    raise AuthError("Bad credentials")
