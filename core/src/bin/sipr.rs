//! The `sipr` binary. The server proper (cfg, modules, forked workers)
//! lands with the runtime issue; today it answers `-V`/`--version` and
//! `-h`/`--help`, `-c [-f FILE] [-m MB]` checks a cfg file and that a
//! shared-memory pool of that size can be built, `--cfg-print` prints the cfg with includes and `#!ifdef`s
//! evaluated (as Kamailio's), and `--parse FILE...` dumps SIP messages.

use std::process::ExitCode;

fn usage() -> String {
    format!(
        "{}\nUsage: sipr [options]\n\
         Options:\n\
         \x20   -V, -v, --version   print version and exit\n\
         \x20   -h, --help      print this help and exit\n\
         \x20   -f FILE         configuration file (default {})\n\
         \x20   -c              check the cfg file (preprocess, parse, resolve names, fix up\n\
         \x20                   parameters) and the shared memory pool, then exit\n\
         \x20   --cfg-print     print the cfg with includes and #!ifdef blocks evaluated, exit\n\
         \x20   -A NAME[=VAL]   add a cfg preprocessor define (repeatable)\n\
         \x20   -L DIR          directory to look for modules in (repeatable; before\n\
         \x20                   mpath's defaults: PREFIX/lib/sipr/modules, the binary's dir)\n\
         \x20   -m MB           size of the shared memory pool in MB (default {})\n\
         \x20   -D / -DD        do not fork into the background (-DD: the same; workers forked)\n\
         \x20   -E              log to stderr (otherwise syslog)\n\
         \x20   -e              colours on stderr (log_color)\n\
         \x20   -d, --debug=N   more verbose (repeatable) / log level N\n\
         \x20   -l ADDR         listen on [proto:]addr[:port] too (repeatable)\n\
         \x20   -a, --alias A   alias (repeatable)\n\
         \x20   -n N            SIP workers per UDP socket (overrides children)\n\
         \x20   -N N, -Q N      TCP readers (tcp_children), SCTP receivers (sctp_children)\n\
         \x20   -T, -S          disable TCP, disable SCTP\n\
         \x20   -b BYTES        UDP socket receive buffer to grow to (maxbuffer)\n\
         \x20   --loadmodule M  load module M\n\
         \x20   --modparam MOD:PARAM:TYPE:VALUE   set a module parameter (TYPE i or s)\n\
         \x20   -P FILE, -G FILE   pid file, process group id file\n\
         \x20   -w DIR, -Y DIR  working directory, runtime directory (run_dir)\n\
         \x20   -u USER, -g GROUP   user and group to run as after binding the sockets\n\
         \x20   -t DIR          chroot to DIR once the sockets are open\n\
         \x20   -M MB, -x NAME, -X NAME   accepted (Kamailio's private pool and allocator\n\
         \x20                   choice); sipr has one allocator and no private pool\n\
         \x20   --parse FILE... parse SIP messages from files, print their structure;\n\
         \x20                   exit 1 if any is malformed (with the reply a server would send)\n",
        sipr_core::version_line(),
        default_cfg().display(),
        sipr_core::DEFAULT_SHM_MB
    )
}

/// `<dir of the sipr binary>/../etc/sipr/sipr.cfg`: the installed tree is
/// relocatable (DESIGN.md "Install layout").
fn default_cfg() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let prefix = exe.parent().and_then(|d| d.parent()).map(std::path::Path::to_path_buf).unwrap_or_default();
    prefix.join("etc/sipr/sipr.cfg")
}

fn main() -> ExitCode {
    // `$Tb`: when the server started (before any fork)
    sipr_core::cfg::mark_boot();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--parse") {
        return parse_files(&args[1..]);
    }
    if args.first().map(String::as_str) == Some("--exports") {
        return print_exports(&args[1..]);
    }
    let mut shm_mb = sipr_core::DEFAULT_SHM_MB;
    let mut check = false;
    let mut cfg_print = false;
    let mut cfg_file = default_cfg();
    let mut defines: Vec<String> = Vec::new();
    let mut module_dirs: Vec<std::path::PathBuf> = Vec::new();
    let mut shm_given = false;
    let mut foreground = 0u32;
    let mut log_stderr = false;
    let mut pidfile: Option<std::path::PathBuf> = None;
    let mut pgid_file: Option<std::path::PathBuf> = None;
    let mut children: Option<u32> = None;
    let mut debug_bump = 0i32;
    let mut extra_cfg: Vec<String> = Vec::new();
    // Kamailio's "-DD", "-dd" come as one argument too
    let args: Vec<String> = args
        .into_iter()
        .flat_map(|a| {
            if a.len() > 2 && a.starts_with('-') && !a.starts_with("--") && a[1..].chars().all(|c| c == 'D' || c == 'd')
            {
                a[1..].chars().map(|c| format!("-{c}")).collect::<Vec<_>>()
            } else {
                vec![a]
            }
        })
        .collect();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "-V" | "-v" | "--version" => {
                println!("{}", sipr_core::version_line());
                return ExitCode::SUCCESS;
            }
            "-h" | "--help" => {
                print!("{}", usage());
                return ExitCode::SUCCESS;
            }
            "-m" => {
                let Some(v) = it.next() else {
                    eprintln!("sipr: option -m needs a value (MB)");
                    return ExitCode::from(255);
                };
                match v.parse::<usize>() {
                    Ok(mb) => {
                        shm_mb = mb;
                        shm_given = true;
                    }
                    Err(_) => {
                        eprintln!("sipr: bad shared memory size for -m: '{v}' (a whole number of MB)");
                        return ExitCode::from(255);
                    }
                }
            }
            "-c" => check = true,
            "-D" => foreground += 1,
            "-E" => log_stderr = true,
            "-d" => debug_bump += 1,
            // flags that stand for a cfg setting
            "-T" | "-S" | "-e" => extra_cfg.push(
                match arg.as_str() {
                    "-T" => "disable_tcp=yes",
                    "-S" => "disable_sctp=yes",
                    _ => "log_color=yes",
                }
                .to_string(),
            ),
            a if a.starts_with("--debug=") => match cmdline_cfg("--debug", &a["--debug=".len()..]) {
                Ok(line) => extra_cfg.push(line),
                Err(e) => {
                    eprintln!("sipr: {e}");
                    return ExitCode::from(255);
                }
            },
            "-l" | "-a" | "--alias" | "--loadmodule" | "--modparam" | "-u" | "-g" | "-Y" | "-N" | "-Q" | "-t"
            | "-b" | "--debug" => {
                let Some(v) = it.next() else {
                    eprintln!("sipr: option {arg} needs a value");
                    return ExitCode::from(255);
                };
                match cmdline_cfg(arg, v) {
                    Ok(line) => extra_cfg.push(line),
                    Err(e) => {
                        eprintln!("sipr: {e}");
                        return ExitCode::from(255);
                    }
                }
            }
            "-P" | "-G" | "-n" | "-M" | "-w" | "-x" | "-X" => {
                let Some(v) = it.next() else {
                    eprintln!("sipr: option {arg} needs a value");
                    return ExitCode::from(255);
                };
                match arg.as_str() {
                    "-P" => pidfile = Some(v.into()),
                    "-G" => pgid_file = Some(v.into()),
                    "-n" => match v.parse() {
                        Ok(n) => children = Some(n),
                        Err(_) => {
                            eprintln!("sipr: bad number of children for -n: '{v}'");
                            return ExitCode::from(255);
                        }
                    },
                    "-w" => {
                        if let Err(e) = std::env::set_current_dir(v) {
                            eprintln!("sipr: cannot change to the working directory {v}: {e}");
                            return ExitCode::from(255);
                        }
                    }
                    // -M (private memory: sipr has no private pool), -x/-X
                    // (allocator: sipr has one)
                    _ => {}
                }
            }
            "--cfg-print" => cfg_print = true,
            "-f" | "-A" | "-L" => {
                let Some(v) = it.next() else {
                    eprintln!("sipr: option {arg} needs a value");
                    return ExitCode::from(255);
                };
                match arg.as_str() {
                    "-f" => cfg_file = v.into(),
                    "-A" => defines.push(v.clone()),
                    _ => module_dirs.push(v.into()),
                }
            }
            other => {
                eprintln!("sipr: unknown option '{other}'\n{}", usage());
                return ExitCode::from(255);
            }
        }
    }
    if cfg_print {
        let defs = sipr_core::cfg::Defines::from_args(defines.iter().map(String::as_str));
        return match sipr_core::cfg::cfg_print(&cfg_file, defs) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("sipr: {e}");
                ExitCode::from(255)
            }
        };
    }
    if !check {
        let opts = sipr_core::runtime::Options {
            cfg: cfg_file,
            defines,
            module_dirs,
            shm_mb: shm_given.then_some(shm_mb),
            log_stderr,
            pidfile,
            pgid_file,
            children,
            debug_bump,
            extra_cfg,
        };
        if foreground == 0 {
            return ExitCode::from(sipr_core::runtime::run_daemon(&opts) as u8);
        }
        return match sipr_core::runtime::run_foreground(&opts) {
            Ok(code) => ExitCode::from(code as u8),
            Err(e) => {
                eprintln!("sipr: {e}");
                ExitCode::from(255)
            }
        };
    }
    match sipr_mem::ShmPool::create_mb(shm_mb) {
        Ok(pool) => {
            // the server's pool: modules reach it through the core's table
            let pool = sipr_core::shm::install(pool);
            let s = pool.stats();
            println!(
                "shm pool ok: total={} free={} used={} real_used={} fragments={}",
                s.total, s.free, s.used, s.real_used, s.fragments
            );
        }
        Err(e) => {
            eprintln!("sipr: cannot create the shared memory pool (-m {shm_mb}): {e}");
            return ExitCode::from(255);
        }
    }
    check_cfg(&cfg_file, &defines, &module_dirs, &extra_cfg)
}

/// A command-line option as the cfg line it stands for (Kamailio's
/// `-l`, `-a`, `--loadmodule`, `--modparam MOD:PARAM:TYPE:VALUE`).
fn cmdline_cfg(opt: &str, v: &str) -> Result<String, String> {
    let quote = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    Ok(match opt {
        "-l" => format!("listen={v}"),
        "-u" => format!("user=\"{}\"", quote(v)),
        "-g" => format!("group=\"{}\"", quote(v)),
        "-Y" => format!("run_dir=\"{}\"", quote(v)),
        "-t" => format!("chroot=\"{}\"", quote(v)),
        "-N" | "-Q" | "-b" | "--debug" => {
            let n: i64 = v.parse().map_err(|_| format!("option {opt} needs a number, not '{v}'"))?;
            let name = match opt {
                "-N" => "tcp_children",
                "-Q" => "sctp_children",
                "-b" => "maxbuffer",
                _ => "debug",
            };
            format!("{name}={n}")
        }
        "-a" | "--alias" => format!("alias=\"{}\"", quote(v)),
        "--loadmodule" => format!("loadmodule \"{}\"", quote(v)),
        _ => {
            let mut parts = v.splitn(4, ':');
            let (Some(m), Some(p), Some(t), Some(val)) = (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return Err(format!("--modparam needs MODULE:PARAM:TYPE:VALUE (TYPE i or s), not '{v}'"));
            };
            match t {
                "i" => {
                    let n: i64 = val.parse().map_err(|_| format!("--modparam {v}: '{val}' is not a number"))?;
                    format!("modparam(\"{}\", \"{}\", {n})", quote(m), quote(p))
                }
                "s" => format!("modparam(\"{}\", \"{}\", \"{}\")", quote(m), quote(p), quote(val)),
                _ => return Err(format!("--modparam {v}: type must be i or s")),
            }
        }
    })
}

/// `sipr -c`: preprocess, parse and compile the cfg (every name resolved,
/// every parameter fixed up), as `kamailio -c`.
fn check_cfg(
    cfg_file: &std::path::Path,
    defines: &[String],
    module_dirs: &[std::path::PathBuf],
    extra: &[String],
) -> ExitCode {
    use sipr_core::cfg;
    let defs = cfg::Defines::from_args(defines.iter().map(String::as_str));
    let mut loader = sipr_core::module::ModuleSet::new(module_dirs);
    match cfg::load_with_extra(cfg_file, defs, extra, cfg::FnRegistry::core(), cfg::PvRegistry::core(), &mut loader) {
        Ok(_) => {
            eprintln!("config file ok, exiting...");
            ExitCode::SUCCESS
        }
        Err(e) => {
            let errors = e.errors();
            for line in &errors {
                eprintln!("{line}");
            }
            eprintln!(
                "sipr: bad config file {} ({} error{})",
                cfg_file.display(),
                errors.len(),
                if errors.len() == 1 { "" } else { "s" }
            );
            ExitCode::from(255)
        }
    }
}

/// `sipr --exports [-L DIR]... MODULE...`: what the core and the named
/// modules export, a line each (`core fn NAME`, `MODULE param NAME`,
/// `MODULE pv NAME`, `... rpc NAME`): the compatibility table's input
/// (test/diff/compat.py).
fn print_exports(args: &[String]) -> ExitCode {
    let mut dirs = Vec::new();
    let mut names = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-L" => match it.next() {
                Some(d) => dirs.push(std::path::PathBuf::from(d)),
                None => {
                    eprintln!("sipr: option -L needs a value");
                    return ExitCode::from(255);
                }
            },
            m => names.push(m.to_string()),
        }
    }
    use std::fmt::Write as _;
    // one write at the end: a closed pipe (`| head`) is not an error here
    let mut out = String::new();
    let mut fns = sipr_core::cfg::FnRegistry::core();
    let mut pvs = sipr_core::cfg::PvRegistry::core();
    for f in fns.names() {
        let _ = writeln!(out, "core fn {f}");
    }
    for p in pvs.names() {
        let _ = writeln!(out, "core pv {p}");
    }
    for r in sipr_core::rpc::BUILTIN {
        let _ = writeln!(out, "core rpc {r}");
    }
    let mut set = sipr_core::module::ModuleSet::new(&dirs);
    for n in &names {
        if let Err(e) = set.load_module(n, None, &mut fns, &mut pvs) {
            eprintln!("sipr: {e}");
            return ExitCode::from(1);
        }
    }
    // the core's commands, those it serves for a loaded module (kex's
    // stats.*, cfg_rpc's cfg.*, counters' cnt.*) among them
    let own: Vec<&str> = set.defs().iter().flat_map(|d| d.rpcs.iter().map(|r| r.name)).collect();
    for r in set.rpc_defs().iter().filter(|r| !own.contains(&r.name)) {
        let _ = writeln!(out, "core rpc {}", r.name);
    }
    for d in set.defs() {
        let mut fnames: Vec<&str> = d.functions.iter().map(|f| f.name).collect();
        fnames.dedup();
        for f in fnames {
            let _ = writeln!(out, "{} fn {f}", d.name);
        }
        for p in d.params {
            let _ = writeln!(out, "{} param {}", d.name, p.name);
        }
        for p in d.pvs {
            let _ = writeln!(out, "{} pv {}", d.name, p.name);
        }
        for r in d.rpcs {
            let _ = writeln!(out, "{} rpc {}", d.name, r.name);
        }
    }
    let _ = std::io::Write::write_all(&mut std::io::stdout(), out.as_bytes());
    ExitCode::SUCCESS
}

/// `sipr --parse FILE...`: one dump per file; exit 1 if any file is
/// malformed, 255 if one cannot be read or none is given.
fn parse_files(files: &[String]) -> ExitCode {
    if files.is_empty() {
        eprintln!("sipr: --parse needs at least one FILE");
        return ExitCode::from(255);
    }
    let mut status = ExitCode::SUCCESS;
    for f in files {
        let bytes = match std::fs::read(f) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("sipr: cannot read {f}: {e}");
                return ExitCode::from(255);
            }
        };
        println!("== {f}");
        let parsed = sipr_core::sip::SipMsg::parse(&bytes);
        let result = match &parsed {
            Ok(msg) => sipr_core::sip::describe(msg),
            Err(e) => Err((String::new(), e.clone())),
        };
        match result {
            Ok(dump) => println!("{dump}ok"),
            Err((dump, e)) => {
                print!("{dump}");
                println!("error: {e}");
                println!("reply: {} {}", e.reply_code(), e.reason());
                status = ExitCode::from(1);
            }
        }
    }
    status
}
