"""The UI's user list (YBB_UI_USERS = "alice:<hash>,bob:<hash>") and password checks.

Hashes come from werkzeug.security.generate_password_hash (`python -m app.auth hash-password`);
plain passwords in the setting are refused at start-up so a typo never becomes a live password."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field

from werkzeug.security import check_password_hash, generate_password_hash

USER_NAME_RE = re.compile(r"^[A-Za-z0-9._@+-]{1,64}$")
HASH_METHODS = ("scrypt:", "pbkdf2:")
MAX_PASSWORD_CHARS = 1024  # longer input is refused before hashing (no hashing-cost DoS)


def _parse_entry(entry: str) -> tuple[str, str]:
    name, sep, hashed = entry.partition(":")
    name, hashed = name.strip(), hashed.strip()
    if not sep or not USER_NAME_RE.match(name):
        raise ValueError(
            "YBB_UI_USERS must look like 'alice:<hash>,bob:<hash>' with user names of letters, "
            f"digits and ._@+- (got an entry starting {entry[:12]!r})"
        )
    if not hashed.startswith(HASH_METHODS) or hashed.count("$") != 2:
        raise ValueError(
            f"YBB_UI_USERS: the password of {name!r} is not a werkzeug hash; create one with "
            "`python -m app.auth hash-password`"
        )
    return name, hashed


@dataclass(frozen=True)
class UiUsers:
    """Who may sign in to the UI. Empty means login is off (local use)."""

    hashes: dict[str, str] = field(default_factory=dict, repr=False)
    dummy_hash: str = field(default="", repr=False)

    @classmethod
    def parse(cls, raw: str) -> UiUsers:
        """Parse the YBB_UI_USERS value; ValueError when an entry is malformed."""
        hashes: dict[str, str] = {}
        for entry in (e for e in raw.split(",") if e.strip()):
            name, hashed = _parse_entry(entry)
            if name in hashes:
                raise ValueError(f"YBB_UI_USERS names {name!r} twice")
            hashes[name] = hashed
        if not hashes:
            return cls()
        # Unknown names are checked against this hash (same method and cost as a real one), so
        # the time a failed sign-in takes does not tell whether the user exists.
        method = next(iter(hashes.values())).split("$", 1)[0]
        return cls(hashes, generate_password_hash(secrets.token_hex(16), method=method))

    @property
    def enabled(self) -> bool:
        """Whether login is required at all."""
        return bool(self.hashes)

    def verify(self, name: str, password: str) -> bool:
        """True when `password` is `name`'s. Constant-time via check_password_hash."""
        if not password or len(password) > MAX_PASSWORD_CHARS or len(name) > 256:
            return False
        known = name in self.hashes
        matches = check_password_hash(self.hashes.get(name, self.dummy_hash), password)
        return known and matches

    def fingerprint(self, name: str, secret: str) -> str | None:
        """A keyed digest of `name`'s password hash, kept in the session: changing the password
        (or removing the user) in YBB_UI_USERS ends that user's existing sessions."""
        hashed = self.hashes.get(name)
        if hashed is None:
            return None
        digest = hmac.new(secret.encode(), hashed.encode(), hashlib.sha256).hexdigest()
        return digest[:32]
