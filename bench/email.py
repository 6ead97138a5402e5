"""Email provider throughput against a local aiosmtpd (in a child process, so it does not share
this process's GIL), beside the ceiling and the naive baseline, in one run:

  python -m bench.email [--messages 2000] [--connections 10] [--max-per-connection 100] [--starttls]

1. provider: N channel messages at once through one EmailProvider (compose + pool), as the
   channel worker does with a batch;
2. ceiling: the same N pre-built messages through a raw pool of aiosmtplib sessions (one per
   connection, opened before the clock starts);
3. baseline: smtplib, one connection per message, one after another.
--starttls runs 1 and 2 over STARTTLS with a throwaway CA (needs trustme); 3 stays plain text."""
from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import smtplib
import ssl
import tempfile
import time
import uuid
from email.message import EmailMessage

import aiosmtplib

from channels.email.provider import EmailProvider
from consumer.outcomes import Delivered
from consumer.settings import Settings
from channels.email.settings import EmailSettings

SENDER = "bench@tidings.test"


class Counter:
    def __init__(self, count):
        self.count = count

    async def handle_DATA(self, server, session, envelope):
        with self.count.get_lock():
            self.count.value += 1
        return "250 2.0.0 Ok: queued as B1"


def serve(port_out, count, cert_dir: str | None) -> None:
    from aiosmtpd.controller import Controller

    class Loopback(Controller):
        def _trigger_server(self):
            self.port = self.server.sockets[0].getsockname()[1]
            super()._trigger_server()

    kwargs = {}
    if cert_dir:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(f"{cert_dir}/server.pem")
        kwargs = {"tls_context": context, "require_starttls": True}
    controller = Loopback(Counter(count), hostname="127.0.0.1", port=0, server_hostname="bench", **kwargs)
    controller.start()
    port_out.send(controller.port)
    port_out.recv()  # until told to stop
    controller.stop()


def channel_messages(n: int) -> list[dict]:
    return [{"delivery_id": str(uuid.uuid4()), "notification_id": str(uuid.uuid4()), "address": f"user{i}@example.com",
             "subject": f"Message {i}", "text": "Hello from the benchmark.\n" * 20, "html": None,
             "options": "{}"} for i in range(n)]


async def through_provider(settings: Settings, n: int) -> float:
    provider = EmailProvider(settings)
    await provider.start()
    messages = channel_messages(n)
    started = time.perf_counter()
    outcomes = await asyncio.gather(*(provider.send(m) for m in messages))
    elapsed = time.perf_counter() - started
    await provider.close()
    failed = [o for o in outcomes if not isinstance(o, Delivered)]
    assert not failed, failed[:3]
    return n / elapsed


async def raw_pool(settings: Settings, n: int) -> float:
    smtp = settings.section(EmailSettings)
    context = ssl.create_default_context(cafile=smtp.smtp_ca_file) if smtp.smtp_tls == "starttls" else None
    sessions = [aiosmtplib.SMTP(hostname=smtp.smtp_host, port=smtp.smtp_port, tls_context=context,
                                start_tls=smtp.smtp_tls == "starttls") for _ in range(smtp.smtp_connections)]
    await asyncio.gather(*(s.connect() for s in sessions))
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = SENDER, "user@example.com", "Raw"
    message.set_content("Hello from the benchmark.\n" * 20)
    raw = message.as_bytes()

    async def blast(session: aiosmtplib.SMTP, count: int) -> None:
        for _ in range(count):
            await session.sendmail(SENDER, ["user@example.com"], raw)

    share = [n // len(sessions) + (1 if i < n % len(sessions) else 0) for i in range(len(sessions))]
    started = time.perf_counter()
    await asyncio.gather(*(blast(s, c) for s, c in zip(sessions, share)))
    elapsed = time.perf_counter() - started
    await asyncio.gather(*(s.quit() for s in sessions))
    return n / elapsed


def connect_per_message(host: str, port: int, n: int) -> float:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = SENDER, "user@example.com", "Naive"
    message.set_content("Hello from the benchmark.\n" * 20)
    started = time.perf_counter()
    for _ in range(n):
        with smtplib.SMTP(host, port) as smtp:
            smtp.send_message(message)
    return n / (time.perf_counter() - started)


def measure(messages: int = 2000, connections: int = 10, max_per_connection: int = 100,
            starttls: bool = False) -> dict:
    """The three rates in one run, against aiosmtpd servers in child processes."""
    with tempfile.TemporaryDirectory() as cert_dir:
        ca_file = None
        if starttls:
            import trustme
            ca = trustme.CA()
            ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(f"{cert_dir}/server.pem")
            ca_file = f"{cert_dir}/ca.pem"
            ca.cert_pem.write_to_path(ca_file)
        return run(messages, connections, max_per_connection, cert_dir if starttls else None, ca_file)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--max-per-connection", type=int, default=100)
    parser.add_argument("--starttls", action="store_true")
    args = parser.parse_args()
    print(json.dumps(measure(args.messages, args.connections, args.max_per_connection, args.starttls), indent=2))


def run(n: int, connections: int, max_per_connection: int, cert_dir: str | None, ca_file: str | None) -> dict:
    count = multiprocessing.Value("l", 0)
    ours, theirs = multiprocessing.Pipe()
    plain_count = multiprocessing.Value("l", 0)
    plain_ours, plain_theirs = multiprocessing.Pipe()
    servers = [multiprocessing.Process(target=serve, args=(theirs, count, cert_dir), daemon=True),
               multiprocessing.Process(target=serve, args=(plain_theirs, plain_count, None), daemon=True)]
    for server in servers:
        server.start()
    port, plain_port = ours.recv(), plain_ours.recv()
    try:
        settings = Settings(smtp_host="127.0.0.1", smtp_port=port, smtp_tls="starttls" if cert_dir else "none",
                            smtp_ca_file=ca_file, smtp_from=SENDER, smtp_connections=connections,
                            smtp_max_messages_per_connection=max_per_connection)
        provider = asyncio.run(through_provider(settings, n))
        ceiling = asyncio.run(raw_pool(settings, n))
        baseline = connect_per_message("127.0.0.1", plain_port, n)
        assert count.value == 2 * n and plain_count.value == n, (count.value, plain_count.value)
    finally:
        for pipe in (ours, plain_ours):
            pipe.send("stop")
        for server in servers:
            server.join(10)
    return {"messages": n, "connections": connections, "max_per_connection": max_per_connection,
            "tls": "starttls" if cert_dir else "none",
            "provider_emails_per_s": round(provider), "raw_aiosmtplib_pool_emails_per_s": round(ceiling),
            "smtplib_connect_per_message_emails_per_s": round(baseline),
            "provider_share_of_ceiling": round(provider / ceiling, 2)}


if __name__ == "__main__":
    main()
