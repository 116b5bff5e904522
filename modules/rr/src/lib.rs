//! rr: Kamailio's Record-Route module. `record_route()` and its variants
//! put this proxy in the route set of a dialog (RFC 3261 §16.6 step 4);
//! `loose_route()` routes the requests inside it by their Route headers
//! (§16.4, §16.12), removing our own entries; `is_direction()`,
//! `check_route_param()` and `$route_uri` read what those entries carried.
//!
//! The Record-Route header is a lump marked as rr's, so that
//! `add_rr_param()` after `record_route()` rebuilds it and
//! `remove_record_route()` takes it back.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use sipr_sdk::prelude::*;
use sipr_sdk::sip::{HeaderKind, NameAddr, SipMsg};
use sipr_sdk::{ModValue, Names, Param, PvArg, PvRef, PvRegistry, RouteMask};

/// rr's mark on its lumps.
const RR_TAG: u32 = 0x7272_0001;

/// Per-message keys.
mod key {
    /// The Record-Route addresses: one, or two separated by a space
    /// (double record-routing, `record_route_preset(a, b)`).
    pub const ADDR: &str = "rr.addr";
    /// `record_route(params)`'s own parameters.
    pub const OWN: &str = "rr.own";
    /// Parameters `add_rr_param` added, in order.
    pub const PARAMS: &str = "rr.params";
    /// The address was given (preset, advertised): Kamailio writes the
    /// From tag before `;lr` in that form.
    pub const PRESET: &str = "rr.preset";
    /// The parameters of our Route entry that loose_route() removed.
    pub const LOCAL: &str = "rr.local";
    /// loose_route() took the next hop from a Route header.
    pub const NEXT_FROM_ROUTE: &str = "rr.next";
}

static APPEND_FROMTAG: AtomicBool = AtomicBool::new(true);
static FULL_LR: AtomicBool = AtomicBool::new(false);
static DOUBLE_RR: AtomicU8 = AtomicU8::new(1);
static ADD_USERNAME: AtomicBool = AtomicBool::new(false);
static IGNORE_SIPS: AtomicBool = AtomicBool::new(false);

use sipr_sdk::modparam::int as int_param;

fn set_append_fromtag(v: &ModValue) -> Result<(), String> {
    APPEND_FROMTAG.store(int_param(v)? != 0, Ordering::Relaxed);
    Ok(())
}
fn set_full_lr(v: &ModValue) -> Result<(), String> {
    FULL_LR.store(int_param(v)? != 0, Ordering::Relaxed);
    Ok(())
}
fn set_double_rr(v: &ModValue) -> Result<(), String> {
    let n = int_param(v)?;
    DOUBLE_RR.store(n.clamp(0, 2) as u8, Ordering::Relaxed);
    Ok(())
}
fn set_add_username(v: &ModValue) -> Result<(), String> {
    ADD_USERNAME.store(int_param(v)? != 0, Ordering::Relaxed);
    Ok(())
}
fn set_ignore_sips(v: &ModValue) -> Result<(), String> {
    IGNORE_SIPS.store(int_param(v)? != 0, Ordering::Relaxed);
    Ok(())
}
fn set_force_send_socket(v: &ModValue) -> Result<(), String> {
    sipr_sdk::modparam::default_only("rr", "force_send_socket", v, 0)
}
fn set_sockname_mode(v: &ModValue) -> Result<(), String> {
    sipr_sdk::modparam::default_only("rr", "sockname_mode", v, 0)
}
/// A log switch: sipr's rr does not compare a preset address with its
/// sockets, so it has nothing to warn about either way.
fn set_mismatch_warning(v: &ModValue) -> Result<(), String> {
    sipr_sdk::modparam::int(v).map(|_| ())
}

/// This proxy's address as the socket the request came to (or the one
/// the script forced), its advertised address when it has one.
fn local_address(ctx: &Ctx<'_>) -> String {
    if let Some(a) = &ctx.advertised_address {
        let host = String::from_utf8_lossy(a).into_owned();
        return match &ctx.advertised_port {
            Some(p) => format!("{host}:{}", String::from_utf8_lossy(p)),
            None => host,
        };
    }
    let (host, port, proto) = match &ctx.send_socket {
        Some((proto, h, p)) => (h.clone(), *p, *proto),
        None => (sipr_sdk::sip::emit::host_text(ctx.rcv.dst.ip()), ctx.rcv.dst.port(), ctx.rcv.proto),
    };
    // the socket's own `advertise`, then the global advertised address
    let listen = ctx.core.listen.iter().find(|l| {
        l.host.trim_start_matches('[').trim_end_matches(']') == host.trim_start_matches('[').trim_end_matches(']')
            && l.port == port
            && l.proto == proto
    });
    if let Some((h, p)) = listen.and_then(|l| l.advertise.clone()) {
        return format!("{h}:{p}");
    }
    match (&ctx.core.advertised_address, ctx.core.advertised_port) {
        (Some(h), p) => format!("{h}:{}", p.unwrap_or(port)),
        (None, p) => {
            let mut out = host.into_bytes();
            out.push(b':');
            sipr_sdk::sip::emit::push_decimal(&mut out, u64::from(p.unwrap_or(port)));
            // a host that was UTF-8 and ASCII digits
            String::from_utf8(out).unwrap_or_default()
        }
    }
}

/// The From tag of the request.
fn from_tag<'m>(msg: &'m SipMsg<'m>) -> Option<&'m [u8]> {
    msg.from().ok().and_then(|f| f.tag(msg.buf()))
}

/// One Record-Route line for `addr`, laid out as Kamailio's:
/// `<sip:[user@]addr[;r2=on];lr;ftag=T{own}{added}>` for the local
/// address, `<sip:addr;ftag=T;lr{own}{added}>` for a given one.
fn rr_line(ctx: &Ctx<'_>, addr: &[u8], r2: bool, preset: bool, params: &[u8]) -> Vec<u8> {
    let sips = !IGNORE_SIPS.load(Ordering::Relaxed) && ctx.ruri().is_some_and(|u| u.starts_with(b"sips:"));
    let mut out = Vec::with_capacity(96);
    out.extend_from_slice(if sips { b"Record-Route: <sips:" } else { b"Record-Route: <sip:" });
    if ADD_USERNAME.load(Ordering::Relaxed) && !preset {
        if let Some((u, buf)) = ctx.ruri_parsed() {
            if let Some(user) = u.user {
                out.extend_from_slice(user.get(buf));
                out.push(b'@');
            }
        }
    }
    out.extend_from_slice(addr);
    if r2 {
        out.extend_from_slice(b";r2=on");
    }
    let lr: &[u8] = if FULL_LR.load(Ordering::Relaxed) { b";lr=on" } else { b";lr" };
    if !preset {
        out.extend_from_slice(lr);
    }
    if APPEND_FROMTAG.load(Ordering::Relaxed) {
        if let Some(tag) = from_tag(ctx.msg) {
            out.extend_from_slice(b";ftag=");
            out.extend_from_slice(tag);
        }
    }
    if preset {
        out.extend_from_slice(lr);
    }
    out.extend_from_slice(params);
    out.extend_from_slice(b">\r\n");
    out
}

/// (Re)writes the Record-Route lump from what the message's context holds.
fn write_rr(ctx: &mut Ctx<'_>) {
    use sipr_sdk::sip::{SendSide, OUT_ADDR, OUT_TRANSPORT};
    ctx.lumps.remove_tagged(RR_TAG);
    let Some(addrs) = ctx.module_bytes(key::ADDR).map(<[u8]>::to_vec) else { return };
    let mut params = ctx.module_bytes(key::OWN).map(<[u8]>::to_vec).unwrap_or_default();
    params.extend_from_slice(ctx.module_bytes(key::PARAMS).unwrap_or(b""));
    let at = ctx.msg.first_line_end();
    if ctx.module_int(key::PRESET) == Some(1) {
        // given addresses are written as given
        let mut text = Vec::new();
        for p in addrs.split(|c| *c == b' ').filter(|p| !p.is_empty()) {
            text.extend_from_slice(&rr_line(ctx, p, false, true, &params));
        }
        ctx.lumps.insert_tagged(at, RR_TAG, &text);
        return;
    }
    // our own sockets: the one the request came to (with its transport
    // unless UDP), and, known only when it is sent, the one it leaves
    // from; two Record-Routes (r2=on) when they differ (enable_double_rr)
    let proto = ctx.rcv.proto.name();
    let with_transport = |always: bool| {
        let mut a = addrs.clone();
        if always || proto != "udp" {
            a.extend_from_slice(b";transport=");
            a.extend_from_slice(proto.as_bytes());
        }
        a
    };
    match DOUBLE_RR.load(Ordering::Relaxed) {
        0 => {
            let same = rr_line(ctx, &with_transport(false), false, false, &params);
            let other = rr_line(ctx, &[OUT_ADDR, OUT_TRANSPORT], false, false, &params);
            ctx.lumps.insert_for(at, RR_TAG, SendSide::Same, &same);
            ctx.lumps.insert_for(at, RR_TAG, SendSide::Other, &other);
        }
        1 => {
            let same = rr_line(ctx, &with_transport(false), false, false, &params);
            let mut other = rr_line(ctx, &[OUT_ADDR, OUT_TRANSPORT], true, false, &params);
            other.extend_from_slice(&rr_line(ctx, &with_transport(false), true, false, &params));
            ctx.lumps.insert_for(at, RR_TAG, SendSide::Same, &same);
            ctx.lumps.insert_for(at, RR_TAG, SendSide::Other, &other);
        }
        _ => {
            // 2: always two (Kamailio 5.6.3 writes the transport as for
            // one side: not for UDP)
            let in_line = rr_line(ctx, &with_transport(false), true, false, &params);
            let mut same = in_line.clone();
            same.extend_from_slice(&in_line);
            let mut other = rr_line(ctx, &[OUT_ADDR, OUT_TRANSPORT], true, false, &params);
            other.extend_from_slice(&in_line);
            ctx.lumps.insert_for(at, RR_TAG, SendSide::Same, &same);
            ctx.lumps.insert_for(at, RR_TAG, SendSide::Other, &other);
        }
    }
}

fn add_params(ctx: &mut Ctx<'_>, which: &'static str, p: &[u8]) {
    if p.is_empty() {
        return;
    }
    let mut all = ctx.module_bytes(which).map(<[u8]>::to_vec).unwrap_or_default();
    if !p.starts_with(b";") {
        all.push(b';');
    }
    all.extend_from_slice(p);
    ctx.set_module_bytes(which, Some(&all));
}

fn record(ctx: &mut Ctx<'_>, addrs: &[u8], params: &[u8], preset: bool) -> FnResult {
    if !ctx.msg.is_request() {
        return Err("record_route: not a request".into());
    }
    ctx.set_module_bytes(key::ADDR, Some(addrs));
    ctx.set_module_int(key::PRESET, i64::from(preset));
    ctx.set_module_bytes(key::OWN, None);
    add_params(ctx, key::OWN, params);
    write_rr(ctx);
    Ok(1)
}

fn record_route0(ctx: &mut Ctx<'_>, _: &[Param]) -> FnResult {
    let a = local_address(ctx);
    record(ctx, a.as_bytes(), b"", false)
}

fn record_route1(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let params = p[0].text(ctx).into_owned();
    let a = local_address(ctx);
    record(ctx, a.as_bytes(), &params, false)
}

fn record_route_preset1(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let a = p[0].text(ctx).into_owned();
    let a = a.strip_prefix(b"sip:").unwrap_or(&a).to_vec();
    record(ctx, &a, b"", true)
}

fn record_route_preset2(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let a = p[0].text(ctx).into_owned();
    let b = p[1].text(ctx).into_owned();
    let mut both = a.strip_prefix(b"sip:").unwrap_or(&a).to_vec();
    both.push(b' ');
    both.extend_from_slice(b.strip_prefix(b"sip:").unwrap_or(&b));
    record(ctx, &both, b"", true)
}

fn record_route_advertised_address(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let a = p[0].text(ctx).into_owned();
    record(ctx, &a, b"", true)
}

fn remove_record_route(ctx: &mut Ctx<'_>, _: &[Param]) -> FnResult {
    ctx.lumps.remove_tagged(RR_TAG);
    ctx.set_module_bytes(key::ADDR, None);
    ctx.set_module_bytes(key::OWN, None);
    ctx.set_module_bytes(key::PARAMS, None);
    Ok(1)
}

fn add_rr_param(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let params = p[0].text(ctx).into_owned();
    add_params(ctx, key::PARAMS, &params);
    if ctx.module_bytes(key::ADDR).is_some() {
        write_rr(ctx);
    }
    Ok(1)
}

/// One Route entry of the message.
struct RouteEntry {
    /// Index of its header among the message's headers.
    header: usize,
    /// The entry.
    na: NameAddr,
}

fn route_entries(msg: &SipMsg<'_>) -> Vec<RouteEntry> {
    let buf = msg.buf();
    let mut out = Vec::new();
    for (i, h) in msg.headers().iter().enumerate() {
        if h.kind != HeaderKind::Route {
            continue;
        }
        for item in sipr_sdk::sip::list_items(buf, h.value) {
            if let Ok(na) = NameAddr::parse(buf, item) {
                out.push(RouteEntry { header: i, na });
            }
        }
    }
    out
}

fn is_me(ctx: &Ctx<'_>, e: &RouteEntry) -> bool {
    let buf = ctx.msg.buf();
    ctx.core.is_myself(e.na.uri.host.get(buf), e.na.uri.port.unwrap_or(0))
}

/// Deletes Route entries: a header whose every entry goes is deleted
/// whole; otherwise each entry with the comma after it (before it, for
/// the last one).
fn delete_entries(ctx: &mut Ctx<'_>, entries: &[RouteEntry], gone: &[usize]) {
    let msg = ctx.msg;
    let mut headers: Vec<usize> = gone.iter().map(|&i| entries[i].header).collect();
    headers.dedup();
    for h in headers {
        let all: Vec<usize> = (0..entries.len()).filter(|&i| entries[i].header == h).collect();
        let hdr = &msg.headers()[h];
        if all.iter().all(|i| gone.contains(i)) {
            ctx.lumps.delete(hdr.line.off as usize, hdr.line.len as usize);
            continue;
        }
        for (k, &i) in all.iter().enumerate() {
            if !gone.contains(&i) {
                continue;
            }
            let w = entries[i].na.whole;
            let (from, to) = match all.get(k + 1) {
                Some(&next) => (w.off as usize, entries[next].na.whole.off as usize),
                None => {
                    // back to the end of the entry before
                    let prev = entries[all[k - 1]].na.whole.end();
                    (prev, w.end())
                }
            };
            ctx.lumps.delete(from, to - from);
        }
    }
}

fn uri_text(ctx: &Ctx<'_>, e: &RouteEntry) -> Vec<u8> {
    e.na.uri_span.get(ctx.msg.buf()).to_vec()
}

fn params_text(ctx: &Ctx<'_>, e: &RouteEntry) -> Vec<u8> {
    // the URI's parameters as written (after host[:port])
    let buf = ctx.msg.buf();
    let uri = e.na.uri_span;
    let text = uri.get(buf);
    text.iter().position(|c| *c == b';').map_or(Vec::new(), |i| text[i..].to_vec())
}

fn has_totag(msg: &SipMsg<'_>) -> bool {
    msg.to().ok().is_some_and(|t| t.tag(msg.buf()).is_some())
}

/// RFC 3261 §16.4 and §16.12 (Kamailio's loose_route): our own entries
/// leave the route set; the next hop is the next entry, or the
/// Request-URI.
fn route(ctx: &mut Ctx<'_>, loose_only: bool) -> i32 {
    let msg = ctx.msg;
    let entries = route_entries(msg);
    ctx.set_module_int(key::NEXT_FROM_ROUTE, 0);
    // a strict router before us put our Record-Route URI in the
    // Request-URI: the last Route is the real one (RFC 3261 §16.4)
    if !loose_only {
        if let (Some((u, buf)), Some(last)) = (ctx.ruri_parsed(), entries.last()) {
            let me = ctx.core.is_myself(u.host.get(buf), u.port.unwrap_or(0));
            if me && u.lr(buf) {
                let params = {
                    let t = ctx.ruri().unwrap_or(b"");
                    t.iter().position(|c| *c == b';').map_or(Vec::new(), |i| t[i..].to_vec())
                };
                ctx.set_module_bytes(key::LOCAL, Some(&params));
                let new = uri_text(ctx, last);
                ctx.set_new_uri(Some(new));
                delete_entries(ctx, &entries, &[entries.len() - 1]);
                return 1;
            }
        }
    }
    let Some(first) = entries.first() else { return -1 };
    if !is_me(ctx, first) {
        // a preloaded route to someone else: its first entry is the next
        // hop (Kamailio returns -3 for an initial request)
        let u = uri_text(ctx, first);
        if first.na.uri.lr(msg.buf()) {
            ctx.dst_uri = Some(u);
        } else {
            let old = ctx.ruri().map(<[u8]>::to_vec).unwrap_or_default();
            ctx.set_new_uri(Some(u));
            delete_entries(ctx, &entries, &[0]);
            append_route(ctx, &old);
        }
        // no entry of ours was processed: rr_next_hop_route() is false
        // (Kamailio)
        return 1;
    }
    let local = params_text(ctx, first);
    ctx.set_module_bytes(key::LOCAL, Some(&local));
    let mut gone = vec![0];
    // double record-routing: our second entry goes too
    if first.na.uri.param(msg.buf(), "r2").is_some() && entries.get(1).is_some_and(|e| is_me(ctx, e)) {
        gone.push(1);
    }
    let next = gone.len();
    match entries.get(next) {
        None => {
            delete_entries(ctx, &entries, &gone);
            // an initial request whose only Route was ours: removed, and
            // not routed here (Kamailio's -3, "preloaded")
            if has_totag(msg) {
                1
            } else {
                -3
            }
        }
        Some(e) if e.na.uri.lr(msg.buf()) => {
            let u = uri_text(ctx, e);
            delete_entries(ctx, &entries, &gone);
            ctx.dst_uri = Some(u);
            ctx.set_module_int(key::NEXT_FROM_ROUTE, 1);
            1
        }
        Some(e) => {
            // the next hop is a strict router: it becomes the
            // Request-URI, the Request-URI the last Route (§16.12.1.2)
            let u = uri_text(ctx, e);
            let old = ctx.ruri().map(<[u8]>::to_vec).unwrap_or_default();
            gone.push(next);
            delete_entries(ctx, &entries, &gone);
            ctx.set_new_uri(Some(u));
            append_route(ctx, &old);
            ctx.set_module_int(key::NEXT_FROM_ROUTE, 1);
            1
        }
    }
}

fn append_route(ctx: &mut Ctx<'_>, uri: &[u8]) {
    let at = ctx.msg.headers_end();
    let mut line = b"Route: <".to_vec();
    line.extend_from_slice(uri);
    line.extend_from_slice(b">\r\n");
    ctx.lumps.insert(at, &line);
}

fn loose_route(ctx: &mut Ctx<'_>, _: &[Param]) -> FnResult {
    Ok(route(ctx, false))
}

fn loose_route_mode(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let mode = p[0].int(ctx);
    Ok(route(ctx, mode == 1))
}

fn loose_route_preloaded(ctx: &mut Ctx<'_>, _: &[Param]) -> FnResult {
    if has_totag(ctx.msg) {
        return Ok(-1);
    }
    // Kamailio: true only for what loose_route() calls preloaded (-3)
    Ok(match route(ctx, false) {
        -3 => 1,
        _ => -1,
    })
}

fn check_route_param(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let Some(local) = ctx.module_bytes(key::LOCAL) else { return Ok(-1) };
    let ok = match &p[0] {
        Param::Regex(re) => re.is_match(local),
        other => sipr_sdk::compile_regex(&other.text(ctx))?.is_match(local),
    };
    Ok(if ok { 1 } else { -1 })
}

fn is_direction(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let dir = p[0].text(ctx).into_owned();
    let downstream = match &dir[..] {
        b"downstream" => true,
        b"upstream" => false,
        _ => return Err(format!("unknown direction '{}'", String::from_utf8_lossy(&dir)).into()),
    };
    let Some(local) = ctx.module_bytes(key::LOCAL) else { return Ok(-1) };
    let ftag = local.split(|c| *c == b';').find_map(|p| p.strip_prefix(b"ftag=")).map(<[u8]>::to_vec);
    let Some(ftag) = ftag else { return Ok(-1) };
    let is_down = from_tag(ctx.msg) == Some(&ftag[..]);
    Ok(if is_down == downstream { 1 } else { -1 })
}

fn rr_next_hop_route(ctx: &mut Ctx<'_>, _: &[Param]) -> FnResult {
    Ok(if ctx.module_int(key::NEXT_FROM_ROUTE) == Some(1) { 1 } else { -1 })
}

fn no_arg_fixup(inner: Option<&str>, _: &PvRegistry, _: &mut Names) -> Result<PvArg, String> {
    match inner {
        None => Ok(PvArg::None),
        Some(_) => Err("takes no argument".into()),
    }
}

/// `$route_uri`: the URI of the top Route header.
fn get_route_uri<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> sipr_sdk::Value<'c> {
    let msg = ctx.msg;
    match route_entries(msg).first() {
        Some(e) => sipr_sdk::Value::str(e.na.uri_span.get(msg.buf())),
        None => sipr_sdk::Value::str(b""),
    }
}

const RR_ROUTES: RouteMask = RouteMask::REQUEST_LIKE;

sipr_sdk::module! {
    name: "rr",
    functions: [
        ("loose_route", [], RouteMask::REQUEST, loose_route),
        ("loose_route_mode", [IntOrPv], RouteMask::REQUEST, loose_route_mode),
        ("loose_route_preloaded", [], RouteMask::REQUEST, loose_route_preloaded),
        ("record_route", [], RR_ROUTES, record_route0),
        ("record_route", [Fmt], RR_ROUTES, record_route1),
        ("record_route_preset", [Fmt], RR_ROUTES, record_route_preset1),
        ("record_route_preset", [Fmt, Fmt], RR_ROUTES, record_route_preset2),
        ("record_route_advertised_address", [Fmt], RR_ROUTES, record_route_advertised_address),
        ("remove_record_route", [], RR_ROUTES, remove_record_route),
        ("add_rr_param", [Fmt], RR_ROUTES, add_rr_param),
        ("check_route_param", [Regex], RouteMask::REQUEST, check_route_param),
        ("is_direction", [Fmt], RouteMask::REQUEST, is_direction),
        ("rr_next_hop_route", [], RouteMask::ANY, rr_next_hop_route),
    ],
    params: [
        ("append_fromtag", Any, set_append_fromtag),
        ("enable_full_lr", Any, set_full_lr),
        ("enable_double_rr", Any, set_double_rr),
        ("add_username", Any, set_add_username),
        ("ignore_sips", Any, set_ignore_sips),
        ("enable_socket_mismatch_warning", Any, set_mismatch_warning),
        ("force_send_socket", Any, set_force_send_socket),
        ("sockname_mode", Any, set_sockname_mode),
    ],
    pvs: [sipr_sdk::pv_class!("route_uri", no_arg_fixup, get_route_uri)],
}
