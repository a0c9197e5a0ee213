"""Channels, local delivery servers for the demo and the tests: an SMTP sink and Kannel with a fake SMSC.

Everything binds to 127.0.0.1 on free ports chosen at run time and is stopped by its owner:

* :func:`start_smtp` — an ``aiosmtpd`` server whose :class:`Mailbox` keeps every accepted message
  (optionally STARTTLS with a self-signed certificate made by ``openssl``, AUTH, scripted refusals);
* :class:`Kannel` — the Debian ``kannel`` package's ``bearerbox`` and ``smsbox`` with a generated
  configuration (a ``smsc = fake`` connection and a sendsms user), and :class:`FakeSmsc`, a client
  speaking the fake SMSC line protocol (what Kannel's ``fakesmsc`` test program does: one line per
  segment, ``sender receiver [udh URLENC] text|data|ucs-2 PAYLOAD``);
* :class:`DlrReceiver` — an HTTP server recording the delivery-report callbacks Kannel makes.
"""
from __future__ import annotations

import email
import email.policy
import http.server
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mailbox:
    """An aiosmtpd handler keeping every message the server accepted; scripted refusals by recipient."""

    def __init__(self, refuse: dict | None = None, defer_once: set | None = None):
        self.messages = []               # (envelope sender, recipients, bytes)
        self.refuse = refuse or {}       # recipient -> "550 ..." every time
        self.defer_once = set(defer_once or ())
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return self.refuse[address]
        if address in self.defer_once:
            self.defer_once.discard(address)
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 Message accepted for delivery"

    def parsed(self):
        return [email.message_from_bytes(data, policy=email.policy.default) for _, _, data in self.messages]


def self_signed(tmp: Path) -> tuple[Path, Path]:
    key, cert = tmp / "key.pem", tmp / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "2", "-subj", "/CN=localhost", "-addext",
                    "subjectAltName=IP:127.0.0.1,DNS:localhost"], check=True, capture_output=True)
    return key, cert


def start_smtp(handler: Mailbox, tls_dir: Path | None = None, auth: tuple | None = None):
    """A started aiosmtpd Controller on a free loopback port (STARTTLS and AUTH when asked)."""
    import ssl
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult
    kw = {}
    if tls_dir is not None:
        key, cert = self_signed(tls_dir)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(str(cert), str(key))
        kw.update(tls_context=ctx, require_starttls=True)
    if auth is not None:
        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = auth_data.login.decode() == auth[0] and auth_data.password.decode() == auth[1]
            return AuthResult(success=ok, handled=False)
        kw.update(authenticator=authenticator, auth_required=True, auth_require_tls=tls_dir is not None)
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), **kw)
    controller.start()
    return controller


BEARERBOX = shutil.which("bearerbox") or "/usr/sbin/bearerbox"
SMSBOX = shutil.which("smsbox") or "/usr/sbin/smsbox"


def kannel_available() -> bool:
    return Path(BEARERBOX).exists() and Path(SMSBOX).exists()


def _wait_port(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


class FakeSmsc:
    """Connects to bearerbox's fake SMSC port and keeps every line it is sent (one per segment)."""

    def __init__(self, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.lines: list[str] = []
        self._buf = b""
        self._stop = False
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        self.sock.settimeout(0.2)
        while not self._stop:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            if not data:
                return
            self._buf += data
            while b"\n" in self._buf:
                line, self._buf = self._buf.split(b"\n", 1)
                self.lines.append(line.decode("latin-1"))

    def segments(self) -> list[dict]:
        """Each received line parsed: sender, receiver, coding (gsm7/ucs2), udh bytes, text."""
        def unquote(s: str) -> bytes:              # Kannel's octstr_url_encode: space as '+', '+' as %2B
            return urllib.parse.unquote_to_bytes(s.replace("+", " "))
        out = []
        for line in list(self.lines):
            sender, receiver, rest = line.split(" ", 2)
            udh = b""
            if rest.startswith("udh "):
                _, enc_udh, rest = rest.split(" ", 2)
                udh = unquote(enc_udh)
            kind, _, payload = rest.partition(" ")
            if kind == "ucs-2":
                text, coding = unquote(payload).decode("utf-16-be"), "ucs2"
            elif kind == "data":
                text, coding = unquote(payload).decode("latin-1"), "gsm7"
            else:
                text, coding = payload, "gsm7"
            out.append({"sender": sender, "receiver": receiver, "udh": udh, "coding": coding, "text": text})
        return out

    def close(self):
        self._stop = True
        self.sock.close()


class DlrReceiver(http.server.ThreadingHTTPServer):
    """Records the paths of the delivery-report callbacks Kannel makes."""

    def __init__(self):
        self.calls: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.calls.append(self.path)
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass
        super().__init__(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return self.server_address[1]


class Kannel:
    """bearerbox + smsbox with a generated configuration in ``tmp``; :attr:`sendsms_url`, :attr:`smsc`."""

    def __init__(self, tmp: Path, username="ccm", password="kpw", max_messages=3):
        self.tmp = tmp
        ports = [free_port() for _ in range(4)]
        self.admin, self.box, self.fake, self.sendsms = ports
        conf = tmp / "kannel.conf"
        conf.write_text(f"""group = core
admin-port = {self.admin}
admin-interface = 127.0.0.1
admin-password = adm-{password}
admin-allow-ip = "127.0.0.1"
smsbox-port = {self.box}
smsbox-interface = 127.0.0.1
log-file = "{tmp / 'bearerbox.log'}"
log-level = 1
dlr-storage = internal

group = smsc
smsc = fake
smsc-id = fake
port = {self.fake}
our-host = 127.0.0.1
connect-allow-ip = 127.0.0.1

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = {self.box}
sendsms-port = {self.sendsms}
sendsms-interface = 127.0.0.1
log-file = "{tmp / 'smsbox.log'}"
log-level = 1

group = sendsms-user
username = {username}
password = {password}
max-messages = {max_messages}
concatenation = true

group = sms-service
keyword = default
text = "ok"
""", encoding="utf-8")
        deadline = time.monotonic() + 30
        self.procs, self.smsc = [], None
        try:
            self.procs.append(subprocess.Popen([BEARERBOX, str(conf)], stdout=subprocess.DEVNULL,
                                               stderr=subprocess.DEVNULL))
            _wait_port(self.fake, deadline)
            _wait_port(self.box, deadline)
            self.procs.append(subprocess.Popen([SMSBOX, str(conf)], stdout=subprocess.DEVNULL,
                                               stderr=subprocess.DEVNULL))
            _wait_port(self.sendsms, deadline)
            self.smsc = FakeSmsc(self.fake)
        except BaseException:
            self.stop()
            raise
        self.sendsms_url = f"http://127.0.0.1:{self.sendsms}/cgi-bin/sendsms"

    def stop(self):
        """Stop the fake SMSC client, smsbox and bearerbox (the processes this object started)."""
        if self.smsc is not None:
            self.smsc.close()
        for p in reversed(self.procs):
            p.kill()
            p.wait(timeout=30)


def wait_for(predicate, seconds: float = 30) -> bool:
    """Poll ``predicate`` until true or the deadline (no fixed sleeps)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()
