//! Name resolution for sending (RFC 3263 §4 without NAPTR, as Kamailio
//! with its default `dns_try_naptr=no`): an IP address is used as it is; a
//! name with a port is looked up as A (and AAAA with `dns_try_ipv6`); a
//! name without a port first as SRV — `_sip._udp` / `_sip._tcp` (the
//! transport's own when the URI names one; UDP then TCP when not),
//! `_sips._tcp` for TLS — choosing among targets by priority and weight
//! (RFC 2782), and as A/AAAA with the transport's default port when there
//! is no SRV record.
//!
//! Each process has its own [`Resolver`] with a cache that honours TTLs
//! (and remembers failures for `dns_cache_negative_ttl`); a lookup never
//! blocks for more than [`Resolver::max_block`]: queries go straight to
//! the nameservers of /etc/resolv.conf over UDP with a bounded timeout,
//! not through the system resolver. /etc/hosts is read first.

pub mod wire;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use crate::net::Proto;
use wire::{QType, Rdata, Record, WireError};

/// Why a name could not be resolved.
#[derive(Debug)]
pub enum DnsError {
    /// No nameserver configured.
    NoServers,
    /// No answer within the time allowed.
    Timeout(String),
    /// The name does not exist or has no record of the type wanted.
    NotFound(String),
    /// A name that cannot be asked for (empty label, too long).
    BadName(String),
    /// A socket error.
    Io(std::io::Error),
    /// The nameserver failed (SERVFAIL, REFUSED ...).
    ServerFailure(String, u8),
}

impl std::fmt::Display for DnsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DnsError::NoServers => f.write_str("no nameserver configured (/etc/resolv.conf)"),
            DnsError::Timeout(n) => write!(f, "no DNS answer for {n} in time"),
            DnsError::NotFound(n) => write!(f, "{n} has no address"),
            DnsError::BadName(n) => write!(f, "'{n}' is not a valid DNS name"),
            DnsError::Io(e) => write!(f, "DNS: {e}"),
            DnsError::ServerFailure(n, rc) => write!(f, "DNS server failure for {n} (rcode {rc})"),
        }
    }
}

impl std::error::Error for DnsError {}

/// How a resolver asks.
#[derive(Debug, Clone)]
pub struct DnsConfig {
    /// Nameservers, in order.
    pub servers: Vec<SocketAddr>,
    /// Wait per query and server (`dns_retr_time`, s).
    pub timeout: Duration,
    /// Tries per server (`dns_retr_no`).
    pub attempts: u32,
    /// Servers asked at most (`dns_servers_no`).
    pub max_servers: usize,
    /// Also ask for AAAA (`dns_try_ipv6`).
    pub try_ipv6: bool,
    /// How long a failure is remembered (`dns_cache_negative_ttl`, s).
    pub negative_ttl: u32,
    /// /etc/hosts entries: lower-case name, address.
    pub hosts: Vec<(String, IpAddr)>,
    /// Answers are kept for their TTL (`use_dns_cache`, default yes);
    /// without, every lookup asks the nameservers.
    pub cache: bool,
    /// SRV targets of one priority are picked by weighted random (RFC
    /// 2782; `dns_srv_lb`, default no: in the answer's order, so that a
    /// failover walks the same list every time).
    pub srv_lb: bool,
    /// `dns_slow_query_ms`: a query to the nameservers taking longer
    /// counts in `dns:slow_dns_request` (0, Kamailio's default: none
    /// does).
    pub slow_query: Option<Duration>,
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig {
            servers: Vec::new(),
            timeout: Duration::from_secs(1),
            attempts: 2,
            max_servers: 2,
            try_ipv6: false,
            negative_ttl: 60,
            hosts: Vec::new(),
            cache: true,
            srv_lb: false,
            slow_query: None,
        }
    }
}

impl DnsConfig {
    /// The system's: nameservers from /etc/resolv.conf (or the file
    /// `SIPR_RESOLV_CONF` names; `SIPR_DNS_SERVER=ip:port` replaces them
    /// with one — for test beds whose nameserver is not on port 53), its
    /// `timeout:` / `attempts:` options (capped at 2 s and 2 tries) and
    /// /etc/hosts.
    pub fn system() -> DnsConfig {
        let mut c = DnsConfig::default();
        let path = std::env::var("SIPR_RESOLV_CONF").unwrap_or_else(|_| "/etc/resolv.conf".into());
        if let Ok(text) = std::fs::read_to_string(path) {
            for line in text.lines() {
                let mut w = line.split_whitespace();
                match w.next() {
                    Some("nameserver") => {
                        if let Some(ip) = w.next().and_then(|a| a.parse::<IpAddr>().ok()) {
                            c.servers.push(SocketAddr::new(ip, 53));
                        }
                    }
                    Some("options") => {
                        for o in w {
                            if let Some(t) = o.strip_prefix("timeout:").and_then(|v| v.parse::<u64>().ok()) {
                                c.timeout = Duration::from_secs(t.clamp(1, 2));
                            }
                            if let Some(a) = o.strip_prefix("attempts:").and_then(|v| v.parse::<u32>().ok()) {
                                c.attempts = a.clamp(1, 2);
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        if let Some(s) = std::env::var("SIPR_DNS_SERVER").ok().and_then(|s| s.parse::<SocketAddr>().ok()) {
            c.servers = vec![s];
        }
        if let Ok(text) = std::fs::read_to_string("/etc/hosts") {
            c.hosts = parse_hosts(&text);
        }
        c
    }

    /// Applies the cfg's `dns_*` parameters.
    pub fn with_params(mut self, core: &crate::cfg::CoreParams) -> DnsConfig {
        use crate::cfg::ParamValue;
        let int = |n: &str| match core.other.get(n) {
            Some(ParamValue::Int(i)) => Some(*i),
            Some(ParamValue::Bool(b)) => Some(*b as i64),
            _ => None,
        };
        if let Some(t) = int("dns_retr_time").filter(|t| *t > 0) {
            self.timeout = Duration::from_secs(t.min(10) as u64);
        }
        if let Some(ms) = int("dns_slow_query_ms").filter(|t| *t > 0) {
            self.slow_query = Some(Duration::from_millis(ms as u64));
        }
        if let Some(n) = int("dns_retr_no").filter(|n| *n > 0) {
            self.attempts = n.min(5) as u32;
        }
        if let Some(n) = int("dns_servers_no").filter(|n| *n > 0) {
            self.max_servers = n as usize;
        }
        if let Some(b) = int("dns_try_ipv6") {
            self.try_ipv6 = b != 0;
        }
        if let Some(t) = int("dns_cache_negative_ttl").filter(|t| *t >= 0) {
            self.negative_ttl = t as u32;
        }
        if let Some(b) = int("use_dns_cache") {
            self.cache = b != 0;
        }
        if let Some(b) = int("dns_srv_lb") {
            self.srv_lb = b != 0;
        }
        self
    }
}

/// Reads /etc/hosts text.
fn parse_hosts(text: &str) -> Vec<(String, IpAddr)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut w = line.split_whitespace();
        let Some(ip) = w.next().and_then(|a| a.parse::<IpAddr>().ok()) else { continue };
        for name in w {
            out.push((name.to_ascii_lowercase(), ip));
        }
    }
    out
}

struct Cached {
    until: Instant,
    /// Ok(records) or the failure remembered.
    answer: Result<Vec<Record>, u8>,
}

/// One SRV target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrvTarget {
    /// Host name.
    pub target: String,
    /// Port.
    pub port: u16,
}

/// A process's resolver and cache.
pub struct Resolver {
    config: DnsConfig,
    cache: HashMap<(String, QType), Cached>,
    rng: u64,
    /// Queries sent (for tests and statistics).
    pub queries_sent: u64,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver").field("servers", &self.config.servers).field("cached", &self.cache.len()).finish()
    }
}

/// Entries kept at most (oldest dropped beyond it).
const CACHE_MAX: usize = 4096;
/// How a timed-out question is remembered in the cache (not an RCODE).
const TIMED_OUT: u8 = 255;
/// How long a timed-out question is remembered.
const TIMEOUT_MEMORY: Duration = Duration::from_secs(5);

impl Resolver {
    /// A resolver asking as `config` says.
    pub fn new(config: DnsConfig) -> Resolver {
        let seed =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64)
                ^ ((std::process::id() as u64) << 32);
        Resolver { config, cache: HashMap::new(), rng: seed | 1, queries_sent: 0 }
    }

    /// The longest one lookup can block (every server, every try).
    pub fn max_block(&self) -> Duration {
        let servers = self.config.servers.len().min(self.config.max_servers).max(1) as u32;
        self.config.timeout * self.config.attempts * servers
    }

    fn random(&mut self) -> u64 {
        // xorshift64*: query ids and SRV weights, not cryptography
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// The records of `name`/`qtype`, from the cache or the nameservers.
    fn lookup(&mut self, name: &str, qtype: QType) -> Result<Vec<Record>, DnsError> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let key = (name.clone(), qtype);
        if !self.config.cache {
            let resp = self.ask(&name, qtype)?;
            return match resp.rcode {
                0 => Ok(resp.records),
                3 => Err(DnsError::NotFound(name)),
                rc => Err(DnsError::ServerFailure(name, rc)),
            };
        }
        if let Some(c) = self.cache.get(&key) {
            if c.until > Instant::now() {
                return match &c.answer {
                    Ok(r) => Ok(r.clone()),
                    Err(3) => Err(DnsError::NotFound(name)),
                    Err(TIMED_OUT) => Err(DnsError::Timeout(name)),
                    Err(rc) => Err(DnsError::ServerFailure(name, *rc)),
                };
            }
        }
        let resp = match self.ask(&name, qtype) {
            Err(DnsError::Timeout(n)) => {
                // remembered briefly, so one message does not wait twice
                // and a dead nameserver is not asked for every message
                let until = Instant::now() + TIMEOUT_MEMORY;
                self.cache.insert(key, Cached { until, answer: Err(TIMED_OUT) });
                return Err(DnsError::Timeout(n));
            }
            r => r?,
        };
        let (answer, ttl) = match resp.rcode {
            0 => {
                let ttl = resp.records.iter().map(|r| r.ttl).min().unwrap_or(self.config.negative_ttl);
                (Ok(resp.records), ttl)
            }
            rc => (Err(rc), self.config.negative_ttl),
        };
        if self.cache.len() >= CACHE_MAX {
            let now = Instant::now();
            self.cache.retain(|_, c| c.until > now);
            if self.cache.len() >= CACHE_MAX {
                self.cache.clear();
            }
        }
        self.cache
            .insert(key, Cached { until: Instant::now() + Duration::from_secs(ttl.into()), answer: answer.clone() });
        match answer {
            Ok(r) => Ok(r),
            Err(3) => Err(DnsError::NotFound(name)),
            Err(rc) => Err(DnsError::ServerFailure(name, rc)),
        }
    }

    /// [`Self::ask_servers`], counted in Kamailio's `dns:` statistics: a
    /// query without an answer (no reply, an error code, no record) is a
    /// failed one; one slower than `dns_slow_query_ms` a slow one.
    fn ask(&mut self, name: &str, qtype: QType) -> Result<wire::Response, DnsError> {
        let started = Instant::now();
        let r = self.ask_servers(name, qtype);
        if !matches!(&r, Ok(resp) if resp.rcode == 0 && !resp.records.is_empty()) {
            crate::stats::dns(|d| d.failed_dns_request);
        }
        if self.config.slow_query.is_some_and(|slow| started.elapsed() > slow) {
            crate::stats::dns(|d| d.slow_dns_request);
        }
        r
    }

    /// Sends the query to each server in turn, each up to `attempts`
    /// times, until one answers.
    fn ask_servers(&mut self, name: &str, qtype: QType) -> Result<wire::Response, DnsError> {
        if self.config.servers.is_empty() {
            return Err(DnsError::NoServers);
        }
        let servers: Vec<SocketAddr> =
            self.config.servers.iter().take(self.config.max_servers.max(1)).copied().collect();
        let mut buf = [0u8; 4096];
        for _ in 0..self.config.attempts.max(1) {
            for server in &servers {
                let id = self.random() as u16;
                let q = wire::query(id, name, qtype).map_err(|_| DnsError::BadName(name.to_string()))?;
                let bind: SocketAddr = if server.is_ipv4() {
                    ([0, 0, 0, 0], 0).into()
                } else {
                    (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
                };
                let sock = UdpSocket::bind(bind).map_err(DnsError::Io)?;
                if sock.connect(server).and_then(|_| sock.send(&q)).is_err() {
                    continue;
                }
                self.queries_sent += 1;
                let deadline = Instant::now() + self.config.timeout;
                loop {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    let _ = sock.set_read_timeout(Some(left));
                    let Ok(n) = sock.recv(&mut buf) else { break };
                    match wire::parse(&buf[..n]) {
                        Ok(r) if r.id == id => return Ok(r),
                        // another query's answer, a forgery, or junk: wait on
                        Ok(_) | Err(WireError::Short | WireError::BadName | WireError::NotResponse) => {}
                    }
                }
            }
        }
        Err(DnsError::Timeout(name.to_string()))
    }

    /// Addresses of `name`: /etc/hosts, else A (then AAAA with
    /// `dns_try_ipv6`), aliases followed.
    pub fn addresses(&mut self, name: &str) -> Result<Vec<IpAddr>, DnsError> {
        let lname = name.trim_end_matches('.').to_ascii_lowercase();
        let from_hosts: Vec<IpAddr> = self.config.hosts.iter().filter(|(n, _)| *n == lname).map(|(_, a)| *a).collect();
        if !from_hosts.is_empty() {
            return Ok(from_hosts);
        }
        let mut types = vec![QType::A];
        if self.config.try_ipv6 {
            types.push(QType::Aaaa);
        }
        let mut first_err = None;
        for t in types {
            match self.lookup(&lname, t) {
                Ok(records) => {
                    let ips = follow(&records, &lname, |d| match d {
                        Rdata::A(a) => Some(IpAddr::V4(*a)),
                        Rdata::Aaaa(a) => Some(IpAddr::V6(*a)),
                        _ => None,
                    });
                    if !ips.is_empty() {
                        return Ok(ips);
                    }
                }
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        Err(first_err.unwrap_or(DnsError::NotFound(lname)))
    }

    /// SRV targets of `name` in the order to try them (RFC 2782: by
    /// priority; within one, weighted random with `dns_srv_lb`, else as
    /// the answer lists them); empty when there are none.
    pub fn srv(&mut self, name: &str) -> Result<Vec<SrvTarget>, DnsError> {
        let lname = name.trim_end_matches('.').to_ascii_lowercase();
        let records = match self.lookup(&lname, QType::Srv) {
            Ok(r) => r,
            Err(DnsError::NotFound(_)) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut srvs = follow(&records, &lname, |d| match d {
            Rdata::Srv { priority, weight, port, target } if target != "." && !target.is_empty() => {
                Some((*priority, *weight, *port, target.clone()))
            }
            _ => None,
        });
        srvs.sort_by_key(|s| s.0);
        let mut out = Vec::with_capacity(srvs.len());
        while !srvs.is_empty() {
            let prio = srvs[0].0;
            let same = srvs.iter().take_while(|s| s.0 == prio).count();
            let total: u64 = srvs[..same].iter().map(|s| s.1 as u64).sum();
            let pick = if total == 0 || !self.config.srv_lb {
                0
            } else {
                let mut r = self.random() % (total + 1);
                let mut i = 0;
                while i + 1 < same && r > srvs[i].1 as u64 {
                    r -= srvs[i].1 as u64;
                    i += 1;
                }
                i
            };
            let (_, _, port, target) = srvs.remove(pick);
            out.push(SrvTarget { target, port });
        }
        Ok(out)
    }

    /// Where to send for a SIP URI or Via host (RFC 3263): the address and
    /// the transport.
    pub fn resolve_sip(
        &mut self,
        host: &str,
        port: Option<u16>,
        proto: Option<Proto>,
    ) -> Result<(SocketAddr, Proto), DnsError> {
        self.resolve_sip_nth(host, port, proto, 0)?.ok_or_else(|| DnsError::NotFound(host.to_string()))
    }

    /// Target number `n` of [`Resolver::sip_targets`]: `None` past the
    /// last (what DNS failover tries next; the cache makes asking again
    /// cheap).
    pub fn resolve_sip_nth(
        &mut self,
        host: &str,
        port: Option<u16>,
        proto: Option<Proto>,
        n: usize,
    ) -> Result<Option<(SocketAddr, Proto)>, DnsError> {
        let h = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = h.parse::<IpAddr>() {
            let p = proto.unwrap_or(Proto::Udp);
            return Ok((n == 0).then(|| (SocketAddr::new(ip, port.unwrap_or(p.default_port())), p)));
        }
        Ok(self.sip_targets_upto(h, port, proto, n + 1)?.into_iter().nth(n))
    }

    /// Every place a request for a SIP URI host (a name) may go, in the
    /// order to try them: without a port, each SRV target of the first
    /// transport that has SRV records and each of its addresses; else
    /// (or without SRV records) each address of the name, on the port or
    /// the transport's default.
    pub fn sip_targets(
        &mut self,
        host: &str,
        port: Option<u16>,
        proto: Option<Proto>,
    ) -> Result<Vec<(SocketAddr, Proto)>, DnsError> {
        self.sip_targets_upto(host, port, proto, usize::MAX)
    }

    /// The first `want` of [`Resolver::sip_targets`] (the SRV targets
    /// after them are not looked up).
    fn sip_targets_upto(
        &mut self,
        host: &str,
        port: Option<u16>,
        proto: Option<Proto>,
        want: usize,
    ) -> Result<Vec<(SocketAddr, Proto)>, DnsError> {
        if port.is_none() {
            let candidates: Vec<Proto> = match proto {
                Some(p) => vec![p],
                None => vec![Proto::Udp, Proto::Tcp],
            };
            for p in candidates {
                let prefix = match p {
                    Proto::Udp => "_sip._udp.",
                    Proto::Tcp | Proto::Ws => "_sip._tcp.",
                    Proto::Tls | Proto::Wss => "_sips._tcp.",
                    Proto::Sctp => "_sip._sctp.",
                };
                let mut out = Vec::new();
                for t in self.srv(&format!("{prefix}{host}"))? {
                    if out.len() >= want {
                        break;
                    }
                    if let Ok(ips) = self.addresses(&t.target) {
                        out.extend(ips.into_iter().map(|ip| (SocketAddr::new(ip, t.port), p)));
                    }
                }
                if !out.is_empty() {
                    return Ok(out);
                }
            }
        }
        let p = proto.unwrap_or(Proto::Udp);
        let port = port.unwrap_or(p.default_port());
        Ok(self.addresses(host)?.into_iter().map(|ip| (SocketAddr::new(ip, port), p)).collect())
    }
}

/// The data of `name`'s records, following CNAMEs inside the answer (at
/// most 8 deep).
fn follow<T>(records: &[Record], name: &str, mut want: impl FnMut(&Rdata) -> Option<T>) -> Vec<T> {
    let mut owner = name.to_string();
    for _ in 0..8 {
        let found: Vec<T> = records.iter().filter(|r| r.name == owner).filter_map(|r| want(&r.data)).collect();
        if !found.is_empty() {
            return found;
        }
        match records.iter().find_map(|r| match &r.data {
            Rdata::Cname(c) if r.name == owner => Some(c.clone()),
            _ => None,
        }) {
            Some(c) => owner = c,
            None => break,
        }
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    /// A nameserver on loopback answering from `zone`, `answers` times.
    fn stub(zone: Vec<Record>, answers: usize) -> (SocketAddr, std::thread::JoinHandle<usize>) {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = sock.local_addr().unwrap();
        let h = std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            let mut served = 0;
            sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            while served < answers {
                let Ok((n, from)) = sock.recv_from(&mut buf) else { break };
                let q = &buf[..n];
                // the question: name and type
                let mut at = 12;
                let mut labels = Vec::new();
                while q[at] != 0 {
                    let l = q[at] as usize;
                    labels.push(String::from_utf8_lossy(&q[at + 1..at + 1 + l]).to_string());
                    at += 1 + l;
                }
                let name = labels.join(".");
                let qtype = u16::from_be_bytes([q[at + 1], q[at + 2]]);
                let matching: Vec<Record> = zone
                    .iter()
                    .filter(|r| {
                        r.name == name
                            && matches!(
                                (&r.data, qtype),
                                (Rdata::A(_), 1)
                                    | (Rdata::Aaaa(_), 28)
                                    | (Rdata::Srv { .. }, 33)
                                    | (Rdata::Cname(_), _)
                            )
                    })
                    .cloned()
                    .collect();
                let rcode = if zone.iter().any(|r| r.name == name) { 0 } else { 3 };
                let resp = wire::response(q, rcode, &matching).unwrap();
                sock.send_to(&resp, from).unwrap();
                served += 1;
            }
            served
        });
        (addr, h)
    }

    fn rec(name: &str, data: Rdata) -> Record {
        Record { name: name.into(), ttl: 300, data }
    }

    fn resolver(server: SocketAddr) -> Resolver {
        Resolver::new(DnsConfig {
            servers: vec![server],
            timeout: Duration::from_millis(300),
            attempts: 1,
            ..DnsConfig::default()
        })
    }

    #[test]
    fn srv_then_address_and_cache() {
        let zone = vec![
            rec("_sip._udp.svc.test", Rdata::Srv { priority: 20, weight: 0, port: 5999, target: "b.svc.test".into() }),
            rec("_sip._udp.svc.test", Rdata::Srv { priority: 10, weight: 0, port: 5080, target: "a.svc.test".into() }),
            rec("a.svc.test", Rdata::A(Ipv4Addr::new(127, 0, 0, 7))),
            rec("alias.test", Rdata::Cname("a.svc.test".into())),
            rec("alias.test", Rdata::A(Ipv4Addr::new(127, 0, 0, 7))),
            rec(
                "_sip._tcp.tcponly.test",
                Rdata::Srv { priority: 1, weight: 0, port: 5090, target: "a.svc.test".into() },
            ),
        ];
        let (addr, h) = stub(zone, 7);
        let mut r = resolver(addr);
        let got = r.resolve_sip("svc.test", None, None).unwrap();
        assert_eq!(got, ("127.0.0.7:5080".parse().unwrap(), Proto::Udp), "lowest priority first");
        let sent = r.queries_sent;
        assert_eq!(r.resolve_sip("SVC.test", None, None).unwrap().0.port(), 5080);
        assert_eq!(r.queries_sent, sent, "answered from the cache");
        // a port: no SRV, the A record
        assert_eq!(
            r.resolve_sip("alias.test", Some(5070), None).unwrap(),
            ("127.0.0.7:5070".parse().unwrap(), Proto::Udp)
        );
        // no UDP SRV: TCP's is found and decides the transport
        assert_eq!(r.resolve_sip("tcponly.test", None, None).unwrap(), ("127.0.0.7:5090".parse().unwrap(), Proto::Tcp));
        // nothing at all
        assert!(matches!(r.resolve_sip("nope.test", None, Some(Proto::Udp)), Err(DnsError::NotFound(_))));
        // IP literals never touch DNS
        let before = r.queries_sent;
        assert_eq!(
            r.resolve_sip("[::1]", None, Some(Proto::Tls)).unwrap(),
            ("[::1]:5061".parse().unwrap(), Proto::Tls)
        );
        assert_eq!(r.queries_sent, before);
        drop(r);
        let _ = h.join();
    }

    #[test]
    fn a_silent_server_costs_at_most_max_block() {
        let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut r = resolver(silent.local_addr().unwrap());
        let t = Instant::now();
        assert!(matches!(r.addresses("slow.test"), Err(DnsError::Timeout(_))));
        assert!(t.elapsed() < r.max_block() + Duration::from_millis(500), "{:?}", t.elapsed());
    }

    #[test]
    fn srv_weights_pick_every_target_over_time() {
        let zone = vec![
            rec("_sip._udp.w.test", Rdata::Srv { priority: 1, weight: 50, port: 1, target: "x.test".into() }),
            rec("_sip._udp.w.test", Rdata::Srv { priority: 1, weight: 50, port: 2, target: "y.test".into() }),
        ];
        let (addr, h) = stub(zone, 1);
        let mut r = resolver(addr);
        r.config.srv_lb = true;
        let mut firsts = std::collections::HashSet::new();
        for _ in 0..64 {
            let t = r.srv("_sip._udp.w.test").unwrap();
            assert_eq!(t.len(), 2);
            firsts.insert(t[0].port);
        }
        assert_eq!(firsts.len(), 2, "both targets come first sometimes");
        let _ = h.join();
    }

    #[test]
    fn failover_targets_in_priority_then_address_order() {
        let zone = vec![
            rec("_sip._udp.f.test", Rdata::Srv { priority: 20, weight: 5, port: 2, target: "b.test".into() }),
            rec("_sip._udp.f.test", Rdata::Srv { priority: 10, weight: 5, port: 1, target: "a.test".into() }),
            rec("a.test", Rdata::A("127.0.0.2".parse().unwrap())),
            rec("a.test", Rdata::A("127.0.0.3".parse().unwrap())),
            rec("b.test", Rdata::A("127.0.0.4".parse().unwrap())),
        ];
        let (addr, h) = stub(zone, 3);
        let mut r = resolver(addr);
        let want: Vec<SocketAddr> =
            ["127.0.0.2:1", "127.0.0.3:1", "127.0.0.4:2"].iter().map(|a| a.parse().unwrap()).collect();
        for (n, w) in want.iter().enumerate() {
            assert_eq!(r.resolve_sip_nth("f.test", None, None, n).unwrap(), Some((*w, Proto::Udp)));
        }
        assert_eq!(r.resolve_sip_nth("f.test", None, None, 3).unwrap(), None);
        // an address literal is one target
        assert!(r.resolve_sip_nth("127.0.0.9", Some(9), None, 1).unwrap().is_none());
        let _ = h.join();
    }

    #[test]
    fn hosts_file() {
        let h = parse_hosts("127.0.0.1 localhost loc # c\n::1 ip6-localhost\nbad line\n");
        assert_eq!(h.len(), 3);
        let mut r = Resolver::new(DnsConfig { hosts: h, ..DnsConfig::default() });
        assert_eq!(r.addresses("LOC").unwrap(), vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]);
        assert!(matches!(r.addresses("elsewhere"), Err(DnsError::NoServers)));
    }
}
