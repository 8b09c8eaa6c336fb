"""A real SMTP server on a free loopback port (aiosmtpd), collecting what it accepts.

``Mailbox.messages`` holds each accepted message, parsed; ``on_data`` (optional) runs before a
message is accepted and may return an SMTP reply to refuse it (``"451 try later"``) — the tests kill
a sender there, before the server's ``250``, as a crash mid-send would.
"""

from __future__ import annotations

import socket
import threading
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.raw: list[bytes] = []  # each message as it arrived
        self.lock = threading.Lock()
        self.on_data = None

    async def handle_DATA(self, server, session, envelope):
        if self.on_data is not None:
            reply = self.on_data(envelope)
            if reply:
                return reply
        with self.lock:
            self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
            self.raw.append(envelope.content)
        return "250 Message accepted for delivery"

    def by(self, header: str) -> dict[str, list[EmailMessage]]:
        out: dict[str, list[EmailMessage]] = {}
        for m in self.messages:
            out.setdefault(m[header], []).append(m)
        return out


class SmtpServer:
    """``with SmtpServer(**controller_options) as box:`` — ``box.url`` is the ``SMTP_URL``."""

    def __init__(self, **options) -> None:
        self.mailbox = Mailbox()
        self.port = free_port()
        self.options = options
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port, **options)

    def __enter__(self) -> Mailbox:
        self.controller.start()
        self.mailbox.url = f"smtp://127.0.0.1:{self.port}"
        self.mailbox.port = self.port
        return self.mailbox

    def __exit__(self, *exc) -> None:
        self.controller.stop()
