//! What a transaction keeps in shm: its key (how requests find it), its
//! state (the server side, every branch's client side, the routes armed
//! for it, its timers) and its byte slots (the last reply sent upstream,
//! each branch's request and final reply). The table is a
//! [`ShmCellTable`]: buckets chosen from Call-ID and CSeq number, so a
//! retransmission, its ACK and its CANCEL land in the bucket of their
//! INVITE; a reply finds its cell from the bucket and label in the branch
//! of our Via (`z9hG4bK<bucket>.<label>.<branch>`, hex).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::OnceLock;

use sipr_sdk::mem::{shm_struct, CellRef, ShmCellTable, TimerId};
use sipr_sdk::net::Proto;
use sipr_sdk::sip::{Method, SipMsg};
use sipr_sdk::txn::TxnParts;

/// Branches a transaction may have (Kamailio's default `max_branches`).
pub const MAX_BRANCHES: usize = 12;
/// Slot of the last reply sent upstream.
pub const SLOT_UAS_REPLY: usize = 0;
/// Slots per transaction: the reply upstream, a request and a reply per
/// branch, the branches' DNS names, the Reason headers of an upstream
/// CANCEL, the transaction's AVPs, and the request as the script left it
/// (the last).
pub const SLOTS: usize = 5 + 2 * MAX_BRANCHES;
/// Slot of the names the branches' destinations were resolved from, with
/// the target each took (DNS failover's next choice; written only with
/// `use_dns_failover`).
pub const SLOT_DNS_TARGETS: usize = SLOTS - 4;
/// Slot of the Reason header lines of the CANCEL that cancelled an
/// INVITE (copied into the CANCELs of its branches, `e2e_cancel_reason`).
pub const SLOT_CANCEL_REASON: usize = SLOTS - 3;
/// Slot of the AVPs the transaction carries into its failure and reply
/// routes.
pub const SLOT_AVPS: usize = SLOTS - 2;

/// Slot of the request sent on branch `b`.
pub fn slot_request(b: usize) -> usize {
    1 + b
}

/// Slot of the final reply received on branch `b`.
pub fn slot_reply(b: usize) -> usize {
    1 + MAX_BRANCHES + b
}

/// Method classes a cell is kept for.
pub mod method {
    /// INVITE.
    pub const INVITE: u8 = 1;
    /// CANCEL.
    pub const CANCEL: u8 = 2;
    /// Anything else (ACK never gets a cell).
    pub const OTHER: u8 = 3;
}

/// The method class of a request.
pub fn method_class(m: Option<Method>) -> u8 {
    match m {
        Some(Method::Invite) => method::INVITE,
        Some(Method::Cancel) => method::CANCEL,
        _ => method::OTHER,
    }
}

shm_struct! {
    /// How requests find the cell (fixed at creation): offsets into the
    /// request it keeps.
    #[derive(Debug, Clone, Copy, Default)]
    pub struct Key {
        /// [`method`] class.
        pub method: u8,
        /// The top Via's branch has RFC 3261's magic cookie.
        pub rfc3261: bool,
        /// The top Via's branch value.
        pub branch_off: u32,
        /// Its length.
        pub branch_len: u32,
        /// The top Via's sent-by (host and port as written).
        pub sentby_off: u32,
        /// Its length.
        pub sentby_len: u32,
        /// The request's method token (an extension method matches by
        /// name).
        pub method_off: u32,
        /// Its length.
        pub method_len: u32,
    }
}

shm_struct! {
    /// An address and transport, as shm keeps them.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
    pub struct Peer {
        /// IPv4 in the first 4 bytes, or IPv6.
        pub ip: [u8; 16],
        /// IPv6.
        pub v6: bool,
        /// Port.
        pub port: u16,
        /// Transport ([`proto_no`]).
        pub proto: u8,
    }
}

const PROTOS: [Proto; 6] = [Proto::Udp, Proto::Tcp, Proto::Tls, Proto::Sctp, Proto::Ws, Proto::Wss];

fn proto_no(p: Proto) -> u8 {
    PROTOS.iter().position(|x| *x == p).unwrap_or(0) as u8
}

impl Peer {
    /// From an address and transport.
    pub fn new(a: SocketAddr, proto: Proto) -> Peer {
        let mut ip = [0u8; 16];
        let v6 = match a.ip() {
            IpAddr::V4(v4) => {
                ip[..4].copy_from_slice(&v4.octets());
                false
            }
            IpAddr::V6(v6) => {
                ip = v6.octets();
                true
            }
        };
        Peer { ip, v6, port: a.port(), proto: proto_no(proto) }
    }

    /// The address.
    pub fn addr(&self) -> SocketAddr {
        let ip = if self.v6 {
            IpAddr::V6(Ipv6Addr::from(self.ip))
        } else {
            IpAddr::V4(Ipv4Addr::new(self.ip[0], self.ip[1], self.ip[2], self.ip[3]))
        };
        SocketAddr::new(ip, self.port)
    }

    /// The transport.
    pub fn proto(&self) -> Proto {
        PROTOS.get(self.proto as usize).copied().unwrap_or(Proto::Udp)
    }

    /// Whether the transport is reliable (no retransmissions).
    pub fn reliable(&self) -> bool {
        !matches!(self.proto(), Proto::Udp)
    }
}

/// Branch flags.
pub mod bflag {
    /// A reply (any) came on the branch.
    pub const REPLIED: u8 = 1;
    /// The branch's final-response timer fired.
    pub const TIMEOUT: u8 = 2;
    /// A CANCEL was sent on it.
    pub const CANCEL_SENT: u8 = 4;
    /// To be cancelled as soon as a provisional reply comes (RFC 3261 §9.1).
    pub const CANCEL_PENDING: u8 = 8;
    /// The branch has its final outcome.
    pub const DONE: u8 = 16;
    /// Its reply was dropped by t_drop_replies(): not a candidate for the
    /// best reply.
    pub const DROPPED: u8 = 32;
}

shm_struct! {
    /// One branch: a client transaction.
    #[derive(Debug, Clone, Copy, Default)]
    pub struct Branch {
        /// The state machine.
        pub txn: TxnParts,
        /// Where its request went.
        pub peer: Peer,
        /// Retransmission timer.
        pub retr_timer: TimerId,
        /// Final-response timer.
        pub fr_timer: TimerId,
        /// The last reply code (408 for a timeout, 0 none).
        pub code: u16,
        /// [`bflag`]s.
        pub flags: u8,
        /// Branch flags (`$bf`) given by the script.
        pub bflags: u32,
    }
}

/// Transaction flags.
pub mod tflag {
    /// A final reply went upstream.
    pub const FINAL_SENT: u32 = 1;
    /// A CANCEL for it came.
    pub const CANCELED: u32 = 2;
    /// The failure route is running: no other outcome is decided.
    pub const IN_FAILURE: u32 = 4;
    /// The transaction is over (on its wait timer).
    pub const DONE: u32 = 8;
    /// Branches were added by the last failure route.
    pub const NEW_BRANCHES: u32 = 16;
    /// A 6xx does not cancel the other branches (`t_set_disable_6xx`).
    pub const DISABLE_6XX: u32 = 64;
    /// The transaction outlived max_inv_lifetime / max_noninv_lifetime.
    pub const EXPIRED: u32 = 128;
    /// The script replied with t_reply.
    pub const SCRIPT_REPLIED: u32 = 256;
    /// No branch of the last relay could be sent.
    pub const SEND_FAILED: u32 = 512;
    /// A request made here (t_uac): no server side.
    pub const LOCAL: u32 = 1024;
    /// A branch had no socket of its transport.
    pub const NO_SOCKET: u32 = 2048;
    /// `t_set_no_e2e_cancel_reason(1)`: an upstream CANCEL's Reason is
    /// not copied to the branches.
    pub const NO_E2E_CANCEL_REASON: u32 = 4096;
    /// `t_replicate`: replies from the branches stay here (the script's
    /// own reply still goes upstream).
    pub const REPLICATE: u32 = 8192;
    /// `t_set_disable_failover(1)`: no DNS failover.
    pub const DISABLE_FAILOVER: u32 = 16384;
    /// A request made here whose final status somebody waits for
    /// (`tm.t_uac_wait_block`): its status line is kept.
    pub const WAITED: u32 = 32768;
    /// Its wait state was counted (tmx's active_transactions).
    pub const WAIT_COUNTED: u32 = 65536;
}

shm_struct! {
    /// A transaction's state (under its cell lock).
    #[derive(Debug, Clone, Copy, Default)]
    pub struct State {
        /// The server side.
        pub uas: TxnParts,
        /// Where replies go upstream.
        pub reply_to: Peer,
        /// Where the request came from (`$si`, `$sp` in failure routes).
        pub src: Peer,
        /// The socket it came to.
        pub dst: Peer,
        /// The server side's retransmission timer (negative INVITE
        /// replies over UDP).
        pub uas_retr: TimerId,
        /// The server side's wait for the ACK of its negative reply
        /// (timer H).
        pub uas_final: TimerId,
        /// The wait before the cell is deleted.
        pub wait_timer: TimerId,
        /// The bound on the transaction's life (`max_inv_lifetime` /
        /// `max_noninv_lifetime`).
        pub life_timer: TimerId,
        /// Branches.
        pub branches: [Branch; MAX_BRANCHES],
        /// How many are used.
        pub nbranches: u8,
        /// [`tflag`]s.
        pub flags: u32,
        /// Message flags at relay time (restored in failure routes).
        pub msg_flags: u64,
        /// `failure_route` index + 1 (0: none).
        pub on_failure: u32,
        /// `onreply_route` index + 1.
        pub on_reply: u32,
        /// `branch_route` index + 1.
        pub on_branch: u32,
        /// `event_route[tm:branch-failure:NAME]` index + 1.
        pub on_branch_failure: u32,
        /// `fr_timer` for this transaction, ms.
        pub fr_ms: u32,
        /// `fr_inv_timer` for this transaction, ms.
        pub fr_inv_ms: u32,
        /// The final code sent upstream (0: none yet).
        pub uas_code: u16,
        /// The first branch of the current serial forking leg (what
        /// `failure_reply_mode` 3 chooses the best reply among).
        pub leg_start: u8,
        /// `retr_timer1` for this transaction (`t_set_retr`), ms; 0: the
        /// parameter's.
        pub t1_ms: u32,
        /// `retr_timer2` for it, ms; 0: the parameter's.
        pub t2_ms: u32,
        /// The reply that made tm cancel the other branches (their
        /// CANCELs' Reason), 0 for a CANCEL from upstream.
        pub cancel_reason: u16,
    }
}

/// The transaction table.
pub type Table = ShmCellTable<'static, Key, State, SLOTS>;
/// A counted reference to a transaction.
pub type Cell = CellRef<'static, 'static, Key, State, SLOTS>;

static TABLE: OnceLock<Table> = OnceLock::new();

/// Makes the table (mod_init).
pub fn init_table(buckets: usize) -> Result<(), String> {
    let pool = sipr_sdk::shm_pool().ok_or("no shared memory pool")?;
    let t =
        Table::new_in(pool, buckets, buckets.min(1 << 12), "tm").ok_or("no shared memory for the transaction table")?;
    let _ = TABLE.set(t);
    Ok(())
}

/// The table (once mod_init made it).
pub fn table() -> Option<&'static Table> {
    TABLE.get()
}

/// The bucket of a request: Call-ID and CSeq number, so that its
/// retransmissions, ACK and CANCEL find it.
pub fn bucket_of(msg: &SipMsg<'_>) -> Option<u32> {
    let callid = msg.call_id().ok()?;
    let (num, _) = msg.cseq_tokens().ok()?;
    Some(sipr_sdk::hash::id64(&[callid.trim_ascii(), num]) as u32)
}

/// A (bucket, label) pair as one number (the script's `$T(id_index)`,
/// `$T(id_label)` split it; timers and the message context carry it).
pub fn cell_id(c: &Cell) -> i64 {
    (i64::from(c.bucket()) << 32) | i64::from(c.label())
}

/// The cell named by [`cell_id`], when still in the table.
pub fn by_id(id: i64) -> Option<Cell> {
    table()?.get((id >> 32) as u32, id as u32)
}

/// The key of a request about to get a cell: offsets of its top Via's
/// branch and sent-by, and of its method.
pub fn key_of(msg: &SipMsg<'_>) -> Option<Key> {
    let buf = msg.buf();
    let via = msg.via1().ok()?;
    let branch = via.branch(buf).unwrap_or(b"");
    let off = |s: &[u8]| (s.as_ptr() as usize).saturating_sub(buf.as_ptr() as usize) as u32;
    let sentby_end = match via.port {
        Some(_) => {
            // host, then ':' and the port digits as written
            let mut e = via.host.end();
            if buf.get(e) == Some(&b':') {
                e += 1;
                while buf.get(e).is_some_and(u8::is_ascii_digit) {
                    e += 1;
                }
            }
            e
        }
        None => via.host.end(),
    };
    let method_tok = match msg.first_line() {
        sipr_sdk::sip::FirstLine::Request { method_span, .. } => method_span,
        _ => return None,
    };
    Some(Key {
        method: method_class(msg.method()),
        rfc3261: branch.starts_with(sipr_sdk::sip::MAGIC_COOKIE.as_bytes()),
        branch_off: if branch.is_empty() { 0 } else { off(branch) },
        branch_len: branch.len() as u32,
        sentby_off: via.host.off,
        sentby_len: sentby_end as u32 - via.host.off,
        method_off: method_tok.off,
        method_len: method_tok.len,
    })
}

impl Key {
    /// The top Via branch of the kept request.
    pub fn branch<'b>(&self, first: &'b [u8]) -> &'b [u8] {
        span(first, self.branch_off, self.branch_len)
    }

    /// Its top Via sent-by.
    pub fn sent_by<'b>(&self, first: &'b [u8]) -> &'b [u8] {
        span(first, self.sentby_off, self.sentby_len)
    }

    /// Its method token.
    pub fn method_token<'b>(&self, first: &'b [u8]) -> &'b [u8] {
        span(first, self.method_off, self.method_len)
    }
}

fn span(b: &[u8], off: u32, len: u32) -> &[u8] {
    b.get(off as usize..(off as usize + len as usize)).unwrap_or(b"")
}

/// Timer kinds, as a timer's argument carries them.
pub mod timer {
    /// A branch's retransmission (+ branch number).
    pub const BRANCH_RETR: u64 = 0;
    /// A branch's final-response timer (+ branch number).
    pub const BRANCH_FR: u64 = 16;
    /// The server side's retransmission.
    pub const UAS_RETR: u64 = 32;
    /// The server side's timer H.
    pub const UAS_FINAL: u64 = 33;
    /// The wait before deletion.
    pub const WAIT: u64 = 34;
    /// The bound on the transaction's life.
    pub const LIFE: u64 = 35;
}

/// A timer's argument: which timer of which cell.
pub fn timer_arg(c: &Cell, which: u64) -> u64 {
    (which << 52) | (u64::from(c.bucket() & 0xf_ffff) << 32) | u64::from(c.label())
}

/// The cell and the timer kind of a timer's argument.
pub fn timer_target(arg: u64) -> (u32, u32, u64) {
    (((arg >> 32) & 0xf_ffff) as u32, arg as u32, arg >> 52)
}
