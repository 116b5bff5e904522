//! The transaction state machines of RFC 3261 §17, with Kamailio tm's
//! timers, as pure logic: no sockets, no clock, no shared memory. A
//! transaction is fed events (it was started, a reply or a retransmission
//! arrived, the transaction user answered, a timer fired) and answers with
//! the actions to take (send, pass a reply up, arm or stop a timer,
//! generate the 408, end). The tm module (issue 16) keeps one such state
//! per cell in shm and runs the actions; the state machines are tested
//! here without any of that.
//!
//! Timers as Kamailio names them:
//! - `retr_timer1` (T1, 500 ms) and `retr_timer2` (T2, 4 s): UDP
//!   retransmissions double from T1 up to T2 (RFC 3261 timers A, E, G);
//! - `fr_timer` (30 s): the final-response timeout of a non-INVITE, and of
//!   an INVITE before any provisional reply (timers B and F);
//! - `fr_inv_timer` (120 s): an INVITE's final-response timeout once a
//!   provisional reply came (Kamailio's replacement for timer C);
//! - `wait_timer` (5 s): how long a finished transaction stays to absorb
//!   retransmissions (timers D, H/I, J, K collapse into it, as in tm).
//!
//! Over a reliable transport nothing is retransmitted and the wait is 0
//! (RFC 3261 §17.1.1.2, §17.1.2.2, §17.2.1, §17.2.2).

use std::time::Duration;

/// Which transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An INVITE transaction.
    Invite,
    /// Any other method (ACK has none; CANCEL is a non-INVITE).
    NonInvite,
}

/// The timer values (Kamailio's tm parameters and their defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    /// `retr_timer1` (T1).
    pub t1: Duration,
    /// `retr_timer2` (T2).
    pub t2: Duration,
    /// `fr_timer`.
    pub fr: Duration,
    /// `fr_inv_timer`.
    pub fr_inv: Duration,
    /// `wait_timer`.
    pub wait: Duration,
    /// `restart_fr_on_each_reply`: every provisional reply to an INVITE
    /// restarts `fr_inv_timer`; when off, only the first one and one of
    /// a higher code than the last (Kamailio's rule).
    pub restart_fr_on_each_reply: bool,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            t1: Duration::from_millis(500),
            t2: Duration::from_millis(4000),
            fr: Duration::from_secs(30),
            fr_inv: Duration::from_secs(120),
            wait: Duration::from_secs(5),
            restart_fr_on_each_reply: true,
        }
    }
}

impl Timers {
    /// The wait of a finished transaction: none over a reliable
    /// transport, where no retransmission can come.
    pub fn wait_for(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            self.wait
        }
    }
}

/// A transaction's timers (one of each may be armed at a time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// Retransmission (the request on the client side, the final reply of
    /// an INVITE on the server side).
    Retransmit,
    /// Waiting for a final reply (fr_timer / fr_inv_timer), or, on an
    /// INVITE server transaction, for the ACK of its negative reply.
    Final,
    /// The wait before the transaction is deleted.
    Wait,
}

/// What the owner of a transaction has to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Send the request (again) to the next hop.
    SendRequest,
    /// Send the last reply (again) to the previous hop.
    SendReply,
    /// Pass this reply up to the transaction user (onreply_route, then
    /// forwarding or the failure route).
    PassUp(u16),
    /// Absorb this reply (a retransmission of one already passed up).
    Absorb(u16),
    /// Send the ACK for a negative final reply to the next hop (hop by
    /// hop, RFC 3261 §17.1.1.3).
    SendAck,
    /// No final reply in time: the transaction user gets a local 408.
    Timeout408,
    /// Arm a timer to fire after this long.
    Arm(Timer, Duration),
    /// Stop a timer.
    Stop(Timer),
    /// The transaction is over: delete it (its references allowing).
    Delete,
}

/// Up to five actions, without allocating (no event needs more).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Actions {
    list: [Option<Action>; 5],
}

impl Actions {
    fn of(actions: &[Action]) -> Actions {
        let mut a = Actions::default();
        for (slot, x) in a.list.iter_mut().zip(actions) {
            *slot = Some(*x);
        }
        a
    }

    /// The actions in order.
    pub fn iter(&self) -> impl Iterator<Item = Action> + '_ {
        self.list.iter().filter_map(|a| *a)
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.list[0].is_none()
    }
}

/// RFC 3261 §17.1 states of a client transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientState {
    /// The request is out (Calling for an INVITE, Trying otherwise).
    Calling,
    /// A provisional reply came.
    Proceeding,
    /// A final reply came (a negative one for an INVITE); absorbing its
    /// retransmissions until the wait ends.
    Completed,
    /// Over.
    Terminated,
}

sipr_mem::shm_struct! {
    /// A client or server transaction as kept in shm (tm's cells): the
    /// state machine without its timer values, which the cell keeps once
    /// for all its branches (`t_set_fr` changes them per transaction).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
    pub struct TxnParts {
        /// 0: INVITE, 1: other.
        pub kind: u8,
        /// Over a reliable transport.
        pub reliable: bool,
        /// The state's number.
        pub state: u8,
        /// The next retransmission interval, ms.
        pub retr_ms: u32,
        /// The final (client) or last (server) reply code.
        pub code: u16,
    }
}

fn kind_of(n: u8) -> Kind {
    if n == 0 {
        Kind::Invite
    } else {
        Kind::NonInvite
    }
}

fn kind_no(k: Kind) -> u8 {
    match k {
        Kind::Invite => 0,
        Kind::NonInvite => 1,
    }
}

fn ms(d: Duration) -> u32 {
    d.as_millis().min(u32::MAX as u128) as u32
}

/// A client transaction: a request sipr sent (a branch of tm).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Client {
    kind: Kind,
    reliable: bool,
    timers: Timers,
    state: ClientState,
    /// The next retransmission interval.
    retr: Duration,
    /// The last reply passed up: while proceeding the last provisional
    /// one (restart_fr_on_each_reply off compares with it), then the
    /// final one.
    final_code: u16,
}

impl Client {
    /// A transaction for a request about to be sent.
    pub fn new(kind: Kind, reliable: bool, timers: Timers) -> Client {
        Client { kind, reliable, timers, state: ClientState::Calling, retr: timers.t1, final_code: 0 }
    }

    /// The state.
    pub fn state(&self) -> ClientState {
        self.state
    }

    /// What shm keeps of it.
    pub fn save(&self) -> TxnParts {
        let state = match self.state {
            ClientState::Calling => 0,
            ClientState::Proceeding => 1,
            ClientState::Completed => 2,
            ClientState::Terminated => 3,
        };
        TxnParts {
            kind: kind_no(self.kind),
            reliable: self.reliable,
            state,
            retr_ms: ms(self.retr),
            code: self.final_code,
        }
    }

    /// Back from what shm kept, with the cell's timer values.
    pub fn restore(p: &TxnParts, timers: Timers) -> Client {
        let state = match p.state {
            0 => ClientState::Calling,
            1 => ClientState::Proceeding,
            2 => ClientState::Completed,
            _ => ClientState::Terminated,
        };
        Client {
            kind: kind_of(p.kind),
            reliable: p.reliable,
            timers,
            state,
            retr: Duration::from_millis(p.retr_ms.into()),
            final_code: p.code,
        }
    }

    /// Sends the request: retransmissions armed over an unreliable
    /// transport, the final-response timer in any case.
    pub fn start(&mut self) -> Actions {
        let fr = Action::Arm(Timer::Final, self.timers.fr);
        if self.reliable {
            Actions::of(&[Action::SendRequest, fr])
        } else {
            Actions::of(&[Action::SendRequest, Action::Arm(Timer::Retransmit, self.retr), fr])
        }
    }

    /// A reply to the request arrived.
    pub fn on_reply(&mut self, code: u16) -> Actions {
        let provisional = code < 200;
        match (self.state, self.kind) {
            (ClientState::Calling | ClientState::Proceeding, Kind::Invite) if provisional => {
                let first = self.state == ClientState::Calling;
                let higher = code > self.final_code;
                self.state = ClientState::Proceeding;
                self.final_code = self.final_code.max(code);
                if first {
                    // no more retransmissions; the longer fr_inv_timer
                    // replaces fr_timer (Kamailio)
                    Actions::of(&[
                        Action::Stop(Timer::Retransmit),
                        Action::Arm(Timer::Final, self.timers.fr_inv),
                        Action::PassUp(code),
                    ])
                } else if self.timers.restart_fr_on_each_reply || higher {
                    Actions::of(&[Action::Arm(Timer::Final, self.timers.fr_inv), Action::PassUp(code)])
                } else {
                    Actions::of(&[Action::PassUp(code)])
                }
            }
            (ClientState::Calling | ClientState::Proceeding, Kind::NonInvite) if provisional => {
                self.state = ClientState::Proceeding;
                // retransmissions go on, every T2 (RFC 3261 §17.1.2.2)
                self.retr = self.timers.t2;
                Actions::of(&[Action::PassUp(code)])
            }
            (ClientState::Calling | ClientState::Proceeding, Kind::Invite) if code < 300 => {
                // a 2xx ends the INVITE client transaction at once: its
                // ACK and retransmissions are end to end (§17.1.1.2)
                self.state = ClientState::Terminated;
                self.final_code = code;
                Actions::of(&[
                    Action::Stop(Timer::Retransmit),
                    Action::Stop(Timer::Final),
                    Action::PassUp(code),
                    Action::Delete,
                ])
            }
            (ClientState::Calling | ClientState::Proceeding, kind) => {
                self.state = ClientState::Completed;
                self.final_code = code;
                let wait = self.timers.wait_for(self.reliable);
                let wait = Action::Arm(Timer::Wait, wait);
                if kind == Kind::Invite {
                    // the ACK for a negative reply is the transaction's
                    // own, hop by hop (§17.1.1.3)
                    Actions::of(&[
                        Action::Stop(Timer::Retransmit),
                        Action::Stop(Timer::Final),
                        Action::SendAck,
                        Action::PassUp(code),
                        wait,
                    ])
                } else {
                    Actions::of(&[
                        Action::Stop(Timer::Retransmit),
                        Action::Stop(Timer::Final),
                        Action::PassUp(code),
                        wait,
                    ])
                }
            }
            (ClientState::Completed, Kind::Invite) if code >= 300 => {
                // a retransmitted negative reply: ACK it again
                Actions::of(&[Action::SendAck, Action::Absorb(code)])
            }
            (ClientState::Completed | ClientState::Terminated, _) => Actions::of(&[Action::Absorb(code)]),
        }
    }

    /// A timer fired.
    pub fn on_timer(&mut self, t: Timer) -> Actions {
        match (t, self.state) {
            (Timer::Retransmit, ClientState::Calling) if !self.reliable => {
                // doubling up to T2 (timers A and E)
                self.retr = (self.retr * 2).min(self.timers.t2);
                Actions::of(&[Action::SendRequest, Action::Arm(Timer::Retransmit, self.retr)])
            }
            (Timer::Retransmit, ClientState::Proceeding) if !self.reliable && self.kind == Kind::NonInvite => {
                Actions::of(&[Action::SendRequest, Action::Arm(Timer::Retransmit, self.timers.t2)])
            }
            (Timer::Final, ClientState::Calling | ClientState::Proceeding) => {
                // no final reply in time: a local 408, then the wait
                self.state = ClientState::Completed;
                self.final_code = 408;
                let wait = self.timers.wait_for(self.reliable);
                Actions::of(&[Action::Stop(Timer::Retransmit), Action::Timeout408, Action::Arm(Timer::Wait, wait)])
            }
            (Timer::Wait, ClientState::Completed) => {
                self.state = ClientState::Terminated;
                Actions::of(&[Action::Delete])
            }
            _ => Actions::default(),
        }
    }
}

/// RFC 3261 §17.2 states of a server transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerState {
    /// The request came; no final reply yet (Trying / Proceeding).
    Proceeding,
    /// A final reply was sent (for an INVITE, a negative one, waiting for
    /// its ACK).
    Completed,
    /// The ACK of an INVITE's negative reply came.
    Confirmed,
    /// Over.
    Terminated,
}

/// A server transaction: a request sipr received and answers (statefully).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Server {
    kind: Kind,
    reliable: bool,
    timers: Timers,
    state: ServerState,
    /// The last reply sent (0: none yet).
    last_code: u16,
    retr: Duration,
}

impl Server {
    /// A transaction for a request just received.
    pub fn new(kind: Kind, reliable: bool, timers: Timers) -> Server {
        Server { kind, reliable, timers, state: ServerState::Proceeding, last_code: 0, retr: timers.t1 }
    }

    /// The state.
    pub fn state(&self) -> ServerState {
        self.state
    }

    /// The last reply code sent (0: none).
    pub fn last_code(&self) -> u16 {
        self.last_code
    }

    /// What shm keeps of it.
    pub fn save(&self) -> TxnParts {
        let state = match self.state {
            ServerState::Proceeding => 0,
            ServerState::Completed => 1,
            ServerState::Confirmed => 2,
            ServerState::Terminated => 3,
        };
        TxnParts {
            kind: kind_no(self.kind),
            reliable: self.reliable,
            state,
            retr_ms: ms(self.retr),
            code: self.last_code,
        }
    }

    /// Back from what shm kept, with the cell's timer values.
    pub fn restore(p: &TxnParts, timers: Timers) -> Server {
        let state = match p.state {
            0 => ServerState::Proceeding,
            1 => ServerState::Completed,
            2 => ServerState::Confirmed,
            _ => ServerState::Terminated,
        };
        Server {
            kind: kind_of(p.kind),
            reliable: p.reliable,
            timers,
            state,
            last_code: p.code,
            retr: Duration::from_millis(p.retr_ms.into()),
        }
    }

    /// The request came again: the last reply goes again (nothing when
    /// none was sent yet); an INVITE retransmitted after its 2xx is not
    /// this transaction's (its 2xx is end to end) and is absorbed.
    pub fn on_request_retransmission(&mut self) -> Actions {
        match self.state {
            ServerState::Proceeding | ServerState::Completed if self.last_code != 0 => {
                Actions::of(&[Action::SendReply])
            }
            _ => Actions::default(),
        }
    }

    /// The transaction user sends a reply (t_reply, a relayed reply).
    /// A reply after a final one is refused (`None`): RFC 3261 §17.2 lets
    /// only one final reply out.
    pub fn reply(&mut self, code: u16) -> Option<Actions> {
        if self.state != ServerState::Proceeding {
            return None;
        }
        self.last_code = code;
        if code < 200 {
            return Some(Actions::of(&[Action::SendReply]));
        }
        let wait = self.timers.wait_for(self.reliable);
        if self.kind == Kind::Invite && code >= 300 {
            // retransmit the negative reply until its ACK (timers G, H)
            self.state = ServerState::Completed;
            return Some(if self.reliable {
                Actions::of(&[Action::SendReply, Action::Arm(Timer::Final, self.timers.fr)])
            } else {
                Actions::of(&[
                    Action::SendReply,
                    Action::Arm(Timer::Retransmit, self.retr),
                    Action::Arm(Timer::Final, self.timers.fr),
                ])
            });
        }
        // a 2xx to an INVITE (its retransmissions are the UAS's, end to
        // end) or a non-INVITE's final reply: kept for the wait to absorb
        // request retransmissions
        self.state = ServerState::Completed;
        Some(Actions::of(&[Action::SendReply, Action::Arm(Timer::Wait, wait)]))
    }

    /// The ACK of a negative final reply to an INVITE arrived.
    pub fn on_ack(&mut self) -> Actions {
        if self.kind == Kind::Invite && self.state == ServerState::Completed && self.last_code >= 300 {
            self.state = ServerState::Confirmed;
            let wait = self.timers.wait_for(self.reliable);
            return Actions::of(&[
                Action::Stop(Timer::Retransmit),
                Action::Stop(Timer::Final),
                Action::Arm(Timer::Wait, wait),
            ]);
        }
        Actions::default()
    }

    /// A timer fired.
    pub fn on_timer(&mut self, t: Timer) -> Actions {
        match (t, self.state) {
            (Timer::Retransmit, ServerState::Completed) if !self.reliable && self.last_code >= 300 => {
                // timer G: doubling up to T2
                self.retr = (self.retr * 2).min(self.timers.t2);
                Actions::of(&[Action::SendReply, Action::Arm(Timer::Retransmit, self.retr)])
            }
            (Timer::Final, ServerState::Completed) => {
                // timer H: the ACK never came; the transaction ends
                self.state = ServerState::Terminated;
                Actions::of(&[Action::Stop(Timer::Retransmit), Action::Delete])
            }
            (Timer::Wait, ServerState::Completed | ServerState::Confirmed) => {
                self.state = ServerState::Terminated;
                Actions::of(&[Action::Delete])
            }
            _ => Actions::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acts(a: Actions) -> Vec<Action> {
        a.iter().collect()
    }

    const T: Timers = Timers {
        t1: Duration::from_millis(500),
        t2: Duration::from_millis(4000),
        fr: Duration::from_secs(30),
        fr_inv: Duration::from_secs(120),
        wait: Duration::from_secs(5),
        restart_fr_on_each_reply: true,
    };

    #[test]
    fn invite_client_over_udp_retransmits_on_t1_doubling_to_t2() {
        let mut c = Client::new(Kind::Invite, false, T);
        assert_eq!(
            acts(c.start()),
            [Action::SendRequest, Action::Arm(Timer::Retransmit, T.t1), Action::Arm(Timer::Final, T.fr)]
        );
        let mut seen = Vec::new();
        for _ in 0..5 {
            for a in c.on_timer(Timer::Retransmit).iter() {
                if let Action::Arm(Timer::Retransmit, d) = a {
                    seen.push(d.as_millis());
                }
            }
        }
        assert_eq!(seen, [1000, 2000, 4000, 4000, 4000]);
    }

    #[test]
    fn invite_client_provisional_then_2xx() {
        let mut c = Client::new(Kind::Invite, false, T);
        c.start();
        assert_eq!(
            acts(c.on_reply(180)),
            [Action::Stop(Timer::Retransmit), Action::Arm(Timer::Final, T.fr_inv), Action::PassUp(180)]
        );
        assert_eq!(c.state(), ClientState::Proceeding);
        // each provisional reply restarts fr_inv_timer (Kamailio's default)
        assert_eq!(acts(c.on_reply(183)), [Action::Arm(Timer::Final, T.fr_inv), Action::PassUp(183)]);
        // no retransmission after a provisional reply
        assert!(c.on_timer(Timer::Retransmit).is_empty());
        let a = acts(c.on_reply(200));
        assert!(a.contains(&Action::PassUp(200)) && a.contains(&Action::Delete), "{a:?}");
        assert_eq!(c.state(), ClientState::Terminated);
        // a 2xx retransmission is not this transaction's to pass up again
        assert_eq!(acts(c.on_reply(200)), [Action::Absorb(200)]);
    }

    #[test]
    fn without_restart_on_each_reply_only_a_higher_provisional_restarts_fr_inv() {
        let timers = Timers { restart_fr_on_each_reply: false, ..T };
        let mut c = Client::new(Kind::Invite, false, timers);
        c.start();
        assert!(acts(c.on_reply(180)).contains(&Action::Arm(Timer::Final, T.fr_inv)));
        // a retransmitted 180, then a lower 100: the timer runs on
        assert_eq!(acts(c.on_reply(180)), [Action::PassUp(180)]);
        assert_eq!(acts(c.on_reply(100)), [Action::PassUp(100)]);
        assert_eq!(acts(c.on_reply(183)), [Action::Arm(Timer::Final, T.fr_inv), Action::PassUp(183)]);
        // the final reply is still the one kept
        c.on_reply(486);
        assert_eq!(c.save().code, 486);
    }

    #[test]
    fn invite_client_negative_reply_is_acked_hop_by_hop() {
        let mut c = Client::new(Kind::Invite, false, T);
        c.start();
        let a = acts(c.on_reply(486));
        assert!(a.contains(&Action::SendAck) && a.contains(&Action::PassUp(486)), "{a:?}");
        assert!(a.contains(&Action::Arm(Timer::Wait, T.wait)), "{a:?}");
        assert_eq!(c.state(), ClientState::Completed);
        // its retransmission is ACKed again and absorbed
        assert_eq!(acts(c.on_reply(486)), [Action::SendAck, Action::Absorb(486)]);
        assert_eq!(acts(c.on_timer(Timer::Wait)), [Action::Delete]);
        assert_eq!(c.state(), ClientState::Terminated);
    }

    #[test]
    fn silent_far_end_gives_408_after_fr_timer() {
        let mut c = Client::new(Kind::Invite, false, T);
        c.start();
        let a = acts(c.on_timer(Timer::Final));
        assert!(a.contains(&Action::Timeout408) && a.contains(&Action::Stop(Timer::Retransmit)), "{a:?}");
        assert_eq!(c.state(), ClientState::Completed);
        // a late reply is absorbed
        assert_eq!(acts(c.on_reply(200)), [Action::Absorb(200)]);
    }

    #[test]
    fn non_invite_client_keeps_retransmitting_every_t2_when_proceeding() {
        let mut c = Client::new(Kind::NonInvite, false, T);
        c.start();
        assert_eq!(acts(c.on_reply(100)), [Action::PassUp(100)]);
        assert_eq!(acts(c.on_timer(Timer::Retransmit)), [Action::SendRequest, Action::Arm(Timer::Retransmit, T.t2)]);
        let a = acts(c.on_reply(200));
        assert!(a.contains(&Action::PassUp(200)) && !a.contains(&Action::SendAck), "{a:?}");
        assert_eq!(acts(c.on_reply(200)), [Action::Absorb(200)]);
    }

    #[test]
    fn reliable_transports_get_no_retransmissions_and_no_wait() {
        let mut c = Client::new(Kind::NonInvite, true, T);
        assert_eq!(acts(c.start()), [Action::SendRequest, Action::Arm(Timer::Final, T.fr)]);
        assert!(c.on_timer(Timer::Retransmit).is_empty());
        let a = acts(c.on_reply(404));
        assert!(a.contains(&Action::Arm(Timer::Wait, Duration::ZERO)), "{a:?}");
        let mut s = Server::new(Kind::Invite, true, T);
        let a = acts(s.reply(486).unwrap());
        assert_eq!(a, [Action::SendReply, Action::Arm(Timer::Final, T.fr)]);
    }

    #[test]
    fn invite_server_absorbs_retransmissions_and_waits_for_the_ack() {
        let mut s = Server::new(Kind::Invite, false, T);
        // nothing sent yet: a retransmission is silently absorbed
        assert!(s.on_request_retransmission().is_empty());
        assert_eq!(acts(s.reply(100).unwrap()), [Action::SendReply]);
        assert_eq!(acts(s.on_request_retransmission()), [Action::SendReply]);
        let a = acts(s.reply(486).unwrap());
        assert_eq!(a, [Action::SendReply, Action::Arm(Timer::Retransmit, T.t1), Action::Arm(Timer::Final, T.fr)]);
        // one final reply only
        assert!(s.reply(200).is_none());
        assert_eq!(acts(s.on_timer(Timer::Retransmit)), [Action::SendReply, Action::Arm(Timer::Retransmit, T.t1 * 2)]);
        assert_eq!(acts(s.on_request_retransmission()), [Action::SendReply]);
        let a = acts(s.on_ack());
        assert!(a.contains(&Action::Arm(Timer::Wait, T.wait)), "{a:?}");
        assert_eq!(s.state(), ServerState::Confirmed);
        // no more retransmissions after the ACK
        assert!(s.on_timer(Timer::Retransmit).is_empty());
        assert_eq!(acts(s.on_timer(Timer::Wait)), [Action::Delete]);
    }

    #[test]
    fn save_and_restore_keep_the_state() {
        let mut c = Client::new(Kind::Invite, false, T);
        c.start();
        c.on_timer(Timer::Retransmit);
        c.on_reply(180);
        let back = Client::restore(&c.save(), T);
        assert_eq!(back, c);
        let mut s = Server::new(Kind::NonInvite, true, T);
        s.reply(404);
        assert_eq!(Server::restore(&s.save(), T), s);
    }

    #[test]
    fn invite_server_without_ack_ends_on_timer_h() {
        let mut s = Server::new(Kind::Invite, false, T);
        s.reply(503);
        assert_eq!(acts(s.on_timer(Timer::Final)), [Action::Stop(Timer::Retransmit), Action::Delete]);
        assert_eq!(s.state(), ServerState::Terminated);
    }

    #[test]
    fn invite_server_2xx_and_non_invite_final_wait_for_retransmissions() {
        let mut s = Server::new(Kind::Invite, false, T);
        assert_eq!(acts(s.reply(200).unwrap()), [Action::SendReply, Action::Arm(Timer::Wait, T.wait)]);
        // an ACK for a 2xx is end to end: not this transaction's
        assert!(s.on_ack().is_empty());
        let mut n = Server::new(Kind::NonInvite, false, T);
        n.reply(200);
        assert_eq!(acts(n.on_request_retransmission()), [Action::SendReply]);
        assert_eq!(acts(n.on_timer(Timer::Wait)), [Action::Delete]);
    }
}
