"""Clients of sipr's RPC transports for the end-to-end tests: binrpc (what
kamcmd speaks) over a unix stream socket, TCP and UDP, JSON-RPC over
jsonrpcs' datagram socket, its FIFO and HTTP (xhttp). Written from the
protocols as Kamailio's tools use them; each call is bounded in time."""

import json
import os
import socket
import time

TIMEOUT = 5.0


# --- binrpc -----------------------------------------------------------------

def _record(kind, payload):
    n = len(payload)
    if n < 8:
        return bytes([(n << 4) | kind]) + payload
    nb = (n.bit_length() + 7) // 8
    return bytes([((8 | nb) << 4) | kind]) + n.to_bytes(nb, "big") + payload


def _param(p):
    if isinstance(p, int):
        b = (p & 0xFFFFFFFF).to_bytes(4, "big").lstrip(b"\0")
        return _record(0, b)
    return _record(1, str(p).encode() + b"\0")


def binrpc_packet(method, params=(), cookie=b"\x01\x02\x03\x04"):
    body = _record(1, method.encode() + b"\0") + b"".join(_param(p) for p in params)
    n = len(body)
    ll = max(1, (n.bit_length() + 7) // 8)
    return bytes([0xA1, ((ll - 1) << 2) | (len(cookie) - 1)]) + n.to_bytes(ll, "big") + cookie + body


def _decode(body):
    """The records of a reply body as nested Python values: dicts for
    structs with names (a repeated name keeps its last value and is
    counted in '__count__'), lists for unnamed ones."""
    pos = 0

    def record():
        nonlocal pos
        h = body[pos]
        pos += 1
        kind, size = h & 15, h >> 4
        if size & 8:
            nb = size & 7
            if kind in (3, 4) and nb == 0:
                return ("end", None)
            size = int.from_bytes(body[pos:pos + nb], "big")
            pos += nb
        if kind in (3, 4):
            items, names = [], []
            while True:
                k, v = record()
                if k == "end":
                    break
                if k == "name":
                    names.append(v)
                    items.append(record()[1])
                else:
                    items.append(v)
            if names:
                return ("value", dict(zip(names, items)))
            return ("value", items)
        raw = body[pos:pos + size]
        pos += size
        if kind == 0:
            v = int.from_bytes(raw, "big")
            return ("value", v - (1 << 32) if size == 4 and v >= 1 << 31 else v)
        if kind == 2:
            return ("value", int.from_bytes(raw, "big", signed=True) / 1000.0)
        text = raw.rstrip(b"\0").decode(errors="replace")
        return ("name" if kind == 5 else "value", text)

    out = []
    while pos < len(body):
        out.append(record()[1])
    return out


def binrpc_reply(data):
    """(flags, values) of a whole reply packet; an error reply's values are
    [code, message]."""
    if len(data) < 2 or data[0] != 0xA1:
        raise ValueError("not a binrpc reply: %r" % data[:16])
    ll, cl = ((data[1] >> 2) & 3) + 1, (data[1] & 3) + 1
    n = int.from_bytes(data[2:2 + ll], "big")
    start = 2 + ll + cl
    return data[1] >> 4, _decode(data[start:start + n])


def _packet_complete(data):
    if len(data) < 2:
        return False
    ll, cl = ((data[1] >> 2) & 3) + 1, (data[1] & 3) + 1
    if len(data) < 2 + ll:
        return False
    return len(data) >= 2 + ll + cl + int.from_bytes(data[2:2 + ll], "big")


def binrpc_stream(sock, packet, timeout=TIMEOUT):
    """Sends one packet on a connected stream socket; the reply's bytes."""
    sock.settimeout(timeout)
    sock.sendall(packet)
    data = b""
    end = time.time() + timeout
    while time.time() < end and not _packet_complete(data):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def binrpc(addr, method, *params, raw=None):
    """One binrpc call: addr is a unix socket path, ("tcp", host, port) or
    ("udp", host, port). Returns (flags, values)."""
    packet = raw if raw is not None else binrpc_packet(method, params)
    if isinstance(addr, str):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(TIMEOUT)
        s.connect(addr)
        with s:
            return binrpc_reply(binrpc_stream(s, packet))
    proto, host, port = addr
    if proto == "tcp":
        with socket.create_connection((host, port), timeout=TIMEOUT) as s:
            return binrpc_reply(binrpc_stream(s, packet))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(TIMEOUT)
        s.sendto(packet, (host, port))
        return binrpc_reply(s.recv(1 << 20))


# --- JSON-RPC ---------------------------------------------------------------

def json_request(method, params, rid=1):
    req = {"jsonrpc": "2.0", "method": method, "id": rid}
    if params:
        req["params"] = list(params)
    return json.dumps(req).encode()


def json_dgram(path, method, *params, raw=None, timeout=TIMEOUT):
    me = "%s.c%d.%d" % (path, os.getpid(), int(time.time() * 1e6) % 1000000)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(me)
    s.settimeout(timeout)
    try:
        s.sendto(raw if raw is not None else json_request(method, params), path)
        return json.loads(s.recv(1 << 20))
    finally:
        s.close()
        os.unlink(me)


def json_fifo(fifo, reply_dir, method, *params, timeout=TIMEOUT):
    name = "rpcc_%d_%d" % (os.getpid(), int(time.time() * 1e6) % 1000000)
    path = os.path.join(reply_dir, name)
    os.mkfifo(path, 0o600)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        req = json.loads(json_request(method, params))
        req["reply_name"] = name
        with open(fifo, "w") as f:
            f.write(json.dumps(req) + "\n")
        data, end = b"", time.time() + timeout
        while time.time() < end:
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                chunk = b""
            data += chunk
            if data:
                try:
                    return json.loads(data)
                except ValueError:
                    pass
            time.sleep(0.01)
        raise TimeoutError("no FIFO reply: %r" % data[:200])
    finally:
        os.close(fd)
        os.unlink(path)


def http(port, method, path, body=b"", headers=(), timeout=TIMEOUT, host="127.0.0.1"):
    """One HTTP request on its own connection: (status, headers dict, body)."""
    head = "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\nConnection: close\r\n" % (method, path, host, len(body))
    head += "".join("%s: %s\r\n" % h for h in headers)
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(head.encode() + b"\r\n" + body)
        data = b""
        end = time.time() + timeout
        while time.time() < end:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
            if b"\r\n\r\n" in data:
                h, _, rest = data.partition(b"\r\n\r\n")
                hdrs = dict(l.split(": ", 1) for l in h.decode().split("\r\n")[1:] if ": " in l)
                if len(rest) >= int(hdrs.get("Content-Length", "0")):
                    break
    h, _, rest = data.partition(b"\r\n\r\n")
    lines = h.decode(errors="replace").split("\r\n")
    if not lines or not lines[0].startswith("HTTP/1.1 "):
        raise ValueError("no HTTP reply: %r" % data[:200])
    hdrs = dict(l.split(": ", 1) for l in lines[1:] if ": " in l)
    return int(lines[0].split()[1]), hdrs, rest


def json_http(port, method, *params, path="/RPC"):
    """An error reply comes with the error's code as the HTTP status (as
    Kamailio's jsonrpcs answers): the JSON body is returned either way."""
    code, hdrs, body = http(port, "POST", path, json_request(method, params), (("Content-Type", "application/json"),))
    if hdrs.get("Content-Type") != "application/json":
        raise ValueError("HTTP %d: %r" % (code, body[:200]))
    return json.loads(body)
