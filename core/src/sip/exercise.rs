//! Runs every parser and builder of the message layer over one input —
//! the body of the fuzz target and of the mutation test, so that both
//! reach the same code. Only panics matter; results are discarded.

use std::hint::black_box;

use super::build::{forward_reply, forward_request, local_reply, local_to_tag, stateless_branch};
use super::build::{ForwardRequest, ReplyOpts, Source, ViaSpec};
use super::describe::describe;
use super::framing::frame_stream;
use super::lump::Lumps;
use super::message::SipMsg;

/// Feeds `data` to framing, parsing, every typed accessor, the dump and
/// the builders.
pub fn exercise(data: &[u8]) {
    let _ = black_box(frame_stream(data));
    let Ok(m) = SipMsg::parse(data) else { return };
    let _ = black_box(m.validate_basic());
    let _ = black_box(m.ruri());
    let _ = black_box(m.vias());
    let _ = black_box(m.contact());
    let _ = black_box(m.routes());
    let _ = black_box(m.record_routes());
    let _ = black_box(m.expires());
    let _ = black_box(describe(&m));
    // both Via edit paths: with and without the script's force_rport()
    let src = Source { ip: std::net::IpAddr::from([192, 0, 2, 7]), port: 5099, force_rport: m.buf().len() % 2 == 0 };
    let spec = ForwardRequest {
        other_socket: None,
        via: ViaSpec {
            transport: "TCP",
            host: "[2001:db8::1]",
            port: Some(5060),
            branch: "z9hG4bKfuzz.0",
            rport: true,
        },
        source: Some(src),
        new_ruri: Some(b"sip:x@example.com"),
        record_route: Some("<sip:192.0.2.1;lr>"),
        pop_route: true,
        ensure_content_length: true,
        decrement_max_forwards: true,
    };
    if m.is_request() {
        if let Ok(out) = forward_request(&m, &spec, Lumps::new()) {
            // What we send must parse again.
            assert!(SipMsg::parse(&out).is_ok(), "forwarded request does not parse");
        }
        let tag = local_to_tag(b"fuzz", &m).ok();
        let opts = ReplyOpts {
            to_tag: tag.as_ref().map(|t| t.as_str()),
            source: Some(src),
            server: Some("sipr"),
            ..Default::default()
        };
        if let Ok(out) = local_reply(&m, 400, "Bad Request", &opts) {
            assert!(SipMsg::parse(&out).is_ok(), "local reply does not parse");
        }
        let _ = black_box(stateless_branch(&m));
    } else if let Ok(out) = forward_reply(&m, Lumps::new()) {
        assert!(SipMsg::parse(&out).is_ok(), "forwarded reply does not parse");
    }
}
