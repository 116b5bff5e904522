//! The process syscalls sipr needs, fenced in one place: the cached pid
//! that every lock stamps into its word, liveness checks of other pids,
//! and `fork`/`waitpid`/`kill` for the process manager and fork tests.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

/// This process' pid, cached: `getpid()` is a real syscall since glibc 2.25
/// and the lock fast path must not pay for one. 0 means "not cached yet".
static PID: AtomicI32 = AtomicI32::new(0);
/// Whether the atfork handler is registered. A plain flag, not a `Once`:
/// a child forked while another thread sat inside `Once::call_once` would
/// inherit the `Once` locked and wait on it for ever.
static ATFORK_REGISTERED: AtomicBool = AtomicBool::new(false);

extern "C" fn forget_pid_in_child() {
    PID.store(0, Ordering::Relaxed);
}

/// The calling process' pid. Correct across `fork()`: a child handler
/// registered with `pthread_atfork` drops the cache in every new child
/// (each copy of this crate — one per module `.so` — registers its own).
#[inline]
pub fn current_pid() -> i32 {
    let pid = PID.load(Ordering::Relaxed);
    if pid != 0 {
        return pid;
    }
    cache_pid()
}

#[cold]
fn cache_pid() -> i32 {
    if !ATFORK_REGISTERED.swap(true, Ordering::AcqRel) {
        // SAFETY: registers a plain extern "C" fn that only does an atomic
        // store, which is async-signal-safe as a fork child handler must be.
        let rc = unsafe { libc::pthread_atfork(None, None, Some(forget_pid_in_child)) };
        if rc != 0 {
            log::warn!("pthread_atfork failed ({rc}): forked children must not reuse the pid cache");
        }
    }
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() };
    PID.store(pid, Ordering::Relaxed);
    pid
}

/// Whether `pid` names a process that can still release a lock: it exists
/// and is not a zombie (a zombie answers `kill(pid, 0)` until reaped, but it
/// will never run again). Cold path only: it may read `/proc`.
pub fn pid_alive(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    // SAFETY: kill with signal 0 sends nothing; it only checks existence.
    let rc = unsafe { libc::kill(pid, 0) };
    if rc != 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH) {
        return false;
    }
    // EPERM means the pid exists but belongs to someone else: alive.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state letter follows the ")" that closes the command name.
        Ok(stat) => {
            let state = stat.rfind(')').and_then(|i| stat[i + 1..].trim_start().chars().next());
            !matches!(state, Some('Z' | 'X' | 'x'))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => false,
        Err(_) => true,
    }
}

/// Maps `len` zeroed bytes of anonymous memory that stays shared with every
/// child forked afterwards (`MAP_SHARED`: a `MAP_PRIVATE` mapping, such as
/// memmap2's `map_anon`, would be copied on write after fork).
pub fn map_shared(len: usize) -> io::Result<std::ptr::NonNull<u8>> {
    // SAFETY: a fresh anonymous mapping; no existing memory is touched.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    std::ptr::NonNull::new(p.cast()).ok_or_else(|| io::Error::other("mmap returned NULL"))
}

/// Unmaps what [`map_shared`] mapped.
///
/// # Safety
/// `ptr`/`len` must be exactly a mapping from [`map_shared`], and nothing in
/// this process may use it afterwards.
pub unsafe fn unmap_shared(ptr: std::ptr::NonNull<u8>, len: usize) {
    // SAFETY: forwarded to the caller's contract.
    unsafe { libc::munmap(ptr.as_ptr().cast(), len) };
}

/// Result of [`fork`], seen from each side.
#[derive(Debug, PartialEq, Eq)]
pub enum Forked {
    /// We are the parent; the child has this pid.
    Parent(i32),
    /// We are the new child.
    Child,
}

/// Forks the process.
///
/// # Safety
/// The caller must make sure no other thread of this process holds a lock
/// (or is inside a non-async-signal-safe call) that the child will need:
/// in sipr no thread is started before the last fork, so this holds in the
/// server; tests fork from their only running test thread.
pub unsafe fn fork() -> io::Result<Forked> {
    // SAFETY: forwarded to the caller's contract above.
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid)),
    }
}

/// Runs `f` in a forked child which then exits with `f`'s return value
/// (101 if `f` panicked) without running the parent's atexit handlers or
/// destructors. Returns the child's pid to the parent.
///
/// # Safety
/// As for [`fork`].
pub unsafe fn fork_child<F: FnOnce() -> i32>(f: F) -> io::Result<i32> {
    // SAFETY: forwarded to the caller's contract.
    match unsafe { fork() }? {
        Forked::Parent(pid) => Ok(pid),
        Forked::Child => {
            let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or(101);
            // SAFETY: _exit ends the process at once; nothing is left to run.
            unsafe { libc::_exit(code) }
        }
    }
}

/// How a child process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// It called exit with this code.
    Exited(i32),
    /// A signal killed it.
    Signaled(i32),
}

/// Waits for child `pid` to end (retrying on EINTR).
pub fn wait_pid(pid: i32) -> io::Result<ExitStatus> {
    loop {
        let mut status = 0;
        // SAFETY: `status` is a valid out-pointer for the call's duration.
        let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
        if rc == -1 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        return Ok(decode_status(status));
    }
}

fn decode_status(status: i32) -> ExitStatus {
    if libc::WIFSIGNALED(status) {
        ExitStatus::Signaled(libc::WTERMSIG(status))
    } else {
        ExitStatus::Exited(libc::WEXITSTATUS(status))
    }
}

/// Sends `sig` to `pid`.
pub fn kill(pid: i32, sig: i32) -> io::Result<()> {
    // SAFETY: kill has no memory-safety preconditions.
    if unsafe { libc::kill(pid, sig) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Reaps one ended child without waiting: `Some((pid, status))`, or
/// `None` when no child has ended.
pub fn reap_any() -> Option<(i32, ExitStatus)> {
    let mut status = 0;
    // SAFETY: `status` is a valid out-pointer; WNOHANG never blocks.
    let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
    (pid > 0).then(|| (pid, decode_status(status)))
}

/// Signal numbers the server uses (so that callers need no libc).
pub mod sig {
    /// Terminate.
    pub const TERM: i32 = libc::SIGTERM;
    /// Interrupt (^C).
    pub const INT: i32 = libc::SIGINT;
    /// Kill.
    pub const KILL: i32 = libc::SIGKILL;
    /// Broken pipe.
    pub const PIPE: i32 = libc::SIGPIPE;
    /// A child ended.
    pub const CHLD: i32 = libc::SIGCHLD;
    /// Hang-up.
    pub const HUP: i32 = libc::SIGHUP;
}

/// Signals the server's main process handles synchronously.
pub const SERVER_SIGNALS: [i32; 4] = [libc::SIGTERM, libc::SIGINT, libc::SIGCHLD, libc::SIGHUP];

/// Builds a signal set from `sigs`.
fn sigset(sigs: &[i32]) -> libc::sigset_t {
    // SAFETY: sigemptyset initialises the zeroed set; sigaddset only
    // writes into it; the numbers are valid signals.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in sigs {
            libc::sigaddset(&mut set, *s);
        }
        set
    }
}

/// Blocks `sigs` for this thread (the main process, before forking), so
/// that they wait for [`wait_signal`] instead of running handlers.
pub fn block_signals(sigs: &[i32]) -> io::Result<()> {
    let set = sigset(sigs);
    // SAFETY: `set` is initialised; no old mask is asked for.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(rc))
    }
}

/// Unblocks `sigs` (a forked child, whose mask was inherited).
pub fn unblock_signals(sigs: &[i32]) -> io::Result<()> {
    let set = sigset(sigs);
    // SAFETY: as for block_signals.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(rc))
    }
}

/// Waits up to `timeout` for one of `sigs` (which must be blocked):
/// `Some(signal)` or `None` on timeout.
pub fn wait_signal(sigs: &[i32], timeout: std::time::Duration) -> Option<i32> {
    let set = sigset(sigs);
    let ts =
        libc::timespec { tv_sec: timeout.as_secs() as libc::time_t, tv_nsec: timeout.subsec_nanos() as libc::c_long };
    // SAFETY: `set` and `ts` are initialised; no siginfo is asked for.
    let sig = unsafe { libc::sigtimedwait(&set, std::ptr::null_mut(), &ts) };
    (sig > 0).then_some(sig)
}

/// Makes the kernel send `sig` to this process when its parent dies (so
/// no orphan worker keeps a port). Returns false if the parent is already
/// gone.
pub fn die_with_parent(sig: i32, parent: i32) -> io::Result<bool> {
    // SAFETY: prctl(PR_SET_PDEATHSIG) takes a signal number and no pointers.
    if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, sig as libc::c_ulong, 0, 0, 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // the parent may have died before the prctl: check
    // SAFETY: getppid has no preconditions.
    Ok(unsafe { libc::getppid() } == parent)
}

/// Ignores `sig` in this process (SIGPIPE: a closed peer is an error
/// return, not a death).
pub fn ignore_signal(sig: i32) {
    // SAFETY: installing SIG_IGN has no memory-safety preconditions.
    unsafe { libc::signal(sig, libc::SIG_IGN) };
}

/// Names this process as `ps -o comm` / `top` show it (at most 15 bytes
/// kept by the kernel).
pub fn set_name(name: &str) {
    let mut buf = [0u8; 16];
    let n = name.len().min(15);
    buf[..n].copy_from_slice(&name.as_bytes()[..n]);
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16
    // bytes from `buf`, which lives for the call.
    unsafe { libc::prctl(libc::PR_SET_NAME, buf.as_ptr() as libc::c_ulong, 0, 0, 0) };
}

/// Starts a new session (the daemon leaves the launcher's terminal).
pub fn setsid() -> io::Result<()> {
    // SAFETY: setsid has no memory-safety preconditions.
    if unsafe { libc::setsid() } == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Points stdin and stdout (and stderr unless `keep_stderr`) at
/// /dev/null (a daemon keeps no terminal).
pub fn detach_stdio(keep_stderr: bool) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let null = std::fs::OpenOptions::new().read(true).write(true).open("/dev/null")?;
    let fd = null.as_raw_fd();
    let targets: &[i32] = if keep_stderr { &[0, 1] } else { &[0, 1, 2] };
    for &t in targets {
        // SAFETY: dup2 onto the standard descriptors with a valid open fd;
        // no Rust object owns fds 0-2 in a way this invalidates (std's
        // handles just write to whatever they now refer to).
        if unsafe { libc::dup2(fd, t) } == -1 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

fn not_found(what: &str, name: &str) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("no {what} '{name}'"))
}

/// A user by name or number: its uid, its primary gid (none for a number
/// without a passwd entry) and its name (for `initgroups`).
pub fn lookup_user(u: &str) -> io::Result<(libc::uid_t, Option<libc::gid_t>, std::ffi::CString)> {
    let cname = std::ffi::CString::new(u).map_err(|_| not_found("user", u))?;
    let uid: Option<u32> = u.parse().ok();
    // SAFETY: getpwnam/getpwuid return a pointer to static storage or
    // null; it is read at once, before any other passwd call, and the
    // processes calling this (main before the fork, a module's mod_init)
    // have no other thread.
    let pw = unsafe {
        if let Some(n) = uid {
            libc::getpwuid(n)
        } else {
            libc::getpwnam(cname.as_ptr())
        }
    };
    if pw.is_null() {
        return match uid {
            Some(n) => Ok((n, None, cname)),
            None => Err(not_found("user", u)),
        };
    }
    // SAFETY: non-null: a valid passwd record (see above); pw_name is a
    // NUL-terminated string in the same storage.
    let (id, gid, name) = unsafe { ((*pw).pw_uid, (*pw).pw_gid, std::ffi::CStr::from_ptr((*pw).pw_name).to_owned()) };
    Ok((id, Some(gid), name))
}

/// A group's gid, by name or number.
pub fn lookup_group(g: &str) -> io::Result<libc::gid_t> {
    if let Ok(n) = g.parse::<u32>() {
        return Ok(n);
    }
    let cname = std::ffi::CString::new(g).map_err(|_| not_found("group", g))?;
    // SAFETY: as for getpwnam in lookup_user: static storage read at once.
    let gr = unsafe { libc::getgrnam(cname.as_ptr()) };
    if gr.is_null() {
        return Err(not_found("group", g));
    }
    // SAFETY: non-null group record.
    Ok(unsafe { (*gr).gr_gid })
}

/// Switches this process to `user` and/or `group` (names or numbers), as
/// Kamailio's `user` / `group` (`-u` / `-g`): the group first (and the
/// user's supplementary groups), then the user, so that the switch cannot
/// be undone.
pub fn switch_user(user: Option<&str>, group: Option<&str>) -> io::Result<()> {
    let user = user.map(lookup_user).transpose()?;
    let gid = match group {
        Some(g) => Some(lookup_group(g)?),
        None => user.as_ref().and_then(|(_, g, _)| *g),
    };
    if let Some(g) = gid {
        // SAFETY: plain integer arguments; the name is a live C string.
        let rc = unsafe {
            match &user {
                Some((_, _, name)) => libc::initgroups(name.as_ptr(), g),
                None => libc::setgroups(1, &g),
            }
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: plain integer argument.
        if unsafe { libc::setgid(g) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    if let Some((uid, _, _)) = user {
        // SAFETY: plain integer argument.
        if unsafe { libc::setuid(uid) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Gives `path` to `user` and/or `group` (names or numbers; the other
/// left as it is), as Kamailio's `fifo_user` / `fifo_group`.
pub fn chown_to(path: &std::path::Path, user: Option<&str>, group: Option<&str>) -> io::Result<()> {
    let uid = user.map(lookup_user).transpose()?.map(|(u, _, _)| u);
    let gid = group.map(lookup_group).transpose()?;
    if uid.is_none() && gid.is_none() {
        return Ok(());
    }
    std::os::unix::fs::chown(path, uid, gid)
}

/// Creates a FIFO (named pipe) at `path` with permission bits `mode`
/// (an existing file there is an error: the caller removes stale ones).
pub fn make_fifo(path: &std::path::Path, mode: u32) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))?;
    // SAFETY: a live NUL-terminated path and an integer mode.
    if unsafe { libc::mkfifo(c.as_ptr(), mode as libc::mode_t) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // mkfifo applies the umask: set the mode the cfg asked for
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(mode))
}

/// Opens `path` for writing without blocking (`O_NONBLOCK`): on a FIFO
/// with no reader this fails at once (ENXIO) instead of waiting for one.
pub fn open_write_nonblocking(path: &std::path::Path) -> io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new().write(true).custom_flags(libc::O_NONBLOCK).open(path)
}

/// This process's process group id.
pub fn process_group() -> i32 {
    // SAFETY: getpgrp has no preconditions.
    unsafe { libc::getpgrp() }
}

/// Changes the root directory to `dir` (and the working directory to the
/// new root), as Kamailio's `-t`.
pub fn change_root(dir: &std::path::Path) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))?;
    // SAFETY: a live NUL-terminated path.
    if unsafe { libc::chroot(c.as_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    std::env::set_current_dir("/")
}

/// Ends this process at once with `code`, without running destructors or
/// atexit handlers (a forked worker leaving).
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and has no preconditions.
    unsafe { libc::_exit(code) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_pid_is_alive_and_cached() {
        let p = current_pid();
        assert_eq!(p, std::process::id() as i32);
        assert!(pid_alive(p));
        assert!(!pid_alive(0));
        assert!(!pid_alive(-5));
    }
}
