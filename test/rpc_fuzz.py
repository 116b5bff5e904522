"""Fuzz replay of sipr's RPC transports: seeded mutations (bit flips, cut
and grown lengths, spliced bytes, nesting) of valid binrpc packets, JSON-RPC
documents and HTTP requests, sent on every transport; then a valid request
on each must still be answered. The seed is fixed, so a failure replays.

usage: rpc_fuzz.py WORKDIR SIP_PORT CTL_TCP_PORT CTL_UDP_PORT [ROUNDS]"""

import os
import random
import socket
import sys
import time

import rpc_clients as rc

SEED = 18


def mutate(rng, data):
    data = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(6)
        if op == 0 and data:
            i = rng.randrange(len(data))
            data[i] ^= 1 << rng.randrange(8)
        elif op == 1 and data:
            del data[rng.randrange(len(data)):]
        elif op == 2:
            at = rng.randrange(len(data) + 1)
            data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 40)))
        elif op == 3 and len(data) > 2:
            # a length byte of the header or of a record set to a wild value
            data[rng.choice([2, min(7, len(data) - 1), rng.randrange(len(data))])] = rng.choice([0, 0x7F, 0xFF, 0x8F])
        elif op == 4:
            data += bytes([rng.choice([0x03, 0x04, 0x83, 0xF3, 0x95])]) * rng.randint(1, 64)
        elif op == 5 and data:
            i = rng.randrange(len(data))
            data[i:i] = data[i:i + rng.randint(1, 32)]
    return bytes(data)


def quiet(call):
    try:
        call()
    except (OSError, ValueError):
        pass


def send_stream(addr, data):
    if isinstance(addr, str):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(addr)
    else:
        s = socket.create_connection(addr)
    s.settimeout(0.02)
    with s:
        s.sendall(data)
        try:
            s.recv(65536)
        except OSError:
            pass


def send_dgram(family, addr, data, me=None):
    s = socket.socket(family, socket.SOCK_DGRAM)
    if me:
        s.bind(me)
    s.settimeout(0.02)
    try:
        s.sendto(data, addr)
        try:
            s.recv(65536)
        except OSError:
            pass
    finally:
        s.close()
        if me:
            os.unlink(me)


def main():
    work, port, ctl_tcp, ctl_udp = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    rounds = int(sys.argv[5]) if len(sys.argv) > 5 else 300
    rng = random.Random(SEED)
    ctl = os.path.join(work, "run", "sipr_ctl")
    dgram = os.path.join(work, "run", "sipr_rpc.sock")
    seeds_bin = [rc.binrpc_packet("core.echo", ["a", 7, "b c"]), rc.binrpc_packet("stats.get_statistics", ["all"]),
                 rc.binrpc_packet("htable.sets", ["t", "k", "v"]), rc.binrpc_packet("cfg.get", ["core", "debug"])]
    seeds_json = [rc.json_request("core.echo", ["a", 1]), rc.json_request("htable.get", ["t", "k"]),
                  b'{"jsonrpc":"2.0","method":"core.psx","params":[[1,{"a":[]}]],"id":{"x":1}}']
    seeds_http = [b"POST /RPC HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(seeds_json[0]) + seeds_json[0],
                  b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"]
    start = time.time()
    for i in range(rounds):
        b = mutate(rng, rng.choice(seeds_bin))
        quiet(lambda: send_stream(ctl, b))
        quiet(lambda: send_stream(("127.0.0.1", ctl_tcp), b))
        quiet(lambda: send_dgram(socket.AF_INET, ("127.0.0.1", ctl_udp), b))
        j = mutate(rng, rng.choice(seeds_json))
        quiet(lambda: send_dgram(socket.AF_UNIX, dgram, j, me="%s.fz%d" % (dgram, i)))
        h = mutate(rng, rng.choice(seeds_http))
        quiet(lambda: send_stream(("127.0.0.1", port), h))
    # every transport still answers
    flags, v = rc.binrpc(ctl, "core.echo", "ok")
    assert v == ["ok"], v
    flags, v = rc.binrpc(("tcp", "127.0.0.1", ctl_tcp), "core.echo", "ok")
    assert v == ["ok"], v
    flags, v = rc.binrpc(("udp", "127.0.0.1", ctl_udp), "core.echo", "ok")
    assert v == ["ok"], v
    assert rc.json_dgram(dgram, "core.echo", "ok")["result"] == ["ok"]
    assert rc.json_http(port, "core.echo", "ok")["result"] == ["ok"]
    print("fuzz: %d rounds x 5 transports in %.1fs, every transport still answers" % (rounds, time.time() - start))


if __name__ == "__main__":
    main()
