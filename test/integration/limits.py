#!/usr/bin/env python3
"""limits.py: the gateway's limits against real gateways, HAProxy, Redis and PostgreSQL.

Driven by test/integration/limits.sh, which starts the servers. Raw sockets of the
standard library only, so that every byte a hostile client could send (pings without
reading, PROXY headers, one header byte a second) is ours to choose; each case binds its
own 127.x.y.z source address, so the per-address limits of one case never meet another's.

  python3 limits.py run --secret FILE --cluster-gw PORT --tight PORT --pool PORT
                        --lb PORT --lb2 PORT --redis-pid PID [--admin-offset 1000]
  python3 limits.py slowloris --port P --conns N --sources A.B.C.D-N --seconds S

Prints one line per case, "limits CASE: ok ..." or "limits CASE: FAIL ...", and exits 1
if any check failed.
"""
import argparse
import base64
import errno
import hashlib
import hmac
import json
import os
import random
import select
import signal
import socket
import struct
import subprocess
import sys
import time

FAILURES = []


def check(cond, what):
    if not cond:
        FAILURES.append(what)
        print(f"  FAIL: {what}", flush=True)
    return cond


def now_ms():
    return time.monotonic() * 1000.0


# ---------------------------------------------------------------- msgpack (the subset we use)

def mp_str(s):
    b = s.encode()
    if len(b) < 32:
        return bytes([0xA0 | len(b)]) + b
    if len(b) < 256:
        return b"\xd9" + bytes([len(b)]) + b
    return b"\xda" + struct.pack(">H", len(b)) + b


def mp_value(v):
    if isinstance(v, str):
        return mp_str(v)
    if isinstance(v, float):
        return b"\xcb" + struct.pack(">d", v)
    if isinstance(v, int) and 0 <= v < 128:
        return bytes([v])
    if isinstance(v, int) and v >= 0:
        return b"\xcf" + struct.pack(">Q", v)
    raise ValueError(v)


def mp_map(d):
    out = bytes([0x80 | len(d)])
    for k, v in d.items():
        out += mp_str(k) + mp_value(v)
    return out


def mp_decode(b, i=0):
    """Returns (value, next index)."""
    t = b[i]
    if t < 0x80:
        return t, i + 1
    if t >= 0xE0:
        return t - 256, i + 1
    if 0x80 <= t <= 0x8F or t in (0xDE, 0xDF):
        if t <= 0x8F:
            n, i = t & 0x0F, i + 1
        elif t == 0xDE:
            n, i = struct.unpack_from(">H", b, i + 1)[0], i + 3
        else:
            n, i = struct.unpack_from(">I", b, i + 1)[0], i + 5
        d = {}
        for _ in range(n):
            k, i = mp_decode(b, i)
            v, i = mp_decode(b, i)
            d[k] = v
        return d, i
    if 0x90 <= t <= 0x9F or t in (0xDC, 0xDD):
        if t <= 0x9F:
            n, i = t & 0x0F, i + 1
        elif t == 0xDC:
            n, i = struct.unpack_from(">H", b, i + 1)[0], i + 3
        else:
            n, i = struct.unpack_from(">I", b, i + 1)[0], i + 5
        a = []
        for _ in range(n):
            v, i = mp_decode(b, i)
            a.append(v)
        return a, i
    if 0xA0 <= t <= 0xBF or t in (0xD9, 0xDA, 0xDB):
        if t <= 0xBF:
            n, i = t & 0x1F, i + 1
        elif t == 0xD9:
            n, i = b[i + 1], i + 2
        elif t == 0xDA:
            n, i = struct.unpack_from(">H", b, i + 1)[0], i + 3
        else:
            n, i = struct.unpack_from(">I", b, i + 1)[0], i + 5
        return b[i:i + n].decode(), i + n
    fixed = {0xC0: (None, 1), 0xC2: (False, 1), 0xC3: (True, 1)}
    if t in fixed:
        return fixed[t][0], i + fixed[t][1]
    ints = {0xCC: ">B", 0xCD: ">H", 0xCE: ">I", 0xCF: ">Q", 0xD0: ">b", 0xD1: ">h", 0xD2: ">i",
            0xD3: ">q", 0xCA: ">f", 0xCB: ">d"}
    if t in ints:
        f = ints[t]
        return struct.unpack_from(f, b, i + 1)[0], i + 1 + struct.calcsize(f)
    raise ValueError(f"msgpack byte {t:#x}")


# ---------------------------------------------------------------- tokens

def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


# With an Ed25519 private key (the cluster's; Python's standard library has no Ed25519)
# tokens come from nearby-token, once per user and ttl; with an HS256 secret they are made
# here.
TOKEN_CMD = None
_tokens = {}


def token(secret, user, ttl=3600):
    if TOKEN_CMD is not None:
        if (user, ttl) not in _tokens:
            _tokens[(user, ttl)] = subprocess.run(
                TOKEN_CMD + ["--ttl", str(ttl), str(user)], check=True, capture_output=True,
                text=True, timeout=10).stdout.strip()
        return _tokens[(user, ttl)]
    head = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64url(json.dumps({"sub": str(user), "exp": int(time.time()) + ttl}).encode())
    sig = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64url(sig)}"


# ---------------------------------------------------------------- PROXY v2 (written by hand)

def proxy_v2(client_ip, client_port, server_ip="127.0.0.1", server_port=80):
    body = socket.inet_aton(client_ip) + socket.inet_aton(server_ip) + \
        struct.pack(">HH", client_port, server_port)
    return b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x21, 0x11]) + struct.pack(">H", len(body)) + body


# ---------------------------------------------------------------- a raw WebSocket client

class Closed(Exception):
    pass


class Conn:
    """One TCP connection to 127.0.0.1:port from src, speaking HTTP or WebSocket by hand."""

    def __init__(self, port, src=None, rcvbuf=None, prefix=b"", timeout=5.0):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if src:
            self.s.bind((src, 0))
        self.s.settimeout(timeout)
        self.s.connect(("127.0.0.1", port))
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.port = port
        if prefix:
            self.s.sendall(prefix)

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass

    def fill(self, timeout):
        self.s.settimeout(timeout)
        try:
            d = self.s.recv(65536)
        except socket.timeout:
            return None
        except (ConnectionResetError, BrokenPipeError):
            raise Closed("reset")
        if not d:
            raise Closed("eof")
        self.buf += d
        return d

    def eof_within(self, seconds):
        """True when the server closes (FIN or RST) within seconds, sending nothing."""
        end = time.monotonic() + seconds
        try:
            while time.monotonic() < end:
                if self.fill(max(0.01, end - time.monotonic())) and self.buf:
                    return False
        except Closed:
            return not self.buf
        return False

    def http(self, method, path, headers=None, timeout=5.0):
        """One request; returns (status, headers dict, body)."""
        h = {"Host": "127.0.0.1"}
        h.update(headers or {})
        req = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items())
        try:
            self.s.sendall((req + "\r\n").encode())
        except (ConnectionResetError, BrokenPipeError):
            raise Closed("reset")
        end = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.buf:
            if self.fill(max(0.01, end - time.monotonic())) is None and time.monotonic() > end:
                raise Closed("timeout")
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        status = int(lines[0].split()[1])
        hdrs = {ln.split(":", 1)[0].lower(): ln.split(":", 1)[1].strip() for ln in lines[1:]}
        n = int(hdrs.get("content-length", "0"))
        while len(rest) < n:
            self.fill(max(0.01, end - time.monotonic()))
            rest = self.buf.partition(b"\r\n\r\n")[2]
        self.buf = rest[n:]
        return status, hdrs, rest[:n]

    def upgrade(self, path="/ws", timeout=5.0):
        key = base64.b64encode(os.urandom(16)).decode()
        req = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
        self.s.sendall(req.encode())
        end = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.buf:
            if self.fill(max(0.01, end - time.monotonic())) is None and time.monotonic() > end:
                raise Closed("no 101")
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        return int(head.split()[1])

    def frame_bytes(self, opcode, payload=b""):
        mask = os.urandom(4)
        n = len(payload)
        if n < 126:
            hdr = bytes([0x80 | opcode, 0x80 | n])
        elif n < 65536:
            hdr = bytes([0x80 | opcode, 0x80 | 126]) + struct.pack(">H", n)
        else:
            hdr = bytes([0x80 | opcode, 0x80 | 127]) + struct.pack(">Q", n)
        return hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))

    def send(self, opcode, payload=b""):
        self.s.sendall(self.frame_bytes(opcode, payload))

    def send_msg(self, d):
        self.send(2, mp_map(d))

    def recv(self, timeout=5.0):
        """Returns (opcode, payload), or raises Closed; None on timeout."""
        end = time.monotonic() + timeout
        while True:
            b = self.buf
            if len(b) >= 2:
                n, off = b[1] & 0x7F, 2
                if n == 126 and len(b) >= 4:
                    n, off = struct.unpack_from(">H", b, 2)[0], 4
                elif n == 127 and len(b) >= 10:
                    n, off = struct.unpack_from(">Q", b, 2)[0], 10
                if (b[1] & 0x7F) < 126 or off > 2:
                    if len(b) >= off + n:
                        self.buf = b[off + n:]
                        return b[0] & 0x0F, b[off:off + n]
            left = end - time.monotonic()
            if left <= 0:
                return None
            self.fill(left)

    def recv_msg(self, timeout=5.0):
        """The next data message decoded, skipping pings; ('close', code) for a close."""
        while True:
            f = self.recv(timeout)
            if f is None:
                return None
            op, p = f
            if op == 8:
                return ("close", struct.unpack(">H", p[:2])[0] if len(p) >= 2 else 1005)
            if op == 2:
                return mp_decode(p)[0]

    def close_code(self, timeout=5.0):
        """Reads until a close frame; returns its code, or None at EOF without one."""
        end = time.monotonic() + timeout
        try:
            while time.monotonic() < end:
                m = self.recv_msg(max(0.01, end - time.monotonic()))
                if isinstance(m, tuple):
                    return m[1]
        except Closed:
            return None
        return None


def session(port, secret, user, src=None, timeout=5.0, rcvbuf=None):
    """A phone: upgrade, init; returns (conn, ms to nearby). Raises on anything else."""
    t0 = now_ms()
    c = Conn(port, src, rcvbuf=rcvbuf)
    st = c.upgrade()
    if st != 101:
        raise Closed(f"status {st}")
    c.send_msg({"t": "init", "token": token(secret, user)})
    while True:
        m = c.recv_msg(timeout)
        if m is None:
            raise Closed("no nearby")
        if isinstance(m, dict) and m.get("t") == "nearby":
            return c, now_ms() - t0
        if isinstance(m, tuple) or (isinstance(m, dict) and m.get("t") == "err"):
            raise Closed(f"before nearby: {m}")


def metrics(port):
    c = Conn(port)
    st, _, body = c.http("GET", "/metrics")
    c.close()
    out = {}
    for line in body.decode().splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            out[k] = float(v)
    return out


def metric(port, name):
    return metrics(port).get(name, 0.0)


# ---------------------------------------------------------------- the cases

class Ctx:
    pass


def case(name):
    def wrap(fn):
        def run(ctx):
            before = len(FAILURES)
            t0 = time.monotonic()
            try:
                extra = fn(ctx) or ""
            except Exception as e:  # a case that blows up is a failed case, the rest still run
                import traceback
                where = traceback.extract_tb(e.__traceback__)[-1]
                check(False, f"{name}: {type(e).__name__}: {e} (line {where.lineno}: {where.line})")
                extra = ""
            ok = len(FAILURES) == before
            print(f"limits {name}: {'ok' if ok else 'FAIL'} ({time.monotonic() - t0:.1f} s) {extra}",
                  flush=True)
        run.__name__ = name
        return run
    return wrap


@case("proxy-through-haproxy")
def t_proxy_haproxy(ctx):
    """HAProxy's send-proxy-v2 (and its LOCAL health checks) reach the gateways: the
    gateways see five phones from five addresses, not one HAProxy."""
    gws = [ctx.cluster_gw, ctx.cluster_gw + 1]
    admin = [p + ctx.admin_offset for p in gws]
    headers0 = sum(metric(a, "nearby_proxy_headers_total") for a in admin)
    phones = [session(ctx.lb, ctx.secret, 101 + i, src=f"127.0.6.{i + 1}")[0] for i in range(5)]
    m = [metrics(a) for a in admin]
    entries = sum(x.get('nearby_limit_table_entries{table="ip"}', 0) for x in m)
    headers = sum(x.get("nearby_proxy_headers_total", 0) for x in m)
    check(headers - headers0 >= 5, f"PROXY headers read went from {headers0} to {headers}")
    check(entries >= 5, f"the gateways' address tables hold {entries} addresses for 5 phones "
                        f"from 5 addresses (1 would mean they saw only HAProxy)")
    check(sum(x.get("nearby_proxy_errors_total", 0) for x in m) == 0, "PROXY errors at the gateways")
    for p in phones:
        p.close()
    return f"addresses={entries:.0f} proxy_headers={headers - headers0:.0f}"


def refused_at_once(port, src, prefix=b"", seconds=3):
    """Connects from src and asks for /healthz: True when the connection is closed (FIN or
    reset, even before connect() returns or our request is written) with nothing sent back."""
    try:
        c = Conn(port, src, prefix=prefix)
    except (ConnectionResetError, BrokenPipeError):
        return True
    try:
        c.s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        return c.eof_within(seconds)
    except (ConnectionResetError, BrokenPipeError):
        return True
    finally:
        c.close()


@case("haproxy-stick-table")
def t_haproxy_limits(ctx):
    """The second HAProxy (3 connections, 1/s per address): the fourth connection of one
    address is closed before any byte is read; another address is not affected."""
    held = [Conn(ctx.lb2, "127.0.5.1") for _ in range(3)]
    for c in held:
        check(c.upgrade() == 101, "an upgrade through the limited HAProxy")
    check(refused_at_once(ctx.lb2, "127.0.5.1"), "a fourth connection from 127.0.5.1 was served by HAProxy")
    other = Conn(ctx.lb2, "127.0.5.2")
    st, _, _ = other.http("GET", "/healthz")
    check(st == 200, f"another address got {st}")
    for c in held + [other]:
        c.close()
    # More than 10 new connections in 10 s from one address (1/s): the rest refused.
    served = 0
    for i in range(12):
        try:
            c = Conn(ctx.lb2, "127.0.5.3")
        except OSError:
            continue
        try:
            served += c.http("GET", "/healthz", timeout=2)[0] == 200
        except (Closed, OSError):
            pass
        c.close()
    check(served == 10, f"12 connections at once from one address: {served} served, not 10")
    return f"served_of_12={served}"


@case("gateway-proxy-and-ip-limits")
def t_gateway_ip(ctx):
    """The tight gateway trusts 127.0.0.9: three connections per phone address it names,
    the fourth closed at once; a PROXY header from anyone else is refused; 5 new
    connections at once from one address, not 6."""
    port, admin = ctx.tight, ctx.tight + ctx.admin_offset
    m0 = metrics(admin)
    held = []
    for i in range(3):
        c = Conn(port, "127.0.0.9", prefix=proxy_v2("198.51.100.1", 4000 + i))
        check(c.upgrade() == 101, "an upgrade from the trusted proxy for 198.51.100.1")
        held.append(c)
    check(refused_at_once(port, "127.0.0.9", proxy_v2("198.51.100.1", 4100)),
          "a fourth connection for 198.51.100.1 was served")
    c = Conn(port, "127.0.0.9", prefix=proxy_v2("198.51.100.2", 4200))
    check(c.http("GET", "/healthz")[0] == 200, "another phone behind the same proxy was refused")
    c.close()
    for c in held:
        c.close()
    # Without a header from the trusted proxy, or with one from another address: closed.
    check(refused_at_once(port, "127.0.0.9"), "the trusted proxy without a PROXY header was served")
    check(refused_at_once(port, "127.0.7.1", proxy_v2("198.51.100.3", 1)),
          "a PROXY header from an untrusted address was believed")
    # Handshake rate: a burst of 5, then 1 a second.
    served = 0
    for i in range(6):
        try:
            c = Conn(port, "127.0.7.2")
        except OSError:
            continue
        try:
            st, _, _ = c.http("GET", "/healthz", timeout=2)
            served += st == 200
        except (Closed, OSError):
            pass
        c.close()
    check(served == 5, f"{served} of 6 connections at once from one address served, not 5")
    time.sleep(1.1)
    c = Conn(port, "127.0.7.2")
    check(c.http("GET", "/healthz")[0] == 200, "a connection a second later was refused")
    c.close()
    m1 = metrics(admin)
    d = {k: m1.get(k, 0) - m0.get(k, 0) for k in (
        "nearby_ip_conns_refused_total", "nearby_ip_handshakes_refused_total",
        "nearby_proxy_errors_total", "nearby_proxy_untrusted_total", "nearby_proxy_headers_total")}
    check(d["nearby_ip_conns_refused_total"] == 1, f"ip_conns_refused +{d['nearby_ip_conns_refused_total']}")
    check(d["nearby_ip_handshakes_refused_total"] == 1, f"ip_handshakes_refused +{d['nearby_ip_handshakes_refused_total']}")
    check(d["nearby_proxy_errors_total"] == 1, f"proxy_errors +{d['nearby_proxy_errors_total']}")
    check(d["nearby_proxy_untrusted_total"] == 1, f"proxy_untrusted +{d['nearby_proxy_untrusted_total']}")
    check(d["nearby_proxy_headers_total"] == 5, f"proxy_headers +{d['nearby_proxy_headers_total']}")
    return " ".join(f"{k[7:]}=+{v:.0f}" for k, v in d.items())


@case("output-bound")
def t_output(ctx):
    """A phone that sends loc far above its rate and reads nothing: every refusal is an
    err frame, and once they pass --output-max the gateway resets it (1008 on its side)."""
    port, admin = ctx.pool, ctx.pool + ctx.admin_offset
    before = metric(admin, "nearby_slow_phones_closed_total")
    c, _ = session(port, ctx.secret, 150, src="127.0.8.1", rcvbuf=4096)
    loc = c.frame_bytes(2, mp_map({"t": "loc", "lat": 48.85, "lng": 2.35,
                                   "ts": int(time.time() * 1000)}))
    batch = loc * 200
    reset, sent, t0 = False, 0, time.monotonic()
    c.s.setblocking(False)
    while time.monotonic() - t0 < 30 and not reset:
        try:
            sent += c.s.send(batch)
        except BlockingIOError:
            select.select([], [c.s], [], 0.05)
        except (ConnectionResetError, BrokenPipeError):
            reset = True
    check(reset, f"not reset after {sent} bytes of loc in {time.monotonic() - t0:.1f} s")
    time.sleep(0.3)
    after = metric(admin, "nearby_slow_phones_closed_total")
    check(after == before + 1, f"slow_phones_closed went {before} -> {after}")
    c.close()
    return f"sent_bytes={sent}"


@case("control-rate")
def t_control(ctx):
    """Ten pings at once are answered; one more control frame closes with 1008, before
    init too."""
    port, admin = ctx.tight, ctx.tight + ctx.admin_offset
    before = metric(admin, "nearby_control_floods_total")
    c = Conn(port, "127.0.8.2")
    check(c.upgrade() == 101, "upgrade")
    for _ in range(10):
        c.send(9, b"x")
    pongs = 0
    for _ in range(10):
        f = c.recv(3)
        pongs += f is not None and f[0] == 10
    check(pongs == 10, f"{pongs} pongs to 10 pings")
    c.send(9, b"x")
    code = c.close_code(3)
    check(code == 1008, f"the 11th control frame got close {code}, not 1008")
    check(metric(admin, "nearby_control_floods_total") == before + 1, "control_floods not counted")
    c.close()


@case("idle")
def t_idle(ctx):
    """--ws-ping 2 --ws-idle 4: a silent phone is pinged at 2 s and closed with 1001 at
    4 s; one that answers the ping stays. TCP keepalive runs with --tcp-keepalive 7."""
    port, admin = ctx.tight, ctx.tight + ctx.admin_offset
    m0 = metrics(admin)
    silent = Conn(port, "127.0.8.3")
    check(silent.upgrade() == 101, "upgrade")
    answers = Conn(port, "127.0.8.4")
    check(answers.upgrade() == 101, "upgrade")
    lport = answers.s.getsockname()[1]
    ss = subprocess.run(["ss", "-tnoH", "state", "established", f"( sport = :{port} and dport = :{lport} )"],
                        capture_output=True, text=True).stdout
    check("keepalive" in ss, f"no keepalive timer on the gateway's socket: {ss.strip()}")
    t0 = time.monotonic()
    f = silent.recv(4)
    t_ping = time.monotonic() - t0
    check(f is not None and f[0] == 9, f"no ping within 4 s: {f}")
    check(1.5 <= t_ping <= 3.5, f"pinged after {t_ping:.1f} s, not about 2")
    f = answers.recv(4)
    check(f is not None and f[0] == 9, "the other phone was not pinged")
    answers.send(10, f[1] if f else b"")
    code = silent.close_code(4)
    t_close = time.monotonic() - t0
    check(code == 1001, f"silent phone: close {code}, not 1001")
    check(3.5 <= t_close <= 6, f"closed after {t_close:.1f} s, not about 4")
    # The answering one: pinged again about 2 s after its pong, still open.
    f = answers.recv(3)
    check(f is not None and f[0] == 9, f"the answering phone got {f}, not a second ping")
    answers.send(10, b"")
    answers.send(9, b"still")
    f = answers.recv(2)
    check(f is not None and f[0] == 10, "the answering phone was closed")
    m1 = metrics(admin)
    check(m1["nearby_idle_closed_total"] - m0["nearby_idle_closed_total"] == 1, "idle_closed not +1")
    check(m1["nearby_idle_pings_total"] - m0["nearby_idle_pings_total"] >= 3, "idle_pings not +3")
    silent.close()
    answers.close()
    return f"ping_s={t_ping:.1f} close_s={t_close:.1f}"


@case("handshake-and-init-timeouts")
def t_timeouts(ctx):
    """--handshake-timeout 2: a head at one byte every 0.5 s is cut off; a WebSocket with
    no init is closed with 1008 after 10 s (that one is started first and checked last)."""
    port, admin = ctx.tight, ctx.tight + ctx.admin_offset
    before = metric(admin, "nearby_handshake_timeouts_total")
    init_before = metric(ctx.pool + ctx.admin_offset, "nearby_init_timeouts_total")
    # On the pool gateway: the tight one would close it as idle at 4 s.
    no_init = Conn(ctx.pool, "127.0.8.5")
    check(no_init.upgrade() == 101, "upgrade")
    t_init = time.monotonic()
    c = Conn(port, "127.0.8.6")
    t0 = time.monotonic()
    closed = False
    for ch in b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\n":
        try:
            c.s.send(bytes([ch]))
        except (BrokenPipeError, ConnectionResetError):
            closed = True
            break
        if c.eof_within(0.5):
            closed = True
            break
    took = time.monotonic() - t0
    check(closed and 1.5 <= took <= 3.5, f"slow head: closed={closed} after {took:.1f} s, not about 2")
    check(metric(admin, "nearby_handshake_timeouts_total") == before + 1, "handshake_timeouts not +1")
    c.close()
    code = no_init.close_code(12)
    waited = time.monotonic() - t_init
    check(code == 1008 and 9 <= waited <= 12, f"no init: close {code} after {waited:.1f} s")
    check(metric(ctx.pool + ctx.admin_offset, "nearby_init_timeouts_total") == init_before + 1,
          "init_timeouts not +1")
    no_init.close()
    return f"head_s={took:.1f} init_s={waited:.1f}"


@case("sessions-per-user")
def t_sessions(ctx):
    """--user-max-sessions 2: a third session of one user closes the oldest with 4002."""
    port, admin = ctx.tight, ctx.tight + ctx.admin_offset
    before = metric(admin, "nearby_sessions_replaced_total")
    a, _ = session(port, ctx.secret, 160, src="127.0.9.1")
    b, _ = session(port, ctx.secret, 160, src="127.0.9.2")
    c, _ = session(port, ctx.secret, 160, src="127.0.9.3")
    code = a.close_code(3)
    check(code == 4002, f"the oldest session got close {code}, not 4002")
    for other in (b, c):
        other.send(9, b"alive")
        f = other.recv(2)
        check(f is not None and f[0] == 10, "a newer session was closed")
    check(metric(admin, "nearby_sessions_replaced_total") == before + 1, "sessions_replaced not +1")
    for x in (a, b, c):
        x.close()


@case("session-start-rate")
def t_start_rate(ctx):
    """--session-start-rate 0.5 --session-start-burst 3: a user's fourth start at once
    gets err rate_limited and 1013."""
    port, admin = ctx.tight, ctx.tight + ctx.admin_offset
    before = metric(admin, "nearby_session_starts_limited_total")
    held = [session(port, ctx.secret, 161, src=f"127.0.9.{10 + i}")[0] for i in range(3)]
    c = Conn(port, "127.0.9.20")
    c.upgrade()
    c.send_msg({"t": "init", "token": token(ctx.secret, 161)})
    m = c.recv_msg(3)
    check(isinstance(m, dict) and m.get("code") == "rate_limited", f"fourth start got {m}")
    check(c.close_code(3) == 1013, "fourth start not closed with 1013")
    check(metric(admin, "nearby_session_starts_limited_total") == before + 1, "starts_limited not +1")
    for x in held + [c]:
        x.close()


@case("start-queue")
def t_start_queue(ctx):
    """--start-queue 3: with the pub/sub node stopped, three sessions wait for their own
    channel; a fourth init gets err busy and 1013; once it runs again the three go live."""
    port, admin = ctx.tight, ctx.tight + ctx.admin_offset
    before = metric(admin, "nearby_session_starts_busy_total")
    os.kill(ctx.redis_pid, signal.SIGSTOP)
    try:
        waiting = []
        for i in range(3):
            c = Conn(port, f"127.0.10.{i + 1}")
            c.upgrade()
            c.send_msg({"t": "init", "token": token(ctx.secret, 170 + i)})
            waiting.append(c)
        time.sleep(0.3)
        c = Conn(port, "127.0.10.9")
        c.upgrade()
        c.send_msg({"t": "init", "token": token(ctx.secret, 179)})
        m = c.recv_msg(2)
        check(isinstance(m, dict) and m.get("code") == "busy", f"fourth start got {m}")
        check(c.close_code(2) == 1013, "busy start not closed with 1013")
        c.close()
    finally:
        os.kill(ctx.redis_pid, signal.SIGCONT)
    live = 0
    for c in waiting:
        m = c.recv_msg(8)
        live += isinstance(m, dict) and m.get("t") == "nearby"
        c.close()
    check(live == 3, f"{live} of the 3 waiting sessions went live")
    check(metric(admin, "nearby_session_starts_busy_total") == before + 1, "starts_busy not +1")


@case("radius-rate")
def t_radius(ctx):
    """radius frames have a bucket like loc's (--loc-rate 1 --loc-burst 2)."""
    port, admin = ctx.tight, ctx.tight + ctx.admin_offset
    before = metric(admin, "nearby_radius_rate_limited_total")
    c, _ = session(port, ctx.secret, 162, src="127.0.9.30")
    for _ in range(3):
        c.send_msg({"t": "radius", "km": 3.0})
    m = c.recv_msg(2)
    check(isinstance(m, dict) and m.get("code") == "rate_limited", f"third radius got {m}")
    check(c.recv_msg(0.5) is None, "more than one refusal for one radius too many")
    check(metric(admin, "nearby_radius_rate_limited_total") == before + 1, "radius_rate_limited not +1")
    c.close()


@case("rest-rate")
def t_rest(ctx):
    """--rest-rate 1 --rest-burst 3: the fourth call at once is 429 with Retry-After."""
    port, admin = ctx.tight, ctx.tight + ctx.admin_offset
    before = metric(admin, "nearby_rest_rate_limited_total")
    c = Conn(port, "127.0.9.40")
    auth = {"Authorization": f"Bearer {token(ctx.secret, 163)}"}
    got = [c.http("GET", "/v1/me", auth) for _ in range(4)]
    check([g[0] for g in got[:3]] == [200] * 3, f"first three: {[g[0] for g in got[:3]]}")
    st, hdrs, body = got[3]
    check(st == 429, f"fourth: {st}")
    check(hdrs.get("retry-after", "").isdigit() and int(hdrs["retry-after"]) >= 1,
          f"Retry-After: {hdrs.get('retry-after')}")
    check(json.loads(body).get("error") == "rate_limited", f"body {body}")
    # Another user is not affected.
    st2, _, _ = c.http("GET", "/v1/me", {"Authorization": f"Bearer {token(ctx.secret, 164)}"})
    check(st2 == 200, f"another user got {st2}")
    check(metric(admin, "nearby_rest_rate_limited_total") == before + 1, "rest_rate_limited not +1")
    c.close()
    return f"retry_after={hdrs.get('retry-after')}"


@case("pg-pool")
def t_pool(ctx):
    """A flood of REST calls that each read 5000 friends fills the REST connection's
    queue; session starts, on a connection of their own, still get nearby within 1 s."""
    port, admin = ctx.pool, ctx.pool + ctx.admin_offset
    auth = {"Authorization": f"Bearer {token(ctx.secret, 7000)}"}
    conns = [Conn(port, f"127.0.11.{1 + i // 100}") for i in range(400)]
    req = ("GET /v1/friends HTTP/1.1\r\nHost: x\r\nAuthorization: "
           f"{auth['Authorization']}\r\n\r\n").encode()
    stop_at = time.monotonic() + 8
    replies = 0
    max_queue = 0
    starts = []
    pending = {c.s.fileno(): c for c in conns}
    poller = select.poll()
    for c in conns:
        c.s.setblocking(False)
        c.s.send(req)
        c.got = b""
        poller.register(c.s, select.POLLIN)
    next_probe, user = time.monotonic() + 1, 200
    while time.monotonic() < stop_at:
        for fd, _ in poller.poll(50):
            if fd not in pending:
                continue
            c = pending[fd]
            try:
                d = c.s.recv(262144)
            except (BlockingIOError, InterruptedError):
                continue
            if not d:
                del pending[fd]
                poller.unregister(fd)
                continue
            c.got += d
            # One reply ends with the friends array; send the next request.
            while b"]}\n" in c.got:
                c.got = c.got.split(b"]}\n", 1)[1]
                replies += 1
                c.s.send(req)
        if time.monotonic() >= next_probe:
            max_queue = max(max_queue, metrics(admin).get('nearby_pg_queued{kind="rest"}', 0))
            ph, ms = session(port, ctx.secret, user, src="127.0.11.50")
            starts.append(ms)
            ph.close()
            user += 1
            next_probe = time.monotonic() + 0.5
    for c in conns:
        c.close()
    worst = max(starts) if starts else None
    check(len(starts) >= 8, f"only {len(starts)} session starts during the flood")
    check(worst is not None and worst < 1000, f"a session start took {worst:.0f} ms during the flood")
    check(max_queue >= 50, f"the REST queue reached only {max_queue:.0f}: no flood")
    return (f"rest_replies={replies} rest_queue_max={max_queue:.0f} starts={len(starts)} "
            f"nearby_ms_p50={sorted(starts)[len(starts) // 2]:.0f} max={worst:.0f}")


@case("slowloris")
def t_slowloris(ctx):
    """2000 connections from 20 addresses, each sending one header byte a second (and
    reconnecting when cut off at --handshake-timeout): a new phone still gets its nearby
    within 1 s, measured every 0.5 s for 15 s, against a baseline without them."""
    port, admin = ctx.pool, ctx.pool + ctx.admin_offset
    base = []
    for i in range(6):
        ph, ms = session(port, ctx.secret, 120 + i, src="127.0.12.200")
        base.append(ms)
        ph.close()
        time.sleep(0.2)
    t_before = metric(admin, "nearby_handshake_timeouts_total")
    att = subprocess.Popen([sys.executable, __file__, "slowloris", "--port", str(port),
                            "--conns", "2000", "--sources", "127.0.12.1-20", "--seconds", "30"],
                           stdout=subprocess.PIPE, text=True)
    try:
        line = att.stdout.readline()  # "open N" once all are connected
        check(line.startswith("open "), f"attacker: {line!r}")
        opened = int(line.split()[1]) if line.startswith("open ") else 0
        time.sleep(1)
        conns = metric(admin, "nearby_connections")
        times = []
        t_end = time.monotonic() + 15
        user = 130
        while time.monotonic() < t_end:
            try:
                ph, ms = session(port, ctx.secret, user, src="127.0.12.201", timeout=5)
                times.append(ms)
                ph.close()
            except Closed as e:
                check(False, f"phone {user} during the attack: {e}")
            user += 1
            time.sleep(0.5)
        t_after = metric(admin, "nearby_handshake_timeouts_total")
    finally:
        att.send_signal(signal.SIGTERM)
        try:
            att.wait(10)
        except subprocess.TimeoutExpired:
            att.kill()
            att.wait()
    times.sort()
    worst = times[-1] if times else None
    check(conns >= 1900, f"the gateway held only {conns:.0f} connections of the attacker's {opened}")
    check(len(times) >= 20, f"only {len(times)} phones measured")
    check(worst is not None and worst < 1000, f"a phone took {worst} ms to its nearby")
    check(t_after - t_before >= 1000, f"only {t_after - t_before} slow heads cut off in 15 s")
    return (f"attack_conns={opened} phones={len(times)} nearby_ms_p50={times[len(times) // 2]:.0f} "
            f"max={worst:.0f} baseline_max={max(base):.0f} gateway_conns={conns:.0f} "
            f"cut_off={t_after - t_before:.0f}")


# ---------------------------------------------------------------- the attacker

def slowloris(args):
    """Holds args.conns connections, each sending the next byte of a request head once a
    second, reconnecting when the server closes one; prints "open N" once all are up."""
    a, b = args.sources.split("-")
    prefix, first = a.rsplit(".", 1)
    sources = [f"{prefix}.{n}" for n in range(int(first), int(b) + 1)]
    head = b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n" * 100
    socks = {}

    def dial(i):
        s = socket.socket()
        s.bind((sources[i % len(sources)], 0))
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", args.port))
        except BlockingIOError:
            pass
        socks[s.fileno()] = [s, 0, i]

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    poller = select.poll()

    def redial(fd):
        s, _, i = socks.pop(fd)
        poller.unregister(fd)
        s.close()
        dial(i)
        poller.register(list(socks.values())[-1][0], select.POLLIN)

    for i in range(args.conns):
        dial(i)
    for st in socks.values():
        poller.register(st[0], select.POLLIN)
    time.sleep(0.5)
    print(f"open {len(socks)}", flush=True)
    end = time.monotonic() + args.seconds
    next_tick = time.monotonic()
    while not stop and time.monotonic() < end:
        for fd, _ in poller.poll(20):
            if fd not in socks:
                continue
            try:
                if socks[fd][0].recv(4096):
                    continue
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                pass
            redial(fd)  # cut off (the head deadline): come back, as an attacker would
        if time.monotonic() >= next_tick:
            for fd, st in list(socks.items()):
                s, pos, i = st
                try:
                    s.send(head[pos:pos + 1])
                    st[1] = pos + 1
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError as e:
                    if e.errno not in (errno.ENOTCONN, errno.EINPROGRESS, errno.EALREADY):
                        redial(fd)
            next_tick += 1.0
    for s, _, _ in socks.values():
        s.close()


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--secret", required=True)
    r.add_argument("--token-bin", default="")
    r.add_argument("--cluster-gw", type=int, required=True)
    r.add_argument("--tight", type=int, required=True)
    r.add_argument("--pool", type=int, required=True)
    r.add_argument("--lb", type=int, required=True)
    r.add_argument("--lb2", type=int, required=True)
    r.add_argument("--redis-pid", type=int, required=True)
    r.add_argument("--admin-offset", type=int, default=1000)
    r.add_argument("--only", default="")
    s = sub.add_parser("slowloris")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--conns", type=int, default=2000)
    s.add_argument("--sources", default="127.0.12.1-20")
    s.add_argument("--seconds", type=float, default=30)
    args = ap.parse_args()
    if args.cmd == "slowloris":
        slowloris(args)
        return 0
    ctx = Ctx()
    for k, v in vars(args).items():
        setattr(ctx, k, v)
    with open(args.secret, "rb") as f:
        ctx.secret = f.read().rstrip(b"\r\n")
    if ctx.secret.startswith(b"-----BEGIN "):
        global TOKEN_CMD
        if not args.token_bin:
            print("limits: an Ed25519 --secret needs --token-bin PATH/TO/nearby-token")
            return 2
        TOKEN_CMD = [args.token_bin, "--secret-file", args.secret]
    cases = [t_proxy_haproxy, t_haproxy_limits, t_gateway_ip, t_output, t_control, t_idle,
             t_timeouts, t_sessions, t_start_rate, t_start_queue, t_radius, t_rest, t_pool,
             t_slowloris]
    only = set(args.only.split(",")) - {""}
    for c in cases:
        if not only or c.__name__ in only:
            c(ctx)
    print(f"limits: {len(FAILURES)} failed check(s)", flush=True)
    return 1 if FAILURES else 0


if __name__ == "__main__":
    random.seed(1)
    sys.exit(main())
