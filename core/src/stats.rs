//! Statistics counters (Kamailio's counters: `sl:1xx_replies`,
//! `core:rcv_requests`, ...): named `group:name` atomics in shm, so every
//! process adds to the same number. Registered before the fork (in
//! `mod_init`); read by `stats.get_statistics`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::rpc::{RpcError, RpcValue};

struct Entry {
    group: String,
    name: String,
    /// What `cnt.help` says of it (empty: Kamailio's default text).
    help: String,
    value: &'static AtomicU64,
    /// Whether `stats.reset_statistics` and the like zero it (Kamailio's
    /// statistics without STAT_NO_RESET, or not computed).
    resettable: bool,
}

/// `cnt.help`'s text for a statistic registered without a description,
/// Kamailio's.
const NO_DESCRIPTION: &str = "kamailio statistic (no description)";

static COUNTERS: Mutex<Vec<Entry>> = Mutex::new(Vec::new());

/// The counter `group:name`, created on first registration (in the shm
/// pool when there is one; before the server has a pool — tools, tests —
/// a process-local one).
pub fn register(group: &str, name: &str) -> Result<&'static AtomicU64, String> {
    register_with_help(group, name, "")
}

/// [`register`] with the description `cnt.help` gives (empty: the
/// default); a later registration's description replaces an empty one.
pub fn register_with_help(group: &str, name: &str, help: &str) -> Result<&'static AtomicU64, String> {
    register_kind(group, name, help, true)
}

/// [`register_with_help`] for a statistic the reset commands leave as it
/// is (`resettable` false): what Kamailio computes from other figures or
/// registers with STAT_NO_RESET (sl's replies, usrloc's records,
/// registrar's parameters, tmx's transactions; measured).
pub fn register_kind(group: &str, name: &str, help: &str, resettable: bool) -> Result<&'static AtomicU64, String> {
    let mut all = COUNTERS.lock().map_err(|_| "counters lock poisoned")?;
    if let Some(e) = all.iter_mut().find(|e| e.group == group && e.name == name) {
        if e.help.is_empty() {
            e.help = help.to_string();
        }
        return Ok(e.value);
    }
    let value: &'static AtomicU64 = match crate::shm::pool() {
        Some(pool) => pool.alloc_counter().ok_or("no shared memory for a counter")?,
        None => Box::leak(Box::new(AtomicU64::new(0))),
    };
    all.push(Entry { group: group.to_string(), name: name.to_string(), help: help.to_string(), value, resettable });
    Ok(value)
}

/// The value of the statistic called `name` (in any group; the first
/// registered): `$stat(name)`.
pub fn value_by_name(name: &str) -> Option<u64> {
    let counter = COUNTERS
        .lock()
        .ok()
        .and_then(|all| all.iter().find(|e| e.name == name).map(|e| e.value.load(Ordering::Relaxed)));
    // the figures read when asked (shmem:...) are not counters
    counter.or_else(|| snapshot().into_iter().find(|(_, n, _)| n == name).map(|(_, _, v)| v))
}

/// Every statistic: (group, name, value), sorted by group and name as
/// Kamailio lists them; the counters and the figures read when asked
/// ([`computed`]).
pub fn snapshot() -> Vec<(String, String, u64)> {
    let mut all: Vec<(String, String, u64)> = COUNTERS
        .lock()
        .map(|all| all.iter().map(|e| (e.group.clone(), e.name.clone(), e.value.load(Ordering::Relaxed))).collect())
        .unwrap_or_default();
    all.extend(computed());
    all.sort_unstable_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    all
}

/// The statistics read when asked, not counted (kex's, as the core:
/// statistics): `shmem:*`, `tcp:current_opened_connections`,
/// `tcp:current_write_queue_size`. Kamailio's counters API lists them
/// with the counters (`cnt.grp_get_all shmem`); resetting them does
/// nothing.
fn computed() -> Vec<(String, String, u64)> {
    let mut all = Vec::new();
    if let Some(pool) = crate::shm::pool().filter(|_| CORE.get().is_some()) {
        let st = pool.stats();
        for (name, v) in [
            ("fragments", st.fragments),
            ("free_size", st.free),
            ("max_used_size", st.max_used),
            ("real_used_size", st.real_used),
            ("total_size", st.total),
            ("used_size", st.used),
        ] {
            all.push(("shmem".into(), name.into(), v));
        }
    }
    if let Some(t) = crate::runtime::tcp::table::get().filter(|_| CORE.get().is_some()) {
        all.push(("tcp".into(), "current_opened_connections".into(), t.len() as u64));
        // sipr queues no writes (a send waits, up to tcp_send_timeout)
        all.push(("tcp".into(), "current_write_queue_size".into(), 0));
    }
    all
}

/// `cnt.help`'s text for the figures read when asked (Kamailio's).
fn computed_help(group: &str, name: &str) -> &'static str {
    match (group, name) {
        ("tcp", "current_opened_connections") => "number of currently opened connections.",
        ("tcp", "current_write_queue_size") => "current sum of all the connections write queue sizes.",
        _ => NO_DESCRIPTION,
    }
}

/// The methods with a counter of their own (`core:rcv_requests_invite`),
/// in [`Method`](crate::sip::Method) terms.
const REQUEST_METHODS: [(crate::sip::Method, &str); 14] = {
    use crate::sip::Method::*;
    [
        (Ack, "ack"),
        (Bye, "bye"),
        (Cancel, "cancel"),
        (Info, "info"),
        (Invite, "invite"),
        (Message, "message"),
        (Notify, "notify"),
        (Options, "options"),
        (Prack, "prack"),
        (Publish, "publish"),
        (Refer, "refer"),
        (Register, "register"),
        (Subscribe, "subscribe"),
        (Update, "update"),
    ]
};

/// The methods whose replies are counted per class
/// (`core:rcv_replies_4xx_invite`), by the CSeq's method text.
const REPLY_METHODS: [(&[u8], &str); 8] = [
    (b"BYE", "bye"),
    (b"CANCEL", "cancel"),
    (b"INVITE", "invite"),
    (b"MESSAGE", "message"),
    (b"PRACK", "prack"),
    (b"REFER", "refer"),
    (b"REGISTER", "reg"),
    (b"UPDATE", "update"),
];

/// Reply codes with a counter of their own (`core:rcv_replies_404`).
const REPLY_CODES: [u16; 5] = [401, 404, 407, 480, 486];

type Counter = &'static AtomicU64;

/// Kamailio's `core:` statistics: what every SIP process counts as
/// messages arrive.
#[derive(Debug)]
pub struct CoreCounters {
    rcv_requests: Counter,
    by_method: [Counter; 14],
    rcv_replies: Counter,
    by_class: [Counter; 6],
    by_class_method: [[Counter; 8]; 6],
    replies_18x: Counter,
    by_code: [Counter; 5],
    /// Requests and replies forwarded statelessly (`forward()`, a reply
    /// no transaction takes).
    pub fwd_requests: Counter,
    /// See `fwd_requests`.
    pub fwd_replies: Counter,
    /// Requests and replies the script dropped.
    pub drop_requests: Counter,
    /// See `drop_requests`.
    pub drop_replies: Counter,
    /// Messages that could not be parsed (answered 400 or dropped).
    pub err_requests: Counter,
    /// See `err_requests`.
    pub err_replies: Counter,
    /// Messages with a header that does not parse.
    pub bad_msg_hdr: Counter,
    /// Request-URIs that do not parse.
    pub bad_uris_rcvd: Counter,
    /// Requests of a method the server does not know.
    pub unsupported_methods: Counter,
}

static CORE: std::sync::OnceLock<CoreCounters> = std::sync::OnceLock::new();

/// Registers the `core:` statistics (main process, before the fork).
pub fn init_core() -> Result<(), String> {
    let c = |n: &str| register("core", n);
    let mut by_class_method = Vec::new();
    for class in 1..=6 {
        let row: Vec<Counter> =
            REPLY_METHODS.iter().map(|(_, m)| c(&format!("rcv_replies_{class}xx_{m}"))).collect::<Result<_, _>>()?;
        by_class_method.push(row.try_into().map_err(|_| "reply counters")?);
    }
    let counters = CoreCounters {
        rcv_requests: c("rcv_requests")?,
        by_method: REQUEST_METHODS
            .iter()
            .map(|(_, m)| c(&format!("rcv_requests_{m}")))
            .collect::<Result<Vec<_>, _>>()?
            .try_into()
            .map_err(|_| "request counters")?,
        rcv_replies: c("rcv_replies")?,
        by_class: (1..=6)
            .map(|k| c(&format!("rcv_replies_{k}xx")))
            .collect::<Result<Vec<_>, _>>()?
            .try_into()
            .map_err(|_| "reply counters")?,
        by_class_method: by_class_method.try_into().map_err(|_| "reply counters")?,
        replies_18x: c("rcv_replies_18x")?,
        by_code: REPLY_CODES
            .iter()
            .map(|k| c(&format!("rcv_replies_{k}")))
            .collect::<Result<Vec<_>, _>>()?
            .try_into()
            .map_err(|_| "reply counters")?,
        fwd_requests: c("fwd_requests")?,
        fwd_replies: c("fwd_replies")?,
        drop_requests: c("drop_requests")?,
        drop_replies: c("drop_replies")?,
        err_requests: c("err_requests")?,
        err_replies: c("err_replies")?,
        bad_msg_hdr: c("bad_msg_hdr")?,
        bad_uris_rcvd: c("bad_URIs_rcvd")?,
        unsupported_methods: c("unsupported_methods")?,
    };
    let _ = CORE.set(counters);
    let t = |n: &str, help: &str| register_with_help("tcp", n, help);
    let _ = TCP.set(TcpCounters {
        con_reset: t("con_reset", "total number of TCP_RSTs received on established connections.")?,
        con_timeout: t("con_timeout", "total number of connections that did timeout (idle for too long).")?,
        connect_failed: t("connect_failed", "number of failed active connection attempts.")?,
        connect_success: t(
            "connect_success",
            "total number of successfully active opened connections (successful connect()s).",
        )?,
        established: t("established", "incremented each time a tcp connection is established.")?,
        local_reject: t("local_reject", "number of rejected incoming connections.")?,
        passive_open: t("passive_open", "total number of accepted connections (so far).")?,
        send_timeout: t(
            "send_timeout",
            "number of send attempts that failed due to a timeout(note: works only in tcp async mode).",
        )?,
        // never counted: sipr queues no writes, as Kamailio without tcp_async
        _sendq_full: t(
            "sendq_full",
            "number of send attempts that failed because of exceeded bufferingcapacity (send queue full, works only in tcp async mode).",
        )?,
    });
    let d = |n: &str, help: &str| register_with_help("dns", n, help);
    let _ = DNS.set(DnsCounters {
        failed_dns_request: d("failed_dns_request", "incremented each time a DNS request has failed.")?,
        slow_dns_request: d(
            "slow_dns_request",
            "incremented each time a DNS request took longer than dns_slow_query_ms.",
        )?,
    });
    Ok(())
}

/// Kamailio's `tcp:` statistics (with kex, as the `core:` ones):
/// connections accepted, opened, refused and closed, as the TCP processes
/// see them. `current_opened_connections` and `current_write_queue_size`
/// are read when asked.
#[derive(Debug)]
pub struct TcpCounters {
    /// A connection closed by the peer's reset.
    pub con_reset: Counter,
    /// A connection closed idle past `tcp_connection_lifetime`.
    pub con_timeout: Counter,
    /// An outgoing connection that could not be opened.
    pub connect_failed: Counter,
    /// An outgoing connection opened.
    pub connect_success: Counter,
    /// Any connection established (accepted or opened).
    pub established: Counter,
    /// An incoming connection refused (`tcp_max_connections`).
    pub local_reject: Counter,
    /// An incoming connection accepted.
    pub passive_open: Counter,
    /// A send that ran out of `tcp_send_timeout`.
    pub send_timeout: Counter,
    _sendq_full: Counter,
}

/// Kamailio's `dns:` statistics: queries to the nameservers (not the
/// cache's answers) that failed or were slow.
#[derive(Debug)]
pub struct DnsCounters {
    /// A query with no answer: a timeout, an error, no such name.
    pub failed_dns_request: Counter,
    /// A query that took longer than `dns_slow_query_ms`.
    pub slow_dns_request: Counter,
}

static TCP: std::sync::OnceLock<TcpCounters> = std::sync::OnceLock::new();
static DNS: std::sync::OnceLock<DnsCounters> = std::sync::OnceLock::new();

/// Counts a `tcp:` event (nothing without kex, as Kamailio's figures are
/// then not kept either).
pub fn tcp(f: impl FnOnce(&TcpCounters) -> Counter) {
    if let Some(t) = TCP.get() {
        bump(f(t));
    }
}

/// Counts a `dns:` event (nothing without kex).
pub fn dns(f: impl FnOnce(&DnsCounters) -> Counter) {
    if let Some(d) = DNS.get() {
        bump(f(d));
    }
}

/// The `core:` statistics, once registered.
pub fn core() -> Option<&'static CoreCounters> {
    CORE.get()
}

/// Adds one to a counter.
pub fn bump(c: Counter) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl CoreCounters {
    /// A request arrived.
    pub fn request(&self, method: Option<crate::sip::Method>) {
        bump(self.rcv_requests);
        match method {
            Some(crate::sip::Method::Other) | None => bump(self.unsupported_methods),
            Some(m) => {
                if let Some(i) = REQUEST_METHODS.iter().position(|(x, _)| *x == m) {
                    bump(self.by_method[i]);
                }
            }
        }
    }

    /// A message that does not parse at all: a header line that does not
    /// parse counts in `bad_msg_hdr`, as in Kamailio; a first line that
    /// does not (garbage) nowhere (measured).
    pub fn unparsable(&self, e: &crate::sip::ParseError) {
        use crate::sip::ParseErrorKind as K;
        if matches!(e.kind, K::BadHeaderName | K::MissingColon | K::BadHeader(_)) {
            bump(self.bad_msg_hdr);
        }
    }

    /// A message that parses but fails the checks made before the script
    /// (Kamailio's parse_msg and receive checks), counted as Kamailio
    /// counts it (measured): a top Via that does not parse in
    /// `bad_msg_hdr` only; a missing From, To, Call-ID or CSeq in
    /// `err_requests` / `err_replies`, and a To that does not parse in
    /// `bad_msg_hdr` too; none as a received message.
    pub fn refused(&self, e: &crate::sip::ParseError, request: bool) {
        use crate::sip::ParseErrorKind as K;
        let via = e.header.as_deref().is_some_and(|h| h.eq_ignore_ascii_case("via"));
        if matches!(e.kind, K::BadHeader(_) | K::BadHeaderName | K::MissingColon) {
            bump(self.bad_msg_hdr);
        }
        if !via {
            bump(if request { self.err_requests } else { self.err_replies });
        }
    }

    /// A Request-URI that does not parse was read by the script
    /// (`bad_URIs_rcvd`, counted at each attempt, as Kamailio's).
    pub fn bad_uri(&self) {
        bump(self.bad_uris_rcvd);
    }

    /// A reply arrived: its code and its CSeq's method text.
    pub fn reply(&self, code: u16, cseq_method: Option<&[u8]>) {
        bump(self.rcv_replies);
        let class = usize::from(code / 100);
        if !(1..=6).contains(&class) {
            return;
        }
        bump(self.by_class[class - 1]);
        if let Some(i) = cseq_method.and_then(|m| REPLY_METHODS.iter().position(|(x, _)| *x == m)) {
            bump(self.by_class_method[class - 1][i]);
        }
        if code / 10 == 18 {
            bump(self.replies_18x);
        }
        if let Some(i) = REPLY_CODES.iter().position(|c| *c == code) {
            bump(self.by_code[i]);
        }
    }
}

/// `stats.get_statistics [all | group: | group:name]...`: Kamailio's
/// shape, a list of `group:name = value` strings.
pub fn rpc_get_statistics(params: &[RpcValue]) -> Result<RpcValue, RpcError> {
    let wanted: Vec<String> = params.iter().filter_map(RpcValue::as_text).collect();
    let wanted = if wanted.is_empty() { vec!["all".to_string()] } else { wanted };
    // each parameter's statistics in turn, as Kamailio lists them
    let all = snapshot();
    let out: Vec<RpcValue> = wanted
        .iter()
        .flat_map(|w| all.iter().filter(move |(g, n, _)| names(w, g, n)))
        .map(|(g, n, v)| RpcValue::Str(format!("{g}:{n} = {v}")))
        .collect();
    // nothing matching is an empty list, as Kamailio answers
    Ok(RpcValue::Array(out))
}

/// `stats.fetch` / `stats.fetchn [all | group: | group:name | name]...`:
/// Kamailio's shape, `group.name` members, the values as text (fetch) or
/// numbers (fetchn).
fn fetch(params: &[RpcValue], numbers: bool) -> Result<RpcValue, RpcError> {
    let wanted: Vec<String> = params.iter().filter_map(RpcValue::as_text).collect();
    if wanted.is_empty() {
        return Err(RpcError::new(400, "Please provide which stats to retrieve"));
    }
    let all = snapshot();
    let members = wanted
        .iter()
        .flat_map(|w| {
            all.iter().filter(move |(g, n, _)| names(w, g, n) || w.split_once(':') == Some((g.as_str(), n.as_str())))
        })
        .map(|(g, n, v)| {
            let v = if numbers { RpcValue::Int(*v as i64) } else { RpcValue::Str(v.to_string()) };
            (format!("{g}.{n}"), v)
        })
        .collect();
    Ok(RpcValue::Struct(members))
}

fn rpc_fetch(params: &[RpcValue]) -> Result<RpcValue, RpcError> {
    fetch(params, false)
}

fn rpc_fetchn(params: &[RpcValue]) -> Result<RpcValue, RpcError> {
    fetch(params, true)
}

/// Whether `wanted` (`all`, `group:` or a statistic's own name; Kamailio
/// takes no `group:name`) names statistic `group:name`.
fn names(wanted: &str, group: &str, name: &str) -> bool {
    wanted == "all" || wanted.strip_suffix(':').is_some_and(|wg| wg == group) || wanted == name
}

/// What one reset parameter names, in Kamailio's order (by group and
/// name): each statistic's group, name, and the value it had; a counter
/// that may be reset is zeroed (`true`), the others stay.
fn zero_one(wanted: &str) -> Result<Vec<(String, String, u64, bool)>, RpcError> {
    let all = COUNTERS.lock().map_err(|_| RpcError::new(500, "counters lock poisoned"))?;
    let mut out: Vec<(String, String, u64, bool)> = all
        .iter()
        .filter(|e| names(wanted, &e.group, &e.name))
        .map(|e| {
            let v = if e.resettable { e.value.swap(0, Ordering::Relaxed) } else { e.value.load(Ordering::Relaxed) };
            (e.group.clone(), e.name.clone(), v, e.resettable)
        })
        .collect();
    drop(all);
    out.extend(computed().into_iter().filter(|(g, n, _)| names(wanted, g, n)).map(|(g, n, v)| (g, n, v, false)));
    out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    Ok(out)
}

/// `stats.reset_statistics group:name...` (silent).
pub fn rpc_reset_statistics(params: &[RpcValue]) -> Result<RpcValue, RpcError> {
    for p in params.iter().filter_map(RpcValue::as_text) {
        zero_one(&p)?;
    }
    Ok(RpcValue::Null)
}

/// `stats.clear_statistics group:name...`: as reset, answering with
/// Kamailio's lines (its "verbose operation"): a counter reset from a
/// value other than 0 with that value (`= 0 (old)`), the others with
/// their value.
pub fn rpc_clear_statistics(params: &[RpcValue]) -> Result<RpcValue, RpcError> {
    let mut out = Vec::new();
    for p in params.iter().filter_map(RpcValue::as_text) {
        for (g, n, v, reset) in zero_one(&p)? {
            // a counter that was 0 reads as a statistic that stays (measured)
            out.push(RpcValue::Str(if reset && v != 0 {
                format!("{g}:{n} = 0 ({v})")
            } else {
                format!("{g}:{n} = {v}")
            }));
        }
    }
    Ok(RpcValue::Array(out))
}

/// The statistics of `group`, counters and figures read when asked:
/// name, value, sorted.
fn group_counters(group: &str) -> Result<Vec<(String, u64)>, RpcError> {
    Ok(snapshot().into_iter().filter(|(g, _, _)| g == group).map(|(_, n, v)| (n, v)).collect())
}

/// The statistic `group name` the parameters give (the counters API's
/// commands).
struct Named {
    /// Its atomic; `None` for a figure read when asked.
    counter: Option<&'static AtomicU64>,
    /// Its value now.
    value: u64,
    /// What `cnt.help` says of it.
    help: String,
}

/// Finds the statistic `group name` the parameters give.
fn named(p: &[RpcValue]) -> Result<Named, RpcError> {
    let group = crate::rpc::text_param(p, 0, "group")?;
    let name = crate::rpc::text_param(p, 1, "counter name")?;
    let counter = COUNTERS
        .lock()
        .map_err(|_| RpcError::new(500, "counters lock poisoned"))?
        .iter()
        .find(|e| e.group == group && e.name == name)
        .map(|e| (e.value, if e.help.is_empty() { NO_DESCRIPTION.to_string() } else { e.help.clone() }));
    if let Some((c, help)) = counter {
        return Ok(Named { counter: Some(c), value: c.load(Ordering::Relaxed), help });
    }
    computed()
        .into_iter()
        .find(|(g, n, _)| *g == group && *n == name)
        .map(|(_, _, value)| Named { counter: None, value, help: computed_help(&group, &name).to_string() })
        .ok_or_else(|| RpcError::new(400, format!("non-existent counter {group}.{name}\n")))
}

/// `cnt.get group [name]`: a counter's value, or the group's (as
/// `cnt.grp_get_all`).
fn rpc_cnt_get(p: &[RpcValue]) -> Result<RpcValue, RpcError> {
    if p.len() < 2 {
        return rpc_cnt_grp_get_all(p);
    }
    Ok(RpcValue::Int(named(p)?.value as i64))
}

/// `cnt.reset group name` (a figure read when asked stays as it is).
fn rpc_cnt_reset(p: &[RpcValue]) -> Result<RpcValue, RpcError> {
    if let Some(c) = named(p)?.counter {
        c.store(0, Ordering::Relaxed);
    }
    Ok(RpcValue::Null)
}

/// `cnt.grp_get_all group`: name: value, sorted.
fn rpc_cnt_grp_get_all(p: &[RpcValue]) -> Result<RpcValue, RpcError> {
    let group = crate::rpc::text_param(p, 0, "group")?;
    Ok(RpcValue::Struct(group_counters(&group)?.into_iter().map(|(n, v)| (n, RpcValue::Int(v as i64))).collect()))
}

/// `cnt.help group name`: the counter's description.
fn rpc_cnt_help(p: &[RpcValue]) -> Result<RpcValue, RpcError> {
    Ok(RpcValue::Str(named(p)?.help))
}

/// `cnt.grps_list`: the groups, sorted.
fn rpc_cnt_grps_list(_: &[RpcValue]) -> Result<RpcValue, RpcError> {
    let mut groups: Vec<String> = snapshot().into_iter().map(|(g, _, _)| g).collect();
    groups.dedup();
    Ok(RpcValue::Array(groups.into_iter().map(RpcValue::Str).collect()))
}

/// `cnt.var_list group`: the counter names of a group, sorted.
fn rpc_cnt_var_list(p: &[RpcValue]) -> Result<RpcValue, RpcError> {
    let group = crate::rpc::text_param(p, 0, "group")?;
    Ok(RpcValue::Array(group_counters(&group)?.into_iter().map(|(n, _)| RpcValue::Str(n)).collect()))
}

/// The counters module's commands (Kamailio's names and help texts):
/// published when the cfg loads the counters module, as in Kamailio.
pub static CNT_RPCS: &[crate::rpc::RpcDef] = &[
    crate::rpc::RpcDef {
        name: "cnt.get",
        doc: "get counter value (takes group and counter name as parameters)",
        call: rpc_cnt_get,
    },
    crate::rpc::RpcDef {
        name: "cnt.reset",
        doc: "reset counter (takes group and counter name as parameters)",
        call: rpc_cnt_reset,
    },
    crate::rpc::RpcDef {
        name: "cnt.grp_get_all",
        doc: "list all counter names and values in a specified group",
        call: rpc_cnt_grp_get_all,
    },
    crate::rpc::RpcDef {
        name: "cnt.get_vars",
        doc: "list all counter names and values in a specified group",
        call: rpc_cnt_grp_get_all,
    },
    crate::rpc::RpcDef {
        name: "cnt.help",
        doc: "print the description of a counter (group and counter name required).",
        call: rpc_cnt_help,
    },
    crate::rpc::RpcDef { name: "cnt.grps_list", doc: "list all the counter group names", call: rpc_cnt_grps_list },
    crate::rpc::RpcDef { name: "cnt.list_groups", doc: "list all the counter group names", call: rpc_cnt_grps_list },
    crate::rpc::RpcDef {
        name: "cnt.list_vars",
        doc: "list all the counters names in a specified group",
        call: rpc_cnt_var_list,
    },
    crate::rpc::RpcDef {
        name: "cnt.var_list",
        doc: "list all the counters names in a specified group",
        call: rpc_cnt_var_list,
    },
];

/// `mod.stats MODULE|all shm`: the shm each module holds, as Kamailio's
/// shape ("Module: NAME", its figures, ""); sipr counts blocks and bytes
/// per module (not per allocation site, Kamailio's debug-build listing).
/// Per-module pkg memory is not counted: `pkg` and `all` are refused.
fn rpc_mod_stats(p: &[RpcValue]) -> Result<RpcValue, RpcError> {
    let module = crate::rpc::text_param(p, 0, "module name")?;
    let kind = crate::rpc::text_param(p, 1, "memory type (shm)")?;
    if kind != "shm" {
        return Err(RpcError::new(
            500,
            format!("{kind}: sipr counts shm per module (mod.stats {module} shm); pkg memory is per process (core.ps)"),
        ));
    }
    let pool = crate::shm::pool().ok_or_else(|| RpcError::new(500, "no shared memory"))?;
    let usage = pool.usage_by_owner();
    let figures = |name: &str| {
        let (bytes, blocks) =
            usage.iter().find(|(n, _, _)| n == name).map_or((0, 0), |(_, b, k)| (*b as i64, *k as i64));
        RpcValue::Struct(vec![("Blocks".into(), RpcValue::Int(blocks)), ("Total".into(), RpcValue::Int(bytes))])
    };
    let names: Vec<String> = if module == "all" {
        let mut n = vec!["core".to_string()];
        n.extend(crate::rpc::server::module_names());
        n
    } else {
        vec![module]
    };
    let mut out = Vec::new();
    for n in names {
        out.push(RpcValue::Str(format!("Module: {n}")));
        out.push(figures(&n));
        out.push(RpcValue::Str(String::new()));
    }
    Ok(RpcValue::Array(out))
}

/// kex's statistics commands (Kamailio's names and help texts): published
/// when the cfg loads kex, as in Kamailio, where kex also registers the
/// `core:` statistics.
pub static KEX_RPCS: &[crate::rpc::RpcDef] = &[
    crate::rpc::RpcDef { name: "stats.get_statistics", doc: "get core and modules stats", call: rpc_get_statistics },
    crate::rpc::RpcDef {
        name: "stats.reset_statistics",
        doc: "reset core and modules stats (silent operation)",
        call: rpc_reset_statistics,
    },
    crate::rpc::RpcDef {
        name: "pkg.stats",
        doc: "Private memory (pkg) statistics per process",
        call: crate::runtime::pkg::rpc_pkg_stats,
    },
    crate::rpc::RpcDef {
        name: "pkg.info",
        doc: "Private memory manager details",
        call: crate::runtime::pkg::rpc_pkg_info,
    },
    crate::rpc::RpcDef { name: "mod.stats", doc: "Per module memory usage statistics", call: rpc_mod_stats },
    crate::rpc::RpcDef { name: "mod.mem_stats", doc: "Per module memory usage statistics", call: rpc_mod_stats },
    crate::rpc::RpcDef {
        name: "mod.mem_statsx",
        doc: "Per module memory use statistics with more details",
        call: rpc_mod_stats,
    },
    crate::rpc::RpcDef { name: "stats.fetch", doc: "fetch core and modules stats as string values", call: rpc_fetch },
    crate::rpc::RpcDef { name: "stats.fetchn", doc: "fetch core and modules stats as number values", call: rpc_fetchn },
    crate::rpc::RpcDef {
        name: "stats.clear_statistics",
        doc: "clear core and modules stats (verbose operation)",
        call: rpc_clear_statistics,
    },
];

/// Every RPC command of the core (modules add theirs): [`CORE_RPCS`] and
/// the destination blocklist's.
pub fn core_rpcs() -> impl Iterator<Item = &'static crate::rpc::RpcDef> {
    CORE_RPCS.iter().chain(crate::blocklist::RPCS).chain(crate::rpc::server::RPCS)
}

/// The core's own RPC commands (modules add theirs): statistics,
/// `core.ps`, `core.version`.
pub static CORE_RPCS: &[crate::rpc::RpcDef] = &[
    crate::rpc::RpcDef {
        name: "core.ps",
        doc: "Returns the description of running processes.",
        call: crate::runtime::procs::rpc_ps,
    },
    crate::rpc::RpcDef {
        name: "core.psx",
        doc: "Returns the detailed description of running processes.",
        call: crate::runtime::procs::rpc_psx,
    },
    crate::rpc::RpcDef { name: "core.version", doc: "Returns the version string of the server.", call: rpc_version },
    crate::rpc::RpcDef {
        name: "core.shmmem",
        doc: "Returns shared memory info. It has an optional parameter that specifies the measuring unit: b - bytes (default), k or kb, m or mb, g or gb. Note: when using something different from bytes, the value is truncated.",
        call: rpc_shmmem,
    },
    crate::rpc::RpcDef {
        name: "core.tcp_list",
        doc: "Returns tcp connections details.",
        call: crate::runtime::tcp::table::rpc_tcp_list,
    },
];

/// `core.shmmem [unit]`: the pool's figures, as Kamailio's.
fn rpc_shmmem(p: &[RpcValue]) -> Result<RpcValue, RpcError> {
    let shift = match p.first().and_then(RpcValue::as_text).as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("b") => 0,
        Some("k" | "kb") => 10,
        Some("m" | "mb") => 20,
        Some("g" | "gb") => 30,
        Some(_) => return Err(RpcError::new(500, "Bad param: b|k|m|g")),
    };
    let pool = crate::shm::pool().ok_or_else(|| RpcError::new(500, "no shared memory"))?;
    let st = pool.stats();
    let v = |n: u64| RpcValue::Int((n >> shift) as i64);
    Ok(RpcValue::Struct(vec![
        ("total".into(), v(st.total)),
        ("free".into(), v(st.free)),
        ("used".into(), v(st.used)),
        ("real_used".into(), v(st.real_used)),
        ("max_used".into(), v(st.max_used)),
        ("fragments".into(), RpcValue::Int(st.fragments as i64)),
    ]))
}

fn rpc_version(_: &[RpcValue]) -> Result<RpcValue, RpcError> {
    Ok(RpcValue::Str(crate::server_signature().to_string()))
}
