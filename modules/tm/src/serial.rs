//! Serial forking by q (Kamailio's `t_load_contacts` / `t_next_contacts`).
//!
//! `t_load_contacts` moves the destination set (the Request-URI and the
//! branches `append_branch` or `lookup` added) into the xavp named by
//! `contacts_avp`, highest q first; contacts of equal q form one group,
//! the one added last first (as Kamailio orders them), and a contact
//! without q comes after every contact with one. Each
//! `t_next_contacts` then takes the next group out: its first contact
//! becomes the Request-URI, the others branches, so that `t_relay` forks
//! the group in parallel and a failure route moves on to the next group.
//! The xavp follows the transaction into its failure route (tm keeps
//! the xavps with the cell, as it keeps the AVPs).

use std::sync::atomic::{AtomicU32, Ordering};

use sipr_sdk::prelude::*;
use sipr_sdk::{Branch, Stored, Xavp};

/// `contacts_avp`: the xavp the contacts are loaded into (Kamailio has no
/// default: the functions fail until it is set).
pub static CONTACTS_AVP: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());

/// `contact_flows_avp`: the xavp for contacts that are RFC 5626 flows of
/// one `+sip.instance` (Kamailio's `t_next_contact_flow` takes them).
/// Branches carry no instance before the registrar's lookup (issue 17),
/// so nothing is loaded into it yet; it is required beside
/// `contacts_avp`, as Kamailio requires it.
pub static CONTACT_FLOWS_AVP: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());

/// Kamailio's start-up rule: `contacts_avp` needs `contact_flows_avp`.
pub fn check_params() -> Result<(), String> {
    let contacts = CONTACTS_AVP.lock().map_err(|_| "poisoned")?.is_empty();
    let flows = CONTACT_FLOWS_AVP.lock().map_err(|_| "poisoned")?.is_empty();
    if !contacts && flows {
        return Err("contact_flows_avp param has not been defined".into());
    }
    Ok(())
}

/// `fr_inv_timer_next`, ms: the INVITE timer of a group that has others
/// after it (Kamailio's default 30 s; a setting of its cfg framework,
/// not a module parameter, there as here).
pub static FR_INV_TIMER_NEXT: AtomicU32 = AtomicU32::new(30_000);

/// The field marking the last contact of a q group.
const GROUP_END: &[u8] = b"q_flag";

/// One destination of the set, with what a branch carries.
struct Contact {
    uri: Vec<u8>,
    dst_uri: Option<Vec<u8>>,
    /// q × 1000, `None` when unspecified.
    q: Option<i32>,
    bflags: u32,
}

/// The contacts xavp's name; `None`, logged for `function`, when
/// `contacts_avp` is not set.
fn xavp_name(function: &str) -> Option<Vec<u8>> {
    let name = CONTACTS_AVP.lock().map(|n| n.clone()).unwrap_or_default();
    if name.is_empty() {
        error!("{function}: contacts_avp is not set (modparam(\"tm\", \"contacts_avp\", ...))");
        return None;
    }
    Some(name.into_bytes())
}

/// `t_load_contacts([mode])`: 1 when loaded or when there was nothing
/// to load (the Request-URI alone), -1 on an error.
pub fn load_contacts(ctx: &mut Ctx<'_>, mode: i64) -> FnResult {
    let Some(name) = xavp_name("t_load_contacts") else { return Ok(-1) };
    if !(0..=1).contains(&mode) {
        error!("t_load_contacts: invalid mode {mode} (0 standard, 1 proportional)");
        return Ok(-1);
    }
    if ctx.branches.is_empty() {
        // the Request-URI alone: nothing to order
        return Ok(1);
    }
    let Some(ruri) = ctx.new_uri().or(ctx.msg.request_uri()).map(<[u8]>::to_vec) else {
        return Ok(-1);
    };
    let mut contacts = vec![Contact { uri: ruri, dst_uri: ctx.dst_uri.clone(), q: None, bflags: ctx.bflags }];
    contacts.extend(ctx.branches.drain(..).map(|b| Contact {
        uri: b.uri,
        dst_uri: b.dst_uri,
        q: b.q,
        bflags: b.bflags,
    }));
    // the last added first among equals, then by q, highest first; no q
    // ranks below every q
    contacts.reverse();
    let groups: Vec<Vec<Contact>> = if mode == 0 {
        contacts.sort_by_key(|c| std::cmp::Reverse(c.q.unwrap_or(-1)));
        let mut groups: Vec<Vec<Contact>> = Vec::new();
        for c in contacts {
            match groups.last_mut() {
                Some(g) if g[0].q == c.q => g.push(c),
                _ => groups.push(vec![c]),
            }
        }
        groups
    } else {
        proportional(contacts).into_iter().map(|c| vec![c]).collect()
    };
    ctx.xavps.retain(|x| x.name != name);
    // index 0 of an xavp is the newest item: the first contact goes last
    for group in groups.into_iter().rev() {
        let n = group.len();
        for (i, c) in group.into_iter().enumerate().rev() {
            let mut fields = vec![(b"uri".to_vec(), Stored::Str(c.uri))];
            if let Some(d) = c.dst_uri {
                fields.push((b"dst_uri".to_vec(), Stored::Str(d)));
            }
            fields.push((b"flags".to_vec(), Stored::Int(i64::from(c.bflags))));
            if i + 1 == n {
                fields.push((GROUP_END.to_vec(), Stored::Int(1)));
            }
            ctx.xavps.push(Xavp { name: name.clone(), fields });
        }
    }
    Ok(1)
}

/// Mode 1: one contact per group, in a random order where a contact's
/// chance to come next is its share of the q values left (those without
/// q, or with q 0, last, in their order).
fn proportional(contacts: Vec<Contact>) -> Vec<Contact> {
    let (mut weighted, rest): (Vec<Contact>, Vec<Contact>) = contacts.into_iter().partition(|c| c.q.unwrap_or(0) > 0);
    let mut out = Vec::with_capacity(weighted.len() + rest.len());
    let mut seed =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64)
            ^ u64::from(std::process::id());
    while !weighted.is_empty() {
        let total: u64 = weighted.iter().map(|c| c.q.unwrap_or(0) as u64).sum();
        // xorshift: an order, not a secret
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let mut pick = seed % total.max(1);
        let at = weighted
            .iter()
            .position(|c| {
                let q = c.q.unwrap_or(0) as u64;
                if pick < q {
                    true
                } else {
                    pick -= q;
                    false
                }
            })
            .unwrap_or(0);
        out.push(weighted.remove(at));
    }
    out.extend(rest);
    out
}

/// The field `f` of an xavp item.
fn field<'x>(x: &'x Xavp, f: &[u8]) -> Option<&'x Stored> {
    x.fields.iter().rev().find(|(n, _)| n == f).map(|(_, v)| v)
}

/// `t_next_contacts()`: the next group as the Request-URI and branches; 1
/// when one was loaded, -2 when there was none left, -1 on an error.
pub fn next_contacts(ctx: &mut Ctx<'_>) -> FnResult {
    let Some(name) = xavp_name("t_next_contacts") else { return Ok(-1) };
    let mut group = Vec::new();
    while let Some(at) = ctx.xavps.iter().rposition(|x| x.name == name) {
        let item = ctx.xavps.remove(at);
        let last = field(&item, GROUP_END).is_some();
        group.push(item);
        if last {
            break;
        }
    }
    let mut contacts = group.iter().filter_map(|x| {
        let Some(Stored::Str(uri)) = field(x, b"uri") else { return None };
        let dst_uri = match field(x, b"dst_uri") {
            Some(Stored::Str(d)) => Some(d.clone()),
            _ => None,
        };
        let bflags = match field(x, b"flags") {
            Some(Stored::Int(f)) => *f as u32,
            _ => 0,
        };
        Some((uri.clone(), dst_uri, bflags))
    });
    let Some((uri, dst_uri, bflags)) = contacts.next() else { return Ok(-2) };
    ctx.set_new_uri(Some(uri));
    ctx.dst_uri = dst_uri;
    ctx.bflags = bflags;
    ctx.branches.clear();
    ctx.branches.extend(contacts.map(|(uri, dst_uri, bflags)| Branch { uri, dst_uri, q: None, bflags }));
    // more groups after this one: this one rings fr_inv_timer_next only
    if ctx.xavps.iter().any(|x| x.name == name) {
        let next = FR_INV_TIMER_NEXT.load(Ordering::Relaxed);
        crate::set_fr(ctx, i64::from(next), None)?;
    }
    Ok(1)
}
