"""The hotline: immutable, threaded messages between parties, optionally about a conflict.

Types: `notice` and `query` open an exchange (and may demand a response by `respond_by`);
`reply`, `wilco` (will comply), `cantco` (cannot comply) and `ack` answer a message or a
conflict. A response from the addressee closes the deadline of the message it answers; a
deadline that passes unanswered becomes overdue (see `sweep_deadlines`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, or_, select, update

from detente.interop.results import format_instant

from .db import Database
from .journal import Entry, append
from .parties import Party
from .problems import Invalid, NotFound
from .schema import conflicts, deadlines, messages, parties

__all__ = [
    "OPENING",
    "RESPONSES",
    "NewMessage",
    "get_message",
    "list_messages",
    "send",
    "sweep_deadlines",
]

OPENING = ("notice", "query")
RESPONSES = ("reply", "wilco", "cantco", "ack")
MAX_TEXT = 4000


@dataclass(slots=True)
class NewMessage:
    type: str
    text: str = ""
    to: str | None = None
    conflict: str | None = None
    in_reply_to: str | None = None
    respond_by: float | None = None


def send(db: Database, sender: Party, message: NewMessage, now: float) -> dict[str, Any]:
    """Store and log a message; returns it as both parties see it."""
    if message.type not in OPENING + RESPONSES:
        raise Invalid(
            f"type {message.type!r} is not a message type; use one of "
            + ", ".join(OPENING + RESPONSES),
            errors=[{"field": "type", "reason": "unknown message type"}],
        )
    if len(message.text) > MAX_TEXT:
        raise Invalid(f"text is {len(message.text)} characters; at most {MAX_TEXT} are taken")
    if message.respond_by is not None:
        if message.type not in OPENING:
            raise Invalid("respond_by is for a notice or a query, not a response")
        if message.respond_by <= now:
            raise Invalid(
                f"respond_by ({format_instant(message.respond_by)}) must be after now"
                f" ({format_instant(now)})"
            )
    with db.writing() as conn:
        recipient, thread, answered = _route(conn, sender, message)
        row = {
            "id": uuid.uuid4().hex,
            "thread": thread,
            "sender": sender.id,
            "recipient": recipient,
            "conflict_id": message.conflict,
            "in_reply_to": message.in_reply_to,
            "type": message.type,
            "text": message.text,
            "respond_by": message.respond_by,
            "sent_at": now,
        }
        conn.execute(insert(messages), row)
        if message.respond_by is not None:
            conn.execute(
                insert(deadlines),
                {"message_id": row["id"], "due": message.respond_by, "state": "open"},
            )
        if answered is not None:
            conn.execute(
                update(deadlines)
                .where(deadlines.c.message_id == answered, deadlines.c.state != "answered")
                .values(state="answered")
            )
        names = _names(conn, sender.id, recipient)
        view = _view(row, names, "open" if message.respond_by is not None else None)
        entry = Entry("message.sent", sender.id, view, {sender.id: {"message": view}})
        entry.views[recipient] = {"message": view}
        append(db, conn, now, [entry])
    return view


def _route(conn: Connection, sender: Party, message: NewMessage) -> tuple[int, str, str | None]:
    """The recipient, the thread, and the message whose deadline this one answers."""
    answered = None
    if message.in_reply_to is not None:
        parent = conn.execute(select(messages).where(messages.c.id == message.in_reply_to)).first()
        if parent is None or sender.id not in (parent.sender, parent.recipient):
            raise NotFound(f"no message {message.in_reply_to!r} of yours to answer")
        recipient = parent.recipient if parent.sender == sender.id else parent.sender
        if message.type in RESPONSES and parent.recipient == sender.id:
            answered = parent.id
        if message.conflict is None:
            message.conflict = parent.conflict_id
        thread = parent.thread
    elif message.conflict is not None:
        found = conn.execute(
            select(conflicts.c.a_party, conflicts.c.b_party).where(
                conflicts.c.id == message.conflict
            )
        ).first()
        if found is None or sender.id not in (found.a_party, found.b_party):
            raise NotFound(f"no conflict {message.conflict!r} of yours")
        recipient = found.b_party if found.a_party == sender.id else found.a_party
        thread = message.conflict
    elif message.type in RESPONSES:
        raise Invalid(f"a {message.type} answers something: give in_reply_to or conflict")
    else:
        if message.to is None:
            raise Invalid("say who the message is for: give to (a party), conflict or in_reply_to")
        recipient = _party_named(conn, message.to)
        thread = uuid.uuid4().hex
    if message.to is not None and recipient != _party_named(conn, message.to):
        raise Invalid(f"to ({message.to!r}) is not the other party of this exchange")
    if recipient == sender.id:
        raise Invalid("a message goes to another party, not to yourself")
    return recipient, thread, answered


def _party_named(conn: Connection, name: str) -> int:
    pid = conn.execute(
        select(parties.c.id).where(parties.c.name == name, parties.c.revoked.is_(False))
    ).scalar()
    if pid is None:
        raise Invalid(f"no party named {name!r}", errors=[{"field": "to", "reason": "unknown"}])
    return int(pid)


def _names(conn: Connection, *ids: int) -> dict[int, str]:
    rows = conn.execute(select(parties.c.id, parties.c.name).where(parties.c.id.in_(ids)))
    return {int(pid): name for pid, name in rows}


def _view(row: Any, names: dict[int, str], state: str | None) -> dict[str, Any]:
    m = row if isinstance(row, dict) else row._mapping
    respond_by = m["respond_by"]
    return {
        "id": m["id"],
        "thread": m["thread"],
        "from": names[m["sender"]],
        "to": names[m["recipient"]],
        "type": m["type"],
        "text": m["text"],
        "conflict": m["conflict_id"],
        "in_reply_to": m["in_reply_to"],
        "respond_by": None if respond_by is None else format_instant(respond_by),
        "deadline": state,
        "sent_at": format_instant(m["sent_at"]),
    }


def list_messages(
    conn: Connection,
    party: Party,
    *,
    thread: str | None = None,
    conflict: str | None = None,
    limit: int = 500,
) -> list[dict[str, Any]]:
    """Messages the party sent or received, oldest first; overdue deadlines are marked."""
    query = (
        select(messages, deadlines.c.state)
        .select_from(messages.outerjoin(deadlines, deadlines.c.message_id == messages.c.id))
        .where(or_(messages.c.sender == party.id, messages.c.recipient == party.id))
        .order_by(messages.c.sent_at, messages.c.id)
        .limit(limit)
    )
    if thread is not None:
        query = query.where(messages.c.thread == thread)
    if conflict is not None:
        query = query.where(messages.c.conflict_id == conflict)
    rows = list(conn.execute(query))
    names = _names(conn, *{r.sender for r in rows} | {r.recipient for r in rows})
    return [_view(r, names, r.state) for r in rows]


def get_message(conn: Connection, party: Party, message_id: str) -> dict[str, Any]:
    row = conn.execute(
        select(messages, deadlines.c.state)
        .select_from(messages.outerjoin(deadlines, deadlines.c.message_id == messages.c.id))
        .where(messages.c.id == message_id)
    ).first()
    if row is None or party.id not in (row.sender, row.recipient):
        raise NotFound(f"no message {message_id!r} of yours")
    return _view(row, _names(conn, row.sender, row.recipient), row.state)


def sweep_deadlines(db: Database, now: float) -> int:
    """Mark unanswered messages past their deadline overdue and tell both parties."""
    with db.writing() as conn:
        due = list(
            conn.execute(
                select(messages, deadlines.c.state)
                .select_from(messages.join(deadlines, deadlines.c.message_id == messages.c.id))
                .where(deadlines.c.state == "open", deadlines.c.due <= now)
                .limit(1000)
            )
        )
        if not due:
            return 0
        # Only deadlines still open: an answer or another sweep may have come in meanwhile.
        marked = set(
            conn.execute(
                update(deadlines)
                .where(deadlines.c.message_id.in_([r.id for r in due]), deadlines.c.state == "open")
                .values(state="overdue")
                .returning(deadlines.c.message_id)
            ).scalars()
        )
        due = [r for r in due if r.id in marked]
        if not due:
            return 0
        names = _names(conn, *{r.sender for r in due} | {r.recipient for r in due})
        entries = []
        for r in due:
            view = _view(r, names, "overdue")
            entry = Entry("message.overdue", None, view, {r.sender: {"message": view}})
            entry.views[r.recipient] = {"message": view}
            entries.append(entry)
        append(db, conn, now, entries)
    return len(due)
