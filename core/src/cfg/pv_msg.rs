//! The rest of Kamailio's pv-module pseudo-variables (its 5.6
//! pseudo-variables cookbook): identity headers (`$ai`, `$pu`, `$re`,
//! `$rt`, `$di`...), the original Request-URI (`$ou`...), the destination
//! (`$dd`, `$dp`, `$dP`, `$ds`), lengths (`$rUl`...), message facts
//! (`$mt`, `$csb`, `$rmid`, `$rv`, `$prid`), flags in hex, sockets as
//! text and URIs (`$sas`, `$su`, `$Ru`, `$RAu`...), auth fields (`$aa`,
//! `$adu`, `$aU`, `$Au`, `$AU`), header bodies one by one (`$hfl`,
//! `$hflc`), `$expires`, `$branch(attr)`, `$cnt`, `$vz`/`$vn`, `$env`,
//! times (`$Tb`, `$Tf`, `$TF`, `$timef`, `$utimef`) and the updated
//! buffer `$mbu`. Each was compared with Kamailio on the bed
//! (`test/diff/cases/pv_core.cases`).

use std::borrow::Cow;

use super::ctx::{Branch, Ctx};
use super::pv::{get_var, no_arg, set_var, text_arg, var_fixup, Names, PvArg, PvClass, PvIndex, PvRef, PvRegistry};
use super::value::{Stored, Value};
use crate::net::Proto;
use crate::sip::{HeaderKind, NameAddr, Span, Uri};

macro_rules! pv {
    ($name:literal, $get:path) => {
        $crate::guarded_pv_class!($name, no_arg, $get)
    };
    ($name:literal, $get:path, $set:path) => {
        $crate::guarded_pv_class!($name, no_arg, $get, $set)
    };
    ($name:literal, fixup $fix:path, $get:path) => {
        $crate::guarded_pv_class!($name, $fix, $get)
    };
    ($name:literal, fixup $fix:path, $get:path, $set:path) => {
        $crate::guarded_pv_class!($name, $fix, $get, $set)
    };
}

pub(super) static MSG_PVS: &[PvClass] = &[
    pv!("ai", get_ai),
    pv!("pu", get_pu),
    pv!("pU", get_pu_user),
    pv!("pd", get_pu_host),
    pv!("pn", get_pu_display),
    pv!("re", get_re),
    pv!("rt", get_rt),
    pv!("di", get_di),
    pv!("dip", get_dip),
    pv!("dir", get_dir),
    pv!("dic", get_dic),
    pv!("ou", get_ou),
    pv!("oU", get_ou_user),
    pv!("od", get_ou_host),
    pv!("op", get_ou_port),
    pv!("oP", get_ou_proto),
    pv!("oUl", get_ou_user_len),
    pv!("rUl", get_ru_user_len),
    pv!("fUl", get_fu_user_len),
    pv!("tUl", get_tu_user_len),
    pv!("rP", get_ru_proto),
    pv!("rv", get_rv),
    pv!("dd", get_dd),
    pv!("dp", get_dp),
    pv!("dP", get_dproto),
    pv!("ds", get_ds),
    pv!("mt", get_mt),
    pv!("csb", get_csb),
    pv!("rmid", get_rmid),
    pv!("prid", get_prid),
    pv!("mF", get_mf_hex, set_mf_hex),
    pv!("sf", get_sf, set_sf),
    pv!("sF", get_sf_hex, set_sf_hex),
    pv!("bf", get_bf, set_bf),
    pv!("bF", get_bf_hex, set_bf_hex),
    pv!("sas", get_sas),
    pv!("su", get_su),
    pv!("sut", get_sut),
    pv!("siz", get_siz),
    pv!("RAi", get_rai),
    pv!("RAp", get_rap),
    pv!("Ru", get_rcv_uri),
    pv!("Rut", get_rcv_uri_t),
    pv!("RAu", get_rcv_adv_uri),
    pv!("RAut", get_rcv_adv_uri_t),
    pv!("Rn", get_none),
    pv!("fsn", get_none),
    pv!("conid", get_conid),
    pv!("sid", get_sid),
    pv!("aa", get_aa),
    pv!("adu", get_adu),
    pv!("aU", get_auser_whole),
    pv!("Au", get_acc_user_realm),
    pv!("AU", get_acc_user),
    pv!("hfl", fixup hfl_fixup, get_hfl),
    pv!("hflc", fixup hfl_fixup, get_hflc),
    pv!("expires", fixup expires_fixup, get_expires),
    pv!("branch", fixup branch_fixup, get_branch, set_branch),
    pv!("cnt", fixup cnt_fixup, get_cnt),
    // $vz is $var under another name (the same slots)
    pv!("vz", fixup var_fixup, get_var, set_var),
    pv!("vn", fixup vn_fixup, get_vn, set_vn),
    pv!("env", fixup text_arg, get_env),
    pv!("Tb", get_tb),
    pv!("Tf", get_tf),
    pv!("TF", get_tf_now),
    pv!("timef", fixup text_arg, get_timef),
    pv!("utimef", fixup text_arg, get_timef),
    pv!("mbu", get_mbu),
    pv!("_s", fixup format_fixup, get_format),
    pv!("def", fixup def_fixup, get_def),
    pv!("defn", fixup defn_fixup, get_def),
    pv!("version", fixup version_fixup, get_version),
    pv!("msgbuf", fixup msgbuf_fixup, get_msgbuf),
    pv!("mi", get_mi),
    pv!("ccp", fixup ccp_fixup, get_ccp),
    pv!("sel", fixup sel_fixup, get_ccp),
];

// ---------------------------------------------------------------------
// Helpers

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// The first header named `name` (compact forms and case aside).
fn first_header(ctx: &Ctx<'_>, name: &str) -> Option<Span> {
    let kind = HeaderKind::from_name(name.as_bytes());
    let buf = ctx.msg.buf();
    ctx.msg
        .headers()
        .iter()
        .find(|h| {
            if kind == HeaderKind::Other {
                h.name.get(buf).eq_ignore_ascii_case(name.as_bytes())
            } else {
                h.kind == kind
            }
        })
        .map(|h| h.value)
}

/// The first name-addr of the first header named `name`.
fn header_addr(ctx: &Ctx<'_>, name: &str) -> Option<NameAddr> {
    let span = first_header(ctx, name)?;
    let buf = ctx.msg.buf();
    NameAddr::parse_list(buf, span).ok()?.into_iter().next()
}

fn addr_uri<'c>(ctx: &'c Ctx<'_>, name: &str) -> Value<'c> {
    let buf = ctx.msg.buf();
    header_addr(ctx, name).map_or(Value::Null, |a| Value::str(a.uri_span.get(buf)))
}

fn addr_param<'c>(ctx: &'c Ctx<'_>, name: &str, param: &str) -> Value<'c> {
    let buf = ctx.msg.buf();
    Value::opt_str(header_addr(ctx, name).and_then(|a| a.params.value(buf, param)))
}

fn parse_uri(u: &[u8]) -> Option<Uri> {
    Uri::parse(u, Span::new(0, u.len())).ok()
}

/// A URI's transport as Kamailio prints it: the parameter as written, or
/// "UDP" when there is none.
fn uri_proto_text(u: &Uri, text: &[u8]) -> Vec<u8> {
    u.transport(text).map_or_else(|| b"UDP".to_vec(), <[u8]>::to_vec)
}

fn user_len(u: Option<&Uri>, text: &[u8]) -> Value<'static> {
    Value::Int(u.and_then(|u| u.user).map_or(0, |s| s.get(text).len() as i64))
}

// ---------------------------------------------------------------------
// Identity and redirection headers

fn get_ai<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    addr_uri(ctx, "P-Asserted-Identity")
}
fn get_pu<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    addr_uri(ctx, "P-Preferred-Identity")
}
fn get_pu_user<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    let buf = ctx.msg.buf();
    Value::opt_str(header_addr(ctx, "P-Preferred-Identity").and_then(|a| a.uri.user.map(|u| u.get(buf))))
}
fn get_pu_host<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    let buf = ctx.msg.buf();
    header_addr(ctx, "P-Preferred-Identity").map_or(Value::Null, |a| Value::str(a.uri.host.get(buf)))
}
fn get_pu_display<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    let buf = ctx.msg.buf();
    Value::opt_str(header_addr(ctx, "P-Preferred-Identity").and_then(|a| a.display.map(|d| d.get(buf))))
}
fn get_re<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    addr_uri(ctx, "Remote-Party-ID")
}
fn get_rt<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    addr_uri(ctx, "Refer-To")
}
fn get_di<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    addr_uri(ctx, "Diversion")
}
fn get_dip<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    addr_param(ctx, "Diversion", "privacy")
}
fn get_dir<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    addr_param(ctx, "Diversion", "reason")
}
fn get_dic<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    addr_param(ctx, "Diversion", "counter")
}

// ---------------------------------------------------------------------
// The Request-URI as received, lengths, the destination

fn original_ruri<'c>(ctx: &'c Ctx<'_>) -> Option<(Uri, &'c [u8])> {
    let text = ctx.msg.request_uri()?;
    Some((parse_uri(text)?, text))
}

fn get_ou<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    Value::opt_str(ctx.msg.request_uri())
}
fn get_ou_user<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    Value::opt_str(original_ruri(ctx).and_then(|(u, t)| u.user.map(|s| s.get(t))).filter(|s| !s.is_empty()))
}
fn get_ou_host<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    original_ruri(ctx).map_or(Value::Null, |(u, t)| Value::str(u.host.get(t)))
}
fn get_ou_port<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    original_ruri(ctx).map_or(Value::Null, |(u, _)| Value::Int(i64::from(u.port.unwrap_or(5060))))
}
fn get_ou_proto<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    original_ruri(ctx).map_or(Value::Null, |(u, t)| Value::string(uri_proto_text(&u, t)))
}
fn get_ou_user_len<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    match original_ruri(ctx) {
        Some((u, t)) => user_len(Some(&u), t),
        None => Value::Int(0),
    }
}
fn get_ru_user_len<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    match ctx.ruri_parsed() {
        Some((u, buf)) => user_len(Some(u), buf),
        None => Value::Int(0),
    }
}
fn get_fu_user_len<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    let buf = ctx.msg.buf();
    ctx.msg.from().map_or(Value::Int(0), |na| user_len(Some(&na.uri), buf))
}
fn get_tu_user_len<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    let buf = ctx.msg.buf();
    ctx.msg.to().map_or(Value::Int(0), |na| user_len(Some(&na.uri), buf))
}
fn get_ru_proto<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    ctx.ruri_parsed().map_or(Value::Null, |(u, buf)| Value::string(uri_proto_text(u, buf)))
}
fn get_rv<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    // the version is the first line's last word for a request, its first
    // for a reply
    let line = &ctx.msg.buf()[..ctx.msg.first_line_end()];
    let line = line.trim_ascii_end();
    let word =
        if ctx.msg.is_request() { line.rsplit(|c| *c == b' ').next() } else { line.split(|c| *c == b' ').next() };
    Value::opt_str(word)
}

/// `$du` parsed (the destination the script set).
fn dst<'c>(ctx: &'c Ctx<'_>) -> Option<(Uri, &'c [u8])> {
    let d = ctx.dst_uri.as_deref()?;
    Some((parse_uri(d)?, d))
}
fn get_dd<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    dst(ctx).map_or(Value::Null, |(u, t)| Value::str(u.host.get(t)))
}
fn get_dp<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    dst(ctx).map_or(Value::Null, |(u, _)| Value::Int(i64::from(u.port.unwrap_or(5060))))
}
fn get_dproto<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    dst(ctx).map_or(Value::Null, |(u, t)| Value::string(uri_proto_text(&u, t)))
}

/// One branch as a Contact element: `<uri>;q=0.5`, or the bare URI.
fn branch_contact(b: &Branch) -> Vec<u8> {
    match b.q {
        Some(q) => {
            let mut q_text = format!("{}.{:03}", q / 1000, q % 1000);
            while q_text.ends_with('0') && !q_text.ends_with(".0") {
                q_text.pop();
            }
            [b"<", &b.uri[..], b">;q=", q_text.as_bytes()].concat()
        }
        None => b.uri.clone(),
    }
}

/// `$ds`: the destination set as Kamailio prints it, a Contact header
/// with every extra branch (`$null` without branches).
fn get_ds<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    if ctx.branches.is_empty() {
        return Value::Null;
    }
    let parts: Vec<Vec<u8>> = ctx
        .branches
        .iter()
        .map(|b| {
            let c = branch_contact(b);
            if c.starts_with(b"<") {
                c
            } else {
                [b"<", &c[..], b">"].concat()
            }
        })
        .collect();
    Value::string([b"Contact: ", &parts.join(&b", "[..])[..]].concat())
}

/// `$bR`'s text (every extra branch, Contact elements joined by ", ").
pub(super) fn all_branches(ctx: &Ctx<'_>) -> Option<Vec<u8>> {
    if ctx.branches.is_empty() {
        return None;
    }
    let parts: Vec<Vec<u8>> = ctx.branches.iter().map(branch_contact).collect();
    Some(parts.join(&b", "[..]))
}

// ---------------------------------------------------------------------
// Message facts and flags

fn get_mt<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    Value::Int(if ctx.msg.is_request() { 1 } else { 2 })
}
fn get_csb<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    Value::opt_str(ctx.msg.header_value(HeaderKind::CSeq))
}

fn get_rmid<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    let name: Cow<'_, [u8]> = if ctx.msg.is_request() {
        let line = &ctx.msg.buf()[..ctx.msg.first_line_end()];
        Cow::Borrowed(line.split(|c| *c == b' ').next().unwrap_or(b""))
    } else {
        match ctx.msg.cseq() {
            Ok(c) => Cow::Owned(c.method.get(ctx.msg.buf()).to_vec()),
            Err(_) => return Value::Null,
        }
    };
    Value::Int(i64::from(crate::sip::method_id(&name)))
}

/// Kamailio's protocol ids (`$prid`).
fn proto_id(p: Proto) -> i64 {
    match p {
        Proto::Udp => 1,
        Proto::Tcp => 2,
        Proto::Tls => 3,
        Proto::Sctp => 4,
        Proto::Ws => 5,
        Proto::Wss => 6,
    }
}
fn get_prid<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    Value::Int(proto_id(ctx.rcv.proto))
}

fn hex8(v: u64) -> Value<'static> {
    Value::string(format!("{:08x}", v as u32).into_bytes())
}
fn get_mf_hex<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    hex8(ctx.flags)
}
fn set_mf_hex(ctx: &mut Ctx<'_>, _: &PvRef, v: &Value<'_>) -> Result<(), String> {
    ctx.flags = v.to_int() as u64;
    Ok(())
}
fn get_sf<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    Value::Int(i64::from(ctx.sflags))
}
fn set_sf(ctx: &mut Ctx<'_>, _: &PvRef, v: &Value<'_>) -> Result<(), String> {
    ctx.sflags = v.to_int() as u32;
    Ok(())
}
fn get_sf_hex<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    hex8(u64::from(ctx.sflags))
}
fn set_sf_hex(ctx: &mut Ctx<'_>, pv: &PvRef, v: &Value<'_>) -> Result<(), String> {
    set_sf(ctx, pv, v)
}
fn get_bf<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    Value::Int(i64::from(ctx.bflags))
}
fn set_bf(ctx: &mut Ctx<'_>, _: &PvRef, v: &Value<'_>) -> Result<(), String> {
    ctx.bflags = v.to_int() as u32;
    Ok(())
}
fn get_bf_hex<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    hex8(u64::from(ctx.bflags))
}
fn set_bf_hex(ctx: &mut Ctx<'_>, pv: &PvRef, v: &Value<'_>) -> Result<(), String> {
    set_bf(ctx, pv, v)
}

// ---------------------------------------------------------------------
// Sockets

use crate::sip::emit::host_text;

/// `sip:host:port`, with `;transport=` unless UDP (or always).
fn socket_uri(host: &str, port: u16, proto: Proto, always_transport: bool) -> Value<'static> {
    let mut s = format!("sip:{host}:{port}");
    if always_transport || proto != Proto::Udp {
        s.push_str(";transport=");
        s.push_str(proto.name());
    }
    Value::string(s.into_bytes())
}

fn get_sas<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    Value::string(crate::net::socket_text(ctx.rcv.proto, ctx.rcv.src).into_bytes())
}
fn get_su<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    socket_uri(&host_text(ctx.rcv.src.ip()), ctx.rcv.src.port(), ctx.rcv.proto, false)
}
fn get_sut<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    socket_uri(&host_text(ctx.rcv.src.ip()), ctx.rcv.src.port(), ctx.rcv.proto, true)
}
fn get_siz<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    Value::string(host_text(ctx.rcv.src.ip()).into_bytes())
}

/// The receiving socket's advertised address, when `listen ... advertise`
/// gave one.
fn advertised<'c>(ctx: &'c Ctx<'_>) -> Option<&'c (String, u16)> {
    let dst = ctx.rcv.dst;
    ctx.core
        .listen
        .iter()
        .find(|l| {
            l.proto == ctx.rcv.proto
                && l.port == dst.port()
                && l.host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|a| a == dst.ip())
        })
        .and_then(|l| l.advertise.as_ref())
}
fn get_rai<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    match advertised(ctx) {
        Some((h, _)) => Value::str(h.as_bytes()),
        None => Value::string(ctx.rcv.dst.ip().to_string().into_bytes()),
    }
}
fn get_rap<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    Value::Int(i64::from(advertised(ctx).map_or(ctx.rcv.dst.port(), |(_, p)| *p)))
}
fn get_rcv_uri<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    socket_uri(&host_text(ctx.rcv.dst.ip()), ctx.rcv.dst.port(), ctx.rcv.proto, false)
}
fn get_rcv_uri_t<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    socket_uri(&host_text(ctx.rcv.dst.ip()), ctx.rcv.dst.port(), ctx.rcv.proto, true)
}
fn rcv_adv(ctx: &Ctx<'_>) -> (String, u16) {
    match advertised(ctx) {
        Some((h, p)) => (h.clone(), *p),
        None => (host_text(ctx.rcv.dst.ip()), ctx.rcv.dst.port()),
    }
}
fn get_rcv_adv_uri<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    let (h, p) = rcv_adv(ctx);
    socket_uri(&h, p, ctx.rcv.proto, false)
}
fn get_rcv_adv_uri_t<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    let (h, p) = rcv_adv(ctx);
    socket_uri(&h, p, ctx.rcv.proto, true)
}
/// Socket names (`listen ... name`) are refused at start-up, so a name
/// is never set: `$Rn` and `$fsn` read `$null`.
fn get_none<'c>(_: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    Value::Null
}
/// The TCP connection's id; `$null` over UDP and SCTP (sipr's ids are its
/// own numbers).
fn get_conid<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    match ctx.rcv.proto {
        Proto::Tcp | Proto::Tls | Proto::Ws | Proto::Wss => {
            ctx.module_int("core.conid").map_or(Value::Null, Value::Int)
        }
        _ => Value::Null,
    }
}
/// `server_id` (Kamailio's default 0; sipr has no such parameter yet).
fn get_sid<'c>(_: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    Value::Int(0)
}

// ---------------------------------------------------------------------
// Authorization fields and the accounting user

fn auth_param<'c>(ctx: &'c Ctx<'_>, name: &str) -> Option<&'c [u8]> {
    let buf = ctx.msg.buf();
    ctx.msg
        .headers()
        .iter()
        .filter(|h| matches!(h.kind, HeaderKind::Authorization | HeaderKind::ProxyAuthorization))
        .find_map(|h| crate::sip::AuthParams::parse(buf, h.value).ok().and_then(|a| a.get(buf, name)))
}
fn get_aa<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    Value::opt_str(auth_param(ctx, "algorithm"))
}
fn get_adu<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    Value::opt_str(auth_param(ctx, "uri"))
}
fn get_auser_whole<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    Value::opt_str(auth_param(ctx, "username"))
}
/// `$Au`: the auth user and realm (`user@realm`), else the From URI's
/// user and host.
fn get_acc_user_realm<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    if let Some(u) = auth_param(ctx, "username") {
        let user = u.split(|c| *c == b'@').next().unwrap_or(u);
        let realm = auth_param(ctx, "realm").unwrap_or(b"");
        return Value::string([user, b"@", realm].concat());
    }
    let buf = ctx.msg.buf();
    match ctx.msg.from() {
        Ok(na) => Value::string([na.uri.user.map_or(&b""[..], |u| u.get(buf)), b"@", na.uri.host.get(buf)].concat()),
        Err(_) => Value::Null,
    }
}
/// `$AU`: the auth user, else the From URI's user.
fn get_acc_user<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    if let Some(u) = auth_param(ctx, "username") {
        return Value::str(u.split(|c| *c == b'@').next().unwrap_or(u));
    }
    let buf = ctx.msg.buf();
    Value::opt_str(ctx.msg.from().ok().and_then(|na| na.uri.user.map(|u| u.get(buf))))
}

// ---------------------------------------------------------------------
// $hfl / $hflc: the bodies of list headers one by one

fn hfl_fixup(inner: Option<&str>, _: &PvRegistry, _: &mut Names) -> Result<PvArg, String> {
    let name = inner.map(str::trim).filter(|s| !s.is_empty()).ok_or("needs a header name")?;
    Ok(PvArg::Hdr(HeaderKind::from_name(name.as_bytes()), name.as_bytes().into()))
}

/// Whether a header kind's bodies are counted one by one (Kamailio's
/// list: Via, Record-Route, Route, Contact).
fn listed(kind: HeaderKind) -> bool {
    matches!(kind, HeaderKind::Via | HeaderKind::RecordRoute | HeaderKind::Route | HeaderKind::Contact)
}

/// Every body of the headers `pv` names: split at top-level commas for
/// the listed kinds, the whole values otherwise.
fn bodies<'c>(ctx: &'c Ctx<'_>, pv: &PvRef) -> Vec<&'c [u8]> {
    let (kind, name): (HeaderKind, &[u8]) = match &pv.arg {
        PvArg::Hdr(k, n) => (*k, n),
        _ => return Vec::new(),
    };
    let buf = ctx.msg.buf();
    let mut out = Vec::new();
    for h in ctx.msg.headers().iter().filter(|h| {
        if kind == HeaderKind::Other {
            h.kind == HeaderKind::Other && h.name.get(buf).eq_ignore_ascii_case(name)
        } else {
            h.kind == kind
        }
    }) {
        if listed(kind) {
            out.extend(crate::sip::list_items(buf, h.value).into_iter().map(|s| s.get(buf)));
        } else {
            out.push(h.value.get(buf));
        }
    }
    out
}

fn get_hfl<'c>(ctx: &'c Ctx<'_>, pv: &'c PvRef) -> Value<'c> {
    let all = bodies(ctx, pv);
    let pick = match pv.index_in(ctx) {
        PvIndex::None | PvIndex::At(0) => all.first(),
        PvIndex::At(i) if i > 0 => all.get(i as usize),
        // no counting from the end here (Kamailio's $hfl has none)
        PvIndex::At(_) => None,
        PvIndex::All => return if all.is_empty() { Value::Null } else { Value::string(all.join(&b","[..])) },
    };
    Value::opt_str(pick.copied())
}
fn get_hflc<'c>(ctx: &'c Ctx<'_>, pv: &'c PvRef) -> Value<'c> {
    Value::Int(bodies(ctx, pv).len() as i64)
}

// ---------------------------------------------------------------------
// $expires(min|max)

fn expires_fixup(inner: Option<&str>, _: &PvRegistry, _: &mut Names) -> Result<PvArg, String> {
    match inner.map(str::trim) {
        Some("min") => Ok(PvArg::Id(0)),
        Some("max") => Ok(PvArg::Id(1)),
        _ => Err("takes min or max".into()),
    }
}

/// The expires values of the message: each Contact's `expires`, the
/// Expires header for a Contact without one (Kamailio's rule).
fn get_expires<'c>(ctx: &'c Ctx<'_>, pv: &'c PvRef) -> Value<'c> {
    let buf = ctx.msg.buf();
    let header = ctx.msg.header_value(HeaderKind::Expires).and_then(crate::sip::parse_delta_seconds);
    let mut values: Vec<u32> = Vec::new();
    if let Ok(Some(crate::sip::Contact::List(addrs))) = ctx.msg.contact() {
        for a in addrs {
            match a.expires(buf) {
                Some(e) => values.push(e),
                None => values.extend(header),
            }
        }
    }
    if values.is_empty() {
        values.extend(header);
    }
    let v = if matches!(pv.arg, PvArg::Id(0)) { values.iter().min() } else { values.iter().max() };
    v.map_or(Value::Null, |e| Value::Int(i64::from(*e)))
}

// ---------------------------------------------------------------------
// $branch(attr)

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BranchAttr {
    Uri,
    DstUri,
    Path,
    Q,
    SendSocket,
    Count,
    Flags,
    Ruid,
}

fn branch_fixup(inner: Option<&str>, _: &PvRegistry, _: &mut Names) -> Result<PvArg, String> {
    let attr = match inner.map(str::trim) {
        Some("uri") => BranchAttr::Uri,
        Some("dst_uri") => BranchAttr::DstUri,
        Some("path") => BranchAttr::Path,
        Some("q") => BranchAttr::Q,
        Some("send_socket") => BranchAttr::SendSocket,
        Some("count") => BranchAttr::Count,
        Some("flags") => BranchAttr::Flags,
        Some("ruid") => BranchAttr::Ruid,
        _ => return Err("takes uri, dst_uri, path, q, send_socket, count, flags or ruid".into()),
    };
    Ok(PvArg::Custom(Box::new(attr)))
}

fn branch_attr(pv: &PvRef) -> Option<BranchAttr> {
    match &pv.arg {
        PvArg::Custom(c) => c.downcast_ref::<BranchAttr>().copied(),
        _ => None,
    }
}

/// The branch an index names (none: the first; -1: the last).
fn branch_index(ctx: &Ctx<'_>, pv: &PvRef, n: usize) -> Option<usize> {
    match pv.index_in(ctx) {
        PvIndex::None | PvIndex::All => (n > 0).then_some(0),
        PvIndex::At(i) if i >= 0 => ((i as usize) < n).then_some(i as usize),
        PvIndex::At(i) => n.checked_sub((-i) as usize),
    }
}

fn get_branch<'c>(ctx: &'c Ctx<'_>, pv: &'c PvRef) -> Value<'c> {
    let Some(attr) = branch_attr(pv) else { return Value::Null };
    if attr == BranchAttr::Count {
        return if ctx.branches.is_empty() { Value::Null } else { Value::Int(ctx.branches.len() as i64) };
    }
    let Some(b) = branch_index(ctx, pv, ctx.branches.len()).map(|i| &ctx.branches[i]) else { return Value::Null };
    match attr {
        BranchAttr::Uri => Value::str(&b.uri),
        BranchAttr::DstUri => Value::opt_str(b.dst_uri.as_deref()),
        BranchAttr::Q => b.q.map_or(Value::Null, |q| Value::Int(i64::from(q))),
        BranchAttr::Flags => Value::Int(i64::from(b.bflags)),
        BranchAttr::Path | BranchAttr::SendSocket | BranchAttr::Ruid | BranchAttr::Count => Value::Null,
    }
}

fn set_branch(ctx: &mut Ctx<'_>, pv: &PvRef, v: &Value<'_>) -> Result<(), String> {
    let attr = branch_attr(pv).ok_or("bad $branch")?;
    let Some(i) = branch_index(ctx, pv, ctx.branches.len()) else { return Err("no such branch".into()) };
    match attr {
        BranchAttr::Uri if v.is_null() => {
            ctx.branches.remove(i);
        }
        BranchAttr::Uri => ctx.branches[i].uri = v.to_bytes().into_owned(),
        BranchAttr::DstUri => ctx.branches[i].dst_uri = (!v.is_null()).then(|| v.to_bytes().into_owned()),
        BranchAttr::Q => ctx.branches[i].q = (!v.is_null()).then(|| v.to_int() as i32),
        BranchAttr::Flags => ctx.branches[i].bflags = v.to_int() as u32,
        BranchAttr::Path | BranchAttr::SendSocket | BranchAttr::Ruid | BranchAttr::Count => {
            return Err("this branch attribute is not writable in sipr".into())
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------
// $cnt(pv): how many values an AVP or xavp holds

/// An index in `$cnt`'s xavp path: none, `[*]`, or a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CntIdx {
    None,
    All,
    At(i64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum CntTarget {
    Avp(u32),
    Xavp { root: Vec<u8>, root_idx: CntIdx, field: Option<(Vec<u8>, CntIdx)> },
}

fn cnt_name_idx(s: &str) -> Result<(Vec<u8>, CntIdx), String> {
    let s = s.trim();
    match s.split_once('[') {
        Some((n, rest)) => {
            let i = rest.strip_suffix(']').ok_or_else(|| format!("bad index in '{s}'"))?.trim();
            let idx =
                if i == "*" { CntIdx::All } else { CntIdx::At(i.parse().map_err(|_| format!("bad index [{i}]"))?) };
            Ok((n.trim().as_bytes().to_vec(), idx))
        }
        None => Ok((s.as_bytes().to_vec(), CntIdx::None)),
    }
}

fn cnt_fixup(inner: Option<&str>, reg: &PvRegistry, names: &mut Names) -> Result<PvArg, String> {
    let inner = inner.map(str::trim).filter(|s| !s.is_empty()).ok_or("needs a pseudo-variable")?;
    let body = inner
        .strip_prefix("$xavp(")
        .or_else(|| inner.strip_prefix("$(xavp("))
        .map(|b| b.trim_end_matches(')').to_string());
    if let Some(path) = body {
        let (root, field) = match path.split_once("=>") {
            Some((r, f)) => (r, Some(cnt_name_idx(f)?)),
            None => (path.as_str(), None),
        };
        let (root, root_idx) = cnt_name_idx(root)?;
        return Ok(PvArg::Custom(Box::new(CntTarget::Xavp { root, root_idx, field })));
    }
    let pv = reg.resolve(inner, names)?;
    match pv.arg {
        PvArg::Id(id) if inner.contains("avp(") => Ok(PvArg::Custom(Box::new(CntTarget::Avp(id)))),
        _ => Err("counts $avp(...) or $xavp(...) values".into()),
    }
}

fn get_cnt<'c>(ctx: &'c Ctx<'_>, pv: &'c PvRef) -> Value<'c> {
    let PvArg::Custom(c) = &pv.arg else { return Value::Null };
    let Some(t) = c.downcast_ref::<CntTarget>() else { return Value::Null };
    let n = match t {
        CntTarget::Avp(id) => ctx.avps.iter().filter(|a| a.name == *id).count(),
        CntTarget::Xavp { root, root_idx, field } => {
            // newest first, as the script indexes them
            let items: Vec<_> = ctx.xavps.iter().rev().filter(|x| &x.name == root).collect();
            let chosen: Vec<_> = match root_idx {
                CntIdx::None if field.is_none() => items.clone(),
                CntIdx::All => items.clone(),
                CntIdx::None => items.iter().take(1).copied().collect(),
                CntIdx::At(i) => pick(&items, *i).into_iter().collect(),
            };
            match field {
                None => match root_idx {
                    CntIdx::At(_) => chosen.len().min(1),
                    _ => chosen.len(),
                },
                Some((f, fidx)) => chosen
                    .iter()
                    .map(|x| {
                        let vals: Vec<_> = x.fields.iter().rev().filter(|(n, _)| n == f).collect();
                        match fidx {
                            CntIdx::At(i) => usize::from(pick(&vals, *i).is_some()),
                            _ => vals.len(),
                        }
                    })
                    .sum(),
            }
        }
    };
    Value::Int(n as i64)
}

fn pick<T: Copy>(items: &[T], i: i64) -> Option<T> {
    if i >= 0 {
        items.get(i as usize).copied()
    } else {
        items.len().checked_sub((-i) as usize).and_then(|j| items.get(j).copied())
    }
}

// ---------------------------------------------------------------------
// $vz (= $var) and $vn (a variable that can hold $null)

fn vn_fixup(inner: Option<&str>, _: &PvRegistry, names: &mut Names) -> Result<PvArg, String> {
    let name = inner.map(str::trim).filter(|s| !s.is_empty()).ok_or("needs a name")?;
    Ok(PvArg::Slot(names.vn_slot(name)))
}
fn get_vn<'c>(ctx: &'c Ctx<'_>, pv: &'c PvRef) -> Value<'c> {
    match pv.arg {
        PvArg::Slot(s) => ctx.proc.null_vars.get(s as usize).map_or(Value::Null, Stored::get),
        _ => Value::Null,
    }
}
fn set_vn(ctx: &mut Ctx<'_>, pv: &PvRef, v: &Value<'_>) -> Result<(), String> {
    let PvArg::Slot(s) = pv.arg else { return Err("bad $vn".into()) };
    let s = s as usize;
    if ctx.proc.null_vars.len() <= s {
        ctx.proc.null_vars.resize(s + 1, Stored::Null);
    }
    match v {
        Value::Null => ctx.proc.null_vars[s] = Stored::Null,
        v => ctx.proc.null_vars[s].set(v),
    }
    Ok(())
}

// ---------------------------------------------------------------------
// Environment, times, the updated buffer

fn get_env<'c>(_: &'c Ctx<'_>, pv: &'c PvRef) -> Value<'c> {
    let PvArg::Text(name) = &pv.arg else { return Value::Null };
    let name = String::from_utf8_lossy(name);
    std::env::var_os(name.as_ref()).map_or(Value::Null, |v| {
        use std::os::unix::ffi::OsStringExt;
        Value::string(v.into_vec())
    })
}

/// When the server started (the main process reads it before the fork).
static BOOT: std::sync::OnceLock<i64> = std::sync::OnceLock::new();

/// Records the start time for `$Tb` (the main process, at start-up).
pub fn mark_boot() {
    let _ = BOOT.set(now());
}

fn get_tb<'c>(_: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    Value::Int(*BOOT.get_or_init(now))
}
fn get_tf<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    Value::string(super::timefmt::ctime(ctx.started()).into_bytes())
}
fn get_tf_now<'c>(_: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    Value::string(super::timefmt::ctime(now()).into_bytes())
}
fn get_timef<'c>(_: &'c Ctx<'_>, pv: &'c PvRef) -> Value<'c> {
    let PvArg::Text(fmt) = &pv.arg else { return Value::Null };
    Value::string(super::timefmt::strftime(fmt, now()))
}

// ---------------------------------------------------------------------
// $_s(format), $def / $defn, $version, $msgbuf(i), $mi

/// `$_s(format)`: the format evaluated (a PV without value prints
/// `<null>`, as in xlog).
fn format_fixup(inner: Option<&str>, reg: &PvRegistry, names: &mut Names) -> Result<PvArg, String> {
    let text = inner.ok_or("needs a format")?;
    Ok(PvArg::Custom(Box::new(super::pv::Format::parse(text.as_bytes(), reg, names)?)))
}
fn get_format<'c>(ctx: &'c Ctx<'_>, pv: &'c PvRef) -> Value<'c> {
    match &pv.arg {
        PvArg::Custom(c) => c.downcast_ref::<super::pv::Format>().map_or(Value::Null, |f| {
            let mut out = Vec::new();
            f.eval_into(ctx, &mut out);
            Value::string(out)
        }),
        _ => Value::Null,
    }
}

/// `$def(NAME)`: the define's value as text (`$null` when not defined);
/// `$defn(NAME)` the same as a number.
fn def_fixup(inner: Option<&str>, _: &PvRegistry, names: &mut Names) -> Result<PvArg, String> {
    let name = inner.map(str::trim).filter(|s| !s.is_empty()).ok_or("needs a define's name")?;
    Ok(PvArg::Custom(Box::new(names.define(name).map(|v| Value::string(v.as_bytes().to_vec()).into_owned()))))
}
fn defn_fixup(inner: Option<&str>, _: &PvRegistry, names: &mut Names) -> Result<PvArg, String> {
    let name = inner.map(str::trim).filter(|s| !s.is_empty()).ok_or("needs a define's name")?;
    let v = names.define(name).map(|v| Value::Int(super::value::str_to_int(v.trim().as_bytes()).unwrap_or(0)));
    Ok(PvArg::Custom(Box::new(v)))
}
fn get_def<'c>(_: &'c Ctx<'_>, pv: &'c PvRef) -> Value<'c> {
    match &pv.arg {
        PvArg::Custom(c) => match c.downcast_ref::<Option<Value<'static>>>() {
            Some(Some(v)) => v.clone(),
            _ => Value::Null,
        },
        _ => Value::Null,
    }
}

/// A custom global parameter a PV reads: its name, and the cfg's value
/// (what it reads where no server runs, `sipr -c`).
struct CustomRef {
    group: String,
    name: String,
    cfg_value: Value<'static>,
}

/// `$ccp(group.name)`: a custom global parameter's value, as `cfg.set`
/// last left it (the cfg's until then).
fn ccp_fixup(inner: Option<&str>, _: &PvRegistry, names: &mut Names) -> Result<PvArg, String> {
    let full = inner.map(str::trim).filter(|s| !s.is_empty()).ok_or("needs group.name")?;
    let v = names.custom(full).ok_or_else(|| format!("no custom global parameter '{full}' in the cfg"))?;
    let (group, name) = full.split_once('.').unwrap_or((full, ""));
    Ok(PvArg::Custom(Box::new(CustomRef {
        group: group.to_string(),
        name: name.to_string(),
        cfg_value: v.get().into_owned(),
    })))
}

fn get_ccp<'c>(_: &'c Ctx<'_>, pv: &'c PvRef) -> Value<'c> {
    let PvArg::Custom(c) = &pv.arg else { return Value::Null };
    let Some(r) = c.downcast_ref::<CustomRef>() else { return Value::Null };
    match crate::cfgvars::get(&r.group, &r.name) {
        Some(crate::cfgvars::CfgValue::Int(i)) => Value::Int(i),
        Some(crate::cfgvars::CfgValue::Str(s)) => Value::string(s.into_bytes()),
        None => r.cfg_value.clone(),
    }
}

/// `$sel(...)`: of SER's selects, sipr has `cfg_get.group.name` (the
/// custom global parameters); another select is refused at start-up.
fn sel_fixup(inner: Option<&str>, reg: &PvRegistry, names: &mut Names) -> Result<PvArg, String> {
    let text = inner.map(str::trim).unwrap_or("");
    match text.strip_prefix("cfg_get.") {
        Some(name) => ccp_fixup(Some(name), reg, names),
        None => Err(format!("the select '{text}' is not supported by sipr yet (only cfg_get.group.name)")),
    }
}

/// `$version(num|full|hash)`: sipr's own version.
fn version_fixup(inner: Option<&str>, _: &PvRegistry, _: &mut Names) -> Result<PvArg, String> {
    let text = match inner.map(str::trim) {
        Some("num") => env!("CARGO_PKG_VERSION").to_string(),
        Some("full") => crate::server_signature().to_string(),
        Some("hash") => String::new(),
        _ => return Err("takes num, full or hash".into()),
    };
    Ok(PvArg::Text(text.into_bytes().into()))
}
fn get_version<'c>(_: &'c Ctx<'_>, pv: &'c PvRef) -> Value<'c> {
    match &pv.arg {
        PvArg::Text(t) => Value::str(t),
        _ => Value::Null,
    }
}

/// `$msgbuf(i)`: the byte at offset `i` of the message (read only in sipr:
/// the received buffer is shared by the parsed message).
fn msgbuf_fixup(inner: Option<&str>, _: &PvRegistry, _: &mut Names) -> Result<PvArg, String> {
    let i = inner.map(str::trim).and_then(|s| s.parse::<u32>().ok()).ok_or("takes a byte offset")?;
    Ok(PvArg::Id(i))
}
fn get_msgbuf<'c>(ctx: &'c Ctx<'_>, pv: &'c PvRef) -> Value<'c> {
    let PvArg::Id(i) = pv.arg else { return Value::Null };
    let buf = ctx.msg.buf();
    buf.get(i as usize).map_or(Value::Null, |_| Value::str(&buf[i as usize..=i as usize]))
}

/// `$mi`: the message's number in this process (each received message
/// counts one, as Kamailio's message id).
fn get_mi<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    Value::Int(ctx.module_int("core.msgid").unwrap_or(0))
}

/// `$mbu`: the message as it would leave with the changes made so far.
fn get_mbu<'c>(ctx: &'c Ctx<'_>, _: &'c PvRef) -> Value<'c> {
    match ctx.lumps.apply(ctx.msg.buf()) {
        Ok(b) => Value::string(b),
        Err(_) => Value::str(ctx.msg.buf()),
    }
}
