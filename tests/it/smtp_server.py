"""A real SMTP server on 127.0.0.1 for the mail alert tests (aiosmtpd).

Prints `READY <port>` once it listens, then one JSON line per mail it accepts: sender,
recipients, whether the session was encrypted (STARTTLS) and authenticated, and the message.
With --cert/--key it offers STARTTLS and requires it before MAIL and AUTH; with --user and
--password it requires that login. It stops when its standard input closes (the test ended) or
after --lifetime seconds, whichever comes first.
"""

import argparse
import asyncio
import email
import email.policy
import json
import logging
import ssl
import sys
import threading

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--user")
    parser.add_argument("--password")
    parser.add_argument("--lifetime", type=float, default=120.0)
    args = parser.parse_args()
    # aiosmtpd logs a traceback for each session a test means to fail (an untrusted certificate,
    # a refused login); the test asserts what the client saw instead.
    logging.getLogger("mail.log").setLevel(logging.CRITICAL)

    tls = None
    if args.cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(args.cert, args.key)

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == (args.user or "").encode()
            and auth_data.password == (args.password or "").encode()
        )
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            mail = email.message_from_bytes(envelope.content, policy=email.policy.default)
            print(
                json.dumps(
                    {
                        "mail_from": envelope.mail_from,
                        "rcpt_tos": envelope.rcpt_tos,
                        "tls": session.ssl is not None,
                        "authenticated": bool(session.authenticated),
                        "login": session.auth_data.login.decode()
                        if isinstance(session.auth_data, LoginPassword)
                        else None,
                        # As a mail reader shows it: headers decoded, the body decoded
                        # from its transfer encoding.
                        "subject": str(mail["subject"]),
                        "content_type": mail.get_content_type(),
                        "charset": mail.get_content_charset(),
                        "body": mail.get_content(),
                    }
                ),
                flush=True,
            )
            return "250 OK"

    def factory():
        return SMTP(
            Handler(),
            hostname="relay.test",
            tls_context=tls,
            require_starttls=tls is not None,
            auth_required=args.user is not None,
            auth_require_tls=tls is not None,
            authenticator=authenticator if args.user is not None else None,
        )

    async def serve():
        loop = asyncio.get_running_loop()
        server = await loop.create_server(factory, host="127.0.0.1", port=0)
        port = server.sockets[0].getsockname()[1]
        print(f"READY {port}", flush=True)
        stop = asyncio.Event()

        def wait_for_stdin_to_close():
            sys.stdin.read()
            loop.call_soon_threadsafe(stop.set)

        threading.Thread(target=wait_for_stdin_to_close, daemon=True).start()
        try:
            await asyncio.wait_for(stop.wait(), timeout=args.lifetime)
        except asyncio.TimeoutError:
            pass
        server.close()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
