//! `save()`: a REGISTER's bindings into usrloc, and its reply.

use std::sync::atomic::Ordering;

use sipr_sdk::prelude::*;
use sipr_sdk::sip::{Contact, HeaderKind, NameAddr};
use sipr_sdk::usrloc_api::{UContact, Q_UNSPECIFIED};

use crate::{aor_of, ul, PARAMS};

/// save()'s flag bits (Kamailio's).
pub mod flag {
    /// Memory only (not written to the database).
    pub const MEMORY: i64 = 0x01;
    /// No reply is sent.
    pub const NO_REPLY: i64 = 0x02;
    /// The REGISTER's contacts replace every other binding of the AoR.
    pub const REPLACE: i64 = 0x04;
}

/// Why a REGISTER is refused: its reply, the P-Registrar-Error text
/// Kamailio adds, and what save() returns.
#[derive(Debug)]
struct Refusal {
    code: u16,
    reason: &'static str,
    extra: String,
    rc: i32,
}

impl Refusal {
    fn new(code: u16, reason: &'static str) -> Self {
        Refusal { code, reason, extra: String::new(), rc: -1 }
    }

    /// A refusal that says why in a P-Registrar-Error header.
    fn why(code: u16, reason: &'static str, why: &str) -> Self {
        Refusal { code, reason, extra: format!("P-Registrar-Error: {why}\r\n"), rc: -1 }
    }
}

/// A contact as the REGISTER gives it.
struct Given {
    uri: String,
    expires: i64,
    q: i32,
    instance: Option<String>,
    reg_id: u32,
    methods: Option<u32>,
}

/// `xavp_cfg`'s field `name` in the newest item of that xavp, as an
/// integer (Kamailio's runtime overrides of save: expires, q,
/// max_contacts).
fn xavp_cfg_int(ctx: &Ctx<'_>, name: &str) -> Option<i64> {
    let root = crate::XAVP_CFG.lock().ok()?;
    if root.is_empty() {
        return None;
    }
    let item = ctx.xavps.iter().rev().find(|x| x.name == root.as_bytes())?;
    let (_, v) = item.fields.iter().rev().find(|(f, _)| f == name.as_bytes())?;
    match v {
        sipr_sdk::Stored::Int(i) => Some(*i),
        sipr_sdk::Stored::Str(t) => std::str::from_utf8(t).ok()?.trim().parse().ok(),
        _ => None,
    }
}

/// `xavp_rcd`: the details of the REGISTER's first saved binding (ruid,
/// contact, expires, received, path — less what `xavp_rcd_mask` skips);
/// one item, as Kamailio leaves.
fn store_rcd(ctx: &mut Ctx<'_>, c: &UContact) {
    let root = match crate::XAVP_RCD.lock() {
        Ok(r) if !r.is_empty() => r.clone(),
        _ => return,
    };
    let mask = PARAMS.xavp_rcd_mask.load(Ordering::Relaxed);
    let text = |s: &str| sipr_sdk::Stored::Str(s.as_bytes().to_vec());
    let mut fields = Vec::new();
    if mask & 1 == 0 {
        fields.push((b"ruid".to_vec(), text(&c.ruid)));
    }
    if mask & 2 == 0 {
        fields.push((b"contact".to_vec(), text(&c.contact)));
    }
    if mask & 4 == 0 {
        // the registration's length, as Kamailio stores it
        let left = if c.expires == 0 { 0 } else { (c.expires - crate_now()).max(0) };
        fields.push((b"expires".to_vec(), sipr_sdk::Stored::Int(left)));
    }
    if mask & 8 == 0 {
        if let Some(r) = &c.received {
            fields.push((b"received".to_vec(), text(r)));
        }
    }
    if mask & 16 == 0 {
        if let Some(p) = &c.path {
            fields.push((b"path".to_vec(), text(p)));
        }
    }
    ctx.xavps.push(sipr_sdk::Xavp { name: root.into_bytes(), fields });
}

fn crate_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// A random part of `e` up to `percent` % of it (the `*expires_range`
/// parameters: registrations spread over time instead of expiring
/// together); 0 when the range is 0.
fn random_share(e: i64, percent: i64) -> i64 {
    use std::hash::{BuildHasher, Hasher};
    let most = e * percent.clamp(0, 100) / 100;
    if most <= 0 {
        return 0;
    }
    // RandomState is seeded from the OS per process and stepped per call
    let r = std::collections::hash_map::RandomState::new().build_hasher().finish();
    (r % (most as u64 + 1)) as i64
}

/// The expiry a contact asks for, bounded as the parameters say: seconds
/// from now (0: remove).
fn bounded_expires(asked: Option<u32>, header: Option<u32>) -> Result<i64, Refusal> {
    let (e, range) = match asked.or(header) {
        Some(e) => (i64::from(e), PARAMS.expires_range.get()),
        None => (PARAMS.default_expires.get(), PARAMS.default_expires_range.get()),
    };
    if e <= 0 {
        return Ok(0);
    }
    let e = e - random_share(e, range);
    let min = PARAMS.min_expires.get();
    let max = PARAMS.max_expires.get();
    if min > 0 && e < min {
        if PARAMS.min_expires_mode.load(Ordering::Relaxed) == 1 {
            let mut r = Refusal::new(423, "Interval Too Brief");
            r.extra = format!("Min-Expires: {min}\r\nP-Registrar-Error: Interval too brief\r\n");
            return Err(r);
        }
        return Ok(min);
    }
    if max > 0 && e > max {
        return Ok(max);
    }
    Ok(e)
}

/// The contacts of the REGISTER (`None`: `Contact: *`).
fn given_contacts(ctx: &Ctx<'_>) -> Result<Option<Vec<Given>>, Refusal> {
    let msg = ctx.msg;
    let buf = msg.buf();
    let header = msg.header_value(HeaderKind::Expires).map(|v| sipr_sdk::sip::parse_delta_seconds(v).unwrap_or(0));
    let cfg_expires = xavp_cfg_int(ctx, "expires").and_then(|e| u32::try_from(e).ok());
    let cfg_q = xavp_cfg_int(ctx, "q").and_then(|q| i32::try_from(q).ok()).filter(|q| (0..=1000).contains(q));
    let mut star = false;
    let mut out = Vec::new();
    for h in msg.headers().iter().filter(|h| h.kind == HeaderKind::Contact) {
        match Contact::parse(buf, h.value) {
            Ok(Contact::Star) => star = true,
            Ok(Contact::List(list)) => {
                for na in list {
                    let mut g = given(buf, &na, header, cfg_expires)?;
                    if let Some(q) = cfg_q {
                        g.q = q;
                    }
                    out.push(g);
                }
            }
            Err(_) => return Err(Refusal::why(400, "Bad Request", "Error while parsing Contact")),
        }
    }
    if star {
        if !out.is_empty() {
            return Err(Refusal::why(400, "Bad Request", "* used in contact and more than 1 contact"));
        }
        if header != Some(0) {
            return Err(Refusal::why(400, "Bad Request", "* used in contact and expires is not zero"));
        }
        return Ok(None);
    }
    Ok(Some(out))
}

fn given(buf: &[u8], na: &NameAddr, header: Option<u32>, cfg_expires: Option<u32>) -> Result<Given, Refusal> {
    // xavp_cfg's expires takes the place of what the headers say
    let expires = match cfg_expires {
        Some(e) => bounded_expires(Some(e), None)?,
        None => bounded_expires(na.expires(buf), header)?,
    };
    let default_q = PARAMS.default_q.get() as i32;
    let q = na.q(buf).map_or(default_q, i32::from);
    let methods = na.param(buf, "methods").map(|m| {
        let m = String::from_utf8_lossy(m);
        m.trim_matches('"').split(',').map(|t| sipr_sdk::sip::method_id(t.trim().as_bytes())).fold(0, |a, b| a | b)
    });
    Ok(Given {
        uri: String::from_utf8_lossy(na.uri_span.get(buf)).into_owned(),
        expires,
        q: if q < 0 { Q_UNSPECIFIED } else { q },
        // kept as Kamailio keeps it: `<urn:...>`, without the quotes
        instance: na.instance(buf).map(|i| String::from_utf8_lossy(i).trim_matches('"').to_string()),
        reg_id: na.reg_id(buf).unwrap_or(0),
        methods,
    })
}

/// The 200's Contact header: every binding with its remaining expires;
/// with `gruu` (the UA supports it and gruu_enabled), the pub-gruu and
/// temp-gruu of each binding that has an instance (RFC 5627 §6: `aor` is
/// the registered `user@host`, `hash` what finds the record again).
fn contact_header(contacts: &[UContact], now: i64, gruu: Option<(&str, u32)>) -> String {
    use sipr_sdk::sip::emit::{push_decimal_str, push_signed_str};
    if contacts.is_empty() {
        return String::new();
    }
    let mut h = String::with_capacity(64 + contacts.len() * 96);
    h.push_str("Contact: ");
    for (i, c) in contacts.iter().enumerate() {
        if i > 0 {
            h.push_str(", ");
        }
        h.push('<');
        h.push_str(&c.contact);
        h.push('>');
        if c.q != Q_UNSPECIFIED {
            h.push_str(";q=");
            h.push_str(&q_text(c.q));
        }
        let left = if c.expires == 0 { 0 } else { (c.expires - now).max(0) };
        h.push_str(";expires=");
        push_signed_str(&mut h, left);
        if let Some(r) = &c.received {
            h.push_str(";received=\"");
            h.push_str(r);
            h.push('"');
        }
        if let Some(inst) = &c.instance {
            if let Some((aor, hash)) = gruu {
                let host = aor.rsplit_once('@').map_or(aor, |(_, host)| host);
                h.push_str(";pub-gruu=\"sip:");
                h.push_str(aor);
                h.push_str(";gr=");
                h.push_str(instance_id(inst));
                h.push_str("\";temp-gruu=\"sip:");
                h.push_str(&temp_gruu(&c.ruid, hash));
                h.push('@');
                h.push_str(host);
                h.push_str(";gr\"");
            }
            h.push_str(";+sip.instance=\"");
            h.push_str(inst);
            h.push('"');
        }
        if c.reg_id > 0 {
            h.push_str(";reg-id=");
            push_decimal_str(&mut h, u64::from(c.reg_id));
        }
    }
    h.push_str("\r\n");
    h
}

/// An instance as a `gr` value: `"<urn:uuid:...>"` → `urn:uuid:...`.
pub fn instance_id(instance: &str) -> &str {
    instance.trim_matches('"').trim_start_matches('<').trim_end_matches('>')
}

/// A temp-gruu's user part: the binding's ruid and its record's hash
/// (hex), so that lookup finds the binding without the AoR showing.
pub fn temp_gruu(ruid: &str, hash: u32) -> String {
    format!("{ruid}-{hash:x}")
}

/// The (ruid, hash) a temp-gruu's user part carries.
pub fn parse_temp_gruu(user: &str) -> Option<(String, u32)> {
    let (ruid, hash) = user.rsplit_once('-')?;
    Some((ruid.to_string(), u32::from_str_radix(hash, 16).ok()?))
}

/// Whether the UA lists `tag` in Supported.
fn supports(ctx: &Ctx<'_>, tag: &[u8]) -> bool {
    let buf = ctx.msg.buf();
    ctx.msg
        .headers()
        .iter()
        .filter(|h| h.kind == HeaderKind::Supported)
        .any(|h| h.value.get(buf).split(|c| *c == b',').any(|t| t.trim_ascii().eq_ignore_ascii_case(tag)))
}

/// q × 1000 as a SIP q value (`0.5`, `1`).
fn q_text(q: i32) -> String {
    if q >= 1000 {
        return "1".into();
    }
    let s = format!("0.{q:03}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The REGISTER's Path header values, comma-joined (with `use_path`).
fn request_path(ctx: &Ctx<'_>) -> Option<String> {
    if !PARAMS.use_path.load(Ordering::Relaxed) {
        return None;
    }
    let buf = ctx.msg.buf();
    let values: Vec<String> = ctx
        .msg
        .headers()
        .iter()
        .filter(|h| h.kind == HeaderKind::Path)
        .map(|h| String::from_utf8_lossy(h.value.get(buf)).into_owned())
        .collect();
    (!values.is_empty()).then(|| values.join(","))
}

/// Whether the UA lists `path` in Supported (RFC 3327 §5).
fn supports_path(ctx: &Ctx<'_>) -> bool {
    supports(ctx, b"path")
}

/// `save(domain, flags, uri)`.
pub fn save(ctx: &mut Ctx<'_>, domain: &str, flags: i64, uri: Option<Vec<u8>>) -> FnResult {
    match save_inner(ctx, domain, flags, uri) {
        Ok((rc, contacts, registered)) => {
            let rc = rc as i32;
            if flags & flag::NO_REPLY == 0 {
                let now = crate_now();
                let gruu = (PARAMS.gruu_enabled.load(Ordering::Relaxed) && supports(ctx, b"gruu"))
                    .then(|| ul().map(|ul| ((ul.aor_hash)(&registered.1), user_host(&registered.0))))
                    .and_then(Result::ok);
                let gruu = gruu.as_ref().map(|(hash, uh)| (uh.as_str(), *hash));
                ctx.reply_headers.extend_from_slice(contact_header(&contacts, now, gruu).as_bytes());
                // the Path goes back as path_mode says (1: when supported;
                // 2, strict: a Path the UA does not support is answered
                // 420 — after the bindings were saved, as Kamailio does)
                let mut code = (200, "OK");
                if let Some(p) = request_path(ctx) {
                    let mode = PARAMS.path_mode.load(Ordering::Relaxed);
                    let supported = supports_path(ctx);
                    if mode == 2 && !supported {
                        code = (420, "Bad Extension");
                        ctx.reply_headers.extend_from_slice(b"Unsupported: path\r\n");
                    }
                    if mode == 2 || (mode == 1 && supported) {
                        ctx.reply_headers.extend_from_slice(format!("Path: {p}\r\n").as_bytes());
                    }
                    if code.0 == 420 {
                        ctx.reply_headers
                            .extend_from_slice(b"P-Registrar-Error: No support for found Path indicated\r\n");
                    }
                }
                sipr_sdk::reply::send_auto(ctx, code.0, code.1)?;
            }
            if let Some(c) = crate::ACCEPTED.get() {
                c.fetch_add(1, Ordering::Relaxed);
            }
            Ok(rc)
        }
        Err(r) => {
            if let Some(c) = crate::REJECTED.get() {
                c.fetch_add(1, Ordering::Relaxed);
            }
            if flags & flag::NO_REPLY == 0 {
                ctx.reply_headers.extend_from_slice(r.extra.as_bytes());
                sipr_sdk::reply::send_auto(ctx, r.code, r.reason)?;
            }
            Ok(r.rc)
        }
    }
}

/// What save did: its code, the bindings after it, and the registered
/// URI with the record's AoR.
type Saved = (i64, Vec<UContact>, (Vec<u8>, String));

/// The receiving socket as usrloc keeps it (`udp:127.0.0.1:5060`): made
/// once per socket in a process (a worker serves a few).
fn socket_text(ctx: &Ctx<'_>) -> String {
    thread_local! {
        static LAST: std::cell::RefCell<Option<(sipr_sdk::net::Proto, std::net::SocketAddr, String)>> =
            const { std::cell::RefCell::new(None) };
    }
    let (proto, addr) = (ctx.rcv.proto, ctx.rcv.dst);
    LAST.with(|l| {
        let mut l = l.borrow_mut();
        match &*l {
            Some((p, a, text)) if *p == proto && *a == addr => text.clone(),
            _ => {
                let text = sipr_sdk::net::socket_text(proto, addr);
                *l = Some((proto, addr, text.clone()));
                text
            }
        }
    })
}

/// `user@host` of a URI (a pub-gruu's AoR).
fn user_host(uri: &[u8]) -> String {
    match sipr_sdk::sip::Uri::parse(uri, sipr_sdk::sip::Span::from_range(0, uri.len())) {
        Ok(u) => {
            let host = String::from_utf8_lossy(u.host.get(uri));
            match u.user {
                Some(user) => format!("{}@{host}", String::from_utf8_lossy(user.get(uri))),
                None => host.into_owned(),
            }
        }
        Err(_) => String::new(),
    }
}

fn save_inner(ctx: &mut Ctx<'_>, domain: &str, flags: i64, uri: Option<Vec<u8>>) -> Result<Saved, Refusal> {
    let to_uri = match uri {
        Some(u) => u,
        None => {
            let to = ctx.msg.to().map_err(|_| Refusal::new(400, "Bad Request"))?;
            to.uri_span.get(ctx.msg.buf()).to_vec()
        }
    };
    let aor = aor_of(&to_uri).map_err(|_| Refusal::new(400, "Bad Request"))?;
    let given = given_contacts(ctx)?;
    let ul = ul().map_err(|_| Refusal::new(500, "Server Internal Error"))?;
    let now = crate_now();
    let callid =
        ctx.msg.header_value(HeaderKind::CallId).map(|v| String::from_utf8_lossy(v).into_owned()).unwrap_or_default();
    let cseq = ctx.msg.cseq().map(|c| c.seq).unwrap_or(0);
    let user_agent = ctx
        .msg
        .header_value(HeaderKind::UserAgent)
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_default();
    let socket = Some(socket_text(ctx));
    let bflags = ctx.bflags;
    let path = request_path(ctx);
    // received_avp: where the REGISTER really came from (nathelper's
    // fix_nated_register, or the script), kept with the binding
    let received = match u32::try_from(crate::RECEIVED_AVP_ID.load(Ordering::Relaxed)) {
        Ok(id) => match ctx.avp(id, 0) {
            Some(sipr_sdk::Stored::Str(r)) if !r.is_empty() => Some(String::from_utf8_lossy(r).into_owned()),
            _ => None,
        },
        Err(_) => None,
    };
    let max = xavp_cfg_int(ctx, "max_contacts").unwrap_or(PARAMS.max_contacts.get());
    let mut refused: Option<Refusal> = None;
    let mut rc: i64 = 1;
    let (mut added, mut updated, mut removed) = (0, 0, 0);
    let matching = (ul.matching_mode)();
    let time_order = (ul.desc_time_order)();
    // the bindings this REGISTER added or refreshed, in its order (xavp_rcd)
    let mut touched: Vec<String> = Vec::new();
    let result = (ul.update)(domain, &aor, &mut |cs: &mut Vec<UContact>| {
        let Some(given) = &given else {
            // Contact: * — every binding goes
            cs.clear();
            rc = 3;
            return Ok(());
        };
        if given.is_empty() {
            // a query
            rc = 4;
            return Ok(());
        }
        let mut next: Vec<UContact> = if flags & flag::REPLACE != 0 { Vec::new() } else { cs.clone() };
        // Kamailio walks a REGISTER's contacts last to first (measured: of
        // two new ones of equal q, the later in the header is listed first)
        for g in given.iter().rev() {
            // a binding with an instance is the same binding when the
            // instance (and reg-id) is (RFC 5626 §6, RFC 5627 §6: a UA that
            // changed address replaces its old one)
            let at = match &g.instance {
                Some(inst) => next.iter().position(|c| c.instance.as_ref() == Some(inst) && c.reg_id == g.reg_id),
                None => next.iter().position(|c| match matching {
                    1 => c.contact == g.uri && c.callid == callid,
                    // no Path: as mode 0
                    2 => c.contact == g.uri && (path.is_none() || c.path == path),
                    3 => c.callid == callid,
                    _ => c.contact == g.uri,
                }),
            };
            if let Some(i) = at {
                // an older REGISTER of the same Call-ID is refused
                if next[i].callid == callid && cseq < next[i].cseq {
                    // the reply lists the bindings as they stay
                    let mut r = Refusal::why(400, "Bad Request", "Invalid CSeq number");
                    let live: Vec<UContact> = cs.iter().filter(|c| !c.expired(now)).cloned().collect();
                    r.extra = format!("{}{}", contact_header(&live, now, None), r.extra);
                    refused = Some(r);
                    return Ok(());
                }
                if g.expires == 0 {
                    next.remove(i);
                    removed += 1;
                    continue;
                }
                updated += 1;
                let c = &mut next[i];
                touched.push(c.ruid.clone());
                c.contact = g.uri.clone();
                c.expires = now + g.expires;
                c.q = g.q;
                c.callid = callid.clone();
                c.cseq = cseq;
                c.user_agent = user_agent.clone();
                c.socket = socket.clone();
                c.cflags = bflags;
                c.methods = g.methods;
                c.instance = g.instance.clone();
                c.reg_id = g.reg_id;
                c.path = path.clone();
                c.received = received.clone();
                c.last_modified = now;
                if time_order {
                    // newest first: a refreshed binding moves to the front
                    let c = next.remove(i);
                    next.insert(0, c);
                }
            } else if g.expires > 0 {
                // after every binding of a q as high (Kamailio's order; an
                // unspecified q ranks lowest)
                let at = if time_order { 0 } else { next.iter().position(|c| c.q < g.q).unwrap_or(next.len()) };
                added += 1;
                let ruid = (ul.new_ruid)();
                touched.push(ruid.clone());
                next.insert(
                    at,
                    UContact {
                        ruid,
                        contact: g.uri.clone(),
                        expires: now + g.expires,
                        q: g.q,
                        callid: callid.clone(),
                        cseq,
                        cflags: bflags,
                        user_agent: user_agent.clone(),
                        socket: socket.clone(),
                        methods: g.methods,
                        instance: g.instance.clone(),
                        reg_id: g.reg_id,
                        path: path.clone(),
                        received: received.clone(),
                        connection_id: -1,
                        last_modified: now,
                        ..UContact::default()
                    },
                );
            }
        }
        let live = next.iter().filter(|c| !c.expired(now)).count() as i64;
        if max > 0 && live > max {
            let mut r = Refusal::why(503, "Service Unavailable", "Too many registered contacts");
            // Kamailio's save() says -2 for this one
            r.rc = -2;
            let ra = PARAMS.retry_after.get();
            if ra > 0 {
                r.extra.push_str(&format!("Retry-After: {ra}\r\n"));
            }
            refused = Some(r);
            return Ok(());
        }
        *cs = next;
        // Kamailio's codes: 1 a binding added, 2 refreshed, 3 removed
        rc = if added > 0 {
            1
        } else if updated > 0 {
            2
        } else if removed > 0 {
            3
        } else {
            1
        };
        Ok(())
    });
    if let Some(r) = refused {
        return Err(r);
    }
    match result {
        Ok(after) => {
            let _ = flags & flag::MEMORY;
            // the last one saved: the first in the header
            if let Some(c) = touched.last().and_then(|ruid| after.iter().find(|c| &c.ruid == ruid)) {
                store_rcd(ctx, c);
            }
            Ok((rc, after, (to_uri, aor)))
        }
        Err(e) => {
            log::error!("registrar: save of {aor}: {e}");
            Err(Refusal::new(500, "Server Internal Error"))
        }
    }
}
