#!/usr/bin/env python3
"""One SIP request over UDP on loopback, for the end-to-end tests.

    sip_request.py PORT METHOD USER [--expires N] [--contact URI]
                   [--password PASS] [--domain D] [--instance URN]
                   [--ruri URI]

Sends METHOD for sip:USER@DOMAIN (a REGISTER to sip:DOMAIN, with Contact
and Expires; with --instance, the Contact's +sip.instance and
Supported: gruu), answers a 401/407 once with RFC 2617 credentials when
--password is given, retransmits after 500 ms (at most 6 times), and
prints the final response (status line and headers). Exits 1 when no
final response came.
"""
import argparse
import hashlib
import random
import re
import socket
import sys

ap = argparse.ArgumentParser()
ap.add_argument("port", type=int)
ap.add_argument("method")
ap.add_argument("user")
ap.add_argument("--expires", type=int)
ap.add_argument("--contact")
ap.add_argument("--password")
ap.add_argument("--domain", default="example.com")
ap.add_argument("--instance")
ap.add_argument("--ruri")
a = ap.parse_args()

s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
s.settimeout(0.5)
me = s.getsockname()[1]
call_id = "%08x@sip-request" % random.getrandbits(32)
ruri = a.ruri or ("sip:%s" % a.domain if a.method == "REGISTER" else "sip:%s@%s" % (a.user, a.domain))


def md5(x):
    return hashlib.md5(x.encode()).hexdigest()


def request(cseq, auth=None):
    h = [
        "%s %s SIP/2.0" % (a.method, ruri),
        "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%08x;rport" % (me, random.getrandbits(32)),
        "Max-Forwards: 70",
        "From: <sip:%s@%s>;tag=%08x" % (a.user, a.domain, random.getrandbits(32)),
        "To: <sip:%s@%s>" % (a.user, a.domain),
        "Call-ID: " + call_id,
        "CSeq: %d %s" % (cseq, a.method),
    ]
    if a.contact:
        inst = ';+sip.instance="<%s>"' % a.instance if a.instance else ""
        h.append("Contact: <%s>%s" % (a.contact, inst))
    if a.instance:
        h.append("Supported: gruu")
    if a.expires is not None:
        h.append("Expires: %d" % a.expires)
    if auth:
        h.append(auth)
    return ("\r\n".join(h) + "\r\nContent-Length: 0\r\n\r\n").encode()


def final(msg):
    for _ in range(7):
        s.sendto(msg, ("127.0.0.1", a.port))
        try:
            while True:
                r = s.recv(65535).decode(errors="replace")
                code = int(r.split(" ", 2)[1])
                if code >= 200:
                    return r, code
        except socket.timeout:
            continue
    sys.exit("no final response to the %s" % a.method)


r, code = final(request(1))
if code in (401, 407) and a.password:
    name = "WWW-Authenticate" if code == 401 else "Proxy-Authenticate"
    ch = re.search(r"(?im)^%s:\s*Digest\s+(.*)$" % name, r).group(1)
    realm = re.search(r'realm="([^"]*)"', ch).group(1)
    nonce = re.search(r'nonce="([^"]*)"', ch).group(1)
    ha1 = md5("%s:%s:%s" % (a.user, realm, a.password))
    ha2 = md5("%s:%s" % (a.method, ruri))
    if re.search(r'qop="?[^"]*auth', ch):
        cnonce, nc = "%08x" % random.getrandbits(32), "00000001"
        resp = md5("%s:%s:%s:%s:auth:%s" % (ha1, nonce, nc, cnonce, ha2))
        extra = ', qop=auth, nc=%s, cnonce="%s"' % (nc, cnonce)
    else:
        resp, extra = md5("%s:%s:%s" % (ha1, nonce, ha2)), ""
    hdr = "Authorization" if code == 401 else "Proxy-Authorization"
    auth = '%s: Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s", algorithm=MD5%s' % (
        hdr, a.user, realm, nonce, ruri, resp, extra)
    r, code = final(request(2, auth))
print(r.split("\r\n\r\n")[0])
