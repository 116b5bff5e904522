//! siprctl: the command line of sipr, with kamctl's command set and
//! meanings — subscribers, domains, address groups and dispatcher sets
//! straight on the database; the database's tables (kamdbctl's job); the
//! running server over RPC; its start and stop. Tables for people,
//! `--json` for scripts. A thin binary: the codecs are sipr-core's.

mod config;
mod db;
mod monitor;
mod output;
mod rpc;
mod server;
mod subscribers;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use serde_json::Value;

use output::Format;

/// sipr's control tool (kamctl's commands, for sipr).
#[derive(Debug, Parser)]
#[command(name = "siprctl", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

/// Options every command takes.
#[derive(Debug, Args, Clone)]
struct Global {
    /// Settings file (kamctlrc style; default ~/.siprctlrc, then
    /// /etc/sipr/siprctlrc).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Database: sqlite:////ABSOLUTE/FILE (as the server's db_url) or
    /// postgres://USER:PASSWORD@HOST:PORT/DB
    /// (default: DBURL in the settings, else the server cfg's db_url).
    #[arg(long, global = true, value_name = "URL")]
    db: Option<String>,
    /// The server's RPC socket: jsonrpcs' datagram socket path,
    /// unix:PATH / tcp:HOST:PORT / udp:HOST:PORT (ctl), or
    /// http://HOST:PORT/PATH (default: found from the server cfg).
    #[arg(long, global = true, value_name = "SOCKET")]
    rpc: Option<String>,
    /// The server's cfg (default: SIPR_CFG in the settings, else
    /// /usr/local/etc/sipr/sipr.cfg).
    #[arg(long, global = true, value_name = "FILE")]
    cfg: Option<PathBuf>,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Add a subscriber: USER[@DOMAIN] PASSWORD (ha1 and ha1b stored; the
    /// plain password only with STORE_PLAINTEXT_PW=1).
    Add { user: String, password: String },
    /// Change a subscriber's password.
    Passwd { user: String, password: String },
    /// Remove a subscriber.
    Rm { user: String },
    /// Show subscribers (all, or one).
    Show { user: Option<String> },
    /// The domain table.
    Domain {
        #[command(subcommand)]
        action: DomainCmd,
    },
    /// Address groups (the permissions module's address table).
    Address {
        #[command(subcommand)]
        action: AddressCmd,
    },
    /// Dispatcher destination sets.
    Dispatcher {
        #[command(subcommand)]
        action: DispatcherCmd,
    },
    /// The database's tables (kamdbctl's job).
    Db {
        #[command(subcommand)]
        action: DbCmd,
    },
    /// Registrations (usrloc) of the running server.
    Ul {
        #[command(subcommand)]
        action: UlCmd,
    },
    /// The AoRs registered now.
    Online,
    /// Statistics (all, or a group).
    Stats { group: Option<String> },
    /// The server's processes.
    Ps,
    /// How long the server runs.
    Uptime,
    /// The server's version.
    Version,
    /// Facts of the server: sockets, aliases, modules, rpclist.
    Srv {
        #[arg(value_parser = ["sockets", "aliases", "modules", "rpclist"])]
        what: String,
    },
    /// The log level (shown, or set on every process at once).
    Debug { level: Option<i64> },
    /// Shared hash tables (htable).
    Htable {
        #[command(subcommand)]
        action: HtableCmd,
    },
    /// Transaction statistics.
    Tm {
        #[arg(value_parser = ["stats"])]
        what: String,
    },
    /// Shared memory (with --by-module, each module's share).
    Shm {
        #[arg(long)]
        by_module: bool,
    },
    /// Any RPC command: METHOD [ARGS...] (kamctl's typing: numbers are
    /// ints, s:TEXT a string, i:N an int).
    Rpc {
        method: String,
        #[arg(allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// A live view of the server, refreshed every second (q to quit).
    Monitor {
        /// Stop after this many refreshes.
        #[arg(long)]
        count: Option<u64>,
    },
    /// Start the server (daemon, pidfile).
    Start,
    /// Stop the server (SIGTERM to the pid in the pidfile).
    Stop,
    /// Stop, then start.
    Restart,
}

#[derive(Debug, Subcommand)]
enum DomainCmd {
    /// Add a domain.
    Add { domain: String },
    /// Remove a domain.
    Rm { domain: String },
    /// List the domains.
    Show,
}

#[derive(Debug, Subcommand)]
enum AddressCmd {
    /// Add GROUP IP [MASK [PORT [TAG]]].
    Add {
        group: u32,
        ip: String,
        #[arg(default_value_t = 32)]
        mask: u32,
        #[arg(default_value_t = 0)]
        port: u16,
        tag: Option<String>,
    },
    /// Remove GROUP IP.
    Rm { group: u32, ip: String },
    /// List the address table.
    Show,
    /// Make the server read the table again (permissions.addressReload).
    Reload,
}

#[derive(Debug, Subcommand)]
enum DispatcherCmd {
    /// Add SETID DESTINATION [FLAGS [PRIORITY [ATTRS [DESCRIPTION]]]].
    Add {
        setid: u32,
        destination: String,
        #[arg(default_value_t = 0)]
        flags: u32,
        #[arg(default_value_t = 0)]
        priority: i32,
        #[arg(default_value = "")]
        attrs: String,
        #[arg(default_value = "")]
        description: String,
    },
    /// Remove the destination with this id.
    Rm { id: u32 },
    /// List the destinations.
    Show,
    /// Make the server read the table again (dispatcher.reload).
    Reload,
}

#[derive(Debug, Subcommand)]
enum DbCmd {
    /// Create the database and every table missing (idempotent).
    Create,
    /// Bring the tables to sipr's versions (creates the missing ones).
    Migrate,
    /// Drop every table sipr knows (asks no question: scripts use it).
    Drop,
    /// The version of every table.
    ShowVersion,
}

#[derive(Debug, Subcommand)]
enum UlCmd {
    /// The registrations (all, or one AoR).
    Show { aor: Option<String> },
    /// Remove an AoR's registrations.
    Rm { aor: String },
    /// Add a binding: AOR CONTACT [EXPIRES [Q]].
    Add {
        aor: String,
        contact: String,
        #[arg(default_value_t = 3600)]
        expires: u32,
        #[arg(default_value = "1.0")]
        q: String,
    },
}

#[derive(Debug, Subcommand)]
enum HtableCmd {
    /// A key's value.
    Get { table: String, key: String },
    /// Set a key (numbers are ints unless --string).
    Set {
        table: String,
        key: String,
        value: String,
        #[arg(long)]
        string: bool,
    },
    /// Remove a key.
    Rm { table: String, key: String },
    /// Every key of a table.
    Dump { table: String },
}

/// What a command needs: the settings and the flags.
pub struct Ctx {
    /// The settings file.
    pub config: config::Config,
    global: Global,
    /// How to print.
    pub fmt: Format,
}

impl std::fmt::Debug for Ctx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx").field("fmt", &self.fmt).finish()
    }
}

impl Ctx {
    /// The server's cfg file.
    pub fn server_cfg(&self) -> PathBuf {
        self.global
            .cfg
            .clone()
            .or_else(|| self.config.get("SIPR_CFG").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("/usr/local/etc/sipr/sipr.cfg"))
    }

    /// The database URL: --db, DBURL, kamctlrc's DBENGINE and friends,
    /// the server cfg's first db_url, else the default SQLite file.
    pub fn db_url(&self) -> String {
        if let Some(u) = &self.global.db {
            return u.clone();
        }
        if let Some(u) = self.config.get("DBURL") {
            return u;
        }
        match self.config.get("DBENGINE").map(|e| e.to_ascii_uppercase()).as_deref() {
            Some("PGSQL" | "POSTGRES" | "POSTGRESQL") => {
                let host = self.config.get("DBHOST").unwrap_or_else(|| "localhost".into());
                let port = self.config.get("DBPORT").unwrap_or_else(|| "5432".into());
                let name = self.config.get("DBNAME").unwrap_or_else(|| "kamailio".into());
                let user = self.config.get("DBRWUSER").unwrap_or_else(|| "kamailio".into());
                let pw = self.config.get("DBRWPW").unwrap_or_default();
                return format!("postgres://{user}:{pw}@{host}:{port}/{name}");
            }
            Some("SQLITE") => {
                if let Some(p) = self.config.get("DB_PATH") {
                    return format!("sqlite:///{p}");
                }
            }
            _ => {}
        }
        if let Ok(text) = std::fs::read_to_string(self.server_cfg()) {
            for line in text.lines().map(str::trim).filter(|l| !l.starts_with('#') && l.contains("db_url")) {
                if let Some(url) = line.split('"').find(|p| p.starts_with("sqlite://") || p.starts_with("postgres://"))
                {
                    return url.to_string();
                }
            }
        }
        "sqlite:////usr/local/var/lib/sipr/sipr.db".to_string()
    }

    /// The database, which must exist.
    pub fn db(&self) -> Result<db::Db> {
        db::Db::open(&self.db_url(), false)
    }

    /// The RPC endpoints to try.
    fn endpoints(&self) -> Result<Vec<rpc::Endpoint>> {
        if let Some(r) = self.global.rpc.clone().or_else(|| self.config.get("RPC")) {
            return Ok(vec![rpc::parse_endpoint(&r)?]);
        }
        let run_dir = self.config.get("RUN_DIR").map(PathBuf::from);
        let cfg = self.server_cfg();
        Ok(rpc::discover(run_dir.as_deref(), cfg.exists().then_some(cfg.as_path())))
    }

    /// Runs one RPC command on the first endpoint that answers.
    pub fn rpc(&self, method: &str, params: &[Value]) -> Result<Value> {
        let eps = self.endpoints()?;
        let mut tried = Vec::new();
        for ep in &eps {
            match rpc::call(ep, method, params) {
                Ok(v) => return Ok(v),
                Err(rpc::CallError::Refused(code, msg)) => bail!("{method}: the server answered {code} {msg}"),
                Err(rpc::CallError::Unreachable(e)) => tried.push(format!("  {ep}: {e:#}")),
            }
        }
        bail!(
            "sipr is not running, or its control sockets are elsewhere; tried:\n{}\n(start it with `siprctl start`, or name the socket with --rpc)",
            tried.join("\n")
        )
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let fmt = if cli.global.json { Format::Json } else { Format::Human };
    let config = match config::Config::load(cli.global.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("siprctl: {e:#}");
            return ExitCode::from(2);
        }
    };
    let ctx = Ctx { config, global: cli.global.clone(), fmt };
    match run(&ctx, cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("siprctl: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(ctx: &Ctx, cmd: Command) -> Result<()> {
    let print = |v: Value| {
        output::print_value(ctx.fmt, &v);
        Ok(())
    };
    let s = |x: &str| Value::String(x.to_string());
    match cmd {
        Command::Add { user, password } => subscribers::add(ctx, &user, &password),
        Command::Passwd { user, password } => subscribers::passwd(ctx, &user, &password),
        Command::Rm { user } => subscribers::rm(ctx, &user),
        Command::Show { user } => subscribers::show(ctx, user.as_deref()),
        Command::Domain { action } => match action {
            DomainCmd::Add { domain } => subscribers::domain_add(ctx, &domain),
            DomainCmd::Rm { domain } => subscribers::domain_rm(ctx, &domain),
            DomainCmd::Show => {
                subscribers::table_show(ctx, "domain", "SELECT id, domain, did, last_modified FROM domain ORDER BY id")
            }
        },
        Command::Address { action } => match action {
            AddressCmd::Add { group, ip, mask, port, tag } => {
                subscribers::address_add(ctx, group, &ip, mask, port, tag.as_deref())
            }
            AddressCmd::Rm { group, ip } => subscribers::address_rm(ctx, group, &ip),
            AddressCmd::Show => subscribers::table_show(
                ctx,
                "address",
                "SELECT id, grp, ip_addr, mask, port, tag FROM address ORDER BY grp, id",
            ),
            AddressCmd::Reload => print(ctx.rpc("permissions.addressReload", &[])?),
        },
        Command::Dispatcher { action } => match action {
            DispatcherCmd::Add { setid, destination, flags, priority, attrs, description } => {
                subscribers::dispatcher_add(ctx, setid, &destination, flags, priority, &attrs, &description)
            }
            DispatcherCmd::Rm { id } => subscribers::dispatcher_rm(ctx, id),
            DispatcherCmd::Show => subscribers::table_show(
                ctx,
                "dispatcher",
                "SELECT id, setid, destination, flags, priority, attrs, description FROM dispatcher ORDER BY setid, id",
            ),
            DispatcherCmd::Reload => print(ctx.rpc("dispatcher.reload", &[])?),
        },
        Command::Db { action } => match action {
            DbCmd::Create => subscribers::db_create(ctx, false),
            DbCmd::Migrate => subscribers::db_create(ctx, true),
            DbCmd::Drop => subscribers::db_drop(ctx),
            DbCmd::ShowVersion => subscribers::table_show(
                ctx,
                "version",
                "SELECT table_name, table_version FROM version ORDER BY table_name",
            ),
        },
        Command::Ul { action } => match action {
            UlCmd::Show { aor: None } => print(ctx.rpc("ul.dump", &[])?),
            UlCmd::Show { aor: Some(a) } => print(ctx.rpc("ul.lookup", &[s("location"), s(&a)])?),
            UlCmd::Rm { aor } => {
                ctx.rpc("ul.rm", &[s("location"), s(&aor)])?;
                if ctx.fmt == Format::Human {
                    crate::output::outln!("{aor}: registrations removed");
                }
                Ok(())
            }
            UlCmd::Add { aor, contact, expires, q } => {
                let q: f64 = q.parse().context("Q is a number such as 0.5")?;
                ctx.rpc(
                    "ul.add",
                    &[
                        s("location"),
                        s(&aor),
                        s(&contact),
                        Value::from(expires),
                        Value::from(q),
                        s(""),
                        Value::from(0),
                        Value::from(0),
                        Value::from(0xffff_ffffu32),
                    ],
                )?;
                if ctx.fmt == Format::Human {
                    crate::output::outln!("{aor}: {contact} added for {expires}s");
                }
                Ok(())
            }
        },
        Command::Online => {
            let dump = ctx.rpc("ul.dump", &[s("brief")])?;
            let mut aors = Vec::new();
            collect_aors(&dump, &mut aors);
            aors.sort();
            aors.dedup();
            match ctx.fmt {
                Format::Json => crate::output::outln!("{}", output::pretty(&Value::from(aors))),
                Format::Human => aors.iter().for_each(|a| crate::output::outln!("{a}")),
            }
            Ok(())
        }
        Command::Stats { group } => {
            let sel = group.map_or_else(|| "all".to_string(), |g| if g.ends_with(':') { g } else { format!("{g}:") });
            let v = ctx.rpc("stats.get_statistics", &[s(&sel)])?;
            let rows: Vec<Vec<String>> = v
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .filter_map(|l| l.split_once(" = "))
                        .map(|(n, v)| vec![n.to_string(), v.to_string()])
                        .collect()
                })
                .unwrap_or_default();
            match ctx.fmt {
                Format::Json => crate::output::outln!(
                    "{}",
                    output::pretty(&Value::Object(
                        rows.iter()
                            .map(|r| (r[0].clone(), r[1].parse::<i64>().map_or_else(|_| s(&r[1]), Value::from)))
                            .collect()
                    ))
                ),
                Format::Human => crate::output::out!("{}", output::table(&["statistic".into(), "value".into()], &rows)),
            }
            Ok(())
        }
        Command::Ps => print(ctx.rpc("core.psx", &[])?),
        Command::Uptime => print(ctx.rpc("core.uptime", &[])?),
        Command::Version => print(ctx.rpc("core.version", &[])?),
        Command::Srv { what } => {
            let method = match what.as_str() {
                "sockets" => "core.sockets_list",
                "aliases" => "core.aliases_list",
                "modules" => "core.modules",
                _ => "system.listMethods",
            };
            print(ctx.rpc(method, &[])?)
        }
        Command::Debug { level: None } => print(ctx.rpc("cfg.get", &[s("core"), s("debug")])?),
        Command::Debug { level: Some(l) } => {
            ctx.rpc("cfg.set", &[s("core"), s("debug"), Value::from(l)])?;
            if ctx.fmt == Format::Human {
                crate::output::outln!("debug level {l} on every process");
            }
            Ok(())
        }
        Command::Htable { action } => match action {
            HtableCmd::Get { table, key } => print(ctx.rpc("htable.get", &[s(&table), s(&key)])?),
            HtableCmd::Set { table, key, value, string } => {
                let (method, v) = match value.parse::<i64>() {
                    Ok(i) if !string => ("htable.seti", Value::from(i)),
                    _ => ("htable.sets", s(&value)),
                };
                print(ctx.rpc(method, &[s(&table), s(&key), v])?)
            }
            HtableCmd::Rm { table, key } => print(ctx.rpc("htable.delete", &[s(&table), s(&key)])?),
            HtableCmd::Dump { table } => print(ctx.rpc("htable.dump", &[s(&table)])?),
        },
        Command::Tm { .. } => print(ctx.rpc("tm.stats", &[])?),
        Command::Shm { by_module: false } => print(ctx.rpc("core.shmmem", &[])?),
        Command::Shm { by_module: true } => {
            let v = ctx.rpc("mod.stats", &[s("all"), s("shm")])?;
            let mut rows = monitor::shm_by_module(&v);
            rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            let rows: Vec<Vec<String>> =
                rows.into_iter().map(|(m, b, k)| vec![m, b.to_string(), k.to_string()]).collect();
            output::print_rows(ctx.fmt, &["module".into(), "bytes".into(), "blocks".into()], &rows);
            Ok(())
        }
        Command::Rpc { method, args } => {
            let params: Vec<Value> = args.iter().map(|a| rpc::typed_param(a)).collect();
            // kamctl rpc prints the JSON reply: so does siprctl, tables aside
            let v = ctx.rpc(&method, &params)?;
            match ctx.fmt {
                Format::Json => crate::output::outln!("{}", output::pretty(&v)),
                Format::Human => crate::output::out!("{}", output::human(&v)),
            }
            Ok(())
        }
        Command::Monitor { count } => monitor::run(ctx, count),
        Command::Start => server::start(ctx),
        Command::Stop => server::stop(ctx),
        Command::Restart => {
            server::stop(ctx)?;
            server::start(ctx)
        }
    }
}

/// The AoRs of a `ul.dump` (brief or full) reply.
fn collect_aors(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "AoR" {
                    if let Some(a) = x.as_str() {
                        out.push(a.to_string());
                    }
                } else {
                    collect_aors(x, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_aors(x, out)),
        _ => {}
    }
}
