//! What the control modules (jsonrpcs, ctl, xhttp) share: where their
//! sockets and FIFOs go, the owners and modes Kamailio's parameters give
//! those files, and [`Conn`], a client connection served without
//! blocking.

use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::ModValue;

/// A path from the cfg: absolute as it is, else inside `run_dir`.
pub fn in_run_dir(name: &str) -> PathBuf {
    let p = Path::new(name);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        crate::run_dir().join(p)
    }
}

/// Creates the directory of `path` and removes a stale file at `path` (a
/// previous run's FIFO or socket).
pub fn prepare_path(module: &str, path: &Path) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{module}: cannot create {}: {e}", dir.display()))?;
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("{module}: cannot remove the old {}: {e}", path.display())),
    }
}

/// Gives a control file the mode and the owner the cfg names.
pub fn set_access(module: &str, path: &Path, mode: u32, user: Option<&str>, group: Option<&str>) -> Result<(), String> {
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(mode))
        .map_err(|e| format!("{module}: {}: {e}", path.display()))?;
    crate::chown_to(path, user, group)
        .map_err(|e| format!("{module}: cannot give {} to {user:?}/{group:?}: {e}", path.display()))
}

/// A non-empty string parameter.
pub fn text(v: &ModValue, what: &str) -> Result<String, String> {
    match v {
        ModValue::Str(s) if !s.is_empty() => Ok(s.clone()),
        _ => Err(format!("{what} takes a non-empty string")),
    }
}

/// A file mode parameter (`0660`; the cfg's octal number, or its text).
pub fn mode(v: &ModValue) -> Result<u32, String> {
    match v {
        ModValue::Int(m) if (0..=0o777).contains(m) => Ok(*m as u32),
        ModValue::Str(s) => {
            u32::from_str_radix(s.trim(), 8).ok().filter(|m| *m <= 0o777).ok_or_else(|| format!("bad mode {s}"))
        }
        _ => Err("a mode is a number such as 0660".into()),
    }
}

/// A user or group as the cfg gives it: a name or a number.
pub fn owner(v: &ModValue, what: &str) -> Result<String, String> {
    match v {
        ModValue::Int(n) if *n >= 0 => Ok(n.to_string()),
        ModValue::Str(s) if !s.is_empty() => Ok(s.clone()),
        _ => Err(format!("{what} takes a user or group name or number")),
    }
}

/// Reply bytes a client may leave unread before it is dropped.
pub const MAX_PENDING_OUT: usize = 16 << 20;

/// A client connection of a control process, served with non-blocking
/// reads and writes: what came in waits in `inbuf` until whole requests
/// are there, replies wait in `out` until the client reads them. A client
/// that stops reading holds a buffer (up to [`MAX_PENDING_OUT`]), never
/// the process; one that goes away mid-reply costs the write that failed.
#[derive(Debug)]
pub struct Conn<S> {
    /// The socket.
    pub stream: S,
    /// Bytes received and not yet answered.
    pub inbuf: Vec<u8>,
    /// Replies not yet written.
    pub out: Vec<u8>,
    progress: Instant,
    closing: bool,
    writable: bool,
}

impl<S: Read + Write + mio::event::Source> Conn<S> {
    /// A connection, with bytes already read from it.
    pub fn new(stream: S, read: Vec<u8>) -> Self {
        Conn { stream, inbuf: read, out: Vec::new(), progress: Instant::now(), closing: false, writable: false }
    }

    /// Runs `answer` on the buffered bytes: it takes the whole requests
    /// from the front of `inbuf`, appends their replies to `out`, and says
    /// whether the connection ends once they are written.
    pub fn answer(&mut self, answer: &mut impl FnMut(&mut Vec<u8>, &mut Vec<u8>) -> bool) {
        if !self.closing && !self.inbuf.is_empty() && answer(&mut self.inbuf, &mut self.out) {
            self.closing = true;
        }
    }

    /// Reads what came (answering as it goes) and writes what it can:
    /// false when the connection is done (ended, failed, answered before
    /// a close, or too much left unread).
    pub fn on_event(&mut self, mut answer: impl FnMut(&mut Vec<u8>, &mut Vec<u8>) -> bool) -> bool {
        let mut chunk = [0u8; 16 * 1024];
        let mut ended = false;
        self.answer(&mut answer);
        while !self.closing {
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    ended = true;
                    break;
                }
                Ok(n) => {
                    self.progress = Instant::now();
                    self.inbuf.extend_from_slice(&chunk[..n]);
                    self.answer(&mut answer);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        self.flush() && !(ended && self.out.is_empty())
    }

    /// Writes what it can of the replies: false when the connection is
    /// done.
    pub fn flush(&mut self) -> bool {
        while !self.out.is_empty() {
            match self.stream.write(&self.out) {
                Ok(0) => return false,
                Ok(n) => {
                    self.progress = Instant::now();
                    self.out.drain(..n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        self.out.len() <= MAX_PENDING_OUT && !(self.closing && self.out.is_empty())
    }

    /// Asks the poller for writability while replies wait, and only then.
    pub fn watch_writes(&mut self, registry: &mio::Registry, token: mio::Token) {
        let want = !self.out.is_empty();
        if want != self.writable {
            let interest =
                if want { mio::Interest::READABLE | mio::Interest::WRITABLE } else { mio::Interest::READABLE };
            if registry.reregister(&mut self.stream, token, interest).is_ok() {
                self.writable = want;
            }
        }
    }

    /// How long no byte moved either way.
    pub fn idle_for(&self) -> Duration {
        self.progress.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_answers_whole_requests_and_closes_when_told() {
        let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        let mut c = Conn::new(mio::net::UnixStream::from_std(a), b"ab".to_vec());
        // requests are lines; "q" asks for the close
        let mut lines = |inbuf: &mut Vec<u8>, out: &mut Vec<u8>| {
            let mut close = false;
            while let Some(end) = inbuf.iter().position(|x| *x == b'\n') {
                let line: Vec<u8> = inbuf.drain(..=end).collect();
                close |= line == b"q\n";
                out.extend_from_slice(b"ok ");
                out.extend_from_slice(&line);
                if close {
                    break;
                }
            }
            close
        };
        b.write_all(b"c\nd").unwrap();
        assert!(c.on_event(&mut lines));
        let mut got = [0u8; 64];
        let n = b.read(&mut got).unwrap();
        assert_eq!(&got[..n], b"ok abc\n");
        assert_eq!(c.inbuf, b"d");
        b.write_all(b"\nq\nignored\n").unwrap();
        assert!(!c.on_event(&mut lines), "answered, then closed");
        let n = b.read(&mut got).unwrap();
        assert_eq!(&got[..n], b"ok d\nok q\n");
    }

    #[test]
    fn owners_are_names_or_numbers() {
        assert_eq!(owner(&ModValue::Str("kamailio".into()), "fifo_user").unwrap(), "kamailio");
        assert_eq!(owner(&ModValue::Int(33), "fifo_group").unwrap(), "33");
        assert!(owner(&ModValue::Int(-1), "fifo_group").is_err());
        assert!(owner(&ModValue::Str(String::new()), "fifo_user").is_err());
    }

    #[test]
    fn modes_are_octal() {
        assert_eq!(mode(&ModValue::Int(0o660)).unwrap(), 0o660);
        assert_eq!(mode(&ModValue::Str("0600".into())).unwrap(), 0o600);
        assert!(mode(&ModValue::Str("0999".into())).is_err());
        assert!(mode(&ModValue::Int(0o1777)).is_err());
    }
}
