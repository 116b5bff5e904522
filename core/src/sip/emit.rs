//! Writing numbers and addresses into outgoing messages. Every reply and
//! forwarded request carries a few (Content-Length, rport, received, the
//! status code, tags): these write the bytes straight into the buffer,
//! without `core::fmt`'s machinery, which was a tenth of a worker's user
//! time answering OPTIONS.

use std::net::IpAddr;

/// Appends `n` in decimal.
pub fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    // u64::MAX has 20 digits
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// `n` as exactly 8 lower-case hex digits.
pub fn hex8(n: u32) -> [u8; 8] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut digits = [0u8; 8];
    for (i, d) in digits.iter_mut().enumerate() {
        *d = HEX[((n >> (28 - 4 * i)) & 0xf) as usize];
    }
    digits
}

/// Appends an IP address as text: dotted quad, or RFC 5952 IPv6 text
/// without brackets (what `received=` carries).
pub fn push_ip(out: &mut Vec<u8>, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                push_decimal(out, u64::from(octet));
            }
        }
        // Rare on the hot path; std's text is RFC 5952's. Writing into a
        // Vec cannot fail.
        IpAddr::V6(v6) => {
            use std::io::Write as _;
            let _ = write!(out, "{v6}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_match_display() {
        for n in [0u64, 7, 9, 10, 99, 100, 5060, 65535, 2_147_483_647, u64::MAX] {
            let mut out = Vec::new();
            push_decimal(&mut out, n);
            assert_eq!(out, n.to_string().into_bytes());
        }
    }

    #[test]
    fn hex8_is_zero_padded() {
        for n in [0u32, 0xa, 0x1234_abcd, u32::MAX] {
            assert_eq!(hex8(n).to_vec(), format!("{n:08x}").into_bytes());
        }
    }

    #[test]
    fn addresses_match_display() {
        for ip in ["0.0.0.0", "127.0.0.1", "203.0.113.255", "10.20.3.4", "::1", "2001:db8::7", "::ffff:192.0.2.1"] {
            let ip: IpAddr = ip.parse().unwrap();
            let mut out = Vec::new();
            push_ip(&mut out, ip);
            assert_eq!(out, ip.to_string().into_bytes());
        }
    }
}
