"""An outbox message as an email: the subject stored with the notification, a text and an HTML
body from the templates beside this module (``templates/message.txt``, ``message.html``), with a
link to the page concerned and an unsubscribe link. Rendered when sent, from the facts stored when
the event happened, so a message says what was true then.
"""

from __future__ import annotations

import json
from email.header import Header
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from ledger.core.clock import as_utc
from ledger.notify.models import OutboxMessage
from ledger.notify.outbox import KINDS

_env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                   autoescape=select_autoescape(["html"]), undefined=StrictUndefined,
                   keep_trailing_newline=True)


class Subject(str):
    """A ``Subject`` that folds itself (the header protocol of ``email.policy.EmailPolicy``: a value
    with a ``name`` is stored as it is, and its ``fold`` writes it). Python 3.11's folder, given a
    long subject with non-ASCII words, can end one RFC 2047 encoded word just before a space and
    start the next after it, and a reader drops the whitespace between two encoded words:
    ``partner” — vote`` arrived as ``partner”— vote``. Here a non-ASCII subject is encoded whole,
    in UTF-8 base64 words of at most 75 characters on lines of at most 78, the spaces inside the
    words; an ASCII one is folded by the policy as before."""

    name = "Subject"

    def fold(self, *, policy) -> str:
        if self.isascii():
            return policy.header_factory(self.name, str(self)).fold(policy=policy)
        words = Header(str(self), "utf-8", header_name=self.name).encode(linesep=policy.linesep, maxlinelen=75)
        return f"{self.name}: {words}{policy.linesep}"


def message_id(outbox_id: int, domain: str) -> str:
    """The same Message-ID every time a message is tried: a receiver can tell a retry from a new mail."""
    return f"<outbox-{outbox_id}@{domain}>"


def build(message: OutboxMessage, sender: str, base_url: str, unsubscribe_url: str,
          unsubscribe_all_url: str) -> EmailMessage:
    note = message.notification
    facts = json.loads(note.facts)
    context = {"kind": note.kind, "subject": note.subject, "facts": facts, "link": base_url.rstrip("/") + note.link,
               "about": KINDS[note.kind][0], "unsubscribe_url": unsubscribe_url,
               "unsubscribe_all_url": unsubscribe_all_url}
    email = EmailMessage()
    email["Subject"] = Subject(note.subject)
    email["From"] = sender
    email["To"] = message.to_address
    email["Date"] = format_datetime(as_utc(note.created_at))
    domain = sender.rsplit("@", 1)[-1].strip("> ") or "ledger.invalid"
    email["Message-ID"] = message_id(message.id, domain) if message.id else make_msgid(domain=domain)
    # RFC 8058 one-click: a mail client may POST to this URL to unsubscribe, no sign-in needed.
    email["List-Unsubscribe"] = f"<{unsubscribe_url}>"
    email["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    email["X-Ledger-Kind"] = note.kind
    email.set_content(_env.get_template("message.txt").render(context))
    email.add_alternative(_env.get_template("message.html").render(context), subtype="html")
    return email
