//! Builders: forwarding requests and replies, local replies, branches —
//! checked by parsing what they produce (parse → build → parse).

use sipr_core::sip::{
    decode_stateful_branch, forward_reply, forward_request, local_reply, local_to_tag, stateful_branch,
    stateless_branch, BuildError, ForwardRequest, HeaderKind, Lumps, ReplyOpts, SipMsg, Source, ViaSpec,
};

const REQ: &[u8] = b"INVITE sip:bob@proxy.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bKabc;rport\r\n\
Route: <sip:proxy.example.com;lr>, <sip:edge.example.net;lr>\r\n\
Max-Forwards: 10\r\n\
From: Alice <sip:alice@a.example>;tag=1928\r\n\
To: Bob <sip:bob@b.example>\r\n\
Call-ID: c1@10.0.0.5\r\n\
CSeq: 7 INVITE\r\n\
Content-Type: text/plain\r\n\
Content-Length: 5\r\n\
\r\n\
hellotrailing-garbage";

fn spec<'a>() -> ForwardRequest<'a> {
    ForwardRequest {
        other_socket: None,
        via: ViaSpec { transport: "UDP", host: "192.0.2.1", port: Some(5060), branch: "z9hG4bKnew.1", rport: true },
        source: Some(Source { ip: "203.0.113.9".parse().unwrap(), port: 40000, force_rport: false }),
        new_ruri: Some(b"sip:bob@10.1.1.1:5070"),
        record_route: Some("<sip:192.0.2.1;lr>"),
        pop_route: true,
        ensure_content_length: false,
        decrement_max_forwards: true,
    }
}

#[test]
fn forwarded_request_has_every_change_and_parses() {
    let m = SipMsg::parse(REQ).unwrap();
    let out = forward_request(&m, &spec(), Lumps::new()).unwrap();
    let f = SipMsg::parse(&out).unwrap();
    f.validate_basic().unwrap();
    let b = &out[..];
    assert_eq!(f.request_uri(), Some(&b"sip:bob@10.1.1.1:5070"[..]));
    let vias = f.vias().unwrap();
    assert_eq!(vias.len(), 2);
    assert_eq!(vias[0].branch(b), Some(&b"z9hG4bKnew.1"[..]));
    assert_eq!(vias[0].host.get(b), b"192.0.2.1");
    assert_eq!(vias[0].rport(b), Some(None));
    // The previous hop's Via: received (NATed source) and rport filled.
    assert_eq!(vias[1].received(b), Some(&b"203.0.113.9"[..]));
    assert_eq!(vias[1].rport(b), Some(Some(40000)));
    assert_eq!(vias[1].branch(b), Some(&b"z9hG4bKabc"[..]));
    assert_eq!(f.max_forwards().unwrap(), Some(9));
    let rr = f.record_routes().unwrap();
    assert_eq!(rr.len(), 1);
    assert_eq!(rr[0].uri_span.get(b), b"sip:192.0.2.1;lr");
    let routes = f.routes().unwrap();
    assert_eq!(routes.len(), 1, "top Route popped");
    assert_eq!(routes[0].uri_span.get(b), b"sip:edge.example.net;lr");
    assert_eq!(f.body(), b"hello");
    assert_eq!(f.content_length(), Some(5));
    assert!(!out.ends_with(b"garbage"), "bytes past Content-Length are not forwarded");
}

#[test]
fn script_lumps_and_content_length_fixup() {
    let m = SipMsg::parse(REQ).unwrap();
    let mut lumps = Lumps::new();
    let body = m.body_span();
    lumps.replace(body.off as usize, body.len as usize, b"hello, world");
    let ct = m.header(HeaderKind::ContentType).unwrap();
    lumps.delete(ct.line.off as usize, ct.line.len as usize);
    let out = forward_request(&m, &spec(), lumps).unwrap();
    let f = SipMsg::parse(&out).unwrap();
    assert_eq!(f.body(), b"hello, world");
    assert_eq!(f.content_length(), Some(12));
    assert!(f.header(HeaderKind::ContentType).is_none());
}

#[test]
fn max_forwards_zero_absent_and_content_length_for_streams() {
    let zero = String::from_utf8_lossy(REQ).replace("Max-Forwards: 10", "Max-Forwards: 0");
    let m = SipMsg::parse(zero.as_bytes()).unwrap();
    assert_eq!(forward_request(&m, &spec(), Lumps::new()), Err(BuildError::TooManyHops));

    let bare = b"OPTIONS sip:x@y SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:x@y>\r\nCall-ID: 1\r\nCSeq: 1 OPTIONS\r\n\r\n";
    let m = SipMsg::parse(bare).unwrap();
    let mut s = spec();
    s.pop_route = true;
    s.record_route = None;
    s.source = Some(Source { ip: "10.0.0.5".parse().unwrap(), port: 5060, force_rport: false });
    s.ensure_content_length = true;
    let out = forward_request(&m, &s, Lumps::new()).unwrap();
    let f = SipMsg::parse(&out).unwrap();
    assert_eq!(f.max_forwards().unwrap(), Some(70));
    assert_eq!(f.content_length(), Some(0));
    // Same host, no rport asked: no received added.
    assert_eq!(f.vias().unwrap()[1].received(&out), None);
}

#[test]
fn reply_forwarding_strips_our_via() {
    let two_headers = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKnew.1\r\nVia: SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bKabc\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:x@y>;tag=2\r\nCall-ID: 1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
    let one_header = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKnew.1 , SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bKabc\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:x@y>;tag=2\r\nCall-ID: 1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
    for r in [&two_headers[..], &one_header[..]] {
        let m = SipMsg::parse(r).unwrap();
        let out = forward_reply(&m, Lumps::new()).unwrap();
        let f = SipMsg::parse(&out).unwrap();
        let vias = f.vias().unwrap();
        assert_eq!(vias.len(), 1, "{}", String::from_utf8_lossy(&out));
        assert_eq!(vias[0].branch(&out), Some(&b"z9hG4bKabc"[..]));
        f.validate_basic().unwrap();
    }
    let ours = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKx\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:x@y>\r\nCall-ID: 1\r\nCSeq: 1 OPTIONS\r\n\r\n";
    assert_eq!(forward_reply(&SipMsg::parse(ours).unwrap(), Lumps::new()), Err(BuildError::NoViaLeft));
    // empty entries after ours are no second Via; a malformed second Via
    // is an error (as Kamailio's via2), one after it is not looked at
    let reply = |vias: &str| {
        format!(
            "SIP/2.0 200 OK\r\n{vias}From: <sip:a@b>;tag=1\r\nTo: <sip:x@y>\r\nCall-ID: 1\r\nCSeq: 1 OPTIONS\r\n\r\n"
        )
    };
    let empty_after = reply("Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKx , ,\r\n");
    assert_eq!(SipMsg::parse(empty_after.as_bytes()).unwrap().has_second_via(), Ok(false));
    let bad_second = reply("Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKx\r\nVia: SIP/2.0/UDP ;;;\r\n");
    let m = SipMsg::parse(bad_second.as_bytes()).unwrap();
    assert!(m.has_second_via().is_err());
    assert!(forward_reply(&m, Lumps::new()).is_err());
    let bad_third = reply("Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKx, SIP/2.0/UDP 10.0.0.5\r\nVia: ;;;\r\n");
    assert_eq!(SipMsg::parse(bad_third.as_bytes()).unwrap().has_second_via(), Ok(true));
}

#[test]
fn local_reply_follows_8_2_6() {
    let m = SipMsg::parse(REQ).unwrap();
    let tag = local_to_tag(b"server-secret", &m).unwrap();
    let opts = ReplyOpts {
        to_tag: Some(tag.as_str()),
        source: Some(Source { ip: "203.0.113.9".parse().unwrap(), port: 40000, force_rport: false }),
        server: Some("sipr (0.1.0)"),
        extra_headers: b"Allow: INVITE, ACK\r\n",
        body: b"",
    };
    let out = local_reply(&m, 404, "Not Found", &opts).unwrap();
    let r = SipMsg::parse(&out).unwrap();
    r.validate_basic().unwrap();
    assert_eq!(r.status(), Some(404));
    let via = r.via1().unwrap();
    assert_eq!(via.received(&out), Some(&b"203.0.113.9"[..]));
    assert_eq!(via.rport(&out), Some(Some(40000)));
    assert_eq!(r.to().unwrap().tag(&out), Some(tag.as_str().as_bytes()));
    assert_eq!(r.from().unwrap().tag(&out), Some(&b"1928"[..]));
    assert_eq!(r.call_id().unwrap(), b"c1@10.0.0.5");
    assert_eq!(r.cseq().unwrap().seq, 7);
    assert_eq!(r.header_value(HeaderKind::Server), Some(&b"sipr (0.1.0)"[..]));
    assert_eq!(r.header_value(HeaderKind::Allow), Some(&b"INVITE, ACK"[..]));
    assert_eq!(r.content_length(), Some(0));
    assert!(r.header(HeaderKind::Route).is_none(), "Route is not copied");
    // 100 Trying gets no tag; an existing tag is kept.
    let t = local_reply(&m, 100, "Trying", &opts).unwrap();
    assert_eq!(SipMsg::parse(&t).unwrap().to().unwrap().tag(&t), None);
    // Same request (a retransmission) → same tag.
    assert_eq!(local_to_tag(b"server-secret", &SipMsg::parse(REQ).unwrap()).unwrap(), tag);
}

#[test]
fn branches() {
    let b = stateful_branch(0x1a2b, 77, 3);
    assert!(b.starts_with("z9hG4bK"));
    assert_eq!(decode_stateful_branch(b.as_bytes()), Some((0x1a2b, 77, 3)));
    assert_eq!(decode_stateful_branch(b"z9hG4bKabc"), None);
    assert_eq!(decode_stateful_branch(b"z9hG4bK1.2.3.4"), None);
    let m = SipMsg::parse(REQ).unwrap();
    let s1 = stateless_branch(&m).unwrap();
    assert_eq!(s1, stateless_branch(&SipMsg::parse(REQ).unwrap()).unwrap(), "retransmission: same branch");
    let other = String::from_utf8_lossy(REQ).replace("z9hG4bKabc", "z9hG4bKdef");
    assert_ne!(s1, stateless_branch(&SipMsg::parse(other.as_bytes()).unwrap()).unwrap());
    assert!(s1.starts_with("z9hG4bK"));
}

#[test]
fn salvage_reply_answers_what_does_not_parse() {
    use sipr_core::sip::salvage_reply;
    let bad = b"INVITE sip:bob@h SIP/2.0\r\nv: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\nVia: SIP/2.0/UDP 10.0.0.2\r\n\
To: \"unterminated <sip:bob@h>\r\nf: <sip:a@h>;tag=1\r\ni: c1\r\nCSeq: 1 INVITE\r\n folded\r\nContent-Length: 0\r\n\r\n";
    let r = String::from_utf8(salvage_reply(bad, 400, "Bad To", "t1").unwrap()).unwrap();
    assert_eq!(
        r,
        "SIP/2.0 400 Bad To\r\nv: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\nVia: SIP/2.0/UDP 10.0.0.2\r\n\
f: <sip:a@h>;tag=1\r\nTo: \"unterminated <sip:bob@h>;tag=t1\r\ni: c1\r\nCSeq: 1 INVITE folded\r\nContent-Length: 0\r\n\r\n"
    );
    assert!(salvage_reply(b"SIP/2.0 200 OK\r\nVia: x\r\n\r\n", 400, "x", "t").is_none(), "never a reply to a reply");
    assert!(
        salvage_reply(b"ACK sip:a@b SIP/2.0\r\nVia: x\r\n\r\n", 400, "x", "t").is_none(),
        "never a reply to an ACK"
    );
    assert!(
        salvage_reply(b"INVITE sip:a@b SIP/2.0\r\nTo: x\r\n\r\n", 400, "x", "t").is_none(),
        "no Via: nowhere to answer"
    );
}

/// A minimal OPTIONS whose top Via header value is `via`.
fn options_with_via(via: &str) -> String {
    format!("OPTIONS sip:x@y SIP/2.0\r\nVia: {via}\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:x@y>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n\r\n")
}

/// The reply's top Via, byte for byte: `rport` filled in where it stands,
/// `received` at the end of the first Via (also when a second Via shares
/// its line), none when the sent-by is the source address and rport was
/// not asked for (addresses compared as addresses).
#[test]
fn local_reply_edits_only_the_top_via() {
    let cases: [(&str, &str, &str); 6] = [
        (
            "SIP/2.0/UDP 10.0.0.5:5062;rport;branch=z9hG4bKa",
            "203.0.113.9",
            "SIP/2.0/UDP 10.0.0.5:5062;rport=40000;branch=z9hG4bKa;received=203.0.113.9",
        ),
        (
            "SIP/2.0/UDP 10.0.0.5;branch=z9hG4bKa;rport , SIP/2.0/UDP 10.9.9.9;branch=z9hG4bKb",
            "10.0.0.5",
            "SIP/2.0/UDP 10.0.0.5;branch=z9hG4bKa;rport=40000;received=10.0.0.5 , SIP/2.0/UDP 10.9.9.9;branch=z9hG4bKb",
        ),
        ("SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bKa", "10.0.0.5", "SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bKa"),
        // a value the client should not have put is overwritten (as Kamailio)
        (
            "SIP/2.0/UDP 10.0.0.5;rport=1234;branch=z9hG4bKa",
            "10.0.0.5",
            "SIP/2.0/UDP 10.0.0.5;rport=40000;branch=z9hG4bKa;received=10.0.0.5",
        ),
        ("SIP/2.0/UDP [2001:db8:0::1];branch=z9hG4bKa", "2001:db8::1", "SIP/2.0/UDP [2001:db8:0::1];branch=z9hG4bKa"),
        (
            "SIP/2.0/UDP host.example;branch=z9hG4bKa;received=192.0.2.1",
            "2001:db8::1",
            "SIP/2.0/UDP host.example;branch=z9hG4bKa;received=192.0.2.1",
        ),
    ];
    for (via, src, want) in cases {
        let req = options_with_via(via);
        let m = SipMsg::parse(req.as_bytes()).unwrap();
        let opts = ReplyOpts {
            source: Some(Source { ip: src.parse().unwrap(), port: 40000, force_rport: false }),
            ..Default::default()
        };
        let out = local_reply(&m, 200, "OK", &opts).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains(&format!("\r\nVia: {want}\r\n")), "{via} from {src}:\n{text}");
    }
    // hostname sent-by from an IPv6 source: received in RFC 5952 text
    let m = SipMsg::parse(REQ).unwrap();
    let opts = ReplyOpts {
        source: Some(Source { ip: "2001:db8:0:0::7".parse().unwrap(), port: 5, force_rport: false }),
        ..Default::default()
    };
    let out = String::from_utf8(local_reply(&m, 200, "OK", &opts).unwrap()).unwrap();
    assert!(out.contains("branch=z9hG4bKabc;rport=5;received=2001:db8::7\r\n"), "{out}");
}

/// Record-Route is copied into 18x and 2xx local replies only, every
/// line in order (checked against Kamailio 5.6's sl: 100, 101..179, 3xx,
/// 4xx get none).
#[test]
fn local_reply_copies_record_route_for_18x_and_2xx() {
    let req = b"OPTIONS sip:x@y SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bKa\r\n\
Record-Route: <sip:10.1.1.1;lr>, <sip:10.2.2.2;lr>\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:x@y>\r\n\
Record-Route: <sip:10.3.3.3;lr>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n\r\n";
    let m = SipMsg::parse(req).unwrap();
    for code in [100u16, 101, 179, 180, 183, 200, 299, 300, 404, 500] {
        let out = local_reply(&m, code, "X", &ReplyOpts::default()).unwrap();
        let text = String::from_utf8(out).unwrap();
        let rr: Vec<&str> = text.lines().filter(|l| l.starts_with("Record-Route:")).collect();
        if (180..300).contains(&code) {
            assert_eq!(
                rr,
                ["Record-Route: <sip:10.1.1.1;lr>, <sip:10.2.2.2;lr>", "Record-Route: <sip:10.3.3.3;lr>"],
                "{code}"
            );
        } else {
            assert!(rr.is_empty(), "{code}: {text}");
        }
    }
}

/// The script's force_rport(): the top Via gets `rport=PORT` (and
/// `received` only when the sent-by is another address), at its end in a
/// local reply and right after the sent-by in a forwarded request — byte
/// for byte what Kamailio 5.6 writes.
#[test]
fn forced_rport_edits_as_kamailio() {
    let cases: [(&str, &str, &str); 3] = [
        (
            "127.0.0.1:5999;branch=z9hG4bKf1",
            "127.0.0.1:5999;branch=z9hG4bKf1;rport=40000",
            "127.0.0.1:5999;rport=40000;branch=z9hG4bKf1",
        ),
        (
            "10.7.7.7:5999;branch=z9hG4bKf2",
            "10.7.7.7:5999;branch=z9hG4bKf2;rport=40000;received=127.0.0.1",
            "10.7.7.7:5999;rport=40000;received=127.0.0.1;branch=z9hG4bKf2",
        ),
        // an rport the client asked for is filled in where it stands
        (
            "127.0.0.1:5999;branch=z9hG4bKf3;rport",
            "127.0.0.1:5999;branch=z9hG4bKf3;rport=40000;received=127.0.0.1",
            "127.0.0.1:5999;received=127.0.0.1;branch=z9hG4bKf3;rport=40000",
        ),
    ];
    for (via, in_reply, forwarded) in cases {
        let req = options_with_via(&format!("SIP/2.0/UDP {via}"));
        let m = SipMsg::parse(req.as_bytes()).unwrap();
        let src = Source { ip: "127.0.0.1".parse().unwrap(), port: 40000, force_rport: true };
        let reply = local_reply(&m, 200, "OK", &ReplyOpts { source: Some(src), ..Default::default() }).unwrap();
        let reply = String::from_utf8(reply).unwrap();
        assert!(reply.contains(&format!("\r\nVia: SIP/2.0/UDP {in_reply}\r\n")), "{via}:\n{reply}");
        let spec = ForwardRequest { source: Some(src), record_route: None, pop_route: false, new_ruri: None, ..spec() };
        let fwd = String::from_utf8(forward_request(&m, &spec, Lumps::new()).unwrap()).unwrap();
        assert!(fwd.contains(&format!("\r\nVia: SIP/2.0/UDP {forwarded}\r\n")), "{via}:\n{fwd}");
    }
}
