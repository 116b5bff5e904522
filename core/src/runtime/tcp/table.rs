//! The TCP connection table in shm: every open connection with its peer,
//! the listen socket it belongs to, the reader that owns it and when it
//! was last used — so any process can find the connection to a peer
//! (replies and requests reuse connections, as Kamailio's tcp aliases),
//! and a per-connection write lock so two processes never interleave
//! their messages on one stream.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

use sipr_locking::{LockSet, RawMutexGuard};
use sipr_mem::{shm_struct, ShmBox, ShmHashTable};

shm_struct! {
    /// A peer address as a table key.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct PeerKey {
        /// IPv4 (mapped) or IPv6 address bytes.
        pub ip: [u8; 16],
        /// Port.
        pub port: u16,
        /// 1 for IPv4.
        pub v4: u8,
    }
}

impl PeerKey {
    /// The key of `addr`.
    pub fn of(addr: SocketAddr) -> PeerKey {
        let (ip, v4) = match addr.ip() {
            IpAddr::V4(a) => (a.to_ipv6_mapped().octets(), 1),
            IpAddr::V6(a) => (a.octets(), 0),
        };
        PeerKey { ip, port: addr.port(), v4 }
    }

    /// Back to an address.
    pub fn addr(&self) -> SocketAddr {
        let v6 = std::net::Ipv6Addr::from(self.ip);
        let ip = match (self.v4, v6.to_ipv4_mapped()) {
            (1, Some(a)) => IpAddr::V4(a),
            _ => IpAddr::V6(v6),
        };
        SocketAddr::new(ip, self.port)
    }
}

shm_struct! {
    /// One connection.
    #[derive(Debug, Clone, Copy)]
    pub struct ConnRec {
        /// The far end.
        pub peer: PeerKey,
        /// Index of the TCP listen socket it belongs to.
        pub local: u16,
        /// Rank of the reader that owns it.
        pub reader: i32,
        /// Milliseconds (server clock) when it was opened.
        pub created_ms: u64,
        /// Milliseconds (server clock) when a message last went through it.
        pub last_ms: u64,
        /// Further ports of the peer's address this connection stands for
        /// (tcp aliases: `tcp_accept_aliases`, `force_tcp_alias()`); 0 is
        /// a free slot.
        pub aliases: [u16; MAX_ALIASES],
    }
}

/// Alias ports a connection can carry besides its own (Kamailio allows
/// four addresses per connection in all).
pub const MAX_ALIASES: usize = 3;

/// Why an alias was not added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AliasError {
    /// The connection is gone.
    NoConnection,
    /// It carries `MAX_ALIASES` already.
    TooMany,
    /// No shm for the entry.
    NoRoom,
}

impl std::fmt::Display for AliasError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AliasError::NoConnection => "no such connection",
            AliasError::TooMany => "too many aliases on the connection",
            AliasError::NoRoom => "no shared memory for the alias",
        })
    }
}

shm_struct! {
    struct Counters {
        next_id: AtomicU32,
    }
}

/// The table (one per server, created before the fork).
pub struct ConnTable {
    by_id: ShmHashTable<'static, u32, ConnRec>,
    by_peer: ShmHashTable<'static, PeerKey, u32>,
    write_locks: LockSet,
    counters: ShmBox<'static, Counters>,
    /// The server clock's origin: an Instant taken before the fork reads
    /// the same CLOCK_MONOTONIC in every process.
    epoch: Instant,
}

impl std::fmt::Debug for ConnTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnTable").field("connections", &self.by_id.len()).finish()
    }
}

static TABLE: OnceLock<ConnTable> = OnceLock::new();

/// Creates the table for up to `max` connections (main process, before
/// the fork).
pub fn init(max: u32) -> Result<&'static ConnTable, String> {
    if let Some(t) = TABLE.get() {
        return Ok(t);
    }
    let pool = crate::shm::pool().ok_or("no shared memory pool")?;
    let buckets = (max as usize).clamp(16, 1 << 16);
    let locks = (buckets / 4).clamp(4, 256);
    let no_room = || "no shared memory for the TCP connection table".to_string();
    let by_id = ShmHashTable::new_in(pool, buckets, locks, "tcp conns").ok_or_else(no_room)?;
    let by_peer = ShmHashTable::new_in(pool, buckets, locks, "tcp peers").ok_or_else(no_room)?;
    let write_locks = pool.alloc_lock_set(locks, "tcp writes").ok_or_else(no_room)?;
    let counters = sipr_mem::ShmBox::new_in(pool, Counters { next_id: AtomicU32::new(1) }).ok_or_else(no_room)?;
    let t = ConnTable { by_id, by_peer, write_locks, counters, epoch: Instant::now() };
    Ok(TABLE.get_or_init(|| t))
}

/// The table, when TCP is on.
pub fn get() -> Option<&'static ConnTable> {
    TABLE.get()
}

/// The table is full (no shm for a new entry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoRoom;

impl ConnTable {
    /// Milliseconds on the server clock.
    pub fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Records a new connection; its id (never 0).
    pub fn register(&self, peer: SocketAddr, local: u16, reader: i32) -> Result<u32, NoRoom> {
        let mut id = self.counters().next_id.fetch_add(1, Ordering::Relaxed);
        if id == 0 {
            id = self.counters().next_id.fetch_add(1, Ordering::Relaxed);
        }
        let now = self.now_ms();
        let key = PeerKey::of(peer);
        let rec = ConnRec { peer: key, local, reader, created_ms: now, last_ms: now, aliases: [0; MAX_ALIASES] };
        self.by_id.insert(id, rec).map_err(|_| NoRoom)?;
        if self.by_peer.insert(key, id).is_err() {
            self.by_id.remove(&id);
            return Err(NoRoom);
        }
        Ok(id)
    }

    /// The connection to `peer`, if one is open.
    pub fn find(&self, peer: SocketAddr) -> Option<u32> {
        self.by_peer.with(&PeerKey::of(peer), |id| *id)
    }

    /// The record of connection `id`.
    pub fn get(&self, id: u32) -> Option<ConnRec> {
        self.by_id.with(&id, |r| *r)
    }

    /// Marks connection `id` as used now (extends its lifetime).
    pub fn touch(&self, id: u32) {
        let now = self.now_ms();
        self.by_id.with(&id, |r| r.last_ms = now);
    }

    /// Makes connection `id` also the connection to port `port` of its
    /// peer's address: a message for that address and port goes over it
    /// instead of a new connection (RFC 5923's connection reuse, by port
    /// only as Kamailio does: a host alias would trust the peer's word for
    /// another address). The newest connection claiming an address wins.
    pub fn add_alias(&self, id: u32, port: u16) -> Result<(), AliasError> {
        let claimed = self.by_id.with(&id, |r| {
            if r.peer.port == port || r.aliases.contains(&port) {
                return Ok(None);
            }
            let slot = r.aliases.iter_mut().find(|a| **a == 0).ok_or(AliasError::TooMany)?;
            *slot = port;
            Ok(Some(r.peer))
        });
        let Some(peer) = claimed.ok_or(AliasError::NoConnection)?? else { return Ok(()) };
        let key = PeerKey { port, ..peer };
        if self.by_peer.insert(key, id).is_err() {
            self.by_id.with(&id, |r| r.aliases.iter_mut().filter(|a| **a == port).for_each(|a| *a = 0));
            return Err(AliasError::NoRoom);
        }
        // closed meanwhile: its removal may have run before the insert
        if self.by_id.with(&id, |_| ()).is_none() {
            self.forget_key(key, id);
            return Err(AliasError::NoConnection);
        }
        Ok(())
    }

    /// Drops `key` when it still points at connection `id` (a newer
    /// connection to the same address may have taken its place).
    fn forget_key(&self, key: PeerKey, id: u32) {
        if self.by_peer.with(&key, |cur| *cur == id) == Some(true) {
            self.by_peer.remove(&key);
        }
    }

    /// Forgets connection `id`, its aliases with it.
    pub fn remove(&self, id: u32) {
        if let Some(rec) = self.by_id.remove(&id) {
            self.forget_key(rec.peer, id);
            for port in rec.aliases.into_iter().filter(|&p| p != 0) {
                self.forget_key(PeerKey { port, ..rec.peer }, id);
            }
        }
    }

    /// Open connections.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether no connection is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every connection: (id, record).
    pub fn list(&self) -> Vec<(u32, ConnRec)> {
        let mut v = Vec::new();
        self.by_id.for_each(|id, r| v.push((*id, *r)));
        v.sort_by_key(|(id, _)| *id);
        v
    }

    /// The lock that serialises writes on connection `id`. A writer that
    /// died mid-message cannot be repaired; the stream goes on (the peer
    /// will see a broken message and the connection will be closed).
    pub fn lock_write(&self, id: u32) -> RawMutexGuard<'_> {
        self.write_locks.lock(id).unwrap_or_else(|died| died.into_guard())
    }
}

/// `core.tcp_list` (Kamailio's command name; sipr's fields): every open
/// TCP connection with its id, type, state, seconds idle, the rank of the
/// reader that owns it, the peer, and its listen socket's index.
pub fn rpc_tcp_list(_: &[crate::rpc::RpcValue]) -> Result<crate::rpc::RpcValue, crate::rpc::RpcError> {
    use crate::rpc::RpcValue;
    let Some(t) = get() else { return Ok(RpcValue::Array(Vec::new())) };
    let now = t.now_ms();
    Ok(RpcValue::Array(
        t.list()
            .into_iter()
            .map(|(id, r)| {
                RpcValue::Struct(vec![
                    ("id".into(), RpcValue::Int(id as i64)),
                    ("type".into(), RpcValue::Str("TCP".into())),
                    ("state".into(), RpcValue::Str("CONN_OK".into())),
                    ("idle".into(), RpcValue::Int((now.saturating_sub(r.last_ms) / 1000) as i64)),
                    ("reader".into(), RpcValue::Int(r.reader as i64)),
                    ("src".into(), RpcValue::Str(r.peer.addr().to_string())),
                    ("listen".into(), RpcValue::Int(r.local as i64)),
                ])
            })
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        for a in ["127.0.0.1:5060", "[::1]:5070", "[::ffff:1.2.3.4]:9"] {
            let addr: SocketAddr = a.parse().unwrap();
            assert_eq!(PeerKey::of(addr).addr(), addr, "{a}");
        }
    }

    #[test]
    fn aliases_point_at_the_connection_until_it_closes() {
        crate::shm::install(sipr_mem::ShmPool::create_mb(8).unwrap());
        let t = init(64).unwrap();
        let peer: SocketAddr = "127.0.0.7:40000".parse().unwrap();
        let at = |port: u16| SocketAddr::new(peer.ip(), port);
        let a = t.register(peer, 0, 1).unwrap();
        assert_eq!(t.find(at(5070)), None);
        t.add_alias(a, 5070).unwrap();
        t.add_alias(a, 5070).unwrap(); // twice: one slot
        t.add_alias(a, 40000).unwrap(); // its own port: nothing to add
        assert_eq!((t.find(at(5070)), t.find(peer)), (Some(a), Some(a)));
        assert_eq!(t.find("127.0.0.8:5070".parse().unwrap()), None, "same port, other address");
        t.add_alias(a, 5071).unwrap();
        t.add_alias(a, 5072).unwrap();
        assert_eq!(t.add_alias(a, 5073), Err(AliasError::TooMany));
        // a newer connection from the same address claims 5070
        let b = t.register(at(40001), 0, 1).unwrap();
        t.add_alias(b, 5070).unwrap();
        assert_eq!(t.find(at(5070)), Some(b));
        t.remove(a);
        assert_eq!((t.find(at(5070)), t.find(at(5071)), t.find(peer)), (Some(b), None, None));
        assert_eq!(t.add_alias(a, 5080), Err(AliasError::NoConnection));
        t.remove(b);
        assert_eq!(t.find(at(5070)), None);
    }
}
