//! usrloc's RPC commands, with Kamailio's structure and field names (what
//! `kamctl ul show` reads).

use sipr_sdk::usrloc_api::{UContact, Q_UNSPECIFIED};
use sipr_sdk::{RpcError, RpcValue};

use crate::{domain, domains, now, Domain};

fn s(v: &str) -> RpcValue {
    RpcValue::Str(v.to_string())
}

fn or_not_set(v: &Option<String>) -> RpcValue {
    s(v.as_deref().unwrap_or("[not set]"))
}

/// Kamailio's state of a contact against the database: CS_NEW without
/// one (db_mode 0), CS_SYNC once written, CS_DIRTY while a write-back is
/// pending.
fn state(d: &Domain, aor: &str) -> &'static str {
    match crate::DB_MODE.load(std::sync::atomic::Ordering::Relaxed) {
        0 => "CS_NEW",
        2 if d.dirty.as_ref().is_some_and(|t| t.get(aor.as_bytes(), 0, |_, _| ()).is_some()) => "CS_DIRTY",
        _ => "CS_SYNC",
    }
}

/// One contact, as Kamailio's `ul.dump` / `ul.lookup` print it: a
/// "Contact" member of the AoR's "Contacts" list.
fn contact(c: &UContact, now: i64, state: &str) -> (String, RpcValue) {
    let expires = if c.expires == 0 {
        s("permanent")
    } else if c.expires <= now {
        s("deleted")
    } else {
        RpcValue::Int(c.expires - now)
    };
    let q = if c.q == Q_UNSPECIFIED { RpcValue::Int(-1) } else { RpcValue::double(f64::from(c.q) / 1000.0) };
    (
        "Contact".into(),
        RpcValue::Struct(vec![
            ("Address".into(), s(&c.contact)),
            ("Expires".into(), expires),
            ("Q".into(), q),
            ("Call-ID".into(), s(&c.callid)),
            ("CSeq".into(), RpcValue::Int(i64::from(c.cseq))),
            ("User-Agent".into(), s(if c.user_agent.is_empty() { "n/a" } else { &c.user_agent })),
            ("Received".into(), or_not_set(&c.received)),
            ("Path".into(), or_not_set(&c.path)),
            ("State".into(), s(state)),
            ("Flags".into(), RpcValue::Int(i64::from(c.flags))),
            ("CFlags".into(), RpcValue::Int(i64::from(c.cflags))),
            ("Socket".into(), or_not_set(&c.socket)),
            ("Methods".into(), RpcValue::Int(i64::from(c.methods.unwrap_or(u32::MAX)))),
            ("Ruid".into(), s(&c.ruid)),
            ("Instance".into(), or_not_set(&c.instance)),
            ("Reg-Id".into(), RpcValue::Int(i64::from(c.reg_id))),
            ("Server-Id".into(), RpcValue::Int(i64::from(c.server_id))),
            ("Tcpconn-Id".into(), RpcValue::Int(i64::from(c.connection_id))),
            ("Keepalive".into(), RpcValue::Int(i64::from(c.keepalive))),
            ("Last-Keepalive".into(), RpcValue::Int(c.last_modified)),
            ("KA-Roundtrip".into(), RpcValue::Int(0)),
            ("Last-Modified".into(), RpcValue::Int(c.last_modified)),
        ]),
    )
}

fn contacts_of(d: &Domain, aor: &str) -> Vec<UContact> {
    crate::get_unguarded(&d.name, aor).unwrap_or_default()
}

/// `ul.dump [brief]`.
pub fn dump(p: &[RpcValue]) -> Result<RpcValue, RpcError> {
    let brief = p.first().and_then(RpcValue::as_text).is_some_and(|b| b == "brief");
    let now = now();
    let mut out = Vec::new();
    for d in domains() {
        let mut aors = Vec::new();
        for aor in crate::aors(d) {
            let cs = contacts_of(d, &aor);
            if cs.is_empty() {
                continue;
            }
            if brief {
                // Kamailio's brief dump: the AoRs' names only
                aors.push(("AoR".into(), s(&aor)));
                continue;
            }
            let st = state(d, &aor);
            let contacts: Vec<(String, RpcValue)> = cs.iter().map(|c| contact(c, now, st)).collect();
            aors.push((
                "Info".into(),
                RpcValue::Struct(vec![
                    ("AoR".into(), s(&aor)),
                    ("HashID".into(), RpcValue::Int(i64::from(crate::aor_hash(&aor)))),
                    ("Contacts".into(), RpcValue::Members(contacts)),
                ]),
            ));
        }
        let n = aors.len() as i64;
        out.push((
            "Domain".into(),
            RpcValue::Struct(vec![
                ("Domain".into(), s(&d.name)),
                ("Size".into(), RpcValue::Int(d.table.as_ref().map_or(0, |t| t.buckets() as i64))),
                ("AoRs".into(), RpcValue::Members(aors)),
                (
                    "Stats".into(),
                    RpcValue::Struct(vec![
                        ("Records".into(), RpcValue::Int(n)),
                        ("Max-Slots".into(), RpcValue::Int(n.min(1))),
                    ]),
                ),
            ]),
        ));
    }
    Ok(RpcValue::Struct(vec![("Domains".into(), RpcValue::Members(out))]))
}

fn table_and_aor(p: &[RpcValue]) -> Result<(&'static Domain, String), RpcError> {
    let table = p
        .first()
        .and_then(RpcValue::as_text)
        .ok_or_else(|| RpcError::new(500, "Not enough parameters (t, AOR to lookup)"))?;
    let aor = p
        .get(1)
        .and_then(RpcValue::as_text)
        .ok_or_else(|| RpcError::new(500, "Not enough parameters (t, AOR to lookup)"))?;
    let d = domain(&table).map_err(|_| RpcError::new(500, "table not found"))?;
    // without use_domain an AoR is its user part: kamctl sends
    // "user@domain" and Kamailio looks up "user"
    let aor = match aor.split_once('@') {
        Some((user, _)) if !crate::use_domain() => user.to_string(),
        _ => aor,
    };
    // the commands lower-case the AoR they are given, whatever the
    // registrar's case_sensitive (measured on ul.lookup, ul.add, ul.rm,
    // ul.rm_contact)
    Ok((d, aor.to_lowercase()))
}

/// `ul.lookup table AoR`.
pub fn lookup(p: &[RpcValue]) -> Result<RpcValue, RpcError> {
    let (d, aor) = table_and_aor(p)?;
    let cs = contacts_of(d, &aor);
    if cs.is_empty() {
        return Err(RpcError::new(500, "AOR not found in location table"));
    }
    let now = now();
    Ok(RpcValue::Struct(vec![
        ("AoR".into(), s(&aor)),
        ("Contacts".into(), RpcValue::Members(cs.iter().map(|c| contact(c, now, state(d, &aor))).collect())),
    ]))
}

/// `ul.rm table AoR`.
pub fn rm(p: &[RpcValue]) -> Result<RpcValue, RpcError> {
    let (d, aor) = table_and_aor(p)?;
    // an AoR that is not there is no error (Kamailio's answer)
    match crate::delete_aor(&d.name, &aor) {
        Ok(_) => Ok(RpcValue::Null),
        Err(e) => Err(RpcError::new(500, format!("Failed to delete AOR: {e}"))),
    }
}

/// `ul.rm_contact table AoR contact`.
pub fn rm_contact(p: &[RpcValue]) -> Result<RpcValue, RpcError> {
    let (d, aor) = table_and_aor(p)?;
    let target = p.get(2).and_then(RpcValue::as_text).ok_or_else(|| RpcError::new(500, "Not enough parameters"))?;
    let mut found = false;
    crate::update_unguarded(&d.name, &aor, &mut |cs: &mut Vec<UContact>| {
        let n = cs.len();
        cs.retain(|c| c.contact != target);
        found = cs.len() != n;
        Ok(())
    })
    .map_err(|e| RpcError::new(500, e))?;
    if !found {
        return Err(RpcError::new(404, "Contact not found"));
    }
    Ok(RpcValue::Null)
}

/// `ul.flush`: db_mode 2's pending writes, now.
pub fn flush(_: &[RpcValue]) -> Result<RpcValue, RpcError> {
    for d in domains() {
        crate::db::flush_dirty(d);
    }
    Ok(RpcValue::Null)
}

/// An optional text parameter: absent, "0" or "." mean not set.
fn opt_param(p: &[RpcValue], n: usize) -> Option<String> {
    p.get(n).and_then(RpcValue::as_text).filter(|v| !v.is_empty() && v != "0" && v != ".")
}

/// `ul.add table AoR contact expires q path flags cflags methods
/// [received [socket]]`: the contact added (or updated) as Kamailio's RPC
/// does, with its fixed Call-ID and User-Agent.
pub fn add(p: &[RpcValue]) -> Result<RpcValue, RpcError> {
    if p.len() < 9 {
        return Err(RpcError::new(500, "Not enough parameters"));
    }
    let (d, aor) = table_and_aor(p)?;
    let text = |n: usize| p.get(n).and_then(RpcValue::as_text).unwrap_or_default();
    let int = |n: usize| p.get(n).and_then(RpcValue::as_int).unwrap_or(0);
    let contact = text(2);
    let expires = int(3);
    let q = match p.get(4) {
        Some(RpcValue::Double(v)) => v.parse::<f64>().map_or(Q_UNSPECIFIED, |f| (f * 1000.0).round() as i32),
        Some(v) => v.as_int().map_or(Q_UNSPECIFIED, |i| (i * 1000) as i32),
        None => Q_UNSPECIFIED,
    };
    let now = now();
    let c = UContact {
        ruid: crate::new_ruid(),
        contact: contact.clone(),
        received: opt_param(p, 9),
        path: opt_param(p, 5),
        expires: if expires == 0 { 0 } else { now + expires },
        q,
        callid: RPC_CALLID.to_string(),
        cseq: RPC_CSEQ,
        flags: int(6) as u32,
        cflags: int(7) as u32,
        user_agent: RPC_USER_AGENT.to_string(),
        socket: opt_param(p, 10),
        methods: Some(int(8) as u32),
        connection_id: -1,
        last_modified: now,
        ..UContact::default()
    };
    crate::update_unguarded(&d.name, &aor, &mut |cs: &mut Vec<UContact>| {
        match cs.iter_mut().find(|x| x.contact == contact) {
            Some(old) => {
                let ruid = std::mem::take(&mut old.ruid);
                *old = UContact { ruid, ..c.clone() };
            }
            None => cs.insert(0, c.clone()),
        }
        Ok(())
    })
    .map_err(|e| RpcError::new(500, format!("Failed to insert contact: {e}")))?;
    Ok(RpcValue::Null)
}

/// What Kamailio's RPC writes in the contacts it adds.
const RPC_CALLID: &str = "dfjrewr12386fd6-343@kamailio.rpc";
const RPC_USER_AGENT: &str = "sipr SIP Router - RPC Server";
const RPC_CSEQ: u32 = 1;

/// `ul.db_users table`, `ul.db_contacts table`,
/// `ul.db_expired_contacts table`: counts in the database table.
fn db_count(p: &[RpcValue], what: crate::db::Count) -> Result<RpcValue, RpcError> {
    let table = p.first().and_then(RpcValue::as_text).ok_or_else(|| RpcError::new(500, "Not enough parameters"))?;
    if crate::DB_MODE.load(std::sync::atomic::Ordering::Relaxed) == 0 {
        return Err(RpcError::new(500, "Command not supported in db_mode 0 (no database)"));
    }
    let n = crate::db::count(&table, what, now()).map_err(|e| RpcError::new(500, format!("Failed to query: {e}")))?;
    // Kamailio answers the number alone
    Ok(RpcValue::Int(n as i64))
}

pub fn db_users(p: &[RpcValue]) -> Result<RpcValue, RpcError> {
    db_count(p, crate::db::Count::Users)
}
pub fn db_contacts(p: &[RpcValue]) -> Result<RpcValue, RpcError> {
    db_count(p, crate::db::Count::Contacts)
}
pub fn db_expired_contacts(p: &[RpcValue]) -> Result<RpcValue, RpcError> {
    db_count(p, crate::db::Count::Expired)
}
