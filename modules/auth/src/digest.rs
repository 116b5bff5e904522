//! Digest computations (RFC 2617, RFC 8760) and sipr's stateless nonces.

use base64::Engine as _;
use md5::{Digest as _, Md5};
use sha2::Sha256;

use sipr_sdk::auth_api::Credentials;

/// Hex of `algorithm`'s hash of `data` (MD5 unless SHA-256).
pub fn hash(algorithm: &str, data: &[u8]) -> String {
    let bytes: Vec<u8> = if algorithm.eq_ignore_ascii_case("SHA-256") {
        Sha256::digest(data).to_vec()
    } else {
        Md5::digest(data).to_vec()
    };
    // ASCII hex digits: always UTF-8
    String::from_utf8(sipr_sdk::hash::hex(&bytes)).unwrap_or_default()
}

/// HA1 = H(user:realm:password).
pub fn ha1(algorithm: &str, user: &str, realm: &str, password: &str) -> String {
    hash(algorithm, format!("{user}:{realm}:{password}").as_bytes())
}

/// Whether the credentials' response is right for `ha1`, `method` and the
/// request `body` (auth-int).
pub fn response_matches(c: &Credentials, ha1: &str, method: &[u8], body: &[u8]) -> bool {
    let alg = c.algorithm.as_str();
    let method = String::from_utf8_lossy(method);
    let ha2 = if c.qop.eq_ignore_ascii_case("auth-int") {
        hash(alg, format!("{method}:{}:{}", c.uri, hash(alg, body)).as_bytes())
    } else {
        hash(alg, format!("{method}:{}", c.uri).as_bytes())
    };
    let expected = if c.qop.is_empty() {
        hash(alg, format!("{ha1}:{}:{ha2}", c.nonce).as_bytes())
    } else {
        hash(alg, format!("{ha1}:{}:{}:{}:{}:{ha2}", c.nonce, c.nc, c.cnonce, c.qop).as_bytes())
    };
    // case-insensitive hex, compared without early exit
    let got = c.response.to_ascii_lowercase();
    got.len() == expected.len() && got.bytes().zip(expected.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// A nonce: when it was made and when it expires (big-endian seconds),
/// with `nid` the nonce's index in the replay-protection arrays when
/// nonce_count or one_time_nonce is on, then an MD5 over them and the
/// secret; base64 (32 characters, 40 with an index).
pub fn make_nonce(secret: &[u8], now: u64, lifetime: u64, nid: Option<u32>) -> String {
    let since = (now as u32).to_be_bytes();
    let until = ((now + lifetime) as u32).to_be_bytes();
    let mut raw = Vec::with_capacity(28);
    raw.extend_from_slice(&since);
    raw.extend_from_slice(&until);
    if let Some(n) = nid {
        raw.extend_from_slice(&n.to_be_bytes());
    }
    let sig = sign(secret, &raw);
    raw.extend_from_slice(&sig);
    base64::engine::general_purpose::STANDARD.encode(raw)
}

/// The stamp (times and index) of a nonce signed with `secret`, or `None`
/// when it is not one of ours.
fn stamp(nonce: &str, secret: &[u8]) -> Option<Vec<u8>> {
    if nonce.len() != 32 && nonce.len() != 40 {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD.decode(nonce).ok()?;
    let body = raw.len().checked_sub(16).filter(|n| *n == 8 || *n == 12)?;
    (sign(secret, &raw[..body]) == raw[body..]).then(|| raw[..body].to_vec())
}

/// The replay-protection index a nonce carries (checked by
/// [`check_nonce`] first).
pub fn nonce_id(nonce: &str, secret: &[u8]) -> Option<u32> {
    let st = stamp(nonce, secret)?;
    st.get(8..12).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

fn sign(secret: &[u8], stamp: &[u8]) -> [u8; 16] {
    let mut h = Md5::new();
    h.update(secret);
    h.update(stamp);
    h.update(secret);
    h.finalize().into()
}

/// What a nonce is worth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceCheck {
    /// Made here and still valid.
    Good,
    /// Made here, expired (the client is challenged with stale=true).
    Expired,
    /// Not one of ours (or tampered with).
    Invalid,
}

/// Checks a nonce made by [`make_nonce`] with the same secret.
pub fn check_nonce(nonce: &str, secret: &[u8], now: u64) -> NonceCheck {
    let Some(st) = stamp(nonce, secret) else { return NonceCheck::Invalid };
    let until = u32::from_be_bytes([st[4], st[5], st[6], st[7]]);
    if u64::from(until) < now {
        NonceCheck::Expired
    } else {
        NonceCheck::Good
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2617_example() {
        // RFC 2617 §3.5: Mufasa / Circle Of Life, qop=auth
        let ha1 = ha1("MD5", "Mufasa", "testrealm@host.com", "Circle Of Life");
        let c = Credentials {
            nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093".into(),
            uri: "/dir/index.html".into(),
            response: "6629fae49393a05397450978507c4ef1".into(),
            qop: "auth".into(),
            nc: "00000001".into(),
            cnonce: "0a4f113b".into(),
            ..Credentials::default()
        };
        assert!(response_matches(&c, &ha1, b"GET", b""));
        assert!(!response_matches(&c, &ha1, b"POST", b""));
        let bad = Credentials { response: "6629fae49393a05397450978507c4ef2".into(), ..c.clone() };
        assert!(!response_matches(&bad, &ha1, b"GET", b""));
    }

    #[test]
    fn rfc8760_sha256() {
        // RFC 7616 §3.9.1's example (SHA-256, qop=auth)
        let ha1 = ha1("SHA-256", "Mufasa", "http-auth@example.org", "Circle of Life");
        let c = Credentials {
            nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v".into(),
            uri: "/dir/index.html".into(),
            response: "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1".into(),
            algorithm: "SHA-256".into(),
            qop: "auth".into(),
            nc: "00000001".into(),
            cnonce: "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ".into(),
            ..Credentials::default()
        };
        assert!(response_matches(&c, &ha1, b"GET", b""));
    }

    #[test]
    fn nonces() {
        let n = make_nonce(b"s3cret", 1_000_000, 300, None);
        assert_eq!(n.len(), 32);
        assert_eq!(nonce_id(&n, b"s3cret"), None);
        let indexed = make_nonce(b"s3cret", 1_000_000, 300, Some(77));
        assert_eq!(indexed.len(), 40);
        assert_eq!(check_nonce(&indexed, b"s3cret", 1_000_100), NonceCheck::Good);
        assert_eq!(nonce_id(&indexed, b"s3cret"), Some(77));
        assert_eq!(nonce_id(&indexed, b"other"), None);
        assert_eq!(check_nonce(&n, b"s3cret", 1_000_100), NonceCheck::Good);
        assert_eq!(check_nonce(&n, b"s3cret", 1_000_301), NonceCheck::Expired);
        assert_eq!(check_nonce(&n, b"other", 1_000_100), NonceCheck::Invalid);
        let mut tampered = n.clone().into_bytes();
        tampered[5] = if tampered[5] == b'A' { b'B' } else { b'A' };
        assert_eq!(check_nonce(&String::from_utf8(tampered).unwrap(), b"s3cret", 1_000_100), NonceCheck::Invalid);
        assert_eq!(check_nonce("x", b"s3cret", 0), NonceCheck::Invalid);
        assert_eq!(check_nonce(&"A".repeat(4000), b"s3cret", 0), NonceCheck::Invalid);
    }
}
