//! `make bench`: the compiled cfg per message. A 40-statement
//! request_route (ifs on the method, flags, `$var` assignments, a regex
//! match, two transformations, an AVP, IP-network and `myself` matches)
//! run on a parsed INVITE, one core.
//!
//! * warm message: the same parsed message every run (header bodies the
//!   route reads are parsed on the first run and cached, as they would be
//!   by the time a real script reads them twice);
//! * fresh parse: `SipMsg::parse` + the route, per message.
//!
//! Target (issue 4): ≥ 1,000,000 executions/s. Medians of 11 runs.

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::Instant;

use sipr_core::cfg::{load_str, CoreInfo, Ctx, FnRegistry, NoModules, ProcState, PvRegistry, Recorder};
use sipr_core::net::{Proto, RecvInfo};
use sipr_core::sip::SipMsg;

const N: usize = 300_000;
const RUNS: usize = 11;

const CFG: &str = r#"
listen=udp:127.0.0.1:5060
alias=example.com
flags FLT_ACC: 1, FLT_NAT: 2
request_route {
    $var(count) = 0;
    if (method == "INVITE") { setflag(FLT_ACC); }
    if (method == "REGISTER") { setflag(FLT_NAT); }
    if (method == "OPTIONS") { exit; }
    if (isflagset(FLT_ACC)) { $var(count) = $var(count) + 1; }
    if (!isflagset(FLT_NAT)) { $var(count) = $var(count) + 2; }
    $var(user) = $rU;
    $var(dom) = $(ru{uri.host});
    $var(len) = $(var(user){s.len});
    if ($ua =~ "friendly|scanner|sipcli|sipvicious") { drop; }
    if ($var(len) > 2) { $var(count) = $var(count) + 1; }
    if ($rd == "example.com") { $var(local) = 1; } else { $var(local) = 0; }
    setbflag(3);
    if (isbflagset(3)) { $var(b) = 1; }
    $avp(caller) = $fU;
    if ($avp(caller) == "alice") { $var(count) = $var(count) + 1; }
    if (src_ip == 10.0.0.0/8) { $var(internal) = 1; }
    if (uri == myself) { $var(me) = 1; }
    if ($cs > 0) { $var(cs) = $cs; }
    if ($var(count) >= 3) { setflag(5); }
    resetflag(5);
    $var(x) = $var(count) * 2 + 1;
    if ($var(x) != 7) { $var(y) = "odd"; }
    return;
}
"#;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    // SIPR_BENCH_N / SIPR_BENCH_WARM_ONLY: for profiling runs (callgrind)
    let n: usize = std::env::var("SIPR_BENCH_N").ok().and_then(|v| v.parse().ok()).unwrap_or(N);
    let prog = load_str(CFG, "bench.cfg", FnRegistry::core(), PvRegistry::core(), &mut NoModules).expect("bench cfg");
    let route = prog.request_route.expect("request_route");
    let bytes: &[u8] = include_bytes!("../fuzz/seeds/invite-sdp.sip");
    let core = CoreInfo {
        listen: prog.core.listen.clone(),
        aliases: prog.core.aliases.clone(),
        server_header: Some(sipr_core::server_signature().to_string()),
        secret: 0,
        ..Default::default()
    };
    let rcv = RecvInfo {
        src: "10.0.0.5:5062".parse::<SocketAddr>().unwrap(),
        dst: "127.0.0.1:5060".parse::<SocketAddr>().unwrap(),
        proto: Proto::Udp,
    };
    let mut proc = ProcState::default();
    let mut out = Recorder::default();

    let warm = SipMsg::parse(bytes).unwrap();
    // sanity: the route does what it says
    {
        let mut ctx = Ctx::new(&warm, rcv, &core, &mut proc, &mut out);
        let o = prog.run(route, &mut ctx);
        assert_eq!(o.retcode, 1);
        assert!(ctx.flags & 2 != 0, "FLT_ACC set");
    }
    let mut run_warm = Vec::new();
    let mut run_fresh = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        for _ in 0..n {
            let mut ctx = Ctx::new(&warm, rcv, &core, &mut proc, &mut out);
            black_box(prog.run(route, &mut ctx));
        }
        run_warm.push(t.elapsed().as_nanos() as f64 / n as f64);
        if std::env::var_os("SIPR_BENCH_WARM_ONLY").is_some() {
            continue;
        }
        let t = Instant::now();
        for _ in 0..n {
            let msg = SipMsg::parse(black_box(bytes)).unwrap();
            let mut ctx = Ctx::new(&msg, rcv, &core, &mut proc, &mut out);
            black_box(prog.run(route, &mut ctx));
        }
        run_fresh.push(t.elapsed().as_nanos() as f64 / n as f64);
    }
    if run_fresh.is_empty() {
        run_fresh.push(f64::NAN);
    }
    let (w, f) = (median(run_warm), median(run_fresh));
    println!("# cfg script: 40-statement request_route, one core, median of {RUNS} runs of {n}");
    println!("| case | ns/execution | executions/s | target |");
    println!("|---|---|---|---|");
    println!("| route on a parsed INVITE | {w:.0} | {:.2} M | ≥ 1 M/s |", 1e3 / w);
    println!("| parse + route | {f:.0} | {:.2} M | — |", 1e3 / f);
}
