//! cfg_rpc: the `cfg.*` RPC commands over the runtime-changeable
//! parameters (Kamailio's cfg framework): `cfg.get GROUP [NAME]`,
//! `cfg.set` / `cfg.seti GROUP NAME VALUE`, `cfg.list`, `cfg.help GROUP
//! NAME`. The variables and the commands live in the core (a change made
//! by the RPC process must reach every process: the values are in shm);
//! loading this module publishes the commands, as loading Kamailio's
//! cfg_rpc does. Variables: `core:debug` (applied by each process before
//! its next message), tm's timers (`fr_timer`, `fr_inv_timer`,
//! `wt_timer`, `retr_timer1`, `retr_timer2`, `max_inv_lifetime`,
//! `max_noninv_lifetime`: used by the next transaction; not readable with
//! `cfg.get`, as in Kamailio).

#![forbid(unsafe_code)]

sipr_sdk::module! {
    name: "cfg_rpc",
    functions: [],
    params: [],
}
