#!/usr/bin/env python3
"""TCP edge checks against a running sipr (loopback only, bounded in time).

    tcp_probe.py PORT keepalive      CRLF ping answered by a CRLF pong
    tcp_probe.py PORT split          one OPTIONS split over 3 writes, then two
                                     OPTIONS in one write: 3 answers, in order
    tcp_probe.py PORT idle SECS      an idle connection is closed by the server
                                     within SECS (+3 s slack)
    tcp_probe.py PORT oversize       a header block past 64 KB: the server
                                     closes the connection
    tcp_probe.py PORT limit N        N connections held open: the (N+1)th and
                                     later are closed at once by the server
    tcp_probe.py PORT alias VPORT HOW yes|no
                                     a connection sends OPTIONS with Via port
                                     VPORT (HOW: via = with ;alias, force = to
                                     user "force", none = neither), then a UDP
                                     MESSAGE to user VPORT, which the cfg
                                     forwards to tcp:127.0.0.1:VPORT where
                                     nothing listens: it arrives on the
                                     connection (yes) or not (no)
Exit 0 on success; a message and 1 otherwise.
"""
import socket
import sys
import time


def options(n, port):
    return (
        "OPTIONS sip:probe@127.0.0.1:%d SIP/2.0\r\n"
        "Via: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKprobe%d\r\n"
        "From: <sip:probe@127.0.0.1>;tag=p%d\r\nTo: <sip:probe@127.0.0.1>\r\n"
        "Call-ID: probe-%d@127.0.0.1\r\nCSeq: %d OPTIONS\r\nMax-Forwards: 70\r\n"
        "Content-Length: 0\r\n\r\n" % (port, n, n, n, n)
    ).encode()


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    return s


def read_until(s, enough, timeout):
    """Reads from `s` until `enough(data)`, EOF or `timeout` seconds."""
    data = b""
    end = time.time() + timeout
    while not enough(data) and time.time() < end:
        s.settimeout(max(0.05, end - time.time()))
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            break
        data += chunk
    return data


def read_replies(s, want, timeout=5.0):
    """Reads until `want` status lines arrived; returns the Call-IDs seen."""
    data = read_until(s, lambda d: d.count(b"SIP/2.0 ") >= want, timeout)
    return [l.split(b":", 1)[1].strip().decode() for l in data.split(b"\r\n") if l.lower().startswith(b"call-id:")]


def closed_by_peer(s, within):
    s.settimeout(within)
    try:
        while True:
            if s.recv(65536) == b"":
                return True
    except socket.timeout:
        return False
    except (ConnectionResetError, BrokenPipeError):
        return True


def main():
    port, what = int(sys.argv[1]), sys.argv[2]
    if what == "keepalive":
        s = connect(port)
        s.sendall(b"\r\n\r\n")
        s.settimeout(3)
        got = s.recv(16)
        if got != b"\r\n":
            sys.exit("keepalive: expected a CRLF pong, got %r" % got)
        # the connection still carries messages after it
        s.sendall(options(1, port))
        if read_replies(s, 1) != ["probe-1@127.0.0.1"]:
            sys.exit("keepalive: no answer after the ping")
    elif what == "split":
        s = connect(port)
        m = options(1, port)
        for part in (m[:10], m[10:100], m[100:]):
            s.sendall(part)
            time.sleep(0.05)
        s.sendall(options(2, port) + options(3, port))
        ids = read_replies(s, 3)
        if ids != ["probe-%d@127.0.0.1" % i for i in (1, 2, 3)]:
            sys.exit("split: expected answers to 1, 2, 3 in order, got %r" % ids)
    elif what == "idle":
        secs = float(sys.argv[3])
        s = connect(port)
        s.sendall(options(1, port))
        read_replies(s, 1)
        t0 = time.time()
        if not closed_by_peer(s, secs + 3):
            sys.exit("idle: the connection was still open %.1f s later" % (time.time() - t0))
        if time.time() - t0 < secs - 1:
            sys.exit("idle: closed after %.1f s, before the lifetime of %s s" % (time.time() - t0, secs))
    elif what == "oversize":
        s = connect(port)
        head = b"OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKbig\r\n"
        try:
            s.sendall(head + b"X-Pad: " + b"a" * 70000 + b"\r\n")
        except (ConnectionResetError, BrokenPipeError):
            return
        if not closed_by_peer(s, 5):
            sys.exit("oversize: the connection stayed open")
    elif what == "limit":
        n = int(sys.argv[3])
        held = [connect(port) for _ in range(n)]
        time.sleep(0.3)
        extra = [connect(port) for _ in range(3)]
        for i, s in enumerate(extra):
            if not closed_by_peer(s, 3):
                sys.exit("limit: connection %d beyond tcp_max_connections=%d stayed open" % (n + i + 1, n))
        # the held ones still work
        held[0].sendall(options(7, port))
        if read_replies(held[0], 1) != ["probe-7@127.0.0.1"]:
            sys.exit("limit: a connection within the limit got no answer")
    elif what == "alias":
        vport, how, want = int(sys.argv[3]), sys.argv[4], sys.argv[5] == "yes"
        s = connect(port)
        user = "force" if how == "force" else "probe"
        alias = ";alias" if how == "via" else ""
        s.sendall((
            "OPTIONS sip:%s@127.0.0.1:%d SIP/2.0\r\n"
            "Via: SIP/2.0/TCP 127.0.0.1:%d;branch=z9hG4bKalias%d%s\r\n"
            "From: <sip:probe@127.0.0.1>;tag=a1\r\nTo: <sip:probe@127.0.0.1>\r\n"
            "Call-ID: alias-%d@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
            "Content-Length: 0\r\n\r\n" % (user, port, vport, vport, alias, vport)).encode())
        if read_replies(s, 1) != ["alias-%d@127.0.0.1" % vport]:
            sys.exit("alias: no answer to the OPTIONS")
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("127.0.0.1", 0))
        u.sendto((
            "MESSAGE sip:%d@127.0.0.1:%d SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKmsg%d\r\n"
            "From: <sip:probe@127.0.0.1>;tag=m1\r\nTo: <sip:%d@127.0.0.1>\r\n"
            "Call-ID: msg-%d@127.0.0.1\r\nCSeq: 1 MESSAGE\r\nMax-Forwards: 70\r\n"
            "Content-Length: 0\r\n\r\n" % (vport, port, u.getsockname()[1], vport, vport, vport)).encode(),
            ("127.0.0.1", port))
        data = read_until(s, lambda d: b"\r\n\r\n" in d, 2)
        got = data.startswith(b"MESSAGE sip:")
        if got != want:
            sys.exit("alias %s %d: the MESSAGE %s over the connection (%r)"
                     % (how, vport, "came" if got else "did not come", data[:60]))
    else:
        sys.exit("unknown check " + what)


if __name__ == "__main__":
    main()
