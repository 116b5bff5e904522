//! sipr-core: the SIP server core. It holds the build identity and the SIP
//! message layer ([`sip`]); the transports, process manager, cfg language,
//! module loader, RPC and timers arrive with their issues (README "Status").

/// The version every crate of the workspace shares.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// `version: sipr 0.1.0 (x86_64/linux)`, the first line of `sipr -V`, in
/// the shape of Kamailio's `-V` output so that scripts parsing it keep
/// working.
pub fn version_line() -> String {
    format!("version: sipr {} ({}/{})", VERSION, std::env::consts::ARCH, std::env::consts::OS)
}

/// Shared-memory pool size when neither `-m` nor `shm_mem_size` says
/// otherwise (Kamailio's default is 64 MB too).
pub const DEFAULT_SHM_MB: usize = sipr_mem::DEFAULT_POOL_MB;

pub mod blocklist;
pub mod cfg;
pub mod cfgvars;
pub mod dns;
pub mod guard;
pub mod hash;
pub mod module;
pub mod net;
pub mod rpc;
pub mod runtime;
pub mod shm;
pub mod sip;
pub mod stats;
pub mod timer;
pub mod txn;

/// `sipr (0.1.0 (x86_64/linux))`: the default `Server:` / `User-Agent:`
/// value, shaped as Kamailio's `kamailio (5.6.3 (x86_64/linux))`.
/// Built once: every local reply carries it.
pub fn server_signature() -> &'static str {
    static SIG: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SIG.get_or_init(|| format!("sipr ({} ({}/{}))", VERSION, std::env::consts::ARCH, std::env::consts::OS))
}
