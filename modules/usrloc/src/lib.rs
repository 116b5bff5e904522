//! usrloc: the location table (Kamailio's usrloc), the mission's second
//! table in shared memory.
//!
//! A domain (`location`, or any table registrar names) is a hash table in
//! shm (`hash_size`, 2^10 slots by default) under a lock set; each entry
//! is an address of record and its contacts, kept as one block of bytes
//! ([`record`]) that an update rewrites whole under the slot's lock, so a
//! reader never sees half a change. Every column of Kamailio's `location`
//! table is kept per contact.
//!
//! `db_mode`: 0 memory only; 1 write-through (each change is written to
//! the database by the process that makes it, before the reply); 2
//! write-back (changed records are written every `timer_interval` by the
//! timer process); 3 database only (no shm copy: every lookup reads the
//! database). With 1 and 2 the contacts are loaded from the database at
//! start-up, by a loader process forked before the workers.
//!
//! Every `timer_interval` seconds (60) the timer process removes expired
//! contacts (from the database too). RPC: `ul.dump`,
//! `ul.lookup`, `ul.rm`, `ul.rm_contact`, `ul.flush`; statistics in the
//! `usrloc` group: `registered_users` and per domain `DOMAIN_users`,
//! `DOMAIN_contacts`, `DOMAIN_expires`.

#![forbid(unsafe_code)]

mod db;
mod record;
mod rpc;

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use sipr_sdk::prelude::*;
use sipr_sdk::usrloc_api::{ContactEvent, UContact, UlApi, Update, UL_API_VERSION};
use sipr_sdk::{guard_api, KvValue, ShmKvTable};

/// One domain: its table and statistics.
pub struct Domain {
    /// Its name (`location`).
    pub name: String,
    /// The records (none with db_mode 3).
    pub table: Option<ShmKvTable<'static>>,
    /// `usrloc:DOMAIN_users`: records.
    pub users: &'static AtomicU64,
    /// `usrloc:DOMAIN_contacts`: contacts.
    pub contacts: &'static AtomicU64,
    /// `usrloc:DOMAIN_expires`: contacts removed on expiry.
    pub expires: &'static AtomicU64,
    /// db_mode 2: the AoRs changed since the timer last wrote them.
    pub dirty: Option<ShmKvTable<'static>>,
}

impl std::fmt::Debug for Domain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Domain").field("name", &self.name).finish()
    }
}

/// Domains registered (by registrar's fixups) before mod_init.
static NAMES: Mutex<Vec<String>> = Mutex::new(Vec::new());
/// The domains, made in mod_init (before the fork).
static DOMAINS: OnceLock<Vec<Domain>> = OnceLock::new();
/// `usrloc:registered_users`.
static REGISTERED_USERS: OnceLock<&'static AtomicU64> = OnceLock::new();

/// `hash_size`: the slots of a domain, as a power of two (Kamailio's).
static HASH_SIZE: AtomicUsize = AtomicUsize::new(10);
/// `use_domain`.
static USE_DOMAIN: AtomicBool = AtomicBool::new(false);
/// `nat_bflag`.
static NAT_BFLAG: AtomicI32 = AtomicI32::new(-1);
/// `timer_interval`, s.
static TIMER_INTERVAL: AtomicU64 = AtomicU64::new(60);
/// `db_mode`.
pub static DB_MODE: AtomicUsize = AtomicUsize::new(0);

/// Now, Unix seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// The domains (empty before mod_init).
pub fn domains() -> &'static [Domain] {
    DOMAINS.get().map(Vec::as_slice).unwrap_or(&[])
}

/// The domain named `name`.
pub fn domain(name: &str) -> Result<&'static Domain, String> {
    domains().iter().find(|d| d.name == name).ok_or_else(|| format!("usrloc: no domain '{name}'"))
}

fn register_domain(name: &str) -> Result<(), String> {
    guard_api("usrloc.register_domain", || {
        if DOMAINS.get().is_some() {
            // after mod_init: only a domain already made
            return domain(name).map(|_| ());
        }
        let mut names = NAMES.lock().map_err(|_| "poisoned")?;
        if !names.iter().any(|n| n == name) {
            names.push(name.to_string());
        }
        Ok(())
    })?
}

/// The contacts of a record's bytes, expired ones included.
fn stored(v: KvValue<'_>) -> Vec<UContact> {
    match v {
        KvValue::Str(b) => record::decode(b).unwrap_or_default(),
        KvValue::Int(_) => Vec::new(),
    }
}

/// The live contacts of a record, in its order (registrar keeps a
/// record's contacts as Kamailio orders them: higher q first, a new
/// contact before the others of its q).
pub fn live(mut contacts: Vec<UContact>, now: i64) -> Vec<UContact> {
    contacts.retain(|c| !c.expired(now));
    contacts
}

fn get(domain_name: &str, aor: &str) -> Result<Vec<UContact>, String> {
    guard_api("usrloc.get", || get_unguarded(domain_name, aor))?
}

fn get_unguarded(domain_name: &str, aor: &str) -> Result<Vec<UContact>, String> {
    let d = domain(domain_name)?;
    let now = now();
    let Some(t) = &d.table else {
        return db::read_aor(d, aor).map(|c| live(c, now)).map_err(|e| e.to_string());
    };
    Ok(t.get(aor.as_bytes(), 0, |v, _| live(stored(v), now)).unwrap_or_default())
}

/// The hash naming `aor`'s slot (what a temp-gruu carries).
fn aor_hash(aor: &str) -> u32 {
    ShmKvTable::key_hash(aor.as_bytes()) as u32
}

fn by_ruid(domain_name: &str, hash: u32, ruid: &str) -> Result<Option<(String, UContact)>, String> {
    guard_api("usrloc.by_ruid", || {
        let d = domain(domain_name)?;
        let now = now();
        let Some(t) = &d.table else {
            let found = db::read_ruid(d, ruid).map_err(|e| e.to_string())?;
            return Ok(found.filter(|(_, c)| !c.expired(now)));
        };
        // only the slot the hash names is searched (the low 32 bits place
        // it: tables have fewer slots)
        let mut found = None;
        t.for_each_with_hash(u64::from(hash), 0, |key, v, _| {
            if found.is_none() {
                if let Some(c) = live(stored(v), now).into_iter().find(|c| c.ruid == ruid) {
                    found = Some((String::from_utf8_lossy(key).into_owned(), c));
                }
            }
        });
        Ok(found)
    })?
}

fn update(domain_name: &str, aor: &str, f: Update<'_>) -> Result<Vec<UContact>, String> {
    guard_api("usrloc.update", || update_unguarded(domain_name, aor, f))?
}

/// Changes the contacts of `aor` under its slot's lock: `f` edits them,
/// expired ones are dropped, the record is written back (or removed when
/// empty), the statistics follow, and with db_mode 1 the database too.
pub fn update_unguarded(domain_name: &str, aor: &str, f: Update<'_>) -> Result<Vec<UContact>, String> {
    let d = domain(domain_name)?;
    let now = now();
    let Some(t) = &d.table else {
        // db_mode 3: the database is the table
        let before = db::read_aor(d, aor).map_err(|e| e.to_string())?;
        let mut after = before.clone();
        f(&mut after)?;
        after.retain(|c| !c.expired(now));
        db::write_diff(d, aor, &before, &after).map_err(|e| e.to_string())?;
        change_events(&d.name, aor, &before, &after);
        return Ok(live(after, now));
    };
    let key = aor.as_bytes();
    t.hold(key);
    let result = (|| {
        let before: Vec<UContact> = t.get(key, 0, |v, _| stored(v)).unwrap_or_default();
        let mut after = before.clone();
        f(&mut after)?;
        after.retain(|c| !c.expired(now));
        if DB_MODE.load(Ordering::Relaxed) == 1 {
            // write-through: the database first, so a failure leaves the
            // record as it was (and the caller answers 500)
            db::write_diff(d, aor, &before, &after).map_err(|e| e.to_string())?;
        }
        if after.is_empty() {
            t.remove(key);
        } else if t.set(key, KvValue::Str(&record::encode(&after)), 0).is_err() {
            log::error!("usrloc: shared memory full: the record of {aor} is not saved");
            return Err("shared memory full".into());
        }
        if before != after {
            if let Some(dirty) = &d.dirty {
                // write-back: the timer writes it
                if dirty.set(key, KvValue::Int(1), 0).is_err() {
                    log::error!("usrloc: shared memory full: {aor} is not marked for the database");
                }
            }
        }
        account(d, &before, &after);
        Ok((before, after))
    })();
    t.release(key);
    // the callbacks run with the record's lock released (they may read it)
    result.map(|(before, after)| {
        change_events(&d.name, aor, &before, &after);
        live(after, now)
    })
}

/// The statistics after a record changed from `before` to `after`.
fn account(d: &Domain, before: &[UContact], after: &[UContact]) {
    let (b, a) = (before.len() as u64, after.len() as u64);
    if a >= b {
        d.contacts.fetch_add(a - b, Ordering::Relaxed);
    } else {
        sub(d.contacts, b - a);
    }
    match (before.is_empty(), after.is_empty()) {
        (true, false) => {
            d.users.fetch_add(1, Ordering::Relaxed);
            if let Some(r) = REGISTERED_USERS.get() {
                r.fetch_add(1, Ordering::Relaxed);
            }
        }
        (false, true) => {
            sub(d.users, 1);
            if let Some(r) = REGISTERED_USERS.get() {
                sub(r, 1);
            }
        }
        _ => {}
    }
}

fn sub(c: &AtomicU64, n: u64) {
    let _ = c.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| Some(v.saturating_sub(n)));
}

/// Removes a whole record; whether there was one.
pub fn delete_aor(domain_name: &str, aor: &str) -> Result<bool, String> {
    let mut had = false;
    update_unguarded(domain_name, aor, &mut |cs: &mut Vec<UContact>| {
        had = !cs.is_empty();
        cs.clear();
        Ok(())
    })?;
    Ok(had)
}

/// Every AoR of a domain's table (a snapshot).
pub fn aors(d: &Domain) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(t) = &d.table {
        t.for_each(0, |k, _, _| out.push(String::from_utf8_lossy(k).into_owned()));
    }
    out
}

/// The timer: expired contacts leave every domain (and the database), and
/// `event_route[usrloc:contact-expired]` runs for each.
fn expire_timer() {
    let now = now();
    for d in domains() {
        if d.table.is_none() {
            let _ = db::delete_expired(d, now);
            continue;
        }
        for aor in aors(d) {
            let mut gone = Vec::new();
            let r = update_unguarded(&d.name, &aor, &mut |cs: &mut Vec<UContact>| {
                gone.extend(cs.iter().filter(|c| c.expired(now)).cloned());
                Ok(())
            });
            if let Err(e) = r {
                log::error!("usrloc: expiring {aor}: {e}");
                continue;
            }
            if !gone.is_empty() {
                d.expires.fetch_add(gone.len() as u64, Ordering::Relaxed);
                for c in &gone {
                    expired_event(d, &aor, c);
                }
            }
        }
        db::flush_dirty(d);
    }
}

/// An expired contact (logged; `event_route[usrloc:contact-expired]` is
/// not run yet).
/// The functions other modules gave `on_contact` (before the fork).
static CONTACT_CALLBACKS: std::sync::Mutex<Vec<sipr_sdk::usrloc_api::ContactCallback>> =
    std::sync::Mutex::new(Vec::new());

fn on_contact(cb: sipr_sdk::usrloc_api::ContactCallback) {
    if let Ok(mut v) = CONTACT_CALLBACKS.lock() {
        v.push(cb);
    }
}

/// Calls the `on_contact` callbacks (none registered: nothing to do).
fn contact_event(event: ContactEvent, domain: &str, aor: &str, c: &UContact) {
    let callbacks = CONTACT_CALLBACKS.lock().map(|v| v.clone()).unwrap_or_default();
    for cb in callbacks {
        if let Err(p) = std::panic::catch_unwind(|| cb(event, domain, aor, c)) {
            log::error!("usrloc: a contact callback panicked: {}", sipr_sdk::panic_text(&p));
        }
    }
}

/// The events of one record's change: by ruid, what is new, changed, gone.
fn change_events(domain: &str, aor: &str, before: &[UContact], after: &[UContact]) {
    if CONTACT_CALLBACKS.lock().map(|v| v.is_empty()).unwrap_or(true) {
        return;
    }
    for c in after {
        match before.iter().find(|b| b.ruid == c.ruid) {
            None => contact_event(ContactEvent::Inserted, domain, aor, c),
            Some(b) if b != c => contact_event(ContactEvent::Updated, domain, aor, c),
            Some(_) => {}
        }
    }
    for b in before.iter().filter(|b| !after.iter().any(|c| c.ruid == b.ruid)) {
        contact_event(ContactEvent::Deleted, domain, aor, b);
    }
}

fn expired_event(d: &Domain, aor: &str, c: &UContact) {
    log::debug!("usrloc: {}: contact {} of {aor} expired", d.name, c.contact);
    contact_event(ContactEvent::Expired, &d.name, aor, c);
}

/// A unique id for a new binding (Kamailio's `ruid` shape:
/// `uloc-<start time hex>-<pid hex>-<counter>`).
pub fn new_ruid() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static START: OnceLock<i64> = OnceLock::new();
    thread_local! {
        /// `uloc-<start>-<pid>-` of this process (made again after a fork).
        static PREFIX: std::cell::RefCell<(u32, String)> = const { std::cell::RefCell::new((0, String::new())) };
    }
    let start = *START.get_or_init(now);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed) + 1;
    let pid = std::process::id();
    PREFIX.with(|p| {
        let mut p = p.borrow_mut();
        if p.0 != pid || p.1.is_empty() {
            *p = (pid, format!("uloc-{start:x}-{pid:x}-"));
        }
        let mut ruid = String::with_capacity(p.1.len() + 8);
        ruid.push_str(&p.1);
        sipr_sdk::sip::emit::push_decimal_str(&mut ruid, n);
        ruid
    })
}

/// `usrloc:registered_users`.
pub fn registered_users() -> Option<&'static AtomicU64> {
    REGISTERED_USERS.get().copied()
}

pub(crate) fn use_domain() -> bool {
    USE_DOMAIN.load(Ordering::Relaxed)
}

fn nat_bflag() -> i32 {
    NAT_BFLAG.load(Ordering::Relaxed)
}

/// The API other modules bind.
pub static UL_API: UlApi = UlApi {
    register_domain,
    get,
    update,
    use_domain,
    nat_bflag,
    new_ruid,
    aor_hash,
    by_ruid,
    on_contact,
    matching_mode,
    desc_time_order,
};

fn mod_init() -> Result<(), String> {
    let mode = DB_MODE.load(Ordering::Relaxed);
    if mode > 3 {
        return Err(format!("db_mode must be 0..3, not {mode}"));
    }
    if mode > 0 {
        db::check_url()?;
    }
    let names = NAMES.lock().map_err(|_| "poisoned")?.clone();
    let pool = sipr_sdk::shm_pool().ok_or("no shared memory pool")?;
    let slots = 1usize << HASH_SIZE.load(Ordering::Relaxed);
    let mut made = Vec::new();
    for name in names {
        let table = if mode == 3 {
            None
        } else {
            Some(
                ShmKvTable::new_in(pool, slots, slots.min(1024), &name)
                    .ok_or_else(|| format!("usrloc: no shared memory for domain '{name}'"))?,
            )
        };
        let dirty = if mode == 2 {
            Some(
                ShmKvTable::new_in(pool, slots, slots.min(1024), &format!("{name} dirty"))
                    .ok_or_else(|| format!("usrloc: no shared memory for domain '{name}'"))?,
            )
        } else {
            None
        };
        // Kamailio's names: usrloc:DOMAIN_contacts, _expires, _users;
        // gauges the reset commands leave (STAT_NO_RESET, measured)
        let contacts = sipr_sdk::counter_no_reset("usrloc", &format!("{name}_contacts"))?;
        let expires = sipr_sdk::counter_no_reset("usrloc", &format!("{name}_expires"))?;
        let users = sipr_sdk::counter_no_reset("usrloc", &format!("{name}_users"))?;
        made.push(Domain { dirty, users, contacts, expires, name, table });
    }
    let _ = DOMAINS.set(made);
    // after the domains' own, as Kamailio lists them
    let registered = sipr_sdk::counter_no_reset("usrloc", "registered_users")?;
    let _ = REGISTERED_USERS.set(registered);
    if mode == 1 || mode == 2 {
        db::preload(domains())?;
    }
    let secs = TIMER_INTERVAL.load(Ordering::Relaxed).max(1);
    sipr_sdk::register_timer("usrloc expiry", secs * 1000, true, expire_timer)?;
    Ok(())
}

/// db_mode 2: what changed since the last timer is written at shutdown.
fn destroy() {
    for d in domains() {
        db::flush_dirty(d);
    }
}

fn int_param(v: &ModValue, what: &str, min: i64, max: i64) -> Result<i64, String> {
    let n = sipr_sdk::modparam::int(v)?;
    if !(min..=max).contains(&n) {
        return Err(format!("{what} must be {min}..{max}, not {n}"));
    }
    Ok(n)
}

fn set_hash_size(v: &ModValue) -> Result<(), String> {
    HASH_SIZE.store(int_param(v, "hash_size", 1, 20)? as usize, Ordering::Relaxed);
    Ok(())
}
fn set_use_domain(v: &ModValue) -> Result<(), String> {
    USE_DOMAIN.store(sipr_sdk::modparam::int(v)? != 0, Ordering::Relaxed);
    Ok(())
}
fn set_nat_bflag(v: &ModValue) -> Result<(), String> {
    NAT_BFLAG.store(int_param(v, "nat_bflag", -1, 31)? as i32, Ordering::Relaxed);
    Ok(())
}
fn set_timer_interval(v: &ModValue) -> Result<(), String> {
    TIMER_INTERVAL.store(int_param(v, "timer_interval", 1, 86_400)? as u64, Ordering::Relaxed);
    Ok(())
}
fn set_db_mode(v: &ModValue) -> Result<(), String> {
    DB_MODE.store(int_param(v, "db_mode", 0, 3)? as usize, Ordering::Relaxed);
    Ok(())
}
/// `desc_time_order`: a record's contacts newest first instead of by q.
static DESC_TIME_ORDER: AtomicBool = AtomicBool::new(false);
/// `matching_mode`: 0 contact, 1 contact and Call-ID, 2 contact and
/// Path, 3 Call-ID.
static MATCHING_MODE: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

fn desc_time_order() -> bool {
    DESC_TIME_ORDER.load(Ordering::Relaxed)
}
fn matching_mode() -> u8 {
    MATCHING_MODE.load(Ordering::Relaxed)
}
fn set_desc_time_order(v: &ModValue) -> Result<(), String> {
    DESC_TIME_ORDER.store(sipr_sdk::modparam::int(v)? != 0, Ordering::Relaxed);
    Ok(())
}
/// `timer_procs`: sipr's expiry runs in the timer process whatever it
/// says.
fn set_timer_procs(v: &ModValue) -> Result<(), String> {
    sipr_sdk::modparam::int(v).map(|_| ())
}
fn set_matching_mode(v: &ModValue) -> Result<(), String> {
    match sipr_sdk::modparam::int(v)? {
        m @ 0..=3 => {
            MATCHING_MODE.store(m as u8, Ordering::Relaxed);
            Ok(())
        }
        m => Err(format!("matching_mode must be 0..3, not {m}")),
    }
}

sipr_sdk::module! {
    name: "usrloc",
    functions: [],
    params: [
        ("hash_size", Any, set_hash_size),
        ("use_domain", Any, set_use_domain),
        ("nat_bflag", Any, set_nat_bflag),
        ("timer_interval", Any, set_timer_interval),
        ("db_mode", Any, set_db_mode),
        ("db_url", Str, db::set_db_url),
        ("desc_time_order", Any, set_desc_time_order),
        ("matching_mode", Any, set_matching_mode),
        ("timer_procs", Any, set_timer_procs),
    ],
    rpcs: [
        ("ul.dump", "Dump user location tables", rpc::dump),
        ("ul.lookup", "Lookup one AOR in the usrloc location table", rpc::lookup),
        ("ul.rm", "Delete a address of record including its contacts", rpc::rm),
        ("ul.rm_contact", "Delete a contact from an AOR record", rpc::rm_contact),
        ("ul.flush", "Flush cache in db", rpc::flush),
        ("ul.add", "Add a new contact for an address of record", rpc::add),
        ("ul.db_users", "Tell number of different unexpired users (AoRs) in database", rpc::db_users),
        ("ul.db_contacts", "Tell number of unexpired contacts in database", rpc::db_contacts),
        ("ul.db_expired_contacts", "Tell number of expired contacts in database", rpc::db_expired_contacts),
    ],
    apis: [("usrloc", UL_API_VERSION, UL_API)],
    init: mod_init,
    destroy: destroy,
}

#[cfg(test)]
mod tests {
    use super::*;

    static SEEN: std::sync::Mutex<Vec<(ContactEvent, String)>> = std::sync::Mutex::new(Vec::new());

    fn record(event: ContactEvent, _: &str, _: &str, c: &UContact) {
        SEEN.lock().unwrap().push((event, c.ruid.clone()));
    }

    #[test]
    fn contact_events_by_ruid() {
        on_contact(record);
        let c = |ruid: &str, expires: i64| UContact { ruid: ruid.into(), expires, ..UContact::default() };
        let before = [c("kept", 10), c("refreshed", 10), c("gone", 10)];
        let after = [c("kept", 10), c("refreshed", 20), c("new", 10)];
        change_events("location", "alice", &before, &after);
        let seen = SEEN.lock().unwrap().clone();
        assert_eq!(
            seen,
            [
                (ContactEvent::Updated, "refreshed".to_string()),
                (ContactEvent::Inserted, "new".to_string()),
                (ContactEvent::Deleted, "gone".to_string())
            ]
        );
    }
}
