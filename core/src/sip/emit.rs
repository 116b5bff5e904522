//! Writing numbers and addresses into outgoing messages. Every reply and
//! forwarded request carries a few (Content-Length, rport, received, the
//! status code, tags): these write the bytes straight into the buffer,
//! without `core::fmt`'s machinery, which was a tenth of a worker's user
//! time answering OPTIONS.

use std::net::IpAddr;

/// `n` in decimal, in `digits` (u64::MAX has 20 digits).
fn decimal(mut n: u64, digits: &mut [u8; 20]) -> &[u8] {
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &digits[at..]
}

/// Appends `n` in decimal.
pub fn push_decimal(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(decimal(n, &mut [0u8; 20]));
}

/// Appends `n` in decimal to text.
pub fn push_decimal_str(out: &mut String, n: u64) {
    for &d in decimal(n, &mut [0u8; 20]) {
        out.push(char::from(d));
    }
}

/// Appends `n` in decimal to text, with a minus sign when negative.
pub fn push_signed_str(out: &mut String, n: i64) {
    if n < 0 {
        out.push('-');
    }
    push_decimal_str(out, n.unsigned_abs());
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

/// Appends `n` in lower-case hex, without leading zeros.
pub fn push_hex(out: &mut Vec<u8>, n: u64) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut digits = [0u8; 16];
    let mut at = digits.len();
    let mut n = n;
    loop {
        at -= 1;
        digits[at] = HEX[(n & 0xf) as usize];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// `n` as exactly 16 lower-case hex digits.
pub fn hex16(n: u64) -> [u8; 16] {
    let mut digits = [0u8; 16];
    digits[..8].copy_from_slice(&hex8((n >> 32) as u32));
    digits[8..].copy_from_slice(&hex8(n as u32));
    digits
}

/// An address as a host in a URI or Via: dotted quad, or `[IPv6]`.
pub fn host_text(ip: IpAddr) -> String {
    let mut out = Vec::with_capacity(48);
    if ip.is_ipv6() {
        out.push(b'[');
    }
    push_ip(&mut out, ip);
    if ip.is_ipv6() {
        out.push(b']');
    }
    // push_ip writes ASCII only
    String::from_utf8(out).unwrap_or_default()
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
    fn hex_and_host_text() {
        let mut v = Vec::new();
        push_hex(&mut v, 0);
        v.push(b'.');
        push_hex(&mut v, 0x1a2b);
        assert_eq!(v, b"0.1a2b");
        assert_eq!(&hex16(0x0123_4567_89ab_cdef), b"0123456789abcdef");
        assert_eq!(host_text("10.0.0.1".parse().unwrap()), "10.0.0.1");
        assert_eq!(host_text("::1".parse().unwrap()), "[::1]");
    }

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
