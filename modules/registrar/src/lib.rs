//! registrar: REGISTER processing (Kamailio's registrar) over usrloc.
//!
//! * `save(domain[, flags[, uri]])`: the bindings of the To URI's address
//!   of record (or `uri`'s) from the Contact headers — each contact's
//!   `expires` parameter, else the Expires header, else
//!   `default_expires`; below `min_expires` raised to it (or, with
//!   `min_expires_mode` 1, refused with 423 and Min-Expires); above
//!   `max_expires` lowered to it; 0 removes it; `Contact: *` with Expires
//!   0 removes them all; no Contact returns them. A REGISTER older than a
//!   binding it updates (same Call-ID, lower CSeq) changes nothing. More
//!   than `max_contacts` bindings is refused with 503. The 200 lists every
//!   binding with its remaining expires. Flags: 0x01 memory only, 0x02 no
//!   reply, 0x04 the REGISTER's contacts replace the others.
//! * `lookup(domain[, uri])`: the Request-URI becomes the best contact
//!   (highest q, then the most recent), the others branches
//!   (`append_branches`); the destination is the contact's `received`
//!   when it has one; branch flags come back. 1 found, -1 not found, -2
//!   found but none accepts the method (`method_filtering`), -3 error.
//! * `registered(domain[, uri])`, `unregister(domain, uri[, ruid])`.

#![forbid(unsafe_code)]

mod save;
mod ulc;

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use sipr_sdk::CfgNum;
use std::sync::OnceLock;

use sipr_sdk::prelude::*;
use sipr_sdk::usrloc_api::{UContact, UlApi, UL_API_VERSION};
use sipr_sdk::{Branch, ModValue, Param, RouteMask};

static UL: OnceLock<&'static UlApi> = OnceLock::new();

/// usrloc's API (bound in mod_init; the fixups bind it on their own,
/// since they run first).
pub fn ul() -> Result<&'static UlApi, ModError> {
    if let Some(u) = UL.get() {
        return Ok(u);
    }
    let api = sipr_sdk::bind_api::<UlApi>("usrloc", UL_API_VERSION)
        .map_err(|e| ModError(format!("registrar needs usrloc (loadmodule \"usrloc.so\" first): {e}")))?;
    Ok(UL.get_or_init(|| api))
}

/// Parameters (Kamailio's names and defaults). Those Kamailio's cfg
/// framework changes at runtime (`cfg.set registrar max_expires 3600`)
/// are [`CfgNum`]s, registered in `mod_init` ([`register_cfg`]).
#[derive(Debug)]
pub struct Params {
    pub default_expires: CfgNum,
    /// Percent: a binding without an asked expiry gets a random one in
    /// `[default_expires - range%, default_expires]`.
    pub default_expires_range: CfgNum,
    /// Percent: the same for an asked expiry.
    pub expires_range: CfgNum,
    pub min_expires: CfgNum,
    pub min_expires_mode: AtomicI64,
    pub max_expires: CfgNum,
    pub default_q: CfgNum,
    pub append_branches: CfgNum,
    pub case_sensitive: CfgNum,
    pub max_contacts: CfgNum,
    pub retry_after: CfgNum,
    /// `realm_prefix` (cfg variable `realm_pref`): stripped from an AoR's
    /// domain.
    pub realm_prefix: sipr_sdk::CfgStr,
    pub method_filtering: AtomicBool,
    pub use_path: AtomicBool,
    pub path_mode: AtomicI64,
    pub gruu_enabled: AtomicBool,
    pub xavp_rcd_mask: AtomicI64,
}

pub static PARAMS: Params = Params {
    default_expires: CfgNum::new(3600),
    default_expires_range: CfgNum::new(0),
    expires_range: CfgNum::new(0),
    min_expires: CfgNum::new(60),
    min_expires_mode: AtomicI64::new(0),
    max_expires: CfgNum::new(0),
    default_q: CfgNum::new(-1),
    append_branches: CfgNum::new(1),
    // Kamailio's default: AoRs compared and stored lower-cased (measured)
    case_sensitive: CfgNum::new(0),
    max_contacts: CfgNum::new(0),
    retry_after: CfgNum::new(0),
    realm_prefix: sipr_sdk::CfgStr::new(),
    method_filtering: AtomicBool::new(false),
    use_path: AtomicBool::new(false),
    path_mode: AtomicI64::new(2),
    gruu_enabled: AtomicBool::new(true),
    xavp_rcd_mask: AtomicI64::new(0),
};

/// Publishes the runtime-changeable parameters as Kamailio's cfg group
/// `registrar`, in its order, with its help texts and bounds (measured:
/// `default_q` -1..1000, the ranges 0..100, the others any number).
fn register_cfg() -> Result<(), String> {
    PARAMS.realm_prefix.register("registrar", "realm_pref", "Realm prefix to be removed. Default is \"\"")?;
    const ANY: (i64, i64) = CfgNum::ANY_INT;
    let vars: [(&CfgNum, &str, &str, (i64, i64)); 10] = [
        (&PARAMS.default_expires, "default_expires", "Contains number of second to expire if no expire hf or contact expire present", ANY),
        (&PARAMS.default_expires_range, "default_expires_range", "Percent from default_expires that will be used in generating the range for the expire interval", (0, 100)),
        (&PARAMS.expires_range, "expires_range", "Percent from incoming expires that will be used in generating the range for the expire interval", (0, 100)),
        (&PARAMS.min_expires, "min_expires", "The minimum expires value of a Contact. Value 0 disables the checking. ", ANY),
        (&PARAMS.max_expires, "max_expires", "The maximum expires value of a Contact. Value 0 disables the checking. ", ANY),
        (&PARAMS.max_contacts, "max_contacts", "The maximum number of Contacts for an AOR. Value 0 disables the checking. ", ANY),
        (&PARAMS.retry_after, "retry_after", "If you want to add the Retry-After header field in 5xx replies, set this parameter to a value grater than zero", ANY),
        (&PARAMS.case_sensitive, "case_sensitive", "If set to 1 then AOR comparison will be case sensitive. Recommended and default is 0, case insensitive", ANY),
        (&PARAMS.default_q, "default_q", "The parameter represents default q value for new contacts.", (-1, 1000)),
        (&PARAMS.append_branches, "append_branches", "If set to 1(default), lookup will put all contacts found in msg structure", ANY),
    ];
    for (v, name, help, (min, max)) in vars {
        v.register("registrar", name, help, true, min, max)?;
    }
    Ok(())
}

/// `received_avp` as given, and the id it names (-1: none).
pub static RECEIVED_AVP: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());
pub static RECEIVED_AVP_ID: AtomicI64 = AtomicI64::new(-1);

/// `xavp_cfg`: the xavp save() reads its runtime settings from ("": none).
pub static XAVP_CFG: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());
/// `xavp_rcd`: the xavp save() leaves the saved bindings' details in.
pub static XAVP_RCD: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());

/// The address of record of a SIP URI: `user` (with usrloc's
/// `use_domain`, `user@host`), lower-cased unless `case_sensitive`.
pub fn aor_of(uri: &[u8]) -> Result<String, ModError> {
    let u = sipr_sdk::sip::Uri::parse(uri, sipr_sdk::sip::Span::from_range(0, uri.len()))
        .map_err(|e| ModError(format!("bad URI: {e}")))?;
    let user = String::from_utf8_lossy(u.user.map_or(&b""[..], |s| s.get(uri))).into_owned();
    let host = String::from_utf8_lossy(u.host.get(uri)).into_owned();
    let aor = if (ul()?.use_domain)() {
        // realm_prefix: "sip.example.com" is the domain "example.com"
        // (compared as written: "SIP.example.com" keeps it, measured)
        let host = PARAMS.realm_prefix.with(|p| match host.strip_prefix(p) {
            Some(rest) if !p.is_empty() && !rest.is_empty() => rest.to_ascii_lowercase(),
            _ => host.to_ascii_lowercase(),
        });
        format!("{user}@{host}")
    } else {
        user
    };
    Ok(if PARAMS.case_sensitive.is_on() { aor } else { aor.to_ascii_lowercase() })
}

fn domain_fixup(p: &mut [Param]) -> Result<(), String> {
    let Some(Param::Str(d)) = p.first() else { return Err("the domain (table) must be a constant".into()) };
    let name = String::from_utf8_lossy(d).into_owned();
    (ul().map_err(|e| e.0)?.register_domain)(&name)
}

pub(crate) fn domain_of(p: &[Param]) -> String {
    match p.first() {
        Some(Param::Str(d)) => String::from_utf8_lossy(d).into_owned(),
        _ => "location".into(),
    }
}

fn save1(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    save::save(ctx, &domain_of(p), 0, None)
}
fn save2(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let flags = p[1].int(ctx);
    save::save(ctx, &domain_of(p), flags, None)
}
fn save3(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let flags = p[1].int(ctx);
    let uri = p[2].text(ctx).into_owned();
    save::save(ctx, &domain_of(p), flags, Some(uri))
}

/// `lookup`: 1 found, -1 none, -2 none for this method, -3 error.
/// Where lookup() puts the bindings it finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// The first in the Request-URI (and `$du`, Path), the others
    /// appended as branches with `append_branches`.
    RequestUri,
    /// All as branches, the Request-URI unchanged (`lookup_to_dset`).
    DestinationSet,
}

fn lookup_with(ctx: &mut Ctx<'_>, domain: &str, uri: Option<Vec<u8>>, target: Target) -> FnResult {
    let Some(uri) = uri.or_else(|| ctx.ruri().map(<[u8]>::to_vec)) else { return Ok(-3) };
    // one read of the record; method_filtering narrows it afterwards
    let mut cs = match contacts_for(domain, &uri) {
        Ok(cs) => cs,
        Err(e) => {
            log::error!("registrar: lookup: {e}");
            return Ok(-3);
        }
    };
    if cs.is_empty() {
        return Ok(-1);
    }
    if PARAMS.method_filtering.load(Ordering::Relaxed) {
        if let Some(m) = ctx.msg.method() {
            let id = m.id();
            cs.retain(|c| c.methods.is_none_or(|allowed| allowed & id != 0));
        }
    }
    let Some(first) = cs.first() else { return Ok(-2) };
    let branch = |c: &UContact| Branch {
        uri: c.contact.clone().into_bytes(),
        dst_uri: c.received.clone().map(String::into_bytes),
        q: (c.q >= 0).then_some(c.q),
        bflags: c.cflags,
    };
    if target == Target::DestinationSet {
        // lookup_to_dset: the Request-URI stays; every binding is a branch
        ctx.branches.extend(cs.iter().map(branch));
        return Ok(1);
    }
    ctx.set_new_uri(Some(first.contact.clone().into_bytes()));
    ctx.dst_uri = first.received.clone().map(String::into_bytes);
    if let Some(path) = &first.path {
        // RFC 3327 §5: the request goes through the Path: Route headers
        // made of it, its first hop the destination
        route_through(ctx, path);
    }
    ctx.bflags = first.cflags;
    if PARAMS.append_branches.is_on() {
        ctx.branches.extend(cs[1..].iter().map(branch));
    }
    Ok(1)
}

/// The bindings a Request-URI reaches: its AoR's, or with a `gr`
/// parameter (RFC 5627) one instance's: `gr=INSTANCE` (a pub-gruu) the
/// binding of that `+sip.instance`, a bare `gr` (a temp-gruu, made by
/// [`save::temp_gruu`]) the binding whose ruid the user part names.
fn contacts_for(domain: &str, uri: &[u8]) -> Result<Vec<UContact>, String> {
    let ul = ul().map_err(|e| e.0)?;
    let u = sipr_sdk::sip::Uri::parse(uri, sipr_sdk::sip::Span::from_range(0, uri.len())).map_err(|e| e.to_string())?;
    let gr = if PARAMS.gruu_enabled.load(Ordering::Relaxed) { u.param_value(uri, "gr") } else { None };
    match gr {
        Some(b"") => {
            let user = String::from_utf8_lossy(u.user.map_or(&b""[..], |s| s.get(uri))).into_owned();
            let Some((ruid, hash)) = save::parse_temp_gruu(&user) else { return Ok(Vec::new()) };
            Ok((ul.by_ruid)(domain, hash, &ruid)?.map(|(_, c)| c).into_iter().collect())
        }
        Some(instance) => {
            let instance = String::from_utf8_lossy(instance);
            let cs = (ul.get)(domain, &aor_of(uri).map_err(|e| e.0)?)?;
            Ok(cs
                .into_iter()
                .filter(|c| c.instance.as_deref().map(save::instance_id) == Some(&instance))
                .take(1)
                .collect())
        }
        None => (ul.get)(domain, &aor_of(uri).map_err(|e| e.0)?),
    }
}

/// Adds `Route: PATH` before the first Route header (or, as Kamailio,
/// before the first Via: after the Via the request leaves with) and makes
/// the path's first URI the destination.
fn route_through(ctx: &mut Ctx<'_>, path: &str) {
    use sipr_sdk::sip::HeaderKind;
    let headers = ctx.msg.headers();
    let at = headers
        .iter()
        .find(|h| h.kind == HeaderKind::Route)
        .or_else(|| headers.iter().find(|h| h.kind == HeaderKind::Via))
        .map(|h| h.line.off as usize);
    if let Some(at) = at {
        ctx.lumps.insert_late(at, format!("Route: {path}\r\n").as_bytes());
    }
    let first = path.split(',').next().unwrap_or_default().trim();
    let uri = first.trim_start_matches('<').split('>').next().unwrap_or_default();
    if !uri.is_empty() {
        ctx.dst_uri = Some(uri.as_bytes().to_vec());
    }
}

/// `lookup_branches(domain)`: lookup() of the Request-URI (its other
/// bindings appended as branches), then of each branch that was there
/// before and has nothing but a URI: its first binding takes the branch's
/// place, the others are appended; a branch with no binding, or with a
/// destination, q or flags, stays as it is (measured on Kamailio). 1 when
/// any lookup found bindings, else the Request-URI's result.
fn lookup_branches(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let domain = domain_of(p);
    let before = ctx.branches.len();
    let mut rc = lookup_with(ctx, &domain, None, Target::RequestUri)?;
    for i in 0..before {
        let b = &ctx.branches[i];
        if b.dst_uri.is_some() || b.q.is_some() || b.bflags != 0 {
            continue;
        }
        let cs = match contacts_for(&domain, &b.uri) {
            Ok(cs) => cs,
            Err(e) => {
                log::error!("registrar: lookup_branches: {e}");
                continue;
            }
        };
        let mut found = cs.into_iter().map(|c| Branch {
            uri: c.contact.into_bytes(),
            dst_uri: c.received.map(String::into_bytes),
            q: (c.q >= 0).then_some(c.q),
            bflags: c.cflags,
        });
        if let Some(first) = found.next() {
            ctx.branches[i] = first;
            ctx.branches.extend(found);
            rc = 1;
        }
    }
    Ok(rc)
}

fn lookup1(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    lookup_with(ctx, &domain_of(p), None, Target::RequestUri)
}
fn lookup2(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let uri = p[1].text(ctx).into_owned();
    lookup_with(ctx, &domain_of(p), Some(uri), Target::RequestUri)
}
fn lookup_to_dset1(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    lookup_with(ctx, &domain_of(p), None, Target::DestinationSet)
}
fn lookup_to_dset2(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let uri = p[1].text(ctx).into_owned();
    lookup_with(ctx, &domain_of(p), Some(uri), Target::DestinationSet)
}

fn registered_with(ctx: &mut Ctx<'_>, domain: &str, uri: Option<Vec<u8>>) -> FnResult {
    let uri = match uri {
        Some(u) => u,
        None => ctx.ruri().ok_or("no Request-URI")?.to_vec(),
    };
    let aor = aor_of(&uri)?;
    Ok(if (ul()?.get)(domain, &aor)?.is_empty() { -1 } else { 1 })
}

fn registered1(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    registered_with(ctx, &domain_of(p), None)
}
fn registered2(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let uri = p[1].text(ctx).into_owned();
    registered_with(ctx, &domain_of(p), Some(uri))
}

fn unregister_with(ctx: &mut Ctx<'_>, domain: &str, uri: &[u8], ruid: Option<String>) -> FnResult {
    let aor = aor_of(uri)?;
    let mut removed = false;
    (ul()?.update)(domain, &aor, &mut |cs: &mut Vec<UContact>| {
        let n = cs.len();
        match &ruid {
            Some(r) => cs.retain(|c| c.ruid != *r),
            None => cs.clear(),
        }
        removed = cs.len() != n;
        Ok(())
    })?;
    let _ = ctx;
    Ok(if removed { 1 } else { -1 })
}

fn unregister2(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let uri = p[1].text(ctx).into_owned();
    unregister_with(ctx, &domain_of(p), &uri, None)
}
fn unregister3(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let uri = p[1].text(ctx).into_owned();
    let ruid = String::from_utf8_lossy(&p[2].text(ctx)).into_owned();
    unregister_with(ctx, &domain_of(p), &uri, Some(ruid))
}

/// `registrar:accepted_regs` and `registrar:rejected_regs` (Kamailio's
/// statistics: save() answered 2xx, or refused).
pub static ACCEPTED: std::sync::OnceLock<&'static std::sync::atomic::AtomicU64> = std::sync::OnceLock::new();
/// See [`ACCEPTED`].
pub static REJECTED: std::sync::OnceLock<&'static std::sync::atomic::AtomicU64> = std::sync::OnceLock::new();

/// Kamailio's `registrar:` statistics: the two counters, and the
/// parameters it lists beside them (default_expire, max_expires, ...).
fn register_stats() -> Result<(), String> {
    let _ = ACCEPTED.set(sipr_sdk::counter("registrar", "accepted_regs")?);
    let _ = REJECTED.set(sipr_sdk::counter("registrar", "rejected_regs")?);
    for (name, v) in [
        ("default_expire", PARAMS.default_expires.get()),
        ("default_expires_range", PARAMS.default_expires_range.get()),
        ("expires_range", PARAMS.expires_range.get()),
        ("max_contacts", PARAMS.max_contacts.get()),
        ("max_expires", PARAMS.max_expires.get()),
    ] {
        // parameters, not counters: the reset commands leave them
        sipr_sdk::counter_no_reset("registrar", name)?.store(v.max(0) as u64, Ordering::Relaxed);
    }
    Ok(())
}

fn mod_init() -> Result<(), String> {
    register_cfg()?;
    register_stats()?;
    let spec = RECEIVED_AVP.lock().map(|s| s.clone()).unwrap_or_default();
    if !spec.is_empty() {
        let id = sipr_sdk::avp_id(&spec).map_err(|e| format!("received_avp: {e}"))?;
        RECEIVED_AVP_ID.store(i64::from(id), Ordering::Relaxed);
    }
    let ul = ul().map_err(|e| e.0)?;
    (ul.on_contact)(ulc::contact_event);
    Ok(())
}

fn int(v: &ModValue, slot: &AtomicI64) -> Result<(), String> {
    slot.store(sipr_sdk::modparam::int(v)?, Ordering::Relaxed);
    Ok(())
}
fn num(v: &ModValue, slot: &CfgNum) -> Result<(), String> {
    slot.set(sipr_sdk::modparam::int(v)?);
    Ok(())
}
fn flag(v: &ModValue, slot: &AtomicBool) -> Result<(), String> {
    slot.store(sipr_sdk::modparam::int(v)? != 0, Ordering::Relaxed);
    Ok(())
}
fn set_default_expires(v: &ModValue) -> Result<(), String> {
    num(v, &PARAMS.default_expires)
}
fn set_default_expires_range(v: &ModValue) -> Result<(), String> {
    percent(v, &PARAMS.default_expires_range, "default_expires_range")
}
fn set_expires_range(v: &ModValue) -> Result<(), String> {
    percent(v, &PARAMS.expires_range, "expires_range")
}
fn percent(v: &ModValue, slot: &CfgNum, name: &str) -> Result<(), String> {
    let p = sipr_sdk::modparam::int(v)?;
    if !(0..=100).contains(&p) {
        return Err(format!("{name} must be 0..100 (a percentage), not {p}"));
    }
    slot.set(p);
    Ok(())
}
fn set_realm_prefix(v: &ModValue) -> Result<(), String> {
    PARAMS.realm_prefix.set(&sipr_sdk::modparam::str(v)?);
    Ok(())
}
fn set_min_expires(v: &ModValue) -> Result<(), String> {
    num(v, &PARAMS.min_expires)
}
fn set_min_expires_mode(v: &ModValue) -> Result<(), String> {
    int(v, &PARAMS.min_expires_mode)
}
fn set_max_expires(v: &ModValue) -> Result<(), String> {
    num(v, &PARAMS.max_expires)
}
fn set_default_q(v: &ModValue) -> Result<(), String> {
    num(v, &PARAMS.default_q)
}
fn set_append_branches(v: &ModValue) -> Result<(), String> {
    num(v, &PARAMS.append_branches)
}
fn set_case_sensitive(v: &ModValue) -> Result<(), String> {
    num(v, &PARAMS.case_sensitive)
}
fn set_max_contacts(v: &ModValue) -> Result<(), String> {
    num(v, &PARAMS.max_contacts)
}
fn set_retry_after(v: &ModValue) -> Result<(), String> {
    num(v, &PARAMS.retry_after)
}
fn set_method_filtering(v: &ModValue) -> Result<(), String> {
    flag(v, &PARAMS.method_filtering)
}
fn set_use_path(v: &ModValue) -> Result<(), String> {
    flag(v, &PARAMS.use_path)
}
fn set_path_mode(v: &ModValue) -> Result<(), String> {
    int(v, &PARAMS.path_mode)
}
fn set_received_avp(v: &ModValue) -> Result<(), String> {
    sipr_sdk::modparam::store_str(v, &RECEIVED_AVP)
}
fn set_xavp_cfg(v: &ModValue) -> Result<(), String> {
    sipr_sdk::modparam::store_str(v, &XAVP_CFG)
}
fn set_xavp_rcd(v: &ModValue) -> Result<(), String> {
    sipr_sdk::modparam::store_str(v, &XAVP_RCD)
}
fn set_xavp_rcd_mask(v: &ModValue) -> Result<(), String> {
    int(v, &PARAMS.xavp_rcd_mask)
}
fn set_gruu_enabled(v: &ModValue) -> Result<(), String> {
    flag(v, &PARAMS.gruu_enabled)
}

const REQ_FAILURE: RouteMask = RouteMask(RouteMask::REQUEST.0 | sipr_sdk::RouteType::Failure.bit().0);

sipr_sdk::module! {
    name: "registrar",
    functions: [
        ("save", [Str], REQ_FAILURE, save1, domain_fixup),
        ("save", [Str, IntOrPv], REQ_FAILURE, save2, domain_fixup),
        ("save", [Str, IntOrPv, Fmt], REQ_FAILURE, save3, domain_fixup),
        ("lookup", [Str], REQ_FAILURE, lookup1, domain_fixup),
        ("lookup", [Str, Fmt], REQ_FAILURE, lookup2, domain_fixup),
        ("lookup_to_dset", [Str], REQ_FAILURE, lookup_to_dset1, domain_fixup),
        ("lookup_to_dset", [Str, Fmt], REQ_FAILURE, lookup_to_dset2, domain_fixup),
        ("lookup_branches", [Str], REQ_FAILURE, lookup_branches, domain_fixup),
        ("registered", [Str], RouteMask::ANY, registered1, domain_fixup),
        ("registered", [Str, Fmt], RouteMask::ANY, registered2, domain_fixup),
        ("unregister", [Str, Fmt], RouteMask::ANY, unregister2, domain_fixup),
        ("unregister", [Str, Fmt, Fmt], RouteMask::ANY, unregister3, domain_fixup),
        ("reg_fetch_contacts", [Str, Fmt, Str], REQ_FAILURE, ulc::fetch, domain_fixup),
        ("reg_free_contacts", [Str], REQ_FAILURE, ulc::free),
    ],
    params: [
        ("default_expires", Any, set_default_expires),
        ("default_expires_range", Any, set_default_expires_range),
        ("expires_range", Any, set_expires_range),
        ("min_expires", Any, set_min_expires),
        ("realm_prefix", Str, set_realm_prefix),
        ("min_expires_mode", Any, set_min_expires_mode),
        ("max_expires", Any, set_max_expires),
        ("default_q", Any, set_default_q),
        ("append_branches", Any, set_append_branches),
        ("case_sensitive", Any, set_case_sensitive),
        ("max_contacts", Any, set_max_contacts),
        ("retry_after", Any, set_retry_after),
        ("method_filtering", Any, set_method_filtering),
        ("use_path", Any, set_use_path),
        ("path_mode", Any, set_path_mode),
        ("gruu_enabled", Any, set_gruu_enabled),
        ("xavp_cfg", Str, set_xavp_cfg),
        ("received_avp", Str, set_received_avp),
        ("xavp_rcd", Str, set_xavp_rcd),
        ("xavp_rcd_mask", Any, set_xavp_rcd_mask),
    ],
    pvs: [
        sipr_sdk::pv_class!("ulc", ulc::fixup, ulc::get),
    ],
    init: mod_init,
}
