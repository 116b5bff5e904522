//! `make bench`: cost of the SIP message layer per message, on one core,
//! for a 904-byte INVITE with SDP, a REGISTER with Authorization and a
//! 200 OK (the messages are in core/fuzz/seeds).
//!
//! * scan: `SipMsg::parse` — first line, every header's boundaries, body;
//! * full parse: scan + every header through its typed parser
//!   (`parse_all_headers`, R-URI included);
//! * forward build: building the forwarded request (new Via, received /
//!   rport, Record-Route, Route pop, Max-Forwards, Content-Length) or reply
//!   (top Via removed) from an already parsed message.
//!
//! Medians of 7 runs of 200,000 messages, and the best run: this VM's
//! neighbours slow whole seconds of it down (medians move by up to 2×
//! between invocations), the best run is the code's speed on a quiet core.

use std::hint::black_box;
use std::time::Instant;

use sipr_core::sip::{forward_reply, forward_request, ForwardRequest, Lumps, SipMsg, Source, ViaSpec};

const N: usize = 200_000;
const RUNS: usize = 7;

/// ns per message over `RUNS` runs: (median, best).
fn ns_per_msg(f: &dyn Fn()) -> (f64, f64) {
    let mut v: Vec<f64> = (0..RUNS)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..N {
                f();
            }
            t.elapsed().as_nanos() as f64 / N as f64
        })
        .collect();
    v.sort_by(|a, b| a.total_cmp(b));
    (v[v.len() / 2], v[0])
}

fn main() {
    let messages: [(&str, &[u8]); 3] = [
        ("INVITE with SDP", include_bytes!("../fuzz/seeds/invite-sdp.sip")),
        ("REGISTER with Authorization", include_bytes!("../fuzz/seeds/register.sip")),
        ("200 OK (3 Vias)", include_bytes!("../fuzz/seeds/ok200.sip")),
    ];
    let spec = ForwardRequest {
        other_socket: None,
        via: ViaSpec { transport: "UDP", host: "192.0.2.1", port: Some(5060), branch: "z9hG4bK1a2b.7.0", rport: false },
        source: Some(Source { ip: "203.0.113.9".parse().unwrap(), port: 5060, force_rport: false }),
        new_ruri: None,
        record_route: Some("<sip:192.0.2.1;lr>"),
        pop_route: true,
        ensure_content_length: false,
        decrement_max_forwards: true,
    };
    println!("# SIP message layer, one core, {RUNS} runs of {N} messages: median ns (msg/s) / best run ns");
    println!("| message | bytes | scan | full parse | forward build |");
    println!("|---|---|---|---|---|");
    for (name, bytes) in messages {
        // the message is used where the result holds it, as the server
        // does: moving it out would copy its inline header list
        let scan = ns_per_msg(&|| {
            black_box(SipMsg::parse(black_box(bytes)).as_ref().unwrap());
        });
        let full = ns_per_msg(&|| {
            let parsed = SipMsg::parse(black_box(bytes));
            black_box(parsed.as_ref().unwrap().parse_all_headers().unwrap());
        });
        let parsed = SipMsg::parse(bytes).unwrap();
        parsed.parse_all_headers().unwrap();
        let build = ns_per_msg(&|| {
            let out = if parsed.is_request() {
                forward_request(&parsed, &spec, Lumps::new())
            } else {
                forward_reply(&parsed, Lumps::new())
            };
            black_box(out.unwrap());
        });
        let rate = |(median, best): (f64, f64)| format!("{median:.0} ({:.2} M) / {best:.0}", 1e3 / median);
        println!("| {name} | {} | {} | {} | {} |", bytes.len(), rate(scan), rate(full), rate(build));
    }
}
