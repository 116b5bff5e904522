//! The message layer's first stage: first line, header boundaries, body,
//! stream framing — on hand-written messages and on the RFC 4475 torture
//! messages and fuzz seeds in ../shared/conformance.

use std::path::PathBuf;

use sipr_core::sip::{frame_stream, FirstLine, Frame, HeaderKind, Method, ParseErrorKind, SipMsg};

const INVITE: &[u8] = b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\r\n\
v: SIP/2.0/TCP proxy.example.com;branch=z9hG4bK1\r\n\
Max-Forwards: 70\r\n\
To: Bob <sip:bob@biloxi.example.com>\r\n\
From: Alice\r\n <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
i: a84b4c76e66710@pc33.atlanta.example.com\r\n\
CSeq: 314159 INVITE\r\n\
X-Custom  :   spaced value   \r\n\
Content-Type: application/sdp\r\n\
l: 4\r\n\
\r\n\
v=0\r\nextra";

#[test]
fn request_line_headers_and_body() {
    let m = SipMsg::parse(INVITE).unwrap();
    assert!(m.is_request());
    assert_eq!(m.method(), Some(Method::Invite));
    assert_eq!(m.request_uri(), Some(&b"sip:bob@biloxi.example.com"[..]));
    assert_eq!(m.headers().len(), 10);
    assert_eq!(m.headers_named(b"Via").count(), 2, "full and compact Via");
    assert_eq!(m.header_value(HeaderKind::CallId), Some(&b"a84b4c76e66710@pc33.atlanta.example.com"[..]));
    // Folded value: continuation stays inside, surrounding space trimmed.
    assert_eq!(
        m.header_value(HeaderKind::From),
        Some(&b"Alice\r\n <sip:alice@atlanta.example.com>;tag=1928301774"[..])
    );
    let custom = m.headers_named(b"x-custom").next().unwrap();
    assert_eq!(custom.value.get(m.buf()), b"spaced value");
    assert_eq!(custom.kind, HeaderKind::Other);
    // Content-Length 4: the datagram's extra bytes are not body.
    assert_eq!(m.content_length(), Some(4));
    assert_eq!(m.body(), b"v=0\r");
}

#[test]
fn status_line() {
    let m = SipMsg::parse(b"SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nContent-Length: 0\r\n\r\n")
        .unwrap();
    assert_eq!(m.status(), Some(180));
    match m.first_line() {
        FirstLine::Reply { reason, .. } => assert_eq!(reason.get(m.buf()), b"Ringing"),
        other => panic!("{other:?}"),
    }
    assert_eq!(m.body(), b"");
}

#[test]
fn errors_say_what_and_which_reply() {
    let e = SipMsg::parse(b"INVITE sip:a@b SIP/7.0\r\n\r\n").unwrap_err();
    assert_eq!((e.kind, e.reply_code()), (ParseErrorKind::UnsupportedVersion, 505));
    let e = SipMsg::parse(b"INVITE sip:a@b SIP/2.0\r\nVia SIP/2.0/UDP h\r\n\r\n").unwrap_err();
    assert_eq!((e.kind, e.header.as_deref()), (ParseErrorKind::MissingColon, Some("Via")));
    // a name with a non-token byte in it, even one a case-blind compare
    // would take for a known name's '-', is no header name
    let e = SipMsg::parse(b"INVITE sip:a@b SIP/2.0\r\nCall\rID: x\r\n\r\n").unwrap_err();
    assert_eq!((e.kind, e.header.as_deref(), e.offset), (ParseErrorKind::MissingColon, Some("Call"), 28));
    let e = SipMsg::parse(b"INVITE sip:a@b SIP/2.0\r\nX Y: x\r\n\r\n").unwrap_err();
    assert_eq!((e.kind, e.header.as_deref()), (ParseErrorKind::MissingColon, Some("X")));
    let e = SipMsg::parse(b"INVITE sip:a@b SIP/2.0\r\n: x\r\n\r\n").unwrap_err();
    assert_eq!(e.kind, ParseErrorKind::BadHeaderName);
    let m = SipMsg::parse(b"INVITE sip:a@b SIP/2.0\r\nX-Odd_Name.1 \t: v\r\ncALL-iD \t:c\r\n\r\n").unwrap();
    assert_eq!(m.headers()[0].name.get(m.buf()), b"X-Odd_Name.1");
    assert_eq!((m.headers()[1].kind, m.headers()[1].value.get(m.buf())), (HeaderKind::CallId, &b"c"[..]));
    let e = SipMsg::parse(b"INVITE sip:a@b SIP/2.0\r\nContent-Length: 10\r\n\r\nabc").unwrap_err();
    assert_eq!((e.kind, e.reply_code()), (ParseErrorKind::BodyTruncated, 400));
    let e = SipMsg::parse(b"INVITE sip:a@b SIP/2.0\r\nl: 1\r\nContent-Length: 2\r\n\r\nab").unwrap_err();
    assert_eq!(e.kind, ParseErrorKind::BadContentLength);
    let e = SipMsg::parse(b"INVITE sip:a@b SIP/2.0\r\nContent-Length: -1\r\n\r\n").unwrap_err();
    assert_eq!(e.kind, ParseErrorKind::BadContentLength);
    assert_eq!(SipMsg::parse(b"\r\n\r\n").unwrap_err().kind, ParseErrorKind::Empty);
    assert_eq!(
        SipMsg::parse(b"INVITE sip:a@b SIP/2.0\r\nTo: x\r\n").unwrap_err().kind,
        ParseErrorKind::UnterminatedHeaders
    );
    assert_eq!(SipMsg::parse(b"SIP/2.0 99 Low\r\n\r\n").unwrap_err().kind, ParseErrorKind::BadStatusCode);
    assert_eq!(SipMsg::parse(b"IN VITE\r\n\r\n").unwrap_err().kind, ParseErrorKind::BadRequestUri);
    assert_eq!(SipMsg::parse(&vec![b'a'; 70_000]).unwrap_err().reply_code(), 513);
    let e = SipMsg::parse(b"OPTIONS sip:a@b SIP/2.0\r\n: novalue\r\n\r\n").unwrap_err();
    assert!(e.to_string().contains("Bad Header Name"), "{e}");
}

/// The Request-URI and Call-ID byte checks (folded so they vectorise):
/// a control byte, space or DEL anywhere — past the first vector step
/// too — is refused; anything else passes.
#[test]
fn request_uri_and_call_id_refuse_control_bytes() {
    let long = "x".repeat(70);
    for bad in [b'\0', b'\x01', b'\x7f', b' '] {
        for at in [0, 33, 69] {
            let mut user = long.clone().into_bytes();
            user[at] = bad;
            let mut req = b"OPTIONS sip:".to_vec();
            req.extend_from_slice(&user);
            req.extend_from_slice(b"@h SIP/2.0\r\n\r\n");
            let e = SipMsg::parse(&req).unwrap_err();
            assert_eq!((e.kind, e.reply_code()), (ParseErrorKind::BadRequestUri, 400), "byte {bad:#x} at {at}");
            if bad == b' ' && at != 33 {
                continue; // a header value's edges are trimmed of blanks
            }
            let mut req = b"OPTIONS sip:a@h SIP/2.0\r\nCall-ID: ".to_vec();
            req.extend_from_slice(&user);
            req.extend_from_slice(b"\r\n\r\n");
            let m = SipMsg::parse(&req).unwrap();
            let e = m.call_id().unwrap_err();
            assert_eq!(e.header.as_deref(), Some("Call-ID"), "byte {bad:#x} at {at}");
        }
    }
    let req = format!("OPTIONS sip:{long}@h SIP/2.0\r\nCall-ID: {long}@h\r\n\r\n");
    let m = SipMsg::parse(req.as_bytes()).unwrap();
    assert_eq!(m.call_id().unwrap(), format!("{long}@h").as_bytes());
    // an unset header slot reads as an unknown header
    assert_eq!(HeaderKind::default(), HeaderKind::Other);
}

#[test]
fn stream_framing_handles_splits_batches_and_keepalives() {
    let one = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 5\r\n\r\nhello";
    let mut stream = Vec::new();
    stream.extend_from_slice(b"\r\n\r\n");
    stream.extend_from_slice(one);
    stream.extend_from_slice(b"\r\n");
    stream.extend_from_slice(one);
    // Feed it byte by byte: every prefix either frames or asks for more.
    let mut got = Vec::new();
    let mut buf: Vec<u8> = Vec::new();
    for &b in &stream {
        buf.push(b);
        loop {
            match frame_stream(&buf) {
                Frame::Incomplete => break,
                Frame::KeepAlive { len, ping } => {
                    got.push(if ping { "ping" } else { "pong" }.to_string());
                    buf.drain(..len);
                }
                Frame::Message { len } => {
                    let m = SipMsg::parse(&buf[..len]).unwrap();
                    got.push(String::from_utf8_lossy(m.body()).into_owned());
                    buf.drain(..len);
                }
                Frame::Invalid(e) => panic!("{e}"),
            }
            if buf.is_empty() {
                break;
            }
        }
    }
    assert_eq!(got, ["ping", "hello", "pong", "hello"]);
    assert!(buf.is_empty());
    // Whole stream at once: the first frame is the ping, then a message.
    assert_eq!(frame_stream(&stream), Frame::KeepAlive { len: 4, ping: true });
    assert_eq!(frame_stream(&stream[4..]), Frame::Message { len: one.len() });
    // No Content-Length on a stream is an error (RFC 3261 §18.3).
    let e = frame_stream(b"OPTIONS sip:a@b SIP/2.0\r\nTo: x\r\n\r\n");
    assert!(matches!(e, Frame::Invalid(ref e) if e.kind == ParseErrorKind::MissingContentLength), "{e:?}");
}

/// `../shared/conformance` beside the repository (where CI puts it), or
/// `$SIPR_SHARED_DIR/conformance`.
fn conformance_dir() -> PathBuf {
    let shared = std::env::var_os("SIPR_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared"));
    shared.join("conformance")
}

/// The conformance folder; a missing one fails the test (make test and CI
/// run with shared/ beside the repository, so its absence is an error).
fn conformance() -> Option<PathBuf> {
    let dir = conformance_dir();
    if dir.join("rfc4475").is_dir() {
        Some(dir)
    } else {
        panic!("{} not found: put shared/ beside the repository or set SIPR_SHARED_DIR", dir.display());
    }
}

fn shared(dir: &str) -> Vec<PathBuf> {
    let root = conformance_dir().join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| {
            panic!("{}: {e} (shared/ must sit beside the repository, or set SIPR_SHARED_DIR)", root.display())
        })
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "dat" || x == "sip"))
        .collect();
    files.sort();
    files
}

#[test]
fn torture_and_fuzz_inputs_never_panic_and_framing_agrees() {
    if conformance().is_none() {
        return;
    }
    let mut files = shared("rfc4475");
    assert_eq!(files.len(), 50, "the 50 RFC 4475 messages");
    for sub in ["fuzz-seeds/kamailio-test-sip", "fuzz-seeds/pjproject-fuzz-sip", "fuzz-seeds/protos-c07-sip"] {
        files.extend(shared(sub));
    }
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        // Every prefix and the whole: no panic, whatever the verdict.
        for cut in (0..bytes.len()).step_by(7).chain([bytes.len()]) {
            let _ = SipMsg::parse(&bytes[..cut]);
            let _ = frame_stream(&bytes[..cut]);
        }
    }
}

#[test]
fn torture_messages_first_verdicts() {
    let Some(dir) = conformance() else { return };
    let dir = dir.join("rfc4475");
    let read = |n: &str| std::fs::read(dir.join(n)).unwrap();
    // 3.3.7 badvers: SIP/7.0 must be answered 505.
    assert_eq!(SipMsg::parse(&read("badvers.dat")).unwrap_err().reply_code(), 505);
    // 3.1.1.1 wsinv: heavy whitespace and folding, valid.
    let ws = read("wsinv.dat");
    let m = SipMsg::parse(&ws).unwrap();
    assert_eq!(m.method(), Some(Method::Invite));
    // 3.1.1.2 intmeth: an extension method made of odd token chars, valid.
    let im = read("intmeth.dat");
    let m = SipMsg::parse(&im).unwrap();
    assert_eq!(m.method(), Some(Method::Other));
    // 3.1.2.? clerr: Content-Length beyond the datagram.
    assert_eq!(SipMsg::parse(&read("clerr.dat")).unwrap_err().kind, ParseErrorKind::BodyTruncated);
}

/// What the message layer decides for a datagram: `Ok` (the message goes
/// on to the script), or the status of the reply it gets. For REGISTER the
/// Contact parse that the registrar does is included (regbadct).
fn verdict(bytes: &[u8]) -> Result<(), u16> {
    let m = SipMsg::parse(bytes).map_err(|e| e.reply_code())?;
    m.validate_basic().map_err(|e| e.reply_code())?;
    if m.method() == Some(Method::Register) {
        m.contact().map_err(|e| e.reply_code())?;
    }
    Ok(())
}

#[test]
fn rfc4475_manifest_verdicts_of_the_message_layer() {
    let Some(dir) = conformance() else { return };
    let dir = dir.join("rfc4475");
    let manifest = std::fs::read_to_string(dir.join("manifest.tsv")).unwrap();
    let mut checked = 0;
    let mut wrong = Vec::new();
    for line in manifest.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (name, file, kind, accept_udp) = (cols[0], cols[1], cols[4], cols[6]);
        let v = verdict(&std::fs::read(dir.join(file)).unwrap());
        let ok = match (kind, accept_udp) {
            // Responses are never answered: whatever the layer says is fine
            // as long as it does not crash.
            ("response", _) => true,
            (_, "any" | "400|not400" | "drop|4xx") => true,
            (_, "not400|noresp") => v.is_ok(),
            (_, "400") => v == Err(400),
            (_, "505|400") => matches!(v, Err(505 | 400)),
            (_, "501|400") => matches!(v, Ok(()) | Err(400)),
            // 416, 420, 4xx, 416|404: the message must reach the checks
            // that produce those (sanity, registrar), so it must parse.
            _ => v.is_ok(),
        };
        checked += 1;
        if !ok {
            wrong.push(format!("{name}: expected {accept_udp}, got {v:?}"));
        }
    }
    assert_eq!(checked, 50);
    assert!(wrong.is_empty(), "{} of 50 wrong:\n{}", wrong.len(), wrong.join("\n"));
}

#[test]
fn headers_are_parsed_lazily_and_cached() {
    // A broken Contact does not stop the Request-URI and Via from being
    // used: nothing parses Contact until asked.
    let b = b"INVITE sip:bob@b.example SIP/2.0\r\nVia: SIP/2.0/UDP a.example;branch=z9hG4bK1\r\nContact: <sip:broken\r\nFrom: <sip:a@a.example>;tag=1\r\nTo: <sip:bob@b.example>\r\nCall-ID: x@y\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
    let m = SipMsg::parse(b).unwrap();
    assert_eq!(m.ruri().unwrap().host.get(b), b"b.example");
    assert_eq!(m.via1().unwrap().branch(b), Some(&b"z9hG4bK1"[..]));
    assert!(std::ptr::eq(m.via1().unwrap(), m.via1().unwrap()), "second call returns the cached value");
    let e = m.contact().unwrap_err();
    assert_eq!(e.header.as_deref(), Some("Contact"));
    assert!(e.reason().contains("Malformed Contact"), "{}", e.reason());
    assert!(m.validate_basic().is_ok(), "Contact is not part of the basic checks");
}

/// Deterministic mutations of every seed (our own corpus in core/fuzz/seeds
/// and, when present, the 50 torture messages and the 101 shared fuzz
/// seeds) through the whole message layer: no panic, and whatever
/// the builders produce parses again. The coverage-guided fuzz target
/// (core/fuzz) runs the same `exercise` function.
#[test]
fn mutated_seeds_never_panic() {
    // Our own seeds always; the shared ones when present.
    let own = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
    let mut seeds: Vec<PathBuf> = std::fs::read_dir(&own).unwrap().flatten().map(|e| e.path()).collect();
    assert!(seeds.len() >= 10, "own seed corpus in {}", own.display());
    if conformance().is_some() {
        seeds.extend(shared("rfc4475"));
    } else {
        eprintln!("mutating only the {} own seeds", seeds.len());
    }
    for sub in ["fuzz-seeds/kamailio-test-sip", "fuzz-seeds/pjproject-fuzz-sip", "fuzz-seeds/protos-c07-sip"] {
        if conformance().is_some() {
            seeds.extend(shared(sub));
        }
    }
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    const INTERESTING: &[&[u8]] = &[
        b"\r\n",
        b",",
        b";",
        b"<",
        b">",
        b"\"",
        b"%",
        b":",
        b" ",
        b"\0",
        b"\xff",
        b"@",
        b"[",
        b"]",
        b"=",
        b"SIP/2.0",
        b"Via: SIP/2.0/UDP h",
        b"Content-Length: 99999",
        b"l: 1\r\n",
    ];
    let mut runs = 0;
    for f in &seeds {
        let seed = std::fs::read(f).unwrap();
        sipr_core::sip::exercise(&seed);
        for _ in 0..500 {
            let mut m = seed.clone();
            for _ in 0..1 + rnd() % 4 {
                let pos = if m.is_empty() { 0 } else { (rnd() as usize) % m.len() };
                match rnd() % 5 {
                    0 if !m.is_empty() => m[pos] ^= 1 << (rnd() % 8),
                    1 => {
                        let ins = INTERESTING[(rnd() as usize) % INTERESTING.len()];
                        m.splice(pos..pos, ins.iter().copied());
                    }
                    2 if !m.is_empty() => {
                        let n = (1 + rnd() as usize % 16).min(m.len() - pos);
                        m.drain(pos..pos + n);
                    }
                    3 => m.truncate(pos),
                    _ => {
                        // Duplicate a line: repeated headers.
                        let line_start = m[..pos].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
                        let line_end = m[pos..].iter().position(|&b| b == b'\n').map_or(m.len(), |i| pos + i + 1);
                        let line = m[line_start..line_end].to_vec();
                        m.splice(line_end..line_end, line);
                    }
                }
            }
            sipr_core::sip::exercise(&m);
            runs += 1;
        }
    }
    assert!(runs >= seeds.len() * 500, "{runs} mutants");
}
