#!/usr/bin/env python3
"""A real SMTP server for dvc-audit's email tests (aiosmtpd), bound to 127.0.0.1 only.

Each accepted message is parsed with Python's own `email` package (an independent MIME
parser) and written to OUT_DIR as <n>.json: envelope, decoded headers, text and HTML bodies,
attachments (name, type, content). The raw message is kept beside it as <n>.eml.

usage: smtp_server.py PORT OUT_DIR CERT KEY MODE [USER PASSWORD]
  MODE: starttls (STARTTLS required) | implicit (TLS from the first byte) | plain
Prints "READY <port>" once accepting; runs until killed.
"""
import asyncio
import base64
import email
import email.policy
import json
import os
import ssl
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Saver:
    def __init__(self, out):
        self.out = out
        self.n = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        text = msg.get_body(preferencelist=("plain",))
        html = msg.get_body(preferencelist=("html",))
        attachments = []
        for part in msg.iter_attachments():
            payload = part.get_content()
            if isinstance(payload, bytes):
                content = base64.b64encode(payload).decode()
                encoding = "base64"
            else:
                content = payload
                encoding = "text"
            attachments.append({
                "filename": part.get_filename(),
                "content_type": part.get_content_type(),
                "encoding": encoding,
                "content": content,
            })
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": sorted(envelope.rcpt_tos),
            "subject": str(msg["subject"]),
            "from": str(msg["from"]),
            "to": str(msg["to"] or ""),
            "cc": str(msg["cc"] or ""),
            "message_id": str(msg["message-id"]),
            "text": text.get_content() if text is not None else None,
            "html": html.get_content() if html is not None else None,
            "attachments": attachments,
            "tls": session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None,
            "authenticated": bool(session.authenticated),
        }
        with self.lock:
            self.n += 1
            n = self.n
        base = os.path.join(self.out, f"{n:04d}")
        with open(base + ".eml", "wb") as f:
            f.write(envelope.original_content or envelope.content)
        tmp = base + ".json.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(record, f, ensure_ascii=False, indent=1)
        os.replace(tmp, base + ".json")
        return "250 Message accepted for delivery"


def main():
    port, out, cert, key, mode = sys.argv[1:6]
    user = sys.argv[6].encode() if len(sys.argv) > 6 else None
    password = sys.argv[7].encode() if len(sys.argv) > 7 else None
    os.makedirs(out, exist_ok=True)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and auth_data.login == user and auth_data.password == password
        return AuthResult(success=ok, handled=False)

    kwargs = {}
    if user is not None:
        kwargs.update(authenticator=authenticator, auth_required=True)
    if mode == "starttls":
        kwargs.update(tls_context=ctx, require_starttls=True)
    elif mode == "implicit":
        kwargs.update(ssl_context=ctx)
    elif mode == "plain":
        kwargs.update(auth_require_tls=False)
    else:
        sys.exit(f"unknown mode {mode}")
    controller = Controller(Saver(out), hostname="127.0.0.1", port=int(port), server_hostname="localhost", **kwargs)
    controller.start()
    print(f"READY {port}", flush=True)
    try:
        threading.Event().wait()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
