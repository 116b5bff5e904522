//! Timers in shm (Kamailio's timer lists): any process arms or cancels a
//! timer — a SIP worker arming tm's retransmission timer as it sends an
//! INVITE, another cancelling it when the reply comes — and the timer
//! process runs the handlers when they are due.
//!
//! A hashed wheel: `slots` lists of entries, an entry in the slot of its
//! expiry tick (modulo the slot count), so arming and cancelling are O(1)
//! and each tick looks at one slot (entries more than one turn away stay
//! and are skipped until due). One process-shared lock guards the lists.
//!
//! Entries are the wheel's own: allocated from the pool and, once used,
//! kept on the wheel's free list rather than given back — so a
//! [`TimerId`] (entry + generation) held after its timer fired or was
//! cancelled always points at an entry, whose generation tells it is
//! stale. Handlers are code addresses: valid in every process because all
//! code (core and modules) is loaded before the fork and never unloaded.

use std::ptr::NonNull;
use std::time::{Duration, Instant};

use sipr_locking::{Doorbell, RawMutex, RawMutexGuard};

use crate::boxed::ShmPtr;
use crate::pool::ShmPool;

/// A timer handler: `handler(data, arg)` returns the milliseconds until it
/// should run again, 0 for never. `data` is the caller's (the module SDK
/// passes the module's Rust function there and a trampoline of its own as
/// the handler, so panics are caught on the module's side).
pub type TimerHandler = extern "C" fn(data: usize, arg: u64) -> u64;

/// A handle to an armed timer; stale once it fired for the last time or
/// was cancelled (then cancelling it again is a harmless no-op).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerId {
    entry: ShmPtr<Entry>,
    generation: u64,
}

impl TimerId {
    /// No timer: cancelling it is a no-op (what a cell keeps while a
    /// timer is not armed).
    pub const NONE: TimerId = TimerId { entry: ShmPtr::null(), generation: 0 };

    /// Whether this is [`TimerId::NONE`].
    pub fn is_none(&self) -> bool {
        self.entry.is_null()
    }
}

impl Default for TimerId {
    fn default() -> Self {
        TimerId::NONE
    }
}

// SAFETY: an entry pointer into the pool (entries are never freed) and a
// number: the same in every process (tm keeps its timers' ids in its cells).
unsafe impl crate::boxed::ShmSafe for TimerId {}

/// What [`ShmTimerWheel::cancel`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancelled {
    /// The timer was armed and will not run.
    Yes,
    /// The handler is running right now (in the timer process); it will
    /// not be re-armed, whatever it returns.
    WhileRunning,
    /// Nothing to cancel: the timer already ran for the last time or was
    /// cancelled before.
    Stale,
}

/// The pool has no room for a new timer entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoRoom;

impl std::fmt::Display for NoRoom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("shared memory pool full: no room for a timer")
    }
}

impl std::error::Error for NoRoom {}

const FREE: u32 = 0;
const ARMED: u32 = 1;
const RUNNING: u32 = 2;
const RUNNING_CANCELLED: u32 = 3;

#[repr(C)]
struct Entry {
    next: ShmPtr<Entry>,
    prev: ShmPtr<Entry>,
    /// Due time, ms on the wheel's clock.
    expires: u64,
    generation: u64,
    handler: usize,
    data: usize,
    arg: u64,
    state: u32,
    /// 1: run by a worker ([`ShmTimerWheel::run_due_with`]'s dispatcher).
    in_worker: u32,
}

#[repr(C)]
struct Header {
    lock: RawMutex,
    /// Rung when the first timer is armed on an idle wheel (the timer
    /// process sleeps longer while nothing is armed).
    bell: Doorbell,
    lists: Lists,
}

/// What the lock guards (a field apart from the lock, so that the holder's
/// `&mut` never overlaps the lock word others spin on).
#[repr(C)]
struct Lists {
    free: ShmPtr<Entry>,
    next_generation: u64,
    /// The last tick the wheel ran up to.
    last_tick: u64,
    armed: u64,
}

/// The wheel's header with its lock held.
struct Locked<'a> {
    _guard: RawMutexGuard<'a>,
    lists: NonNull<Lists>,
}

impl std::ops::Deref for Locked<'_> {
    type Target = Lists;
    fn deref(&self) -> &Lists {
        // SAFETY: the lock is held for the guard's life: no other process
        // touches the lists meanwhile.
        unsafe { self.lists.as_ref() }
    }
}

impl std::ops::DerefMut for Locked<'_> {
    fn deref_mut(&mut self) -> &mut Lists {
        // SAFETY: as for deref; `&mut self` makes this the only reference.
        unsafe { &mut *self.lists.as_ptr() }
    }
}

/// Handle to a wheel in shm (create before forking; children inherit it).
pub struct ShmTimerWheel<'p> {
    pool: &'p ShmPool,
    header: NonNull<Header>,
    slots: NonNull<ShmPtr<Entry>>,
    slot_count: usize,
    tick: Duration,
    /// The clock's origin: an Instant taken before the fork reads the same
    /// CLOCK_MONOTONIC in every process.
    epoch: Instant,
}

// SAFETY: the lists and header are only touched under the process-shared
// lock in the header; entries hold plain data and code addresses.
unsafe impl Send for ShmTimerWheel<'_> {}
// SAFETY: as for Send.
unsafe impl Sync for ShmTimerWheel<'_> {}

impl std::fmt::Debug for ShmTimerWheel<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShmTimerWheel").field("slots", &self.slot_count).field("tick", &self.tick).finish()
    }
}

impl<'p> ShmTimerWheel<'p> {
    /// A wheel of `slots` slots, `tick` apart (the resolution). `None`
    /// when the pool has no room.
    pub fn new_in(pool: &'p ShmPool, slots: usize, tick: Duration) -> Option<Self> {
        let slot_count = slots.max(1);
        let header = pool.alloc_zeroed(std::mem::size_of::<Header>())?.cast::<Header>();
        let slots = pool.alloc_zeroed(slot_count.checked_mul(std::mem::size_of::<ShmPtr<Entry>>())?)?.cast();
        // Zeroed bytes are an unlocked mutex, null pointers and zero
        // counters: a valid empty wheel.
        Some(ShmTimerWheel {
            pool,
            header,
            slots,
            slot_count,
            tick: tick.max(Duration::from_millis(1)),
            epoch: Instant::now(),
        })
    }

    /// Milliseconds on the wheel's clock.
    pub fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// The resolution.
    pub fn tick(&self) -> Duration {
        self.tick
    }

    fn tick_of(&self, ms: u64) -> u64 {
        ms / self.tick.as_millis().max(1) as u64
    }

    fn lock(&self) -> Locked<'_> {
        // SAFETY: the header lives in the pool for the wheel's life; the
        // lock word is only used through shared references.
        let lock = unsafe { &(*self.header.as_ptr()).lock };
        // A holder that died mid-update may have left a half-linked entry;
        // the lists are only changed by the few lines below, each a short
        // sequence of stores — recover and go on (at worst one timer lost).
        let guard = lock.lock().unwrap_or_else(|died| died.into_guard());
        // SAFETY: in bounds of the header allocation; no reference is made.
        let lists = unsafe { NonNull::new_unchecked(std::ptr::addr_of_mut!((*self.header.as_ptr()).lists)) };
        Locked { _guard: guard, lists }
    }

    fn slot(&self, tick: u64) -> *mut ShmPtr<Entry> {
        // SAFETY: the index is reduced modulo the slot count of the array
        // allocated in new_in.
        unsafe { self.slots.as_ptr().add((tick % self.slot_count as u64) as usize) }
    }

    /// Links `e` at the head of its slot (lock held, `e` unlinked).
    ///
    /// # Safety
    /// The wheel lock is held and `e` is a live entry of this wheel.
    unsafe fn link(&self, e: *mut Entry) {
        // SAFETY: per the contract; slot pointers are valid (see slot()).
        unsafe {
            let head = self.slot(self.tick_of((*e).expires));
            (*e).prev = ShmPtr::null();
            (*e).next = *head;
            if let Some(n) = NonNull::new((*head).as_ptr()) {
                (*n.as_ptr()).prev = ShmPtr::from_raw(e);
            }
            *head = ShmPtr::from_raw(e);
        }
    }

    /// Unlinks `e` from its slot (lock held, `e` linked).
    ///
    /// # Safety
    /// The wheel lock is held and `e` is an armed entry of this wheel.
    unsafe fn unlink(&self, e: *mut Entry) {
        // SAFETY: per the contract: prev/next are null or live entries of
        // the same slot list.
        unsafe {
            let next = (*e).next;
            let prev = (*e).prev;
            if let Some(n) = NonNull::new(next.as_ptr()) {
                (*n.as_ptr()).prev = prev;
            }
            match NonNull::new(prev.as_ptr()) {
                Some(p) => (*p.as_ptr()).next = next,
                None => *self.slot(self.tick_of((*e).expires)) = next,
            }
            (*e).next = ShmPtr::null();
            (*e).prev = ShmPtr::null();
        }
    }

    /// Arms a timer: `handler(data, arg)` runs in the timer process `after`
    /// from now (rounded up to the tick), and again as long as it returns
    /// a non-zero delay.
    pub fn arm(&self, after: Duration, handler: TimerHandler, data: usize, arg: u64) -> Result<TimerId, NoRoom> {
        self.arm_for(after, handler, data, arg, false)
    }

    /// As [`ShmTimerWheel::arm`]; with `in_worker` the timer process hands
    /// the run to a worker (see [`ShmTimerWheel::run_due_with`]) instead of
    /// running the handler itself.
    pub fn arm_for(
        &self,
        after: Duration,
        handler: TimerHandler,
        data: usize,
        arg: u64,
        in_worker: bool,
    ) -> Result<TimerId, NoRoom> {
        let expires = self.now_ms() + (after.as_millis() as u64).max(1);
        let mut h = self.lock();
        let e = match NonNull::new(h.free.as_ptr()) {
            Some(e) => {
                // SAFETY: free-list entries are live entries of this wheel.
                h.free = unsafe { (*e.as_ptr()).next };
                e.as_ptr()
            }
            None => self.pool.alloc_zeroed(std::mem::size_of::<Entry>()).ok_or(NoRoom)?.cast::<Entry>().as_ptr(),
        };
        h.next_generation += 1;
        let generation = h.next_generation;
        // SAFETY: `e` is an entry no list holds (fresh or just taken off
        // the free list), and the lock is held.
        unsafe {
            e.write(Entry {
                next: ShmPtr::null(),
                prev: ShmPtr::null(),
                expires,
                generation,
                handler: handler as usize,
                data,
                arg,
                state: ARMED,
                in_worker: in_worker as u32,
            });
            self.link(e);
        }
        let was_idle = h.armed == 0;
        h.armed += 1;
        drop(h);
        if was_idle {
            self.bell().ring();
        }
        Ok(TimerId { entry: ShmPtr::from_raw(e), generation })
    }

    fn bell(&self) -> &Doorbell {
        // SAFETY: the header lives in the pool for the wheel's life; the
        // doorbell is only used through shared references (atomics).
        unsafe { &(*self.header.as_ptr()).bell }
    }

    /// What the timer process passes to [`ShmTimerWheel::wait`]: taken
    /// before it looks for work, so a timer armed meanwhile is not missed.
    pub fn ticket(&self) -> u32 {
        self.bell().ticket()
    }

    /// Sleeps `timeout`, or less when the first timer is armed on an idle
    /// wheel after `ticket` was taken.
    pub fn wait(&self, ticket: u32, timeout: Duration) {
        self.bell().wait(ticket, timeout)
    }

    /// Cancels a timer (from any process).
    pub fn cancel(&self, id: TimerId) -> Cancelled {
        let Some(e) = NonNull::new(id.entry.as_ptr()) else { return Cancelled::Stale };
        let e = e.as_ptr();
        let mut h = self.lock();
        // SAFETY: a TimerId points at an entry of this wheel, and entries
        // are never given back to the pool (module docs), so it is live;
        // the lock is held.
        unsafe {
            if (*e).generation != id.generation {
                return Cancelled::Stale;
            }
            match (*e).state {
                ARMED => {
                    self.unlink(e);
                    self.release(&mut h, e);
                    h.armed -= 1;
                    Cancelled::Yes
                }
                RUNNING => {
                    (*e).state = RUNNING_CANCELLED;
                    Cancelled::WhileRunning
                }
                _ => Cancelled::Stale,
            }
        }
    }

    /// Puts `e` on the free list (lock held, `e` unlinked).
    ///
    /// # Safety
    /// The wheel lock is held; `e` is a live, unlinked entry of this wheel.
    unsafe fn release(&self, h: &mut Lists, e: *mut Entry) {
        // SAFETY: per the contract.
        unsafe {
            (*e).state = FREE;
            (*e).generation = 0;
            (*e).next = h.free;
            h.free = ShmPtr::from_raw(e);
        }
    }

    /// Timers armed and not yet run for the last time.
    pub fn armed(&self) -> u64 {
        self.lock().armed
    }

    /// Runs every handler due by now (the timer process calls this every
    /// tick); how many ran.
    pub fn run_due(&self) -> usize {
        self.run_due_with(|_| false)
    }

    /// As [`ShmTimerWheel::run_due`], handing each timer armed for a
    /// worker to `dispatch` (which returns `false` when it could not — the
    /// handler then runs here). A dispatched run must end with
    /// [`ShmTimerWheel::run_dispatched`] in the worker.
    pub fn run_due_with(&self, mut dispatch: impl FnMut(DueRun) -> bool) -> usize {
        let now = self.now_ms();
        let now_tick = self.tick_of(now);
        let mut due: Vec<*mut Entry> = Vec::new();
        {
            let mut h = self.lock();
            let from = h.last_tick.min(now_tick);
            // behind by a whole turn or more: every slot once
            let ticks = (now_tick - from + 1).min(self.slot_count as u64);
            for t in (now_tick + 1 - ticks)..=now_tick {
                // SAFETY: lock held; the slot's list holds live entries.
                unsafe {
                    let mut cur = *self.slot(t);
                    while let Some(e) = NonNull::new(cur.as_ptr()) {
                        let e = e.as_ptr();
                        cur = (*e).next;
                        if (*e).expires <= now {
                            self.unlink(e);
                            (*e).state = RUNNING;
                            due.push(e);
                        }
                    }
                }
            }
            h.last_tick = now_tick;
        }
        for &e in &due {
            // SAFETY: a RUNNING entry's fields are only changed by whoever
            // runs it (cancel only flips its state under the lock).
            let (in_worker, generation) = unsafe { ((*e).in_worker != 0, (*e).generation) };
            if in_worker && dispatch(DueRun { entry: ShmPtr::from_raw(e), generation }) {
                continue;
            }
            self.run_entry(e);
        }
        due.len()
    }

    /// Runs a timer the timer process dispatched to this worker, then
    /// re-arms or frees it as its handler says. A run that does not match
    /// (its entry was recycled meanwhile) is ignored.
    pub fn run_dispatched(&self, run: DueRun) -> bool {
        let Some(e) = NonNull::new(run.entry.as_ptr()) else { return false };
        let e = e.as_ptr();
        {
            let _h = self.lock();
            // SAFETY: entries are never given back to the pool, so the
            // pointer is a live entry; the lock is held for the check.
            let ok = unsafe { (*e).generation == run.generation && matches!((*e).state, RUNNING | RUNNING_CANCELLED) };
            if !ok {
                return false;
            }
        }
        self.run_entry(e);
        true
    }

    /// Calls a RUNNING entry's handler, then re-arms or frees it.
    fn run_entry(&self, e: *mut Entry) {
        // SAFETY: a RUNNING entry is only changed by the process running
        // it (cancel only flips its state under the lock), so reading its
        // handler fields without the lock is race-free. The handler was
        // stored from a TimerHandler in arm(), and code addresses are the
        // same in every process (module docs).
        let again = unsafe {
            let handler: TimerHandler = std::mem::transmute::<usize, TimerHandler>((*e).handler);
            handler((*e).data, (*e).arg)
        };
        let mut h = self.lock();
        // SAFETY: lock held; `e` is live and unlinked.
        unsafe {
            if again == 0 || (*e).state == RUNNING_CANCELLED {
                self.release(&mut h, e);
                h.armed -= 1;
            } else {
                (*e).expires = self.now_ms() + again;
                (*e).state = ARMED;
                self.link(e);
            }
        }
    }
}

/// A due timer handed to a worker: what it passes back to
/// [`ShmTimerWheel::run_dispatched`] (plain data: it travels between
/// processes as 16 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueRun {
    entry: ShmPtr<Entry>,
    generation: u64,
}

impl DueRun {
    /// The 16 bytes that carry it to a worker.
    pub fn to_bytes(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&(self.entry.as_ptr() as usize as u64).to_le_bytes());
        b[8..].copy_from_slice(&self.generation.to_le_bytes());
        b
    }

    /// Back from [`DueRun::to_bytes`]; what the bytes claim is checked by
    /// `run_dispatched` only as far as a generation can: pass only bytes
    /// that came from the timer process over the server's own channel.
    pub fn from_bytes(b: &[u8; 16]) -> DueRun {
        let addr = u64::from_le_bytes(b[..8].try_into().unwrap_or([0; 8])) as usize;
        let generation = u64::from_le_bytes(b[8..].try_into().unwrap_or([0; 8]));
        DueRun { entry: ShmPtr::from_raw(addr as *mut Entry), generation }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    static HITS: AtomicU64 = AtomicU64::new(0);

    extern "C" fn count(_: usize, arg: u64) -> u64 {
        HITS.fetch_add(arg, Ordering::SeqCst);
        0
    }

    extern "C" fn thrice(data: usize, _: u64) -> u64 {
        // data points at a counter in the test's stack frame
        let c = data as *const AtomicU64;
        // SAFETY: the test keeps the counter alive while the wheel runs.
        let n = unsafe { &*c }.fetch_add(1, Ordering::SeqCst) + 1;
        if n < 3 {
            5
        } else {
            0
        }
    }

    fn run_for(w: &ShmTimerWheel<'_>, d: Duration) {
        let end = Instant::now() + d;
        while Instant::now() < end {
            w.run_due();
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn fires_once_cancels_and_rearms() {
        let pool = ShmPool::create_mb(4).unwrap();
        let w = ShmTimerWheel::new_in(&pool, 8, Duration::from_millis(2)).unwrap();
        HITS.store(0, Ordering::SeqCst);
        let a = w.arm(Duration::from_millis(5), count, 0, 1).unwrap();
        let b = w.arm(Duration::from_millis(5), count, 0, 100).unwrap();
        // more than one turn of the wheel away (8 slots × 2 ms)
        let far = w.arm(Duration::from_millis(40), count, 0, 10_000).unwrap();
        assert_eq!(w.cancel(b), Cancelled::Yes);
        assert_eq!(w.cancel(b), Cancelled::Stale);
        run_for(&w, Duration::from_millis(20));
        assert_eq!(HITS.load(Ordering::SeqCst), 1, "a fired once, b never, far not yet");
        assert_eq!(w.cancel(a), Cancelled::Stale);
        run_for(&w, Duration::from_millis(40));
        assert_eq!(HITS.load(Ordering::SeqCst), 10_001);
        assert_eq!(w.cancel(far), Cancelled::Stale);
        let n = AtomicU64::new(0);
        w.arm(Duration::from_millis(1), thrice, &n as *const AtomicU64 as usize, 0).unwrap();
        run_for(&w, Duration::from_millis(60));
        assert_eq!(n.load(Ordering::SeqCst), 3, "re-armed until it returned 0");
        assert_eq!(w.armed(), 0);
        // entries are reused, not leaked: the same few serve many timers
        let used = pool.stats().used;
        for _ in 0..100 {
            let t = w.arm(Duration::from_secs(60), count, 0, 0).unwrap();
            w.cancel(t);
        }
        assert_eq!(pool.stats().used, used);
    }

    #[test]
    fn a_stale_run_is_refused() {
        let pool = ShmPool::create_mb(4).unwrap();
        let w = ShmTimerWheel::new_in(&pool, 16, Duration::from_millis(1)).unwrap();
        // a run whose entry was recycled since (another generation)
        let t = w.arm(Duration::from_secs(60), count, 0, 0).unwrap();
        let stale = DueRun { entry: t.entry, generation: t.generation + 1 };
        assert!(!w.run_dispatched(stale));
        assert_eq!(w.armed(), 1);
    }
}
