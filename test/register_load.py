#!/usr/bin/env python3
"""A REGISTER load with digest authentication, for test/registrar_load.sh.

    register_load.py PORT USERS_CSV RATE

USERS_CSV is sipp's injection file (a SEQUENTIAL line, then
user;password;contact-port). Each user sends a REGISTER, answers the 401
with RFC 2617 credentials (qop=auth when offered), and must get a 200;
new registrations start at RATE per second, retransmissions after 500 ms
(bounded). Prints the counts and the rate reached; exits 1 on any failure.
"""
import hashlib
import re
import socket
import sys
import time

port, path, rate = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
users = [line.strip().split(";") for line in open(path) if ";" in line]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
me = s.getsockname()[1]
s.setblocking(False)


def md5(x):
    return hashlib.md5(x.encode()).hexdigest()


def register(i, auth=None):
    u, _, cport = users[i]
    cseq = 2 if auth else 1
    m = (f"REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bK{i}x{cseq};rport\r\n"
         f"Max-Forwards: 70\r\nFrom: <sip:{u}@example.com>;tag=t{i}\r\nTo: <sip:{u}@example.com>\r\n"
         f"Call-ID: load-{i}@test\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:{u}@127.0.0.1:{cport}>\r\n"
         f"Expires: 3600\r\n" + (auth or "") + "Content-Length: 0\r\n\r\n")
    return m.encode()


def credentials(i, challenge):
    u, pw, _ = users[i]
    p = dict((k.lower(), a or b) for k, a, b in re.findall(r'([A-Za-z-]+)=(?:"([^"]*)"|([^,\s]*))', challenge))
    realm, nonce = p["realm"], p["nonce"]
    ha1, ha2 = md5(f"{u}:{realm}:{pw}"), md5("REGISTER:sip:example.com")
    if "auth" in p.get("qop", "").split(","):
        resp = md5(f"{ha1}:{nonce}:00000001:c{i}:auth:{ha2}")
        extra = f', qop=auth, nc=00000001, cnonce="c{i}"'
    else:
        resp, extra = md5(f"{ha1}:{nonce}:{ha2}"), ""
    return (f'Authorization: Digest username="{u}", realm="{realm}", nonce="{nonce}", '
            f'uri="sip:example.com", response="{resp}"{extra}\r\n')


pending = {}  # i -> (bytes, sent at, tries)
done = failed = retrans = 0
start = time.time()
nxt = 0
deadline = start + len(users) / rate + 60
while (nxt < len(users) or pending) and time.time() < deadline:
    now = time.time()
    while nxt < len(users) and nxt < (now - start) * rate:
        data = register(nxt)
        s.sendto(data, ("127.0.0.1", port))
        pending[nxt] = (data, now, 0)
        nxt += 1
    try:
        while True:
            msg = s.recv(65535).decode(errors="replace")
            m = re.search(r"(?im)^Call-ID:\s*load-(\d+)@test", msg)
            if not m:
                continue
            i = int(m.group(1))
            if i not in pending:
                continue
            if msg.startswith("SIP/2.0 401"):
                if pending[i][0].find(b"Authorization:") >= 0:
                    continue
                ch = re.search(r"(?im)^WWW-Authenticate:\s*Digest\s+(.*)$", msg).group(1)
                data = register(i, credentials(i, ch))
                s.sendto(data, ("127.0.0.1", port))
                pending[i] = (data, time.time(), 0)
            elif msg.startswith("SIP/2.0 200"):
                if pending[i][0].find(b"Authorization:") >= 0:
                    del pending[i]
                    done += 1
            elif not msg.startswith("SIP/2.0 1"):
                print("unexpected: " + msg.split("\r\n")[0], file=sys.stderr)
                del pending[i]
                failed += 1
    except BlockingIOError:
        pass
    now = time.time()
    for i, (data, at, tries) in list(pending.items()):
        if now - at > 0.5:
            if tries >= 6:
                del pending[i]
                failed += 1
                continue
            s.sendto(data, ("127.0.0.1", port))
            pending[i] = (data, now, tries + 1)
            retrans += 1
    time.sleep(0.0005)
took = time.time() - start
failed += len(pending) + len(users) - nxt
print(f"registrations: successful={done} failed={failed} retransmissions={retrans} "
      f"in {took:.1f} s ({done / took:.0f}/s)")
sys.exit(0 if done == len(users) and failed == 0 else 1)
