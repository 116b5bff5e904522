#!/usr/bin/env python3
"""A tiny authoritative DNS server on loopback for the end-to-end tests.

    dns_stub.py [ADDR:]PORT RECORD...

RECORD is NAME/A/ADDR, NAME/AAAA/ADDR or NAME/SRV/PRIO/WEIGHT/PORT/TARGET.
Names it has no record of get NXDOMAIN; names it knows but not for the type
asked get an empty answer. It listens on 127.0.0.1 unless given an address, logs
each question to stdout and runs until killed (the test stops it by pid).
"""
import socket
import struct
import sys


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def read_question(q):
    at, labels = 12, []
    while q[at] != 0:
        n = q[at]
        labels.append(q[at + 1:at + 1 + n].decode().lower())
        at += 1 + n
    qtype = struct.unpack("!H", q[at + 1:at + 3])[0]
    return ".".join(labels), qtype, at + 5


def main():
    host, _, port = sys.argv[1].rpartition(":")
    host, port = host or "127.0.0.1", int(port)
    zone = {}
    for spec in sys.argv[2:]:
        parts = spec.split("/")
        name, kind = parts[0].lower(), parts[1]
        if kind == "A":
            zone.setdefault((name, 1), []).append(socket.inet_aton(parts[2]))
        elif kind == "AAAA":
            zone.setdefault((name, 28), []).append(socket.inet_pton(socket.AF_INET6, parts[2]))
        elif kind == "SRV":
            prio, weight, p = (int(x) for x in parts[2:5])
            zone.setdefault((name, 33), []).append(struct.pack("!HHH", prio, weight, p) + encode_name(parts[5]))
    names = {n for (n, _) in zone}
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((host, port))
    while True:
        q, peer = s.recvfrom(512)
        try:
            name, qtype, end = read_question(q)
        except (IndexError, struct.error):
            continue
        print("question %s %d" % (name, qtype), flush=True)
        answers = zone.get((name, qtype), [])
        rcode = 0 if name in names else 3
        head = q[:2] + struct.pack("!HHHHH", 0x8180 | rcode, 1, len(answers), 0, 0)
        body = q[12:end]
        for rdata in answers:
            body += encode_name(name) + struct.pack("!HHIH", qtype, 1, 60, len(rdata)) + rdata
        s.sendto(head + body, peer)


if __name__ == "__main__":
    main()
