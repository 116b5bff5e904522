//! Instruction-count driver for callgrind (not a benchmark): parses a seed
//! message 10,000 times, optionally parsing every header. Instruction
//! counts are stable where wall-clock timings on a shared VM are not:
//! `valgrind --tool=callgrind target/release/examples/parse_loop [full] [FILE] [COUNT]`
//! (COUNT, 10,000 by default, raised for a sampling profiler).
fn main() {
    let file = std::env::args().nth(2).unwrap_or_else(|| "core/fuzz/seeds/invite-sdp.sip".into());
    let b = std::fs::read(file).unwrap();
    let mode = std::env::args().nth(1).unwrap_or_default();
    let count = std::env::args().nth(3).and_then(|n| n.parse().ok()).unwrap_or(10_000);
    for _ in 0..count {
        let parsed = sipr_core::sip::SipMsg::parse(std::hint::black_box(&b));
        let m = parsed.as_ref().unwrap();
        if mode == "full" {
            std::hint::black_box(m.parse_all_headers().unwrap());
        }
        std::hint::black_box(m);
    }
}
