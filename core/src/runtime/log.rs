//! The server's logger: stderr (`-E`, `log_stderror=yes`) or syslog
//! through /dev/log (a datagram per line, RFC 3164 shape) with the cfg's
//! `log_facility`; lines carry the pid, as Kamailio's.

use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Mutex;

/// This process's rank (0 main, 1.. workers), printed first as Kamailio.
static RANK: AtomicI32 = AtomicI32::new(0);

/// Sets the rank printed in this process's log lines.
pub fn set_rank(rank: i32) {
    RANK.store(rank, Ordering::Relaxed);
}

/// Where log lines go.
enum Sink {
    /// `color`: the level in ANSI colours (`log_color`, `-e`).
    Stderr { color: bool },
    /// `tag`: the syslog tag (`log_name`, default "sipr").
    Syslog { sock: Mutex<Option<UnixDatagram>>, facility: u8, tag: String },
}

struct Logger {
    sink: Sink,
    prefix: String,
}

/// Kamailio's `debug` levels to `log` filters (-5..3; 2 = info).
fn filter(debug: i32) -> log::LevelFilter {
    match debug {
        i32::MIN..=-1 => log::LevelFilter::Error,
        0 => log::LevelFilter::Warn,
        1 | 2 => log::LevelFilter::Info,
        _ => log::LevelFilter::Debug,
    }
}

/// The `log` level of a message logged at Kamailio level `l` (`memlog`,
/// ...): shown when `l` is at most the cfg's `debug`, as Kamailio does.
pub fn level(l: i32) -> log::Level {
    match l {
        i32::MIN..=-1 => log::Level::Error,
        0 => log::Level::Warn,
        1 | 2 => log::Level::Info,
        3 => log::Level::Debug,
        _ => log::Level::Trace,
    }
}

fn facility_code(name: &str) -> u8 {
    match name {
        "LOG_KERN" => 0,
        "LOG_USER" => 1,
        "LOG_MAIL" => 2,
        "LOG_AUTH" => 4,
        "LOG_SYSLOG" => 5,
        "LOG_LPR" => 6,
        "LOG_NEWS" => 7,
        "LOG_UUCP" => 8,
        "LOG_CRON" => 9,
        "LOG_AUTHPRIV" => 10,
        "LOG_FTP" => 11,
        "LOG_LOCAL0" => 16,
        "LOG_LOCAL1" => 17,
        "LOG_LOCAL2" => 18,
        "LOG_LOCAL3" => 19,
        "LOG_LOCAL4" => 20,
        "LOG_LOCAL5" => 21,
        "LOG_LOCAL6" => 22,
        "LOG_LOCAL7" => 23,
        _ => 3, // LOG_DAEMON
    }
}

impl log::Log for Logger {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.level() <= log::max_level()
    }

    fn log(&self, r: &log::Record<'_>) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let pid = std::process::id();
        let level = match r.level() {
            log::Level::Error => "ERROR",
            log::Level::Warn => "WARNING",
            log::Level::Info => "INFO",
            log::Level::Debug => "DEBUG",
            log::Level::Trace => "TRACE",
        };
        // xlog's lines carry their own prefix (`<script>: ` by default,
        // its `prefix` parameter): no module tag in front, as Kamailio
        let target = match r.target() {
            "xlog" => String::new(),
            "script" => "<script>: ".to_string(),
            t => format!("<{t}>: "),
        };
        match &self.sink {
            Sink::Stderr { color } => {
                let rank = RANK.load(Ordering::Relaxed);
                let (on, off) = match (color, r.level()) {
                    (false, _) => ("", ""),
                    (true, log::Level::Error) => ("\x1b[31;1m", "\x1b[0m"),
                    (true, log::Level::Warn) => ("\x1b[33;1m", "\x1b[0m"),
                    (true, log::Level::Info) => ("\x1b[32m", "\x1b[0m"),
                    (true, _) => ("\x1b[36m", "\x1b[0m"),
                };
                let _ = writeln!(
                    std::io::stderr().lock(),
                    "{rank:2}({pid}) {on}{level}{off}: {target}{}{}",
                    self.prefix,
                    r.args()
                );
            }
            Sink::Syslog { sock, facility, tag } => {
                let sev = match r.level() {
                    log::Level::Error => 3,
                    log::Level::Warn => 4,
                    log::Level::Info => 6,
                    _ => 7,
                };
                let line =
                    format!("<{}>{tag}[{pid}]: {level}: {target}{}{}", facility * 8 + sev, self.prefix, r.args());
                if let Ok(mut g) = sock.lock() {
                    if g.is_none() {
                        *g = UnixDatagram::unbound().ok().filter(|s| s.connect("/dev/log").is_ok());
                    }
                    if let Some(s) = g.as_ref() {
                        let _ = s.send(line.as_bytes());
                    }
                }
            }
        }
    }

    fn flush(&self) {}
}

/// Where and how the logger writes: the cfg's `log_*` settings.
#[derive(Debug, Clone, Default)]
pub struct LogSettings {
    /// `log_stderror` / `-E`.
    pub to_stderr: bool,
    /// `debug`.
    pub debug: i32,
    /// `log_facility`.
    pub facility: String,
    /// `log_prefix`.
    pub prefix: Option<String>,
    /// `log_color` / `-e`.
    pub color: bool,
    /// `log_name`: the syslog tag.
    pub name: Option<String>,
}

/// The global `debug` level as this process last applied it ([`UNSET`]
/// until the server sets one: a host that installs its own logger, as
/// the tests do, keeps `log`'s level).
static GLOBAL_DEBUG: AtomicI32 = AtomicI32::new(UNSET);
const UNSET: i32 = i32::MIN;
/// This process's own level (kex's `setdebug`), over the global one;
/// [`NO_LOCAL`]: none.
static LOCAL_DEBUG: AtomicI32 = AtomicI32::new(NO_LOCAL);
const NO_LOCAL: i32 = i32::MIN;

/// The `debug` level in effect in this process: its own (`setdebug`), or
/// the server's. `log`'s five levels cannot tell Kamailio's L_NOTICE (1)
/// from L_INFO (2): a caller that logs at Kamailio's levels (xlog) checks
/// this number too.
pub fn effective_debug() -> i32 {
    let local = LOCAL_DEBUG.load(Ordering::Relaxed);
    if local != NO_LOCAL {
        return local;
    }
    match GLOBAL_DEBUG.load(Ordering::Relaxed) {
        UNSET => match log::max_level() {
            log::LevelFilter::Off | log::LevelFilter::Error => -1,
            log::LevelFilter::Warn => 0,
            log::LevelFilter::Info => 2,
            _ => 3,
        },
        global => global,
    }
}

fn apply() {
    log::set_max_level(filter(effective_debug()));
}

/// Sets this process's `debug` level (a `cfg.set core debug N`); a level
/// of the process's own (`setdebug`) still wins.
pub fn set_debug(debug: i32) {
    GLOBAL_DEBUG.store(debug.max(UNSET + 1), Ordering::Relaxed);
    apply();
}

/// Gives this process a level of its own (`setdebug(level)`), or back to
/// the global one (`resetdebug()`, `None`).
pub fn set_local_debug(level: Option<i32>) {
    LOCAL_DEBUG.store(level.map_or(NO_LOCAL, |l| l.max(NO_LOCAL + 1)), Ordering::Relaxed);
    apply();
}

/// Installs the server's logger (once per process).
pub fn init(s: &LogSettings) {
    let sink = if s.to_stderr {
        Sink::Stderr { color: s.color }
    } else {
        Sink::Syslog {
            sock: Mutex::new(None),
            facility: facility_code(&s.facility),
            tag: s.name.clone().unwrap_or_else(|| "sipr".into()),
        }
    };
    let (debug, prefix) = (s.debug, s.prefix.as_deref());
    let logger = Box::leak(Box::new(Logger { sink, prefix: prefix.unwrap_or("").to_string() }));
    // a second call (tests) keeps the first logger but takes the level
    let _ = log::set_logger(logger);
    set_debug(debug);
}
