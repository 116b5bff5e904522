//! Contact profiles (Kamailio's `reg_fetch_contacts`, `reg_free_contacts`
//! and `$ulc(profile=>attr)`): a copy of an AoR's bindings kept by name in
//! this process for the script to read, index by index. The `exp` profile
//! holds the contact whose expiry runs `event_route[usrloc:contact-expired]`.

use std::cell::RefCell;
use std::collections::HashMap;

use sipr_sdk::prelude::*;
use sipr_sdk::usrloc_api::{ContactEvent, UContact, Q_UNSPECIFIED};
use sipr_sdk::{Names, Param, PvArg, PvIndex, PvRef, PvRegistry};

/// One profile: where its bindings came from, and them.
#[derive(Debug, Clone, Default)]
pub struct Profile {
    domain: String,
    aor: String,
    aorhash: u32,
    contacts: Vec<UContact>,
}

thread_local! {
    static PROFILES: RefCell<HashMap<String, Profile>> = RefCell::new(HashMap::new());
}

/// Puts a profile in place (any older one of that name goes).
pub fn store(name: &str, domain: &str, aor: &str, contacts: Vec<UContact>) {
    let aorhash = crate::ul().map(|ul| (ul.aor_hash)(aor)).unwrap_or(0);
    let p = Profile { domain: domain.to_string(), aor: aor.to_string(), aorhash, contacts };
    PROFILES.with(|m| m.borrow_mut().insert(name.to_string(), p));
}

/// `reg_fetch_contacts(domain, uri, profile)`: 1 with bindings, -1
/// without (the profile is emptied).
pub fn fetch(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let domain = crate::domain_of(p);
    let uri = p[1].text(ctx).into_owned();
    let name = String::from_utf8_lossy(&p[2].text(ctx)).into_owned();
    let aor = crate::aor_of(&uri)?;
    let contacts = (crate::ul()?.get)(&domain, &aor)?;
    let found = !contacts.is_empty();
    if found {
        store(&name, &domain, &aor, contacts);
    } else {
        PROFILES.with(|m| m.borrow_mut().remove(&name));
    }
    Ok(if found { 1 } else { -1 })
}

/// `reg_free_contacts(profile)`.
pub fn free(ctx: &mut Ctx<'_>, p: &[Param]) -> FnResult {
    let name = String::from_utf8_lossy(&p[0].text(ctx)).into_owned();
    PROFILES.with(|m| m.borrow_mut().remove(&name));
    Ok(1)
}

/// What `$ulc(profile=>attr)` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attr {
    Aor,
    Domain,
    AorHash,
    Count,
    Addr,
    Path,
    Received,
    Expires,
    CallId,
    Q,
    CSeq,
    Flags,
    CFlags,
    UserAgent,
    Socket,
    Modified,
    Methods,
    Ruid,
    RegId,
    Instance,
    ConId,
    ServerId,
}

fn attr_of(name: &str) -> Option<Attr> {
    Some(match name {
        "aor" => Attr::Aor,
        "domain" => Attr::Domain,
        "aorhash" => Attr::AorHash,
        "count" => Attr::Count,
        "addr" => Attr::Addr,
        "path" => Attr::Path,
        "received" => Attr::Received,
        "expires" => Attr::Expires,
        "callid" => Attr::CallId,
        "q" => Attr::Q,
        "cseq" => Attr::CSeq,
        "flags" => Attr::Flags,
        "cflags" => Attr::CFlags,
        "user_agent" => Attr::UserAgent,
        "socket" => Attr::Socket,
        "modified" => Attr::Modified,
        "methods" => Attr::Methods,
        "ruid" => Attr::Ruid,
        "regid" => Attr::RegId,
        "instance" => Attr::Instance,
        "conid" => Attr::ConId,
        "server_id" => Attr::ServerId,
        _ => return None,
    })
}

/// `$ulc(profile=>attr)`'s fixup.
pub fn fixup(inner: Option<&str>, _: &PvRegistry, _: &mut Names) -> Result<PvArg, String> {
    let inner = inner.ok_or("needs (profile=>attr)")?;
    let (profile, attr) = inner.split_once("=>").ok_or("needs (profile=>attr)")?;
    let attr = attr_of(attr.trim()).ok_or_else(|| format!("unknown $ulc attribute '{attr}'"))?;
    Ok(PvArg::Custom(Box::new((profile.trim().to_string(), attr))))
}

fn text<'c>(s: &str) -> Value<'c> {
    Value::string(s.as_bytes().to_vec())
}

fn opt_text<'c>(s: &Option<String>) -> Value<'c> {
    s.as_deref().map_or(Value::Null, text)
}

/// `$ulc(profile=>attr)[index]`.
pub fn get<'c>(ctx: &'c Ctx<'_>, pv: &'c PvRef) -> Value<'c> {
    let PvArg::Custom(arg) = &pv.arg else { return Value::Null };
    let Some((name, attr)) = arg.downcast_ref::<(String, Attr)>() else { return Value::Null };
    PROFILES.with(|m| {
        let m = m.borrow();
        let Some(p) = m.get(name) else { return Value::Null };
        match attr {
            Attr::Aor => return text(&p.aor),
            Attr::Domain => return text(&p.domain),
            Attr::AorHash => return Value::Int(i64::from(p.aorhash)),
            Attr::Count => return Value::Int(p.contacts.len() as i64),
            _ => {}
        }
        let i = match pv.index_in(ctx) {
            PvIndex::None | PvIndex::All => 0,
            PvIndex::At(i) if i < 0 => p.contacts.len() as i64 + i64::from(i),
            PvIndex::At(i) => i64::from(i),
        };
        let Some(c) = usize::try_from(i).ok().and_then(|i| p.contacts.get(i)) else { return Value::Null };
        match attr {
            Attr::Addr => text(&c.contact),
            // absent: empty, as Kamailio's (a socket or connection: $null)
            Attr::Path => text(c.path.as_deref().unwrap_or_default()),
            Attr::Received => text(c.received.as_deref().unwrap_or_default()),
            Attr::Expires => Value::Int(c.expires),
            Attr::CallId => text(&c.callid),
            Attr::Q => Value::Int(if c.q == Q_UNSPECIFIED { -1 } else { i64::from(c.q) }),
            Attr::CSeq => Value::Int(i64::from(c.cseq)),
            Attr::Flags => Value::Int(i64::from(c.flags)),
            Attr::CFlags => Value::Int(i64::from(c.cflags)),
            Attr::UserAgent => text(&c.user_agent),
            Attr::Socket => opt_text(&c.socket),
            Attr::Modified => Value::Int(c.last_modified),
            Attr::Methods => Value::Int(i64::from(c.methods.unwrap_or(u32::MAX))),
            Attr::Ruid => text(&c.ruid),
            Attr::RegId => Value::Int(i64::from(c.reg_id)),
            Attr::Instance => text(c.instance.as_deref().unwrap_or_default()),
            Attr::ConId => {
                if c.connection_id < 0 {
                    Value::Null
                } else {
                    Value::Int(i64::from(c.connection_id))
                }
            }
            Attr::ServerId => Value::Int(i64::from(c.server_id)),
            Attr::Aor | Attr::Domain | Attr::AorHash | Attr::Count => Value::Null,
        }
    })
}

/// usrloc's contact callback: an expired binding runs
/// `event_route[usrloc:contact-expired]` with it in the `exp` profile.
pub fn contact_event(event: ContactEvent, domain: &str, aor: &str, c: &UContact) {
    if event == ContactEvent::Expired {
        sipr_sdk::run_event_route("usrloc:contact-expired", |_| store("exp", domain, aor, vec![c.clone()]));
    }
}
