"""Parties, their API keys, the admin key and the agreement, as stored.

Keys are 256-bit random tokens shown once; only their SHA-256 is stored (a key has enough
entropy that a slow hash adds nothing).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import re
import secrets
from dataclasses import dataclass

import orjson
from sqlalchemy import Connection, insert, select, update

from detente.model import Agreement

from .problems import Conflict, Invalid, NotFound
from .schema import parties, settings

__all__ = [
    "Party",
    "add_party",
    "admin_key_matches",
    "admin_key_set",
    "agreement_of",
    "hash_key",
    "list_parties",
    "load_agreement",
    "new_admin_key",
    "party_by_key",
    "party_names",
    "revoke_party",
    "rotate_key",
    "store_agreement",
]

PARTY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_PARTY_PREFIX = "dtk_"
_ADMIN_PREFIX = "dta_"


@dataclass(frozen=True, slots=True)
class Party:
    id: int
    name: str
    revoked: bool = False


def hash_key(key: str) -> str:
    """The stored form of a key.

    >>> len(hash_key("dtk_x"))
    64
    """
    return hashlib.sha256(key.encode()).hexdigest()


def _new_key(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def add_party(conn: Connection, name: str, now: float) -> tuple[Party, str]:
    """Create a party; returns it and its key (never stored in clear)."""
    if not PARTY_NAME.fullmatch(name):
        raise Invalid(
            f"party name {name!r} must be 1-64 letters, digits, '.', '_' or '-',"
            " starting with a letter or digit"
        )
    if conn.execute(select(parties.c.id).where(parties.c.name == name)).first():
        raise Conflict(f"party {name!r} exists already")
    key = _new_key(_PARTY_PREFIX)
    pid = conn.execute(
        insert(parties).returning(parties.c.id),
        {"name": name, "key_hash": hash_key(key), "revoked": False, "created_at": now},
    ).scalar_one()
    return Party(int(pid), name), key


def _named(conn: Connection, name: str) -> Party:
    row = conn.execute(
        select(parties.c.id, parties.c.name, parties.c.revoked).where(parties.c.name == name)
    ).first()
    if row is None:
        raise NotFound(f"no party named {name!r}")
    return Party(int(row.id), row.name, bool(row.revoked))


def rotate_key(conn: Connection, name: str) -> str:
    """A new key for a party; the old one stops working at once."""
    party = _named(conn, name)
    key = _new_key(_PARTY_PREFIX)
    conn.execute(
        update(parties)
        .where(parties.c.id == party.id)
        .values(key_hash=hash_key(key), revoked=False)
    )
    return key


def revoke_party(conn: Connection, name: str) -> None:
    """The party's key stops working; its plans and record stay."""
    party = _named(conn, name)
    conn.execute(update(parties).where(parties.c.id == party.id).values(revoked=True))


def party_by_key(conn: Connection, key: str) -> Party | None:
    row = conn.execute(
        select(parties.c.id, parties.c.name).where(
            parties.c.key_hash == hash_key(key), parties.c.revoked.is_(False)
        )
    ).first()
    return None if row is None else Party(int(row.id), row.name)


def list_parties(conn: Connection) -> list[Party]:
    rows = conn.execute(
        select(parties.c.id, parties.c.name, parties.c.revoked).order_by(parties.c.id)
    )
    return [Party(int(r.id), r.name, bool(r.revoked)) for r in rows]


def party_names(conn: Connection) -> dict[int, str]:
    return {int(r.id): r.name for r in conn.execute(select(parties.c.id, parties.c.name))}


def _set(conn: Connection, name: str, value: str) -> None:
    found = conn.execute(select(settings.c.name).where(settings.c.name == name)).first()
    if found:
        conn.execute(update(settings).where(settings.c.name == name).values(value=value))
    else:
        conn.execute(insert(settings), {"name": name, "value": value})


def _get(conn: Connection, name: str) -> str | None:
    return conn.execute(select(settings.c.value).where(settings.c.name == name)).scalar()


def new_admin_key(conn: Connection) -> str:
    """A new admin key; the previous one stops working."""
    key = _new_key(_ADMIN_PREFIX)
    _set(conn, "admin_key_hash", hash_key(key))
    return key


def admin_key_set(conn: Connection) -> bool:
    return _get(conn, "admin_key_hash") is not None


def admin_key_matches(conn: Connection, key: str) -> bool:
    stored = _get(conn, "admin_key_hash")
    return stored is not None and secrets.compare_digest(stored, hash_key(key))


def load_agreement(conn: Connection) -> Agreement:
    """The stored agreement (the contract's defaults until one is set)."""
    return agreement_of(_get(conn, "agreement"))


@functools.lru_cache(maxsize=8)
def agreement_of(stored: str | None) -> Agreement:
    """The agreement as stored in the settings (None: the contract's defaults); the same text
    gives the same (immutable) object, parsed once."""
    return Agreement() if stored is None else Agreement(**orjson.loads(stored))


def store_agreement(conn: Connection, agreement: Agreement) -> None:
    _set(conn, "agreement", orjson.dumps(dataclasses.asdict(agreement)).decode())
