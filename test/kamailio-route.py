#!/usr/bin/env python3
"""Runs a cfg snippet on the real Kamailio and prints what its xlog calls
printed: the reference the cfg-language tests were checked against.

    test/kamailio-route.py SNIPPET.cfg [MESSAGE.sip]

SNIPPET.cfg holds route blocks (anything before a `##HEAD` line goes to
the top level first, e.g. `flags` or `modparam`); Kamailio (Debian's
package) runs it with pv, xlog, kex, textops, sl and corex loaded,
listening on 127.0.0.1:25070, and gets one UDP message (a test INVITE
unless MESSAGE.sip is given). A developer tool, not part of `make test`.
"""
import os, shutil, signal, socket, subprocess, sys, tempfile, time
MOD="/usr/lib/x86_64-linux-gnu/kamailio/modules"
port = 25070
head = f"""#!KAMAILIO
debug=2
log_stderror=yes
children=1
listen=udp:127.0.0.1:{port}
disable_tcp=yes
auto_aliases=no
alias=example.com:5070
loadmodule "{MOD}/pv.so"
loadmodule "{MOD}/xlog.so"
loadmodule "{MOD}/kex.so"
loadmodule "{MOD}/textops.so"
loadmodule "{MOD}/sl.so"
loadmodule "{MOD}/corex.so"
modparam("xlog", "prefix", "")
"""
body = open(sys.argv[1]).read()
extra_head = ""
if "##HEAD" in body:
    extra_head, body = body.split("##HEAD", 1)
cfg = head + extra_head + body
WORK = tempfile.mkdtemp(prefix="kamailio-route-")
open(f"{WORK}/k.cfg", "w").write(cfg)
msg = open(sys.argv[2],"rb").read() if len(sys.argv) > 2 else None
p = subprocess.Popen(["kamailio", "-DD", "-E", "-f", f"{WORK}/k.cfg", "-Y", WORK, "-w", WORK], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
time.sleep(1.0)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
if msg is None:
    msg = b"""INVITE sip:bob@example.com:5070;transport=udp SIP/2.0\r
Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bKabc;rport\r
Max-Forwards: 70\r
From: "Alice A" <sip:alice@a.example>;tag=1928\r
To: <sip:bob@example.com>\r
Call-ID: c1@10.0.0.5\r
CSeq: 7 INVITE\r
Contact: <sip:alice@10.0.0.5:5062>\r
User-Agent: TestUA/1.0\r
X-Custom: one\r
X-Custom: two\r
Content-Type: application/sdp\r
Content-Length: 4\r
\r
v=0\n"""
s.sendto(msg, ("127.0.0.1", port))
time.sleep(0.8)
p.send_signal(signal.SIGTERM)
try:
    _, err = p.communicate(timeout=5)
except subprocess.TimeoutExpired:
    p.kill(); _, err = p.communicate()
for line in err.decode(errors="replace").splitlines():
    # xlog's prefix is empty: script lines are "... ERROR: text"
    if ("<core>" in line and "ERROR" in line) or "CRITICAL" in line:
        print("!!", line)
    elif "<core>" in line:
        continue
    elif "ERROR: " in line:
        print(line.split("ERROR: ", 1)[1])
shutil.rmtree(WORK, ignore_errors=True)
