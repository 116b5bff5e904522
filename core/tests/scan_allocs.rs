//! The header-boundary scan allocates nothing on the heap (headers are kept
//! inline in the message), proven with a counting global allocator.

use sipr_core::sip::SipMsg;

#[test]
fn header_scan_allocates_nothing() {
    let seeds = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
    for name in ["invite.sip", "register.sip", "ok200.sip", "options-compact.sip", "bye-routes.sip"] {
        let bytes = std::fs::read(seeds.join(name)).unwrap();
        let mut headers = 0;
        let info = allocation_counter::measure(|| {
            let m = SipMsg::parse(&bytes).unwrap();
            headers = m.headers().len();
        });
        assert!(headers >= 8, "{name}: {headers} headers");
        assert_eq!(info.count_total, 0, "{name}: the scan allocated {} times", info.count_total);
    }
    // Sanity check of the counter itself: a message with more headers than
    // fit inline does allocate (the spill).
    let mut big = b"OPTIONS sip:a@b SIP/2.0\r\n".to_vec();
    for i in 0..40 {
        big.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
    }
    big.extend_from_slice(b"\r\n");
    let info = allocation_counter::measure(|| {
        assert_eq!(SipMsg::parse(&big).unwrap().headers().len(), 40);
    });
    assert!(info.count_total > 0);
}
