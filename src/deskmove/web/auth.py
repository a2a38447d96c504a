"""Password hashing (argon2id) and the password rules the CLI and the admin page share."""

from __future__ import annotations

from functools import lru_cache

from deskmove.errors import UsageError

MIN_PASSWORD = 10


@lru_cache(maxsize=1)
def _hasher():  # type: ignore[no-untyped-def]
    from argon2 import PasswordHasher

    return PasswordHasher()


def hash_password(password: str) -> str:
    check_password_rules(password)
    return _hasher().hash(password)


def verify_password(stored: str, password: str) -> bool:
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return _hasher().verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    return _hasher().check_needs_rehash(stored)


# A real hash to verify against when the address is unknown, so a wrong address
# takes as long as a wrong password (no account enumeration by timing).
@lru_cache(maxsize=1)
def dummy_hash() -> str:
    return _hasher().hash("deskmove-no-such-account")


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UsageError(
            f"the password is too short ({len(password)} characters)",
            f"use at least {MIN_PASSWORD} characters",
        )
    if len(password) > 1024:
        raise UsageError("the password is too long", "use at most 1024 characters")
