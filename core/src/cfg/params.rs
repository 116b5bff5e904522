//! Core parameters (`children=8`, `listen=udp:1.2.3.4:5060`, ...): the
//! names and value types Kamailio accepts, and the typed settings the
//! server reads. An unknown name is an error that names it.

use std::collections::HashMap;

use super::ast::ParamValue;
use super::ctx::ListenAddr;
use crate::net::Proto;

/// The type a core parameter takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A number (`yes`/`no` read as 1/0, as Kamailio's lexer does).
    Int,
    /// A boolean (`yes`, `no`, 1, 0, ...).
    Bool,
    /// A string.
    Str,
    /// A string or a bare word (`log_facility=LOG_LOCAL0`).
    Word,
    /// A listen socket.
    Listen,
    /// An alias `[proto:]host[:port]`.
    Alias,
    /// Anything (accepted for compatibility, not used by sipr yet).
    Any,
}

/// Every core parameter sipr knows, with its type.
const CORE_PARAMS: &[(&str, Kind)] = &[
    ("children", Kind::Int),
    ("listen", Kind::Listen),
    ("socket", Kind::Listen),
    ("port", Kind::Int),
    ("alias", Kind::Alias),
    ("debug", Kind::Int),
    ("log_stderror", Kind::Bool),
    ("log_facility", Kind::Word),
    ("log_prefix", Kind::Str),
    ("log_prefix_mode", Kind::Int),
    ("log_name", Kind::Str),
    ("log_color", Kind::Bool),
    ("log_engine_type", Kind::Str),
    ("log_engine_data", Kind::Str),
    ("fork", Kind::Bool),
    ("fork_delay", Kind::Int),
    ("tcp_children", Kind::Int),
    ("sctp_children", Kind::Int),
    ("disable_tcp", Kind::Bool),
    ("disable_sctp", Kind::Word),
    ("disable_tls", Kind::Bool),
    ("enable_tls", Kind::Bool),
    ("enable_sctp", Kind::Word),
    ("tls_max_connections", Kind::Int),
    ("tcp_connection_lifetime", Kind::Int),
    ("tcp_max_connections", Kind::Int),
    ("tcp_connect_timeout", Kind::Int),
    ("tcp_send_timeout", Kind::Int),
    ("tcp_accept_aliases", Kind::Bool),
    ("tcp_accept_no_cl", Kind::Bool),
    ("tcp_accept_haproxy", Kind::Bool),
    ("tcp_async", Kind::Bool),
    ("tcp_buf_write", Kind::Bool),
    ("tcp_conn_wq_max", Kind::Int),
    ("tcp_wq_max", Kind::Int),
    ("tcp_crlf_ping", Kind::Bool),
    ("tcp_keepalive", Kind::Bool),
    ("tcp_keepidle", Kind::Int),
    ("tcp_keepintvl", Kind::Int),
    ("tcp_keepcnt", Kind::Int),
    ("tcp_linger2", Kind::Int),
    ("tcp_delayed_ack", Kind::Bool),
    ("tcp_defer_accept", Kind::Int),
    ("tcp_syncnt", Kind::Int),
    ("tcp_fd_cache", Kind::Bool),
    ("tcp_rd_buf_size", Kind::Int),
    ("tcp_no_connect", Kind::Bool),
    ("tcp_reuse_port", Kind::Bool),
    ("tcp_clone_rcvbuf", Kind::Bool),
    ("tcp_source_ipv4", Kind::Word),
    ("tcp_source_ipv6", Kind::Word),
    ("tcp_poll_method", Kind::Word),
    ("tcp_max_fd_no", Kind::Int),
    ("mhomed", Kind::Bool),
    ("dns", Kind::Bool),
    ("rev_dns", Kind::Bool),
    ("dns_try_ipv6", Kind::Bool),
    ("dns_try_naptr", Kind::Bool),
    ("dns_srv_lb", Kind::Bool),
    ("dns_udp_pref", Kind::Int),
    ("dns_tcp_pref", Kind::Int),
    ("dns_tls_pref", Kind::Int),
    ("dns_sctp_pref", Kind::Int),
    ("dns_retr_time", Kind::Int),
    ("dns_retr_no", Kind::Int),
    ("dns_servers_no", Kind::Int),
    ("dns_use_search_list", Kind::Bool),
    ("dns_search_full_match", Kind::Bool),
    ("dns_cache_init", Kind::Bool),
    ("use_dns_cache", Kind::Bool),
    ("use_dns_failover", Kind::Bool),
    ("dns_cache_flags", Kind::Int),
    ("dns_cache_negative_ttl", Kind::Int),
    ("dns_cache_min_ttl", Kind::Int),
    ("dns_cache_max_ttl", Kind::Int),
    ("dns_cache_mem", Kind::Int),
    ("dns_cache_gc_interval", Kind::Int),
    ("dns_cache_del_nonexp", Kind::Bool),
    ("dns_slow_query_ms", Kind::Int),
    ("auto_aliases", Kind::Bool),
    ("server_header", Kind::Str),
    ("user_agent_header", Kind::Str),
    ("server_signature", Kind::Bool),
    ("sip_warning", Kind::Bool),
    ("memlog", Kind::Int),
    ("mem_log", Kind::Int),
    ("memdbg", Kind::Int),
    ("mem_dbg", Kind::Int),
    ("mem_summary", Kind::Int),
    ("mem_safety", Kind::Int),
    ("mem_join", Kind::Int),
    ("mem_status_mode", Kind::Int),
    ("mpath", Kind::Str),
    ("loadpath", Kind::Str),
    ("shm_mem_size", Kind::Int),
    ("shm_force_alloc", Kind::Bool),
    ("pkg_mem_size", Kind::Int),
    ("maxbuffer", Kind::Int),
    ("max_recursive_level", Kind::Int),
    ("max_branches", Kind::Int),
    ("max_while_loops", Kind::Int),
    ("user", Kind::Word),
    ("uid", Kind::Word),
    ("group", Kind::Word),
    ("gid", Kind::Word),
    ("chroot", Kind::Str),
    ("workdir", Kind::Str),
    ("wdir", Kind::Str),
    ("runtime_dir", Kind::Str),
    ("rundir", Kind::Str),
    ("run_dir", Kind::Str),
    ("advertised_address", Kind::Word),
    ("advertised_port", Kind::Int),
    ("phone2tel", Kind::Int),
    ("reply_to_via", Kind::Bool),
    ("statistics", Kind::Any),
    ("stats_name_separator", Kind::Str),
    ("sql_buffer_size", Kind::Int),
    ("onsend_route_reply", Kind::Bool),
    ("open_files_limit", Kind::Int),
    ("shutdown_wait_time", Kind::Int),
    ("sig_shutdown_wait_time", Kind::Int),
    ("exit_timeout", Kind::Int),
    ("ser_kill_timeout", Kind::Int),
    ("corelog", Kind::Int),
    ("latency_log", Kind::Int),
    ("latency_limit_action", Kind::Int),
    ("latency_limit_db", Kind::Int),
    ("latency_cfg_log", Kind::Int),
    ("http_reply_parse", Kind::Bool),
    ("modinit_delay", Kind::Int),
    ("async_workers", Kind::Int),
    ("async_nonblock", Kind::Bool),
    ("async_usleep", Kind::Int),
    ("xavp_via_params", Kind::Str),
    ("xavp_via_fields", Kind::Str),
    ("kemi.onsend_route_callback", Kind::Str),
    ("kemi.received_route_callback", Kind::Str),
    ("kemi.reply_route_callback", Kind::Str),
    ("kemi.pre_routing_callback", Kind::Str),
    ("received_route_mode", Kind::Int),
    ("auto_bind_ipv6", Kind::Bool),
    ("bind_ipv6_link_local", Kind::Bool),
    ("ipv6_hex_style", Kind::Str),
    ("udp_mtu", Kind::Int),
    ("udp_mtu_try_proto", Kind::Word),
    ("udp4_raw", Kind::Int),
    ("udp4_raw_mtu", Kind::Int),
    ("udp4_raw_ttl", Kind::Int),
    ("force_rport", Kind::Bool),
    ("strict_checks", Kind::Bool),
    ("tos", Kind::Int),
    ("pmtu_discovery", Kind::Bool),
    ("real_time", Kind::Int),
    ("rt_prio", Kind::Int),
    ("rt_policy", Kind::Int),
    ("rt_timer1_prio", Kind::Int),
    ("rt_timer1_policy", Kind::Int),
    ("rt_timer2_prio", Kind::Int),
    ("rt_timer2_policy", Kind::Int),
    ("mcast_loopback", Kind::Bool),
    ("mcast_ttl", Kind::Int),
    ("mcast", Kind::Str),
    ("sctp_socket_rcvbuf", Kind::Int),
    ("sctp_socket_sndbuf", Kind::Int),
    ("sctp_autoclose", Kind::Int),
    ("sctp_send_ttl", Kind::Int),
    ("sctp_send_retries", Kind::Int),
    ("sctp_assoc_tracking", Kind::Bool),
    ("sctp_assoc_reuse", Kind::Bool),
    ("sctp_max_assocs", Kind::Int),
    ("tls_port_no", Kind::Int),
    ("tls_threads_mode", Kind::Int),
    ("async_workers_group", Kind::Str),
    ("disable_core_dump", Kind::Bool),
    ("dns_cache_rec_pref", Kind::Int),
    ("dns_naptr_ignore_rfc", Kind::Bool),
    ("ip_free_bind", Kind::Int),
    ("mlock_pages", Kind::Bool),
    ("pv_buffer_size", Kind::Int),
    ("pv_buffer_slots", Kind::Int),
    ("pv_cache_limit", Kind::Int),
    ("pv_cache_action", Kind::Int),
    ("server_id", Kind::Int),
    ("sip_parser_log", Kind::Int),
    ("sip_parser_mode", Kind::Int),
    ("tcp_accept_hep3", Kind::Bool),
    ("tcp_accept_unique", Kind::Int),
    ("tcp_connection_match", Kind::Int),
    ("tcp_script_mode", Kind::Int),
    ("tcp_wait_data", Kind::Int),
    ("tcp_wq_blk_size", Kind::Int),
    ("sctp_srto_initial", Kind::Int),
    ("sctp_srto_max", Kind::Int),
    ("sctp_srto_min", Kind::Int),
    ("sctp_asocmaxrxt", Kind::Int),
    ("sctp_init_max_attempts", Kind::Int),
    ("sctp_init_max_timeo", Kind::Int),
    ("sctp_hbinterval", Kind::Int),
    ("sctp_pathmaxrxt", Kind::Int),
    ("sctp_sack_delay", Kind::Int),
    ("sctp_sack_freq", Kind::Int),
    ("sctp_max_burst", Kind::Int),
    ("dst_blocklist_init", Kind::Bool),
    ("use_dst_blocklist", Kind::Bool),
    ("dst_blocklist_mem", Kind::Int),
    ("dst_blocklist_expire", Kind::Int),
    ("dst_blocklist_gc_interval", Kind::Int),
    ("dst_blacklist_init", Kind::Bool),
    ("use_dst_blacklist", Kind::Bool),
    ("check_via", Kind::Bool),
    ("return_code_mode", Kind::Int),
    ("route_locks_size", Kind::Int),
    ("verbose_startup", Kind::Bool),
    ("version_table", Kind::Str),
    ("cfgengine", Kind::Str),
    ("maxsndbuffer", Kind::Int),
    ("max_recursive_route", Kind::Int),
    ("wait_worker1_mode", Kind::Int),
    ("wait_worker1_time", Kind::Int),
    ("wait_worker1_usleep", Kind::Int),
    ("local_rport", Kind::Bool),
    ("socket_workers", Kind::Int),
    ("syn_branch", Kind::Bool),
    ("uri_host_extra_chars", Kind::Str),
    ("hdr_name_extra_chars", Kind::Str),
    ("fork_delay", Kind::Int),
    ("evapi", Kind::Any),
];

/// The core settings a cfg gives, typed.
#[derive(Debug, Clone, PartialEq)]
pub struct CoreParams {
    /// `children`: SIP workers per UDP socket.
    pub children: u32,
    /// `listen` sockets (empty: all local addresses, port 5060).
    pub listen: Vec<ListenAddr>,
    /// `port`: default port for listen entries without one.
    pub port: u16,
    /// `alias` entries: host and port (0 = any).
    pub aliases: Vec<(String, u16)>,
    /// `debug`: log level (-5..3; 2 = info, 3 = debug).
    pub debug: i32,
    /// `log_stderror`.
    pub log_stderror: bool,
    /// `log_facility`.
    pub log_facility: String,
    /// `log_prefix`.
    pub log_prefix: Option<String>,
    /// `tcp_children` (None: as `children`).
    pub tcp_children: Option<u32>,
    /// `sctp_children`.
    pub sctp_children: Option<u32>,
    /// `disable_tcp`.
    pub disable_tcp: bool,
    /// `disable_sctp` (`auto` = when the kernel lacks SCTP).
    pub disable_sctp: Option<bool>,
    /// `tcp_connection_lifetime`, seconds.
    pub tcp_connection_lifetime: u32,
    /// `tcp_max_connections`.
    pub tcp_max_connections: u32,
    /// `tcp_connect_timeout`, seconds.
    pub tcp_connect_timeout: u32,
    /// `tcp_send_timeout`, seconds.
    pub tcp_send_timeout: u32,
    /// `tcp_accept_aliases`: a request whose top Via has `;alias` adds
    /// the Via's port as an alias of its connection.
    pub tcp_accept_aliases: bool,
    /// `force_rport`: every request is handled as if its top Via had
    /// `rport` (what the script's `force_rport()` does for one).
    pub force_rport: bool,
    /// `strict_checks` (sipr's own, default off): the core refuses, before
    /// the script, every request RFC 3261 says a proxy must refuse
    /// (duplicate or malformed From/To/Call-ID/CSeq/Max-Forwards/Contact,
    /// a CSeq method unlike the request's, headers in the Request-URI,
    /// an unknown scheme: 416, any Proxy-Require: 420). Off, the core
    /// refuses only what Kamailio's core refuses and leaves the rest to
    /// the script (`sanity_check`), as an operator's kamailio.cfg expects.
    pub strict_checks: bool,
    /// `dns`.
    pub dns: bool,
    /// `server_header` (full header line text after the name, or none).
    pub server_header: Option<String>,
    /// `server_signature`: whether local replies carry a Server header.
    pub server_signature: bool,
    /// `memlog` (`mem_log`): the level the shared memory summary is
    /// logged at when the server exits.
    pub memlog: i32,
    /// `mpath` / `loadpath`.
    pub mpath: Option<String>,
    /// `shm_mem_size`, MB.
    pub shm_mem_size: Option<u32>,
    /// `maxbuffer`.
    pub maxbuffer: u32,
    /// `user`.
    pub user: Option<String>,
    /// `group`.
    pub group: Option<String>,
    /// `max_while_loops` (0 = unlimited).
    pub max_while_loops: u32,
    /// `async_workers`: processes that run work handed over by others
    /// (wheel timers armed for a worker).
    pub async_workers: u32,
    /// `run_dir` / `rundir` / `runtime_dir`: where control sockets and
    /// FIFOs go.
    pub run_dir: String,
    /// Every other known parameter as written.
    pub other: HashMap<String, ParamValue>,
}

impl Default for CoreParams {
    fn default() -> Self {
        CoreParams {
            children: 8,
            listen: Vec::new(),
            port: 5060,
            aliases: Vec::new(),
            debug: 0,
            log_stderror: false,
            log_facility: "LOG_DAEMON".into(),
            log_prefix: None,
            tcp_children: None,
            sctp_children: None,
            disable_tcp: false,
            disable_sctp: None,
            tcp_connection_lifetime: 120,
            tcp_max_connections: 2048,
            tcp_connect_timeout: 10,
            tcp_send_timeout: 10,
            tcp_accept_aliases: false,
            force_rport: false,
            strict_checks: false,
            dns: false,
            server_header: None,
            server_signature: true,
            memlog: 3,
            mpath: None,
            shm_mem_size: None,
            maxbuffer: 262_144,
            user: None,
            group: None,
            max_while_loops: 100,
            async_workers: 0,
            run_dir: "/run/sipr".into(),
            other: HashMap::new(),
        }
    }
}

/// Why a core parameter was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamError {
    /// Not a core parameter.
    Unknown(String),
    /// The value has the wrong type.
    Type {
        /// What the parameter takes.
        expected: &'static str,
        /// What was written.
        found: String,
    },
    /// A number out of the parameter's range.
    Range(i64),
    /// A value of the right type the parameter still refuses (a bad
    /// listen address, an unknown facility...).
    Invalid(String),
    /// A setting Kamailio honours that sipr does not implement yet:
    /// refused rather than ignored, so that nobody believes it is in force.
    Unsupported(String),
}

impl std::fmt::Display for ParamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParamError::Unknown(n) => write!(f, "unknown core parameter '{n}'"),
            ParamError::Type { expected, found } => write!(f, "expected {expected}, found {found}"),
            ParamError::Range(i) => write!(f, "value {i} out of range"),
            ParamError::Invalid(why) => f.write_str(why),
            ParamError::Unsupported(what) => write!(f, "{what} is not supported by sipr yet"),
        }
    }
}

impl std::error::Error for ParamError {}

/// How a value is shown in "found ..." messages.
fn shown(v: &ParamValue) -> String {
    match v {
        ParamValue::Int(i) => i.to_string(),
        ParamValue::Str(s) => format!("\"{s}\""),
        ParamValue::Bool(b) => (if *b { "yes" } else { "no" }).to_string(),
        ParamValue::Ident(w) | ParamValue::Raw(w) => format!("'{w}'"),
    }
}

fn as_int(v: &ParamValue) -> Result<i64, ParamError> {
    let bad = || ParamError::Type { expected: "a number", found: shown(v) };
    match v {
        ParamValue::Int(i) => Ok(*i),
        ParamValue::Bool(b) => Ok(*b as i64),
        ParamValue::Str(s) => s.trim().parse().map_err(|_| bad()),
        ParamValue::Ident(_) | ParamValue::Raw(_) => Err(bad()),
    }
}

fn as_bool(v: &ParamValue) -> Result<bool, ParamError> {
    match v {
        ParamValue::Bool(b) => Ok(*b),
        ParamValue::Int(i) => Ok(*i != 0),
        other => Err(ParamError::Type { expected: "yes/no or a number", found: shown(other) }),
    }
}

fn as_str(v: &ParamValue) -> Result<String, ParamError> {
    match v {
        ParamValue::Str(s) => Ok(s.clone()),
        other => Err(ParamError::Type { expected: "a string", found: shown(other) }),
    }
}

fn as_word(v: &ParamValue) -> Result<String, ParamError> {
    match v {
        ParamValue::Str(s) | ParamValue::Ident(s) | ParamValue::Raw(s) => Ok(s.clone()),
        ParamValue::Int(i) => Ok(i.to_string()),
        ParamValue::Bool(b) => Ok(if *b { "yes" } else { "no" }.into()),
    }
}

fn uint<T: TryFrom<i64>>(v: &ParamValue) -> Result<T, ParamError> {
    let i = as_int(v)?;
    T::try_from(i).map_err(|_| ParamError::Range(i))
}

/// Parses `[proto:]host[:port]`; `port` 0 when not given.
pub fn parse_hostport(s: &str) -> Result<(Option<Proto>, String, u16), String> {
    let s = s.trim().trim_matches('"');
    let (proto, rest) = match s.split_once(':') {
        Some((p, r)) if Proto::from_name(p).is_some() => (Proto::from_name(p), r),
        _ => (None, s),
    };
    let (host, port) = if rest.starts_with('[') {
        let close = rest.find(']').ok_or_else(|| format!("unclosed '[' in '{s}'"))?;
        let port = match rest[close + 1..].strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| format!("bad port in '{s}'"))?,
            None if rest.len() == close + 1 => 0,
            None => return Err(format!("junk after ']' in '{s}'")),
        };
        (rest[..=close].to_string(), port)
    } else {
        match rest.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), p.parse().map_err(|_| format!("bad port '{p}' in '{s}'"))?),
            None => (rest.to_string(), 0),
        }
    };
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(format!("bad address '{s}'"));
    }
    Ok((proto, host, port))
}

/// Parses a `listen=` value: `[proto:]addr[:port] [advertise addr[:port]]
/// [name "x"] [workers N]`. One entry per protocol when none is given
/// (UDP, and TCP unless disabled — decided by the runtime; here UDP and
/// TCP).
fn parse_listen(s: &str, default_port: u16) -> Result<Vec<ListenAddr>, String> {
    let mut words = s.split_whitespace();
    let sock = words.next().ok_or("empty listen value")?;
    let (proto, host, port) = parse_hostport(sock)?;
    let mut advertise = None;
    while let Some(w) = words.next() {
        match w {
            "advertise" | "ADVERTISE" => {
                let a = words.next().ok_or("advertise needs an address")?;
                let (_, h, p) = parse_hostport(a)?;
                advertise = Some((h, if p == 0 { port } else { p }));
            }
            // a socket name only matters to functions sipr does not have
            // (set_send_socket_name...): a cfg using one fails on them
            "name" | "NAME" => {
                words.next().ok_or_else(|| format!("{w} needs a value"))?;
            }
            "workers" | "WORKERS" | "virtual" | "VIRTUAL" | "agname" | "AGNAME" => {
                return Err(format!("'{w}' in a listen value is not supported by sipr yet"));
            }
            other => return Err(format!("unexpected '{other}' in listen value")),
        }
    }
    let port = if port == 0 { default_port } else { port };
    let protos: Vec<Proto> = match proto {
        Some(p @ (Proto::Tls | Proto::Ws | Proto::Wss)) => {
            return Err(format!("listen={p}:...: {p} is not supported by sipr yet"));
        }
        Some(p) => vec![p],
        None => vec![Proto::Udp, Proto::Tcp],
    };
    Ok(protos
        .into_iter()
        .map(|proto| {
            let port = if proto == Proto::Tls && port == 5060 { 5061 } else { port };
            ListenAddr { proto, host: host.clone(), port, advertise: advertise.clone() }
        })
        .collect())
}

impl CoreParams {
    /// A yes/no parameter kept in `other` (any of Kamailio's spellings).
    pub fn other_bool(&self, name: &str) -> Option<bool> {
        self.other.get(name).and_then(|v| as_bool(v).ok())
    }

    /// A number (or yes/no as 1/0) kept in `other`.
    pub fn other_int(&self, name: &str) -> Option<i64> {
        match self.other.get(name) {
            Some(ParamValue::Int(i)) => Some(*i),
            Some(ParamValue::Bool(b)) => Some(i64::from(*b)),
            Some(v) => as_bool(v).ok().map(i64::from),
            None => None,
        }
    }

    /// Sets parameter `name`; the error says why it was refused.
    pub fn set(&mut self, name: &str, v: &ParamValue) -> Result<(), ParamError> {
        let Some(&(_, kind)) = CORE_PARAMS.iter().find(|(n, _)| *n == name) else {
            return Err(ParamError::Unknown(name.to_string()));
        };
        match kind {
            Kind::Int => {
                as_int(v)?;
            }
            Kind::Bool => {
                as_bool(v)?;
            }
            Kind::Str => {
                as_str(v)?;
            }
            Kind::Word => {
                as_word(v)?;
            }
            Kind::Listen | Kind::Alias | Kind::Any => {}
        }
        match name {
            "children" => self.children = uint(v)?,
            "listen" | "socket" => {
                let text = as_word(v)?;
                self.listen.extend(parse_listen(&text, self.port).map_err(ParamError::Invalid)?);
            }
            "port" => self.port = uint(v)?,
            "alias" => {
                let (_, h, p) = parse_hostport(&as_word(v)?).map_err(ParamError::Invalid)?;
                self.aliases.push((h.to_ascii_lowercase(), p));
            }
            "debug" => self.debug = uint(v)?,
            "log_stderror" => self.log_stderror = as_bool(v)?,
            "log_facility" => {
                let f = as_word(v)?;
                const FACILITIES: &[&str] = &[
                    "LOG_AUTH",
                    "LOG_CRON",
                    "LOG_DAEMON",
                    "LOG_KERN",
                    "LOG_LOCAL0",
                    "LOG_LOCAL1",
                    "LOG_LOCAL2",
                    "LOG_LOCAL3",
                    "LOG_LOCAL4",
                    "LOG_LOCAL5",
                    "LOG_LOCAL6",
                    "LOG_LOCAL7",
                    "LOG_LPR",
                    "LOG_MAIL",
                    "LOG_NEWS",
                    "LOG_USER",
                    "LOG_UUCP",
                    "LOG_AUTHPRIV",
                    "LOG_FTP",
                    "LOG_SYSLOG",
                ];
                if !FACILITIES.contains(&f.as_str()) {
                    return Err(ParamError::Invalid(format!("unknown log facility '{f}'")));
                }
                self.log_facility = f;
            }
            "log_prefix" => self.log_prefix = Some(as_str(v)?),
            "tcp_children" => self.tcp_children = Some(uint(v)?),
            "sctp_children" => self.sctp_children = Some(uint(v)?),
            "disable_tcp" => self.disable_tcp = as_bool(v)?,
            "disable_sctp" => {
                self.disable_sctp = match v {
                    ParamValue::Ident(w) | ParamValue::Str(w) if w == "auto" => None,
                    v => Some(as_bool(v)?),
                }
            }
            "enable_sctp" => {
                self.disable_sctp = match v {
                    ParamValue::Ident(w) | ParamValue::Str(w) if w == "auto" => None,
                    // enable_sctp=2 is "auto" in Kamailio
                    ParamValue::Int(2) => None,
                    v => Some(!as_bool(v)?),
                }
            }
            "enable_tls" | "disable_tls" => {
                if as_bool(v)? == (name == "enable_tls") {
                    return Err(ParamError::Unsupported(format!(
                        "{name}={}: TLS",
                        if name == "enable_tls" { "yes" } else { "no" }
                    )));
                }
            }
            "tcp_connection_lifetime" => self.tcp_connection_lifetime = uint(v)?,
            "tcp_max_connections" => self.tcp_max_connections = uint(v)?,
            "tcp_connect_timeout" => self.tcp_connect_timeout = uint(v)?,
            "tcp_send_timeout" => self.tcp_send_timeout = uint(v)?,
            "tcp_accept_aliases" => self.tcp_accept_aliases = as_bool(v)?,
            "force_rport" => self.force_rport = as_bool(v)?,
            "strict_checks" => self.strict_checks = as_bool(v)?,
            // Kamailio's defaults are all sipr does so far; another value
            // is refused, never ignored
            "mhomed" | "rev_dns" | "sip_warning" if as_bool(v)? => {
                return Err(ParamError::Unsupported(format!("{name}=yes")));
            }
            "fork" if !as_bool(v)? => return Err(ParamError::Unsupported("fork=no (one process)".into())),
            "auto_aliases" if as_bool(v)? => {
                return Err(ParamError::Unsupported(
                    "auto_aliases=yes (aliases found by reverse DNS of the listen addresses)".into(),
                ))
            }
            "user_agent_header" => {
                return Err(ParamError::Unsupported(
                    "user_agent_header (the header of requests sipr originates; they come with tm)".into(),
                ))
            }
            "dns" => self.dns = as_bool(v)?,
            "server_header" => self.server_header = Some(as_str(v)?),
            "server_signature" => self.server_signature = as_bool(v)?,
            "memlog" | "mem_log" => self.memlog = uint(v)?,
            "mpath" | "loadpath" => self.mpath = Some(as_str(v)?),
            "shm_mem_size" => self.shm_mem_size = Some(uint(v)?),
            "maxbuffer" => self.maxbuffer = uint(v)?,
            "user" | "uid" => self.user = Some(as_word(v)?),
            "group" | "gid" => self.group = Some(as_word(v)?),
            "max_while_loops" => self.max_while_loops = uint(v)?,
            "async_workers" => self.async_workers = uint(v)?,
            "run_dir" | "rundir" | "runtime_dir" => self.run_dir = as_str(v)?,
            _ => {
                match disposition(name) {
                    Disposition::Read | Disposition::NoEffect(_) => {}
                    Disposition::Default(d) if same_value(v, d) => {}
                    Disposition::Default(d) => {
                        return Err(ParamError::Unsupported(format!(
                            "{name}={} (sipr behaves as Kamailio's default, {name}={d})",
                            shown(v)
                        )))
                    }
                    Disposition::Refused(what) => return Err(ParamError::Unsupported(format!("{name} ({what})"))),
                }
                self.other.insert(name.to_string(), v.clone());
            }
        }
        Ok(())
    }
}

/// What sipr does with a core parameter it does not keep in a field of
/// its own: nothing Kamailio honours is accepted and then ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Read where it acts (the DNS resolver, the runtime).
    Read,
    /// Accepted whatever the value: sipr has no such knob and behaves the
    /// same whatever it says (the reason says why).
    NoEffect(&'static str),
    /// Accepted when it is Kamailio's default (what sipr does), refused
    /// otherwise.
    Default(&'static str),
    /// Refused at start-up whatever the value (what it would need).
    Refused(&'static str),
}

/// The disposition of every parameter in [`CORE_PARAMS`] that
/// [`CoreParams::set`] does not keep itself.
pub fn disposition(name: &str) -> Disposition {
    use Disposition::*;
    match name {
        "chroot"
        | "workdir"
        | "wdir"
        | "log_color"
        | "log_name"
        | "dns_retr_time"
        | "dns_retr_no"
        | "dns_servers_no"
        | "dns_try_ipv6"
        | "dns_cache_negative_ttl"
        | "use_dns_cache"
        | "use_dns_failover"
        | "dns_srv_lb"
        | "dns_slow_query_ms"
        | "advertised_address"
        | "advertised_port"
        | "tcp_accept_no_cl" => Read,
        "memdbg" | "mem_dbg" | "mem_safety" | "mem_join" | "mem_status_mode" | "mem_summary" => {
            NoEffect("a switch of Kamailio's q_malloc/tlsf debugging; sipr's allocator is its own")
        }
        "pkg_mem_size" => NoEffect("private memory is each process's own heap"),
        "sql_buffer_size" => NoEffect("sipr's database queries are not built in a fixed buffer"),
        "kemi.onsend_route_callback"
        | "kemi.received_route_callback"
        | "kemi.reply_route_callback"
        | "kemi.pre_routing_callback" => NoEffect("a KEMI callback name; sipr has no KEMI engine"),
        "tls_max_connections" | "tls_port_no" | "tls_threads_mode" => {
            NoEffect("TLS: TLS listeners are refused at start-up, so no TLS connection exists")
        }
        "dns_cache_init"
        | "dns_cache_flags"
        | "dns_cache_min_ttl"
        | "dns_cache_mem"
        | "dns_cache_gc_interval"
        | "dns_cache_del_nonexp" => Default(dns_cache_default(name)),
        "dns_cache_max_ttl" => Refused("a cap on the TTL of cached DNS answers"),
        "log_prefix_mode" => Default("0"),
        // the arms above keep yes; no is Kamailio's default and sipr's way
        "mhomed" | "rev_dns" | "sip_warning" | "auto_aliases" => Default("no"),
        "fork" => Default("yes"),
        "fork_delay" => Default("0"),
        "shm_force_alloc" => Default("no"),
        "max_recursive_level" => Default("256"),
        "max_branches" => Default("12"),
        "phone2tel" => Default("1"),
        "reply_to_via" => Default("no"),
        "stats_name_separator" => Default("_"),
        "onsend_route_reply" => Default("no"),
        "exit_timeout" | "ser_kill_timeout" => Default("60"),
        "shutdown_wait_time" | "sig_shutdown_wait_time" => Default("0"),
        "corelog" | "latency_log" => Default("-1"),
        "latency_limit_action" | "latency_limit_db" => Default("0"),
        "latency_cfg_log" => Default("3"),
        "http_reply_parse" => Default("no"),
        "modinit_delay" => Default("0"),
        "async_nonblock" | "async_usleep" => Default("0"),
        "received_route_mode" => Default("0"),
        "auto_bind_ipv6" | "bind_ipv6_link_local" => Default("0"),
        "ipv6_hex_style" => Default("c"),
        "udp_mtu" => Default("0"),
        "udp_mtu_try_proto" => Default("UDP"),
        "udp4_raw" => Default("0"),
        "udp4_raw_mtu" => Default("1500"),
        "udp4_raw_ttl" => Default("-1"),
        "pmtu_discovery" => Default("0"),
        "real_time" | "rt_prio" | "rt_policy" | "rt_timer1_prio" | "rt_timer1_policy" | "rt_timer2_prio"
        | "rt_timer2_policy" => Default("0"),
        "mcast_loopback" => Default("no"),
        "dns_try_naptr" => Default("no"),
        "dns_use_search_list" | "dns_search_full_match" => Default("yes"),
        "dns_udp_pref" => Default("30"),
        "dns_tcp_pref" | "dns_sctp_pref" => Default("20"),
        "dns_tls_pref" => Default("10"),
        "tcp_accept_haproxy" | "tcp_no_connect" | "tcp_reuse_port" | "tcp_clone_rcvbuf" => Default("no"),
        "tcp_async" | "tcp_buf_write" | "tcp_crlf_ping" | "tcp_keepalive" | "tcp_delayed_ack" | "tcp_fd_cache" => {
            Default("yes")
        }
        "tcp_rd_buf_size" => Default("4096"),
        "tcp_conn_wq_max" => Default("32768"),
        "tcp_wq_max" => Default("10485760"),
        "sctp_assoc_tracking" | "sctp_assoc_reuse" => Default("yes"),
        "sctp_max_assocs" => Default("-1"),
        "sctp_autoclose" => Default("180"),
        "sctp_send_ttl" => Default("32000"),
        "sctp_send_retries" => Default("0"),
        "log_engine_type" | "log_engine_data" => Refused("log engines are modules sipr does not have"),
        "statistics" => Refused("the statistics module's variables"),
        "open_files_limit" => Refused("raising the open files limit"),
        "xavp_via_params" | "xavp_via_fields" => Refused("Via parameters and fields from xavps"),
        "tos" => Refused("setting the IP TOS of sent packets"),
        "mcast" | "mcast_ttl" => Refused("multicast listeners"),
        "tcp_keepidle" | "tcp_keepintvl" | "tcp_keepcnt" | "tcp_linger2" | "tcp_defer_accept" | "tcp_syncnt"
        | "tcp_source_ipv4" | "tcp_source_ipv6" | "tcp_poll_method" | "tcp_max_fd_no" => {
            Refused("this TCP socket tuning")
        }
        "sctp_socket_rcvbuf" | "sctp_socket_sndbuf" => Refused("this SCTP socket tuning"),
        "dst_blocklist_init"
        | "dst_blacklist_init"
        | "use_dst_blocklist"
        | "use_dst_blacklist"
        | "dst_blocklist_mem"
        | "dst_blocklist_expire"
        | "dst_blocklist_gc_interval" => Read,
        "check_via" => Default("no"),
        "return_code_mode" => Default("0"),
        "route_locks_size" => Default("0"),
        "verbose_startup" => NoEffect("start-up debug output; sipr's is its own"),
        "version_table" => Default("version"),
        "cfgengine" => Default("native"),
        "maxsndbuffer" => NoEffect("sipr leaves the UDP send buffer to the kernel"),
        "max_recursive_route" => Default("256"),
        "wait_worker1_mode" => Default("0"),
        "wait_worker1_time" => Default("4000000"),
        "wait_worker1_usleep" => Default("100000"),
        "local_rport" => Default("no"),
        "socket_workers" => Refused("a number of workers per listen socket"),
        "syn_branch" => Default("1"),
        "uri_host_extra_chars" | "hdr_name_extra_chars" => Refused("extra characters in URI hosts and header names"),
        "evapi" => Refused("the evapi module's settings"),
        "async_workers_group" => Refused("groups of asynchronous workers"),
        "disable_core_dump" | "mlock_pages" | "dns_naptr_ignore_rfc" | "tcp_accept_hep3" => {
            Default(if name == "dns_naptr_ignore_rfc" { "yes" } else { "no" })
        }
        "dns_cache_rec_pref"
        | "ip_free_bind"
        | "server_id"
        | "sip_parser_log"
        | "tcp_accept_unique"
        | "tcp_connection_match"
        | "tcp_script_mode" => Default("0"),
        // sipr's parser is the strict one
        "sip_parser_mode" => Default("1"),
        "tcp_wait_data" => Default("5000"),
        "tcp_wq_blk_size" => Default("2100"),
        "pv_buffer_size" | "pv_buffer_slots" | "pv_cache_limit" | "pv_cache_action" => {
            NoEffect("sipr's formatted strings and PV cache have no fixed buffers or limits")
        }
        "sctp_srto_initial"
        | "sctp_srto_max"
        | "sctp_srto_min"
        | "sctp_asocmaxrxt"
        | "sctp_init_max_attempts"
        | "sctp_init_max_timeo"
        | "sctp_hbinterval"
        | "sctp_pathmaxrxt"
        | "sctp_sack_delay"
        | "sctp_sack_freq"
        | "sctp_max_burst" => Refused("this SCTP tuning"),
        _ => Refused("not implemented"),
    }
}

/// Kamailio's defaults for its DNS cache parameters.
fn dns_cache_default(name: &str) -> &'static str {
    match name {
        "dns_cache_init" | "use_dns_cache" => "yes",
        "dns_cache_del_nonexp" => "no",
        "dns_cache_mem" => "500",
        "dns_cache_gc_interval" => "120",
        "dns_cache_min_ttl" | "dns_cache_flags" => "0",
        _ => "",
    }
}

/// Whether a written value is `default` (yes/no/on/off/1/0 alike for
/// booleans, numbers by value, words by text).
fn same_value(v: &ParamValue, default: &str) -> bool {
    let as_bool = |t: &str| match t.to_ascii_lowercase().as_str() {
        "yes" | "on" | "true" | "enable" | "1" => Some(true),
        "no" | "off" | "false" | "disable" | "0" => Some(false),
        _ => None,
    };
    match v {
        ParamValue::Bool(b) => as_bool(default) == Some(*b),
        ParamValue::Int(i) => {
            default.parse::<i64>().ok() == Some(*i) || as_bool(default) == Some(*i != 0) && (*i == 0 || *i == 1)
        }
        ParamValue::Str(t) | ParamValue::Ident(t) | ParamValue::Raw(t) => {
            t == default || (as_bool(t).is_some() && as_bool(t) == as_bool(default))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_values() {
        let l = parse_listen("udp:127.0.0.1:5070 advertise 1.2.3.4:5080", 5060).unwrap();
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].proto, Proto::Udp);
        assert_eq!(l[0].port, 5070);
        assert_eq!(l[0].advertise, Some(("1.2.3.4".into(), 5080)));
        let l = parse_listen("127.0.0.1", 5060).unwrap();
        assert_eq!(l.len(), 2);
        // no TLS yet: refused, never a listener that is not there
        assert!(parse_listen("tls:[::1]", 5060).unwrap_err().contains("not supported by sipr yet"));
        assert!(parse_listen("udp:1.2.3.4:x", 5060).is_err());
    }

    #[test]
    fn every_kept_aside_parameter_has_a_disposition_of_its_own() {
        // a parameter `set` keeps in `other` must say what sipr does with
        // it; none falls to the catch-all
        for (name, _) in CORE_PARAMS {
            let mut p = CoreParams::default();
            for v in [ParamValue::Bool(false), ParamValue::Int(0), ParamValue::Str("x".into())] {
                let _ = p.set(name, &v);
            }
            let kept_aside = !matches!(
                *name,
                "children"
                    | "listen"
                    | "socket"
                    | "port"
                    | "alias"
                    | "debug"
                    | "log_stderror"
                    | "log_facility"
                    | "log_prefix"
                    | "tcp_children"
                    | "sctp_children"
                    | "disable_tcp"
                    | "disable_sctp"
                    | "enable_sctp"
                    | "enable_tls"
                    | "disable_tls"
                    | "tcp_connection_lifetime"
                    | "tcp_max_connections"
                    | "tcp_connect_timeout"
                    | "tcp_send_timeout"
                    | "tcp_accept_aliases"
                    | "force_rport"
                    | "strict_checks"
                    | "user_agent_header"
                    | "dns"
                    | "server_header"
                    | "server_signature"
                    | "memlog"
                    | "mem_log"
                    | "mpath"
                    | "loadpath"
                    | "shm_mem_size"
                    | "maxbuffer"
                    | "user"
                    | "uid"
                    | "group"
                    | "gid"
                    | "max_while_loops"
                    | "async_workers"
                    | "run_dir"
                    | "rundir"
                    | "runtime_dir"
            );
            if kept_aside {
                assert_ne!(disposition(name), Disposition::Refused("not implemented"), "{name}");
            }
        }
    }

    #[test]
    fn defaults_only_parameters() {
        let mut p = CoreParams::default();
        // Kamailio's default, restated: accepted
        p.set("reply_to_via", &ParamValue::Bool(false)).unwrap();
        p.set("max_branches", &ParamValue::Int(12)).unwrap();
        p.set("tcp_keepalive", &ParamValue::Bool(true)).unwrap();
        p.set("mhomed", &ParamValue::Int(0)).unwrap();
        // anything else: refused with the default named
        let e = p.set("reply_to_via", &ParamValue::Bool(true)).unwrap_err().to_string();
        assert!(e.contains("not supported by sipr yet") && e.contains("reply_to_via=no"), "{e}");
        assert!(p.set("max_branches", &ParamValue::Int(16)).is_err());
        assert!(p.set("tos", &ParamValue::Int(16)).unwrap_err().to_string().contains("IP TOS"));
        // no effect whatever the value, with the reason on record
        p.set("memdbg", &ParamValue::Int(5)).unwrap();
        assert!(matches!(disposition("memdbg"), Disposition::NoEffect(_)));
    }

    #[test]
    fn typed_settings() {
        let mut p = CoreParams::default();
        p.set("children", &ParamValue::Int(4)).unwrap();
        p.set("disable_tcp", &ParamValue::Bool(true)).unwrap();
        p.set("log_facility", &ParamValue::Ident("LOG_LOCAL0".into())).unwrap();
        assert_eq!((p.children, p.disable_tcp, p.log_facility.as_str()), (4, true, "LOG_LOCAL0"));
        assert_eq!(p.set("childrn", &ParamValue::Int(4)), Err(ParamError::Unknown("childrn".into())));
        assert_eq!(
            p.set("children", &ParamValue::Str("x".into())),
            Err(ParamError::Type { expected: "a number", found: "\"x\"".into() })
        );
        assert!(p.set("log_facility", &ParamValue::Ident("LOG_NOPE".into())).is_err());
    }
}
