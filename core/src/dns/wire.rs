//! DNS messages (RFC 1035 §4): building a query, reading the records of a
//! response. Responses come from the network: every length and pointer is
//! checked, compression loops are cut, and a bad message is an error,
//! never a panic.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Record types sipr asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QType {
    /// IPv4 address.
    A,
    /// IPv6 address.
    Aaaa,
    /// Service location (RFC 2782).
    Srv,
}

impl QType {
    fn code(self) -> u16 {
        match self {
            QType::A => 1,
            QType::Aaaa => 28,
            QType::Srv => 33,
        }
    }
}

const CNAME: u16 = 5;

/// One answer record sipr understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rdata {
    /// An IPv4 address.
    A(Ipv4Addr),
    /// An IPv6 address.
    Aaaa(Ipv6Addr),
    /// A service target.
    Srv {
        /// Lower first.
        priority: u16,
        /// Share among equal priorities.
        weight: u16,
        /// Port.
        port: u16,
        /// Host name ("." = no service).
        target: String,
    },
    /// An alias.
    Cname(String),
}

/// A record with its owner name and time to live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Owner name, lower case, no trailing dot.
    pub name: String,
    /// Seconds it may be cached.
    pub ttl: u32,
    /// The data.
    pub data: Rdata,
}

/// What a response said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The query id it answers.
    pub id: u16,
    /// RCODE (0 no error, 3 no such name ...).
    pub rcode: u8,
    /// Truncated (TC bit).
    pub truncated: bool,
    /// Answer and additional records sipr understands (others skipped).
    pub records: Vec<Record>,
}

/// Why a response could not be read (or a query built).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireError {
    /// It ends inside a field.
    Short,
    /// A name is malformed (label too long, bad pointer, loop, > 255 bytes).
    BadName,
    /// Not a response.
    NotResponse,
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            WireError::Short => "truncated DNS message",
            WireError::BadName => "malformed name in DNS message",
            WireError::NotResponse => "not a DNS response",
        })
    }
}

impl std::error::Error for WireError {}

/// A query for `name` (recursion desired).
pub fn query(id: u16, name: &str, qtype: QType) -> Result<Vec<u8>, WireError> {
    let mut out = Vec::with_capacity(name.len() + 18);
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&0x0100u16.to_be_bytes()); // RD
    out.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
    encode_name(&mut out, name)?;
    out.extend_from_slice(&qtype.code().to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes()); // IN
    Ok(out)
}

/// Appends `name` as labels (no compression).
fn encode_name(out: &mut Vec<u8>, name: &str) -> Result<(), WireError> {
    let name = name.trim_end_matches('.');
    if name.len() > 253 {
        return Err(WireError::BadName);
    }
    for label in name.split('.').filter(|_| !name.is_empty()) {
        if label.is_empty() || label.len() > 63 {
            return Err(WireError::BadName);
        }
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    Ok(())
}

fn u16_at(m: &[u8], at: usize) -> Result<u16, WireError> {
    let b = m.get(at..at + 2).ok_or(WireError::Short)?;
    Ok(u16::from_be_bytes([b[0], b[1]]))
}

fn u32_at(m: &[u8], at: usize) -> Result<u32, WireError> {
    let b = m.get(at..at + 4).ok_or(WireError::Short)?;
    Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Reads the name at `at`; returns it (lower case, dotted) and the offset
/// after it in the message (pointers followed, at most 64 of them).
fn name_at(m: &[u8], mut at: usize) -> Result<(String, usize), WireError> {
    let mut name = String::new();
    let mut end = None;
    let mut jumps = 0;
    loop {
        let len = *m.get(at).ok_or(WireError::Short)? as usize;
        match len & 0xc0 {
            0x00 if len == 0 => {
                return Ok((name, end.unwrap_or(at + 1)));
            }
            0x00 => {
                let label = m.get(at + 1..at + 1 + len).ok_or(WireError::Short)?;
                // host names only: a dot, a blank, a control or non-ASCII
                // byte inside a label would change meaning once printed
                if !label.iter().all(|c| c.is_ascii_graphic() && *c != b'.') {
                    return Err(WireError::BadName);
                }
                if !name.is_empty() {
                    name.push('.');
                }
                name.extend(label.iter().map(|c| c.to_ascii_lowercase() as char));
                if name.len() > 255 {
                    return Err(WireError::BadName);
                }
                at += 1 + len;
            }
            0xc0 => {
                let ptr = (u16_at(m, at)? & 0x3fff) as usize;
                end.get_or_insert(at + 2);
                jumps += 1;
                if jumps > 64 || ptr >= m.len() {
                    return Err(WireError::BadName);
                }
                at = ptr;
            }
            _ => return Err(WireError::BadName),
        }
    }
}

/// Reads a response.
pub fn parse(m: &[u8]) -> Result<Response, WireError> {
    let id = u16_at(m, 0)?;
    let flags = u16_at(m, 2)?;
    if flags & 0x8000 == 0 {
        return Err(WireError::NotResponse);
    }
    let qd = u16_at(m, 4)?;
    let an = u16_at(m, 6)?;
    let ns = u16_at(m, 8)?;
    let ar = u16_at(m, 10)?;
    let mut at = 12;
    for _ in 0..qd {
        at = name_at(m, at)?.1 + 4;
    }
    let mut records = Vec::new();
    for section in 0..3 {
        let count = [an, ns, ar][section];
        for _ in 0..count {
            let (name, next) = name_at(m, at)?;
            let rtype = u16_at(m, next)?;
            let ttl = u32_at(m, next + 4)?;
            let rdlen = u16_at(m, next + 8)? as usize;
            let rd = next + 10;
            let rdata = m.get(rd..rd + rdlen).ok_or(WireError::Short)?;
            at = rd + rdlen;
            if section == 1 {
                continue; // authority: nothing sipr uses
            }
            let data = match (rtype, rdlen) {
                (1, 4) => Rdata::A(Ipv4Addr::new(rdata[0], rdata[1], rdata[2], rdata[3])),
                (28, 16) => {
                    let mut b = [0u8; 16];
                    b.copy_from_slice(rdata);
                    Rdata::Aaaa(Ipv6Addr::from(b))
                }
                (33, 7..) => Rdata::Srv {
                    priority: u16_at(m, rd)?,
                    weight: u16_at(m, rd + 2)?,
                    port: u16_at(m, rd + 4)?,
                    target: name_at(m, rd + 6)?.0,
                },
                (CNAME, _) => Rdata::Cname(name_at(m, rd)?.0),
                _ => continue,
            };
            records.push(Record { name, ttl, data });
        }
    }
    Ok(Response { id, rcode: (flags & 0x000f) as u8, truncated: flags & 0x0200 != 0, records })
}

/// Builds a response (tests and the test DNS server of the e2e tests use
/// the same layout): answers for the question of `query`.
pub fn response(query: &[u8], rcode: u8, answers: &[Record]) -> Result<Vec<u8>, WireError> {
    let (qname, qend) = name_at(query, 12)?;
    // the question re-encoded (its name may point elsewhere in `query`)
    let qtail = query.get(qend..qend + 4).ok_or(WireError::Short)?;
    let mut out = Vec::new();
    out.extend_from_slice(query.get(0..2).ok_or(WireError::Short)?);
    out.extend_from_slice(&(0x8180u16 | rcode as u16).to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&(answers.len() as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    encode_name(&mut out, &qname)?;
    out.extend_from_slice(qtail);
    for r in answers {
        encode_name(&mut out, &r.name)?;
        let (t, rdata): (u16, Vec<u8>) = match &r.data {
            Rdata::A(a) => (1, a.octets().to_vec()),
            Rdata::Aaaa(a) => (28, a.octets().to_vec()),
            Rdata::Srv { priority, weight, port, target } => {
                let mut d = Vec::new();
                d.extend_from_slice(&priority.to_be_bytes());
                d.extend_from_slice(&weight.to_be_bytes());
                d.extend_from_slice(&port.to_be_bytes());
                encode_name(&mut d, target)?;
                (33, d)
            }
            Rdata::Cname(c) => {
                let mut d = Vec::new();
                encode_name(&mut d, c)?;
                (CNAME, d)
            }
        };
        out.extend_from_slice(&t.to_be_bytes());
        out.extend_from_slice(&1u16.to_be_bytes());
        out.extend_from_slice(&r.ttl.to_be_bytes());
        out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        out.extend_from_slice(&rdata);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(name: &str, data: Rdata) -> Record {
        Record { name: name.into(), ttl: 60, data }
    }

    #[test]
    fn query_and_response_round_trip() {
        let q = query(0x1234, "_sip._udp.Example.COM.", QType::Srv).unwrap();
        assert_eq!(&q[..2], &[0x12, 0x34]);
        let answers = vec![
            rec(
                "_sip._udp.example.com",
                Rdata::Srv { priority: 10, weight: 5, port: 5070, target: "sip1.example.com".into() },
            ),
            rec("sip1.example.com", Rdata::A(Ipv4Addr::new(127, 0, 0, 2))),
            rec("sip1.example.com", Rdata::Aaaa("::2".parse().unwrap())),
            rec("alias.example.com", Rdata::Cname("sip1.example.com".into())),
        ];
        let r = parse(&response(&q, 0, &answers).unwrap()).unwrap();
        assert_eq!((r.id, r.rcode, r.truncated), (0x1234, 0, false));
        assert_eq!(r.records, answers);
    }

    #[test]
    fn compression_pointers_and_loops() {
        // header, question "a.b" A IN, one answer whose name points to the question
        let mut m = vec![0, 1, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0];
        m.extend_from_slice(&[1, b'a', 1, b'b', 0, 0, 1, 0, 1]);
        m.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 10, 0, 0, 1]);
        let r = parse(&m).unwrap();
        assert_eq!(r.records, vec![Record { name: "a.b".into(), ttl: 30, data: Rdata::A(Ipv4Addr::new(10, 0, 0, 1)) }]);
        // a pointer to itself
        let mut bad = m.clone();
        let at = 21;
        bad[at] = 0xc0;
        bad[at + 1] = at as u8;
        assert_eq!(parse(&bad), Err(WireError::BadName));
        // every truncation is an error, never a panic
        for n in 0..m.len() {
            assert!(parse(&m[..n]).is_err(), "{n}");
        }
        // a query is not a response
        assert_eq!(parse(&query(1, "a.b", QType::A).unwrap()), Err(WireError::NotResponse));
    }

    #[test]
    fn labels_must_be_printable_without_dots() {
        for label in [&b"a.b"[..], b"a b", b"\0", b"\xc3\xa9"] {
            let mut m = vec![0, 1, 0x81, 0x80, 0, 0, 0, 1, 0, 0, 0, 0];
            m.push(label.len() as u8);
            m.extend_from_slice(label);
            m.extend_from_slice(&[0, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 10, 0, 0, 1]);
            assert_eq!(parse(&m), Err(WireError::BadName), "{label:?}");
        }
    }

    #[test]
    fn names_are_checked() {
        assert_eq!(query(1, "a..b", QType::A), Err(WireError::BadName));
        assert_eq!(query(1, &"x".repeat(64), QType::A), Err(WireError::BadName));
        assert!(query(1, &["y"; 120].join("."), QType::A).is_ok());
        assert_eq!(query(1, &["y"; 130].join("."), QType::A), Err(WireError::BadName));
    }
}
