//! Any bytes as a DNS response (they come from the network): parsing must
//! never panic, loop or read out of bounds; what parses must survive a
//! round trip through the response builder.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sipr_core::dns::wire::{parse, response, Rdata};

fuzz_target!(|data: &[u8]| {
    let Ok(r) = parse(data) else { return };
    // names are read byte for byte; only ASCII ones re-encode identically
    let ascii = r.records.iter().all(|rec| {
        rec.name.is_ascii()
            && match &rec.data {
                Rdata::Srv { target, .. } | Rdata::Cname(target) => target.is_ascii(),
                _ => true,
            }
    });
    if !ascii {
        return;
    }
    // rebuild the answers onto the same question, when there is one
    if let Ok(again) = response(data, r.rcode & 0x0f, &r.records) {
        let back = parse(&again).expect("a response we built parses");
        assert_eq!(back.records, r.records);
    }
});
