//! The server runtime (issue 6, first part): the main process loads the
//! cfg and modules, builds the shm pool, opens the UDP listen sockets,
//! forks `children` workers per socket and then only supervises — it
//! handles no SIP. Workers receive, parse, run the routes and answer.
//!
//! Lifecycle: SIGTERM / SIGINT → every worker is sent SIGTERM (SIGKILL
//! after 5 s), modules' `destroy` run, the pidfile is removed; a worker
//! that dies unexpectedly is logged with its rank and signal and the
//! server shuts down (Kamailio's behaviour: shm may be inconsistent, so it
//! is not respawned over). Workers die with the main process
//! (PR_SET_PDEATHSIG). SIGHUP is ignored, as Kamailio.

mod datagram;
pub(crate) mod log;
pub mod pkg;
pub mod procs;
mod receive;
pub(crate) use receive::current_net;
pub mod tcp;

use std::net::{TcpListener, ToSocketAddrs, UdpSocket};
use std::os::fd::AsFd;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use sipr_locking::process::{self, sig, ExitStatus};

use crate::cfg::{CoreInfo, Defines, FnRegistry, PvRegistry};
use crate::module::ModuleSet;
use crate::net::Proto;

/// What the command line asked for.
#[derive(Debug, Clone)]
pub struct Options {
    /// `-f`.
    pub cfg: PathBuf,
    /// `-A` defines.
    pub defines: Vec<String>,
    /// `-L` module directories.
    pub module_dirs: Vec<PathBuf>,
    /// `-m` (MB), when given.
    pub shm_mb: Option<usize>,
    /// `-E`: log to stderr.
    pub log_stderr: bool,
    /// `-P`: pidfile.
    pub pidfile: Option<PathBuf>,
    /// `-G`: file for the process group id.
    pub pgid_file: Option<PathBuf>,
    /// `-n`: number of workers per socket, overriding `children`.
    pub children: Option<u32>,
    /// `-d` given N times: more verbose.
    pub debug_bump: i32,
    /// Cfg lines from the command line (`-l`, `-a`, `--loadmodule`,
    /// `--modparam`), added after the cfg file.
    pub extra_cfg: Vec<String>,
}

/// Why the server could not start.
#[derive(Debug)]
pub enum StartError {
    /// The cfg is bad (every error, file:line:column).
    Cfg(String),
    /// A socket could not be opened.
    Bind(String),
    /// Something else (shm, modules' init, fork).
    Other(String),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Cfg(e) | StartError::Bind(e) | StartError::Other(e) => f.write_str(e),
        }
    }
}

/// Runs the server as a daemon (Kamailio's default): the launcher forks,
/// the child starts a session and forks the server, which tells the
/// launcher through a socket pair whether it started; the launcher exits
/// with that status (0, or 255 with the error printed) — so a bad cfg or a
/// busy port fails the command that started the daemon.
pub fn run_daemon(opts: &Options) -> i32 {
    use std::io::{Read, Write};
    let (mut launcher_end, daemon_end) = match std::os::unix::net::UnixStream::pair() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("sipr: cannot start the daemon: {e}");
            return 255;
        }
    };
    // SAFETY: the launcher has started no thread; the child only calls
    // setsid, forks again and runs the server (which itself forks before
    // starting any thread).
    match unsafe { process::fork() } {
        Err(e) => {
            eprintln!("sipr: fork: {e}");
            255
        }
        Ok(process::Forked::Parent(pid)) => {
            drop(daemon_end);
            let mut status = String::new();
            let _ = launcher_end.read_to_string(&mut status);
            let _ = process::wait_pid(pid);
            match status.as_str() {
                "ok" => 0,
                "" => {
                    eprintln!("sipr: the server died while starting");
                    255
                }
                err => {
                    eprintln!("sipr: {err}");
                    255
                }
            }
        }
        Ok(process::Forked::Child) => {
            drop(launcher_end);
            let _ = process::setsid();
            // SAFETY: as above: this process has no thread.
            match unsafe { process::fork() } {
                Ok(process::Forked::Child) => {}
                _ => process::exit_now(0),
            }
            let _ = process::detach_stdio(opts.log_stderr);
            let mut ready = daemon_end;
            let code = match run_server(opts, Some(&mut ready)) {
                Ok(code) => code,
                Err(e) => {
                    let _ = ready.write_all(e.to_string().as_bytes());
                    255
                }
            };
            process::exit_now(code)
        }
    }
}

/// Runs the server in the foreground (`-D` / `-DD`): returns when it has
/// shut down, with the process exit code.
pub fn run_foreground(opts: &Options) -> Result<i32, StartError> {
    run_server(opts, None)
}

/// The listen sockets as bound (`core.sockets_list`): UDP and TCP with
/// their local addresses, SCTP as the cfg gives it.
fn bound_sockets(
    udp: &[UdpSocket],
    tcp: &[(TcpListener, u16)],
    listen: &[crate::cfg::ListenAddr],
    sctp_on: bool,
) -> Vec<(Proto, String, u16)> {
    let mut out: Vec<(Proto, String, u16)> = Vec::new();
    out.extend(udp.iter().filter_map(|s| s.local_addr().ok()).map(|a| (Proto::Udp, a.ip().to_string(), a.port())));
    out.extend(tcp.iter().filter_map(|(s, _)| s.local_addr().ok()).map(|a| (Proto::Tcp, a.ip().to_string(), a.port())));
    if sctp_on {
        out.extend(listen.iter().filter(|l| l.proto == Proto::Sctp).map(|l| (Proto::Sctp, l.host.clone(), l.port)));
    }
    out
}

fn run_server(opts: &Options, ready: Option<&mut std::os::unix::net::UnixStream>) -> Result<i32, StartError> {
    let mut modules = ModuleSet::new(&opts.module_dirs);
    let defines = Defines::from_args(opts.defines.iter().map(String::as_str));
    // the program, sockets and server facts live as long as every process
    // (made 'static so that a process's sending context can be reached
    // from tm's timers and module callbacks: see receive::process_net)
    let prog: &'static crate::cfg::Program = Box::leak(Box::new(
        crate::cfg::load_with_extra(
            &opts.cfg,
            defines,
            &opts.extra_cfg,
            FnRegistry::core(),
            PvRegistry::core(),
            &mut modules,
        )
        .map_err(|e| StartError::Cfg(e.to_string()))?,
    ));
    let core = &prog.core;
    log::init(&log::LogSettings {
        to_stderr: opts.log_stderr || core.log_stderror,
        debug: core.debug + opts.debug_bump,
        facility: core.log_facility.clone(),
        prefix: core.log_prefix.clone(),
        color: core.other_bool("log_color").unwrap_or(false),
        name: match core.other.get("log_name") {
            Some(crate::cfg::ParamValue::Str(n)) => Some(n.clone()),
            _ => None,
        },
    });
    let shm_mb = opts.shm_mb.or(core.shm_mem_size.map(|m| m as usize)).unwrap_or(crate::DEFAULT_SHM_MB);
    let pool = sipr_mem::ShmPool::create_mb(shm_mb)
        .map_err(|e| StartError::Other(format!("shared memory (-m {shm_mb}): {e}")))?;
    crate::shm::install(pool);
    procs::init().map_err(StartError::Other)?;
    if modules.names().contains(&"kex") {
        // kex registers the core: statistics in Kamailio; without it there
        // are none, and nothing is counted
        crate::stats::init_core().map_err(StartError::Other)?;
    }
    crate::cfgvars::init_core(core.debug + opts.debug_bump).map_err(StartError::Other)?;
    // the cfg's custom parameters, changeable by cfg.set as in Kamailio
    crate::cfgvars::register_custom(&prog.custom).map_err(StartError::Other)?;
    crate::timer::init_wheel().map_err(StartError::Other)?;
    crate::blocklist::init(core).map_err(StartError::Other)?;
    crate::cfgvars::init_core_script(core.max_while_loops, core.force_rport).map_err(StartError::Other)?;
    if core.async_workers > 0 {
        crate::timer::init_async_workers().map_err(StartError::Other)?;
    }
    crate::module::abi::set_run_dir(&core.run_dir);
    crate::module::abi::set_avp_names(prog.names.clone());
    modules.init_all().map_err(|e| StartError::Other(e.to_string()))?;
    crate::rpc::publish(modules.rpc_defs());
    if modules.names().contains(&"xhttp") {
        // HTTP on the SIP TCP listeners goes to xhttp's process
        tcp::http::init().map_err(|e| StartError::Other(format!("xhttp channel: {e}")))?;
    }

    // the listen sockets: opened before the fork, so every process can send from any
    let listen = listen_entries(core);
    let mut udp: Vec<UdpSocket> = Vec::new();
    let mut tcp_listeners: Vec<(TcpListener, u16)> = Vec::new();
    let mut sctp: Vec<sipr_locking::net::SctpSocket> = Vec::new();
    let sctp_ok = sctp_wanted(core, &listen)?;
    for l in &listen {
        let host = l.host.trim_start_matches('[').trim_end_matches(']');
        match l.proto {
            Proto::Udp => {
                let s = UdpSocket::bind((host, l.port))
                    .map_err(|e| StartError::Bind(format!("cannot bind udp:{}:{}: {e}", l.host, l.port)))?;
                match sipr_locking::net::grow_recv_buffer(s.as_fd(), core.maxbuffer) {
                    Ok(n) => ::log::debug!("udp:{}:{}: receive buffer {n} bytes", l.host, l.port),
                    Err(e) => ::log::warn!("udp:{}:{}: cannot grow the receive buffer: {e}", l.host, l.port),
                }
                udp.push(s);
            }
            Proto::Tcp if core.disable_tcp => {
                ::log::info!("listen=tcp:{}:{}: TCP is disabled (disable_tcp)", l.host, l.port)
            }
            Proto::Tcp => {
                let s = TcpListener::bind((host, l.port))
                    .map_err(|e| StartError::Bind(format!("cannot bind tcp:{}:{}: {e}", l.host, l.port)))?;
                if let Err(e) = sipr_locking::net::set_listen_backlog(s.as_fd(), TCP_LISTEN_BACKLOG) {
                    ::log::warn!("tcp:{}:{}: cannot set the listen backlog: {e}", l.host, l.port);
                }
                tcp_listeners.push((s, tcp_listeners.len() as u16));
            }
            Proto::Sctp if !sctp_ok => {}
            Proto::Sctp => {
                let addr = (host, l.port)
                    .to_socket_addrs()
                    .ok()
                    .and_then(|mut a| a.next())
                    .ok_or_else(|| StartError::Bind(format!("cannot resolve sctp:{}:{}", l.host, l.port)))?;
                sctp.push(
                    sipr_locking::net::SctpSocket::bind(addr)
                        .map_err(|e| StartError::Bind(format!("cannot bind sctp:{}:{}: {e}", l.host, l.port)))?,
                );
            }
            other => ::log::warn!("listen={other}:{}:{}: {other} is not served yet; ignored", l.host, l.port),
        }
    }
    let info = CoreInfo {
        dns_failover: core.other_bool("use_dns_failover").unwrap_or(false),
        listen: listen.clone(),
        aliases: core.aliases.clone(),
        server_header: core.server_signature.then(|| {
            core.server_header.as_deref().map_or_else(
                || crate::server_signature().to_string(),
                |h| h.trim_start_matches("Server:").trim().to_string(),
            )
        }),
        secret: {
            let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
            crate::hash::id64(&[&t.to_be_bytes(), &process::current_pid().to_be_bytes()])
        },
        advertised_address: match core.other.get("advertised_address") {
            Some(
                crate::cfg::ParamValue::Str(h) | crate::cfg::ParamValue::Ident(h) | crate::cfg::ParamValue::Raw(h),
            ) => Some(h.clone()),
            _ => None,
        },
        advertised_port: match core.other.get("advertised_port") {
            Some(crate::cfg::ParamValue::Int(p)) => u16::try_from(*p).ok(),
            _ => None,
        },
    };
    let info: &'static CoreInfo = Box::leak(Box::new(info));
    crate::rpc::server::publish(crate::rpc::server::ServerFacts {
        started: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64),
        main_pid: process::current_pid(),
        sockets: bound_sockets(&udp, &tcp_listeners, &listen, !sctp.is_empty()),
        aliases: core.aliases.clone(),
        modules: modules.names().into_iter().map(str::to_string).collect(),
        defines: prog.defines.clone(),
        tcp_readers: if tcp_listeners.is_empty() { 0 } else { core.tcp_children.unwrap_or(core.children).max(1) },
        tcp_max_connections: core.tcp_max_connections,
        tcp_options: tcp_options(core),
        udp4_raw: [
            core.other_int("udp4_raw").unwrap_or(0),
            core.other_int("udp4_raw_mtu").unwrap_or(1500),
            // -1: the system's default TTL
            core.other_int("udp4_raw_ttl").filter(|t| *t >= 0).unwrap_or(64),
        ],
    });
    let udp: &'static [UdpSocket] = Box::leak(udp.into_boxed_slice());
    let sctp: &'static [sipr_locking::net::SctpSocket] = Box::leak(sctp.into_boxed_slice());
    if let Some(p) = &opts.pidfile {
        std::fs::write(p, format!("{}\n", process::current_pid()))
            .map_err(|e| StartError::Other(format!("cannot write pidfile {}: {e}", p.display())))?;
    }
    if let Some(p) = &opts.pgid_file {
        std::fs::write(p, format!("{}\n", process::process_group()))
            .map_err(|e| StartError::Other(format!("cannot write pgid file {}: {e}", p.display())))?;
    }
    if let Some(crate::cfg::ParamValue::Str(dir)) = core.other.get("chroot") {
        process::change_root(std::path::Path::new(dir))
            .map_err(|e| StartError::Other(format!("cannot chroot to {dir}: {e}")))?;
    }
    // workdir / wdir (after the chroot, as Kamailio)
    if let Some(crate::cfg::ParamValue::Str(dir)) = core.other.get("workdir").or_else(|| core.other.get("wdir")) {
        std::env::set_current_dir(dir)
            .map_err(|e| StartError::Other(format!("cannot change to the working directory {dir}: {e}")))?;
    }
    drop_privileges(core)?;

    process::ignore_signal(sig::PIPE);
    process::block_signals(&process::SERVER_SIGNALS).map_err(|e| StartError::Other(format!("signals: {e}")))?;
    let children = opts.children.unwrap_or(core.children).max(1);
    let main_pid = process::current_pid();
    procs::add(main_pid, 0, "main process - attendant");
    process::set_name("sipr-main");
    let mut sp = Spawner { modules: &modules, main_pid, procs: Vec::new() };

    // TCP: the connection table, a request channel to the TCP main for
    // every SIP process, a hand-over channel for every reader
    let tcp_on = !tcp_listeners.is_empty();
    let tcp_children = if tcp_on { core.tcp_children.unwrap_or(children).max(1) } else { 0 };
    let sctp_children = core.sctp_children.unwrap_or(children).max(1);
    let sip_procs = (udp.len() * children as usize) + (sctp.len() * sctp_children as usize) + tcp_children as usize;
    let table =
        if tcp_on { Some(tcp::table::init(core.tcp_max_connections).map_err(StartError::Other)?) } else { None };
    let pair = || UnixDatagram::pair().map_err(|e| StartError::Other(format!("socket pair: {e}")));
    // a channel for every SIP process, the timer process and each async
    // worker (tm sends from those too)
    let senders = sip_procs + 1 + core.async_workers as usize;
    let requests = if tcp_on { (0..senders).map(|_| pair()).collect::<Result<Vec<_>, _>>()? } else { Vec::new() };
    let handoffs = (0..tcp_children).map(|_| pair()).collect::<Result<Vec<_>, _>>()?;
    let tcp_locals: Vec<(u16, bool)> =
        tcp_listeners.iter().map(|(l, i)| (*i, l.local_addr().is_ok_and(|a| a.is_ipv4()))).collect();
    let client_for = |n: usize| -> Option<tcp::TcpClient> {
        let (table, (_, end)) = (table?, requests.get(n)?);
        let chan = end.try_clone().ok()?;
        tcp::TcpClient::new(
            chan,
            table,
            Duration::from_secs(core.tcp_connect_timeout.into()),
            Duration::from_secs(core.tcp_send_timeout.into()),
            tcp_locals.clone(),
        )
        .ok()
    };

    let mut rank = 0;
    for (si, sock) in udp.iter().enumerate() {
        for c in 0..children {
            rank += 1;
            let at = sock.local_addr().map(|a| a.to_string()).unwrap_or_default();
            let n = rank as usize - 1;
            sp.spawn(rank, format!("udp receiver child={c} sock={at}"), &format!("sipr-udp-{rank}"), || {
                let net = receive::process_net(udp, sctp, client_for(n), prog, info);
                if rank == 1 {
                    if let Some(r) = prog.event_route("core:worker-one-init") {
                        receive::run_event_route(net, r);
                    }
                }
                let arrival = receive::Arrival::Udp { sock: si };
                datagram::receive_loop(net, &udp[si], arrival, prog.core.maxbuffer as usize);
                0
            })?;
        }
    }
    for (si, sock) in sctp.iter().enumerate() {
        for c in 0..sctp_children {
            rank += 1;
            let at = sock.local_addr().map(|a| a.to_string()).unwrap_or_default();
            let n = rank as usize - 1;
            sp.spawn(rank, format!("sctp receiver child={c} sock={at}"), &format!("sipr-sctp-{rank}"), || {
                let net = receive::process_net(udp, sctp, client_for(n), prog, info);
                let arrival = receive::Arrival::Sctp { sock: si };
                datagram::receive_loop(net, &sctp[si], arrival, prog.core.maxbuffer as usize);
                0
            })?;
        }
    }
    for (c, (_, handoff)) in handoffs.iter().enumerate() {
        rank += 1;
        let n = rank as usize - 1;
        let lifetime = Duration::from_secs(core.tcp_connection_lifetime.max(1).into());
        sp.spawn(rank, format!("tcp receiver (generic) child={c}"), &format!("sipr-tcp-{rank}"), || {
            let Some(client) = client_for(n) else {
                ::log::error!("tcp reader: no channel to the TCP main");
                return 1;
            };
            let net = receive::process_net(udp, sctp, Some(client), prog, info);
            let Some(client) = net.tcp else { return 1 };
            tcp::reader::run(net, client, handoff, lifetime)
        })?;
    }
    if let Some(table) = table {
        let reader_ranks = (rank - tcp_children as i32 + 1..=rank).collect::<Vec<_>>();
        sp.spawn(crate::module::abi::rank::TCP_MAIN, "tcp main process".into(), "sipr-tcp-main", || {
            tcp::main::TcpMain {
                listeners: &tcp_listeners,
                readers: handoffs.iter().map(|(m, _)| m).zip(reader_ranks.iter().copied()).collect(),
                requests: requests.iter().map(|(m, _)| m).collect(),
                max_connections: core.tcp_max_connections as usize,
                table,
            }
            .run()
        })?;
    }
    // the timer process (Kamailio's rank -1): registered timers and the shm
    // timer wheel any process may arm
    if crate::timer::count() > 0 || crate::timer::has_wheel() {
        let n = sip_procs;
        sp.spawn(crate::module::abi::rank::TIMER, "timer".into(), "sipr-timer", || {
            receive::process_net(udp, sctp, client_for(n), prog, info);
            crate::timer::run(|| false);
            0
        })?;
    }
    // async workers (Kamailio's `async_workers`): run the wheel timers
    // armed for a worker
    for c in 0..core.async_workers {
        rank += 1;
        let n = sip_procs + 1 + c as usize;
        sp.spawn(rank, format!("async worker child={c}"), &format!("sipr-async-{c}"), || {
            receive::process_net(udp, sctp, client_for(n), prog, info);
            crate::timer::run_async_worker();
            0
        })?;
    }
    // processes modules asked for (ranks from 1000, after the workers)
    let mut mod_rank = 1000;
    for (module, p) in modules.extra_processes() {
        let count = (p.count)();
        for i in 0..count {
            mod_rank += 1;
            // Kamailio's descriptions: "JSONRPCS FIFO"; several of a kind
            // share theirs (dgram_workers 2: "JSONRPCS DATAGRAM" twice,
            // measured)
            let desc = p.desc.to_string();
            sp.spawn(mod_rank, desc, &format!("sipr-{module}"), || {
                // a sending context (UDP; no TCP channel) for what a
                // module process sends, e.g. tm.t_uac_start over RPC
                receive::process_net(udp, sctp, None, prog, info);
                (p.run)(i);
                // a module process that returns has finished its work:
                // wait for the shutdown rather than look like a crash
                loop {
                    std::thread::sleep(Duration::from_secs(3600));
                }
            })?;
        }
    }
    let mut workers = sp.procs;
    for (pid, rank, desc) in &workers {
        ::log::info!("process {pid}: rank {rank}, {desc}");
    }
    if let Some(r) = ready {
        use std::io::Write;
        // the launcher exits 0 on this; then the channel closes
        let _ = r.write_all(b"ok");
        let _ = r.shutdown(std::net::Shutdown::Both);
    }
    let code = supervise(&mut workers);
    modules.destroy_all();
    // `memlog`: the shared memory summary at exit, logged at that level
    // (Kamailio's; shown only when memlog <= debug)
    if let Some(pool) = crate::shm::pool() {
        let st = pool.stats();
        ::log::log!(
            log::level(prog.core.memlog),
            "shared memory at exit: total {} used {} real_used {} max_used {} free {} fragments {} used blocks {} failed allocations {}",
            st.total, st.used, st.real_used, st.max_used, st.free, st.fragments, st.used_blocks, st.failed_allocs
        );
    }
    for p in opts.pidfile.iter().chain(&opts.pgid_file) {
        let _ = std::fs::remove_file(p);
    }
    Ok(code)
}

/// Accept queue of TCP listen sockets (Kamailio's default).
const TCP_LISTEN_BACKLOG: u32 = 1024;

/// The listen entries: the cfg's, or Kamailio's default (every address,
/// UDP and TCP, on `port`).
fn listen_entries(core: &crate::cfg::CoreParams) -> Vec<crate::cfg::ListenAddr> {
    if !core.listen.is_empty() {
        return core.listen.clone();
    }
    [Proto::Udp, Proto::Tcp]
        .into_iter()
        .map(|proto| crate::cfg::ListenAddr { proto, host: "0.0.0.0".into(), port: core.port, advertise: None })
        .collect()
}

/// Whether SCTP listen entries are served: `disable_sctp=auto` (the
/// default) turns SCTP off with a warning when the kernel lacks it;
/// `disable_sctp=no` makes that a start-up error.
fn sctp_wanted(core: &crate::cfg::CoreParams, listen: &[crate::cfg::ListenAddr]) -> Result<bool, StartError> {
    let entries: Vec<String> =
        listen.iter().filter(|l| l.proto == Proto::Sctp).map(|l| format!("sctp:{}:{}", l.host, l.port)).collect();
    if entries.is_empty() || core.disable_sctp == Some(true) {
        return Ok(false);
    }
    if sipr_locking::net::sctp_supported() {
        return Ok(true);
    }
    match core.disable_sctp {
        None => {
            ::log::warn!(
                "SCTP: the kernel does not support SCTP; SCTP disabled (disable_sctp=auto), not listening on {}",
                entries.join(", ")
            );
            Ok(false)
        }
        _ => Err(StartError::Bind(format!(
            "SCTP is required (disable_sctp=no) but the kernel does not support it: cannot listen on {}",
            entries.join(", ")
        ))),
    }
}

/// `user` / `group`: switches to them after the sockets are bound (ports
/// below 1024 need root), before any child is forked.
fn drop_privileges(core: &crate::cfg::CoreParams) -> Result<(), StartError> {
    if core.user.is_none() && core.group.is_none() {
        return Ok(());
    }
    process::switch_user(core.user.as_deref(), core.group.as_deref())
        .map_err(|e| StartError::Other(format!("cannot switch to user/group: {e}")))
}

/// Forks the server's processes.
struct Spawner<'a> {
    modules: &'a ModuleSet,
    main_pid: i32,
    /// (pid, rank, description) of every process started.
    procs: Vec<(i32, i32, String)>,
}

impl Spawner<'_> {
    /// Forks a process of rank `rank`: it names itself, dies with the main
    /// process, runs the modules' `child_init(rank)` and then `body`,
    /// whose result is its exit code.
    fn spawn(&mut self, rank: i32, desc: String, title: &str, body: impl FnOnce() -> i32) -> Result<(), StartError> {
        // SAFETY: no thread has been started in this process (sipr starts
        // none before the last fork); the child runs `body` and leaves
        // with exit_now, never returning into the parent's code.
        let forked = unsafe { process::fork() }.map_err(|e| StartError::Other(format!("fork: {e}")))?;
        match forked {
            process::Forked::Child => {
                log::set_rank(rank);
                process::set_name(title);
                let _ = process::unblock_signals(&process::SERVER_SIGNALS);
                if !matches!(process::die_with_parent(sig::TERM, self.main_pid), Ok(true)) {
                    process::exit_now(0);
                }
                if let Err(e) = self.modules.child_init_all(rank) {
                    ::log::error!("{e}");
                    process::exit_now(1);
                }
                let code = body();
                process::exit_now(code)
            }
            process::Forked::Parent(pid) => {
                procs::add(pid, rank, &desc);
                self.procs.push((pid, rank, desc));
                Ok(())
            }
        }
    }
}

/// The main process after the fork: waits for signals and children.
fn supervise(workers: &mut Vec<(i32, i32, String)>) -> i32 {
    let signals = process::SERVER_SIGNALS;
    let mut code = 0;
    loop {
        let sig = process::wait_signal(&signals, Duration::from_millis(500));
        // reap whatever ended (SIGCHLD or not: signals can merge)
        let mut died = false;
        while let Some((pid, status)) = process::reap_any() {
            procs::remove(pid);
            if let Some(i) = workers.iter().position(|(p, _, _)| *p == pid) {
                let (_, rank, desc) = workers.remove(i);
                let how = match status {
                    ExitStatus::Exited(c) => format!("exited with {c}"),
                    ExitStatus::Signaled(s) => format!("was killed by signal {s}"),
                };
                ::log::error!("worker {pid} (rank {rank}, {desc}) {how}: shutting down");
                died = true;
            }
        }
        match sig {
            Some(s) if s == sig::TERM || s == sig::INT => {
                ::log::info!("signal {s}: shutting down");
                break;
            }
            _ => {}
        }
        if died {
            code = 1;
            break;
        }
    }
    // stop every worker: SIGTERM, then SIGKILL after 5 s
    for (pid, _, _) in workers.iter() {
        let _ = process::kill(*pid, sig::TERM);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while !workers.is_empty() && Instant::now() < deadline {
        while let Some((pid, _)) = process::reap_any() {
            workers.retain(|(p, _, _)| *p != pid);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    for (pid, _, _) in workers.iter() {
        let _ = process::kill(*pid, sig::KILL);
        let _ = process::wait_pid(*pid);
    }
    code
}

/// The TCP settings `core.tcp_options` reports, by Kamailio's names, from
/// the cfg (Kamailio's defaults where it sets none).
fn tcp_options(core: &crate::cfg::CoreParams) -> Vec<(&'static str, i64)> {
    let int = |name: &str, default: i64| core.other_int(name).unwrap_or(default);
    vec![
        ("connect_timeout", i64::from(core.tcp_connect_timeout)),
        ("send_timeout", i64::from(core.tcp_send_timeout)),
        ("connection_lifetime", i64::from(core.tcp_connection_lifetime)),
        ("max_connections(soft)", i64::from(core.tcp_max_connections)),
        ("max_tls_connections(soft)", int("tls_max_connections", 2048)),
        ("no_connect", int("tcp_no_connect", 0)),
        ("fd_cache", int("tcp_fd_cache", 1)),
        ("async", int("tcp_async", 1)),
        ("connect_wait", 1),
        ("conn_wq_max", int("tcp_conn_wq_max", 32768)),
        ("wq_max", int("tcp_wq_max", 10_485_760)),
        ("defer_accept", int("tcp_defer_accept", 0)),
        ("delayed_ack", int("tcp_delayed_ack", 1)),
        ("syncnt", int("tcp_syncnt", 0)),
        ("linger2", int("tcp_linger2", 0)),
        ("keepalive", int("tcp_keepalive", 1)),
        ("keepidle", int("tcp_keepidle", 0)),
        ("keepintvl", int("tcp_keepintvl", 0)),
        ("keepcnt", int("tcp_keepcnt", 0)),
        ("crlf_ping", int("tcp_crlf_ping", 1)),
        ("accept_aliases", i64::from(core.tcp_accept_aliases)),
        ("alias_flags", 1),
        ("new_conn_alias_flags", 2),
    ]
}
