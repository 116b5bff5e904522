//! `make bench`: cost of the SIP message layer per message, on one core.
//!
//! * boundaries: `SipMsg::parse` (first line, every header's span, body);
//! * proxy view: the above plus what a proxy's script touches — R-URI,
//!   top Via, From/To tags, CSeq, Call-ID, Max-Forwards, Route;
//! * forward: the proxy view plus building the forwarded request (new Via,
//!   received/rport, Record-Route, Route pop, Max-Forwards, Content-Length).
//!
//! Medians of 7 runs of 200,000 messages, ns per message.

use std::hint::black_box;
use std::time::Instant;

use sipr_core::sip::{forward_request, ForwardRequest, Lumps, SipMsg, Source, ViaSpec};

const INVITE: &[u8] = b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bK776asdhds;rport\r\n\
Route: <sip:proxy.example.com;lr>\r\n\
Max-Forwards: 70\r\n\
To: Bob <sip:bob@biloxi.example.com>\r\n\
From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alice@pc33.atlanta.example.com>\r\n\
Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY, MESSAGE, SUBSCRIBE, INFO\r\n\
Supported: replaces, timer\r\n\
User-Agent: Example UA 1.0\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 142\r\n\
\r\n\
v=0\r\n\
o=alice 2890844526 2890844526 IN IP4 pc33.atlanta.example.com\r\n\
s=-\r\n\
c=IN IP4 192.0.2.101\r\n\
t=0 0\r\n\
m=audio 49172 RTP/AVP 0\r\n\
a=rtpmap:0 PCMU/8000\r\n";

const N: usize = 200_000;
const RUNS: usize = 7;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn ns_per_msg(f: &dyn Fn()) -> f64 {
    median(
        (0..RUNS)
            .map(|_| {
                let t = Instant::now();
                for _ in 0..N {
                    f();
                }
                t.elapsed().as_nanos() as f64 / N as f64
            })
            .collect(),
    )
}

fn proxy_view(m: &SipMsg<'_>) {
    let b = m.buf();
    black_box(m.ruri().unwrap().host.get(b));
    black_box(m.via1().unwrap().branch(b));
    black_box(m.from().unwrap().tag(b));
    black_box(m.to().unwrap().tag(b));
    black_box(m.cseq().unwrap().seq);
    black_box(m.call_id().unwrap());
    black_box(m.max_forwards().unwrap());
    black_box(m.routes().unwrap().len());
}

fn main() {
    let spec = ForwardRequest {
        via: ViaSpec { transport: "UDP", host: "192.0.2.1", port: Some(5060), branch: "z9hG4bK1a2b.7.0", rport: false },
        source: Some(Source { ip: "203.0.113.9", port: 5060 }),
        new_ruri: None,
        record_route: Some("<sip:192.0.2.1;lr>"),
        pop_route: true,
        ensure_content_length: false,
    };
    let boundaries = ns_per_msg(&|| {
        black_box(SipMsg::parse(black_box(INVITE)).unwrap());
    });
    let view = ns_per_msg(&|| {
        let m = SipMsg::parse(black_box(INVITE)).unwrap();
        proxy_view(&m);
    });
    let forward = ns_per_msg(&|| {
        let m = SipMsg::parse(black_box(INVITE)).unwrap();
        proxy_view(&m);
        black_box(forward_request(&m, &spec, Lumps::new()).unwrap());
    });
    println!("# SIP message layer, {}-byte INVITE with SDP, median of {RUNS} runs", INVITE.len());
    println!("| stage | ns/message | messages/s on one core |");
    println!("|---|---|---|");
    for (name, ns) in [
        ("parse (boundaries)", boundaries),
        ("+ proxy view (R-URI, Via, From, To, CSeq, Call-ID, Max-Forwards, Route)", view),
        ("+ build forwarded request", forward),
    ] {
        println!("| {name} | {ns:.0} | {:.0} k |", 1e6 / ns);
    }
}
