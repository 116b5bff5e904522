//! usrloc's API (Kamailio's `bind_usrloc`): what registrar, and later
//! nathelper and dispatcher, call. Bind with
//! `bind_api::<UlApi>("usrloc", UL_API_VERSION)` in `mod_init` (usrloc is
//! loaded first, as in Kamailio). Each function runs inside usrloc's
//! panic guard.

/// The version [`UlApi`] has.
pub const UL_API_VERSION: u32 = 3;

/// `q` not given (Kamailio's Q_UNSPECIFIED): it ranks below every given
/// q and is not printed.
pub const Q_UNSPECIFIED: i32 = -1;

/// One binding of an address of record (every column of Kamailio's
/// `location` table).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UContact {
    /// Record's unique id (`ruid`).
    pub ruid: String,
    /// The Contact URI.
    pub contact: String,
    /// Where the REGISTER came from, as a SIP URI (`received`, NAT).
    pub received: Option<String>,
    /// The Path header values, comma-separated (`path`, RFC 3327).
    pub path: Option<String>,
    /// When it expires, Unix seconds (0: never).
    pub expires: i64,
    /// q × 1000, or [`Q_UNSPECIFIED`].
    pub q: i32,
    /// Call-ID of the REGISTER.
    pub callid: String,
    /// CSeq number of the REGISTER.
    pub cseq: u32,
    /// Internal flags (`flags`; registrar's `FL_*`).
    pub flags: u32,
    /// Branch flags (`cflags`).
    pub cflags: u32,
    /// User-Agent of the REGISTER.
    pub user_agent: String,
    /// The local socket it came to, `proto:ip:port` (`socket`).
    pub socket: Option<String>,
    /// Methods it accepts (Kamailio's METHOD_* bits; `None`: all).
    pub methods: Option<u32>,
    /// `+sip.instance` (RFC 5626 / RFC 5627).
    pub instance: Option<String>,
    /// `reg-id` (RFC 5626; 0: none).
    pub reg_id: u32,
    /// `server_id` of the instance that saved it.
    pub server_id: i32,
    /// The TCP connection it came over (`connection_id`; -1: none).
    pub connection_id: i32,
    /// `keepalive` (1: the binding is kept alive).
    pub keepalive: u32,
    /// Last change, Unix seconds.
    pub last_modified: i64,
}

impl UContact {
    /// Whether it has expired at `now`.
    pub fn expired(&self, now: i64) -> bool {
        self.expires != 0 && self.expires <= now
    }
}

/// An AoR and one of its bindings.
pub type Binding = (String, UContact);

/// What an update of a record does with the contacts it is given.
pub type Update<'f> = &'f mut dyn FnMut(&mut Vec<UContact>) -> Result<(), String>;

/// usrloc's functions for other modules.
#[derive(Debug)]
pub struct UlApi {
    /// Registers a domain (a table such as `location`): before the fork.
    pub register_domain: fn(&str) -> Result<(), String>,
    /// The live contacts of `aor` in `domain` (empty: none).
    pub get: fn(domain: &str, aor: &str) -> Result<Vec<UContact>, String>,
    /// Changes the contacts of `aor` atomically (the record's lock is held
    /// while `f` runs; no contact left removes the record): the contacts
    /// after the change, expired ones dropped.
    pub update: fn(domain: &str, aor: &str, f: Update<'_>) -> Result<Vec<UContact>, String>,
    /// `use_domain`: whether an AoR is `user@domain` (else `user`).
    pub use_domain: fn() -> bool,
    /// `nat_bflag`: the branch flag marking a contact behind NAT (-1: none).
    pub nat_bflag: fn() -> i32,
    /// A new binding's unique id (`ruid`).
    pub new_ruid: fn() -> String,
    /// The hash that finds `aor`'s record without its name (a temp-gruu
    /// carries it with the binding's ruid, RFC 5627).
    pub aor_hash: fn(aor: &str) -> u32,
    /// The AoR and live binding with `ruid`, looked for in the record slot
    /// `hash` names (`aor_hash`).
    pub by_ruid: fn(domain: &str, hash: u32, ruid: &str) -> Result<Option<Binding>, String>,
    /// Adds a function called for every binding inserted, updated,
    /// deleted or expired (Kamailio's ULCB_CONTACT_* callbacks), in the
    /// process that made the change, after the record's lock is released:
    /// in mod_init.
    pub on_contact: fn(cb: ContactCallback),
    /// `matching_mode`: how a REGISTER's contact finds its binding (0 the
    /// contact URI, 1 and the Call-ID, 2 and the Path, 3 the Call-ID).
    pub matching_mode: fn() -> u8,
    /// `desc_time_order`: bindings newest first instead of by q.
    pub desc_time_order: fn() -> bool,
}

/// What happened to a binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactEvent {
    /// A new binding.
    Inserted,
    /// A binding changed (refreshed).
    Updated,
    /// A binding removed (unregistered, replaced, or found expired while
    /// its record changed).
    Deleted,
    /// A binding the expiry timer removed.
    Expired,
}

/// What [`UlApi::on_contact`] calls: the event, domain, AoR, the binding
/// (as it is after an insert or update, as it was before a delete).
pub type ContactCallback = fn(event: ContactEvent, domain: &str, aor: &str, contact: &UContact);
