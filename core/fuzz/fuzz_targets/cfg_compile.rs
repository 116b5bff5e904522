//! Any cfg text: preprocess, parse, compile (core functions and PVs) and,
//! when it compiles, run its request_route on a fixed INVITE. Nothing may
//! panic; errors are fine. Scripts with loops or route calls are compiled
//! but not run: `route[R] { route(R); route(R); }` is exponential by
//! design (as in Kamailio, the depth is bounded, not the breadth), which
//! the fuzzer would report as a hang.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sipr_core::cfg::{load_str, CoreInfo, Ctx, FnRegistry, NoModules, ProcState, PvRegistry, Recorder};
use sipr_core::net::RecvInfo;
use sipr_core::sip::SipMsg;

const INVITE: &[u8] = b"INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bKabc\r\n\
Max-Forwards: 70\r\nFrom: <sip:alice@a.example>;tag=1\r\nTo: <sip:bob@example.com>\r\nCall-ID: c1\r\n\
CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(prog) = load_str(text, "fuzz.cfg", FnRegistry::core(), PvRegistry::core(), &mut NoModules) else { return };
    let Some(route) = prog.request_route else { return };
    if text.contains("while") || text.contains("route(") {
        return;
    }
    let msg = SipMsg::parse(INVITE).unwrap();
    let core = CoreInfo::default();
    let mut proc = ProcState::default();
    let mut out = Recorder::default();
    let mut ctx = Ctx::new(&msg, RecvInfo::default(), &core, &mut proc, &mut out);
    let _ = prog.run(route, &mut ctx);
});
