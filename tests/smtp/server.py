"""A real SMTP server (aiosmtpd) for the API tests.

Saves every accepted message as <n>.eml in --dir and answers by recipient, so tests can provoke
what real servers do:
  tempfail...@   451 on RCPT, always
  flakyN-...@    451 on RCPT for the first N tries, then accepted
  nosuchuser...@ 550 on RCPT (a hard bounce)
  anything else  accepted
PIPELINING (RFC 2920) is offered unless --no-pipelining. With --record-envelopes, beside each
<n>.eml a <n>.envelope file says "pipelined" when RCPT had already arrived as MAIL was read (the
client sent them in one write, which a client may do only when PIPELINING is offered) and
"one-by-one" otherwise.
With --auth user:password, AUTH (PLAIN/LOGIN) is required before MAIL.
With --tls-cert and --tls-key (PEM files), --tls starttls requires STARTTLS before MAIL (530 otherwise)
and --tls implicit speaks TLS from the first byte (SMTPS); every message saved over TLS then starts
with an "X-Test-TLS: <version>" line.
Prints "READY <port>" once listening; runs until killed.
"""

import argparse
import os
import re
import socket
import ssl
import sys
import threading
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Recorder:
    def __init__(self, directory, pipelining, record_envelopes):
        self.directory = directory
        self.pipelining = pipelining
        self.record_envelopes = record_envelopes
        self.lock = threading.Lock()
        self.count = 0
        self.tries = {}

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        if self.pipelining:
            # Before the last line ("250 HELP"), which ends the reply.
            responses.insert(len(responses) - 1, "250-PIPELINING")
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        # What the client wrote after MAIL, already waiting in the reader's buffer.
        envelope.pipelined = len(server._reader._buffer) > 0
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0].lower()
        if local.startswith("tempfail"):
            return "451 4.3.0 Try again later"
        if local.startswith("nosuchuser"):
            return "550 5.1.1 No such user here"
        flaky = re.match(r"flaky(\d+)-", local)
        if flaky:
            with self.lock:
                seen = self.tries.get(address, 0)
                self.tries[address] = seen + 1
            if seen < int(flaky.group(1)):
                return "451 4.3.0 Greylisted, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.count += 1
            n = self.count
        path = os.path.join(self.directory, "%06d.eml" % n)
        partial = path + ".partial"
        with open(partial, "wb") as f:
            tls = server.transport.get_extra_info("ssl_object")
            if tls is not None:
                f.write(b"X-Test-TLS: %s\r\n" % tls.version().encode())
            f.write(envelope.original_content or envelope.content)
        if self.record_envelopes:
            with open(os.path.join(self.directory, "%06d.envelope" % n), "w") as f:
                f.write("pipelined" if getattr(envelope, "pipelined", False) else "one-by-one")
        os.rename(partial, path)
        return "250 Message accepted for delivery"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", required=True)
    parser.add_argument("--auth")
    parser.add_argument("--tls", choices=["starttls", "implicit"])
    parser.add_argument("--tls-cert")
    parser.add_argument("--tls-key")
    parser.add_argument("--no-pipelining", action="store_true")
    parser.add_argument("--record-envelopes", action="store_true")
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    options = {}
    if args.auth:
        user, password = args.auth.split(":", 1)

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = (
                isinstance(auth_data, LoginPassword)
                and auth_data.login.decode() == user
                and auth_data.password.decode() == password
            )
            return AuthResult(success=ok)

        options = dict(authenticator=authenticator, auth_required=True, auth_require_tls=False)
    if args.tls:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.tls_cert, args.tls_key)
        if args.tls == "starttls":
            options.update(tls_context=context, require_starttls=True)
        else:
            options.update(ssl_context=context)
    port = free_port()
    controller = Controller(Recorder(args.dir, not args.no_pipelining, args.record_envelopes), hostname="127.0.0.1", port=port, **options)
    controller.start()
    print("READY %d" % port, flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


if __name__ == "__main__":
    sys.exit(main())
