//! The floor of the server benchmark: a UDP server that does no SIP work
//! beyond moving bytes. Each of N threads blocks in `recv_from` on one
//! socket (as sipr's and Kamailio's UDP workers do) and answers with the
//! same datagrams, and so the same syscalls and wake-ups, as a real server
//! on the benchmark's call flow. `make bench` runs it beside sipr and
//! Kamailio so the CPU tables show how much of a call's cost is the
//! kernel's and not a server's.
//!
//! Two modes:
//! - `udp_floor ADDR:PORT THREADS`: the responder of the OPTIONS
//!   workload. The request line becomes `SIP/2.0 200 OK`, the rest is sent
//!   back as it came: one datagram in, one out.
//! - `udp_floor ADDR:PORT THREADS UAS_ADDR:PORT`: the relay of the proxy
//!   workload (INVITE/200/ACK/BYE/200 between a UAC and a UAS). A request
//!   gets a Via (and, on INVITE, a Record-Route, so that ACK and BYE come
//!   back here) spliced in after its first line and goes to the UAS; an
//!   INVITE is also answered with a `100 Trying`; a reply loses its first
//!   Via and goes to the next Via's sent-by. Five datagrams in and six out
//!   per call, as a stateful proxy, with no parsing beyond finding lines.
//!   OPTIONS to the relay itself are answered as in the first mode (the
//!   harness's readiness probe).
//! - `udp_floor ADDR:PORT THREADS challenge`: the responder of the
//!   digest registrar workload: a REGISTER without an Authorization header
//!   is answered `401` with a fixed `WWW-Authenticate` (spliced in, the
//!   rest sent back), one with it `200`: two datagrams in and two out per
//!   registration, as a registrar that challenges.

use std::net::{SocketAddr, UdpSocket};

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(addr), Some(threads)) = (args.next(), args.next().and_then(|n| n.parse::<usize>().ok())) else { usage() };
    let third = args.next();
    let challenge = third.as_deref() == Some("challenge");
    let uas = third.filter(|_| !challenge).map(|a| a.parse::<SocketAddr>().unwrap_or_else(|_| usage()));
    let sock = UdpSocket::bind(&addr)?;
    let local = sock.local_addr()?;
    let mut workers = Vec::with_capacity(threads);
    for _ in 0..threads.max(1) {
        let sock = sock.try_clone()?;
        workers.push(std::thread::spawn(move || -> std::io::Result<()> {
            let mut buf = vec![0u8; 65_535];
            let mut out = Vec::with_capacity(65_535);
            let via = format!("Via: SIP/2.0/UDP {local};branch=z9hG4bKfloor\r\n");
            let rr = format!("Record-Route: <sip:{local};lr>\r\n");
            loop {
                let (len, src) = sock.recv_from(&mut buf)?;
                let msg = &buf[..len];
                let Some(nl) = msg.iter().position(|&b| b == b'\n') else { continue };
                let reply = msg.starts_with(b"SIP/2.0 ");
                match uas {
                    Some(_) if reply => {
                        if let Some(to) = pop_via(msg, &mut out) {
                            sock.send_to(&out, to)?;
                        }
                    }
                    Some(uas) if !msg.starts_with(b"OPTIONS ") => {
                        let invite = msg.starts_with(b"INVITE ");
                        if invite {
                            answer(msg, nl, b"SIP/2.0 100 Trying\r", &mut out);
                            sock.send_to(&out, src)?;
                        }
                        out.clear();
                        out.extend_from_slice(&msg[..=nl]);
                        out.extend_from_slice(via.as_bytes());
                        if invite {
                            out.extend_from_slice(rr.as_bytes());
                        }
                        out.extend_from_slice(&msg[nl + 1..]);
                        sock.send_to(&out, uas)?;
                    }
                    _ if challenge && msg.starts_with(b"REGISTER ") && find(msg, b"\nAuthorization: ").is_none() => {
                        answer(msg, nl, b"SIP/2.0 401 Unauthorized\r", &mut out);
                        let at = "SIP/2.0 401 Unauthorized\r\n".len();
                        out.splice(at..at, WWW_AUTHENTICATE.iter().copied());
                        sock.send_to(&out, src)?;
                    }
                    _ => {
                        answer(msg, nl, b"SIP/2.0 200 OK\r", &mut out);
                        sock.send_to(&out, src)?;
                    }
                }
            }
        }));
    }
    for w in workers {
        if let Ok(Err(e)) = w.join() {
            eprintln!("udp_floor: {e}");
        }
    }
    Ok(())
}

/// The challenge of the `challenge` mode.
const WWW_AUTHENTICATE: &[u8] =
    b"WWW-Authenticate: Digest realm=\"example.com\", nonce=\"Zmxvb3JmbG9vcmZsb29yZmxvb3I=\"\r\n";

fn usage() -> ! {
    eprintln!("usage: udp_floor ADDR:PORT THREADS [UAS_ADDR:PORT | challenge]");
    std::process::exit(2);
}

/// `status` in place of the request line; everything from the request
/// line's end on is kept.
fn answer(req: &[u8], nl: usize, status: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(status);
    out.extend_from_slice(&req[nl..]);
}

/// The reply without its first Via value in `out`, and where the next Via
/// says to send it; None when the reply has no second Via.
fn pop_via(reply: &[u8], out: &mut Vec<u8>) -> Option<SocketAddr> {
    let first = find(reply, b"\nVia: ")? + 1;
    let end = first + find(&reply[first..], b"\r\n")?;
    out.clear();
    out.extend_from_slice(&reply[..first]);
    // a Via header with several values keeps the ones after the first
    match reply[first..end].iter().position(|&b| b == b',') {
        Some(comma) => {
            out.extend_from_slice(b"Via: ");
            out.extend_from_slice(reply[first + comma + 1..].trim_ascii_start());
        }
        None => out.extend_from_slice(&reply[end + 2..]),
    }
    let next = first + find(&out[first..], b"SIP/2.0/UDP ")? + b"SIP/2.0/UDP ".len();
    let sent_by = &out[next..];
    let stop = sent_by.iter().position(|&b| matches!(b, b';' | b'\r' | b',' | b' '))?;
    std::str::from_utf8(&sent_by[..stop]).ok()?.parse().ok()
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
