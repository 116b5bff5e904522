//! A record (an address of record and its contacts) as it is kept in shm:
//! one block of bytes per AoR in the domain's table, rewritten whole when
//! a contact changes (a phone has one to three contacts: re-encoding them
//! is cheaper than a block per field, and a reader never sees half an
//! update). Numbers are little-endian; a string is its length (u16) and
//! its bytes, an absent one the length 0xFFFF.

use sipr_sdk::usrloc_api::UContact;

/// The format's first byte.
const FORMAT: u8 = 1;
const ABSENT: u16 = u16::MAX;

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_i64(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        // longer than a record may hold: cut (SIP limits keep real
        // values far below 64 KB)
        Some(s) => {
            let b = &s.as_bytes()[..s.len().min(usize::from(ABSENT) - 1)];
            out.extend_from_slice(&(b.len() as u16).to_le_bytes());
            out.extend_from_slice(b);
        }
        None => out.extend_from_slice(&ABSENT.to_le_bytes()),
    }
}

/// The bytes of a record's contacts.
pub fn encode(contacts: &[UContact]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + contacts.len() * 200);
    out.push(FORMAT);
    out.extend_from_slice(&(contacts.len().min(usize::from(u16::MAX)) as u16).to_le_bytes());
    for c in contacts.iter().take(usize::from(u16::MAX)) {
        put_i64(&mut out, c.expires);
        put_i64(&mut out, c.last_modified);
        put_u32(&mut out, c.q as u32);
        put_u32(&mut out, c.cseq);
        put_u32(&mut out, c.flags);
        put_u32(&mut out, c.cflags);
        put_u32(&mut out, c.methods.unwrap_or(u32::MAX));
        out.push(u8::from(c.methods.is_some()));
        put_u32(&mut out, c.reg_id);
        put_u32(&mut out, c.server_id as u32);
        put_u32(&mut out, c.connection_id as u32);
        put_u32(&mut out, c.keepalive);
        put_str(&mut out, Some(&c.ruid));
        put_str(&mut out, Some(&c.contact));
        put_str(&mut out, c.received.as_deref());
        put_str(&mut out, c.path.as_deref());
        put_str(&mut out, Some(&c.callid));
        put_str(&mut out, Some(&c.user_agent));
        put_str(&mut out, c.socket.as_deref());
        put_str(&mut out, c.instance.as_deref());
    }
    out
}

struct Reader<'b>(&'b [u8]);

impl<'b> Reader<'b> {
    fn take(&mut self, n: usize) -> Option<&'b [u8]> {
        let (a, b) = (self.0.get(..n)?, self.0.get(n..)?);
        self.0 = b;
        Some(a)
    }

    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.take(2)?.try_into().ok()?))
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    fn opt_str(&mut self) -> Option<Option<String>> {
        match self.u16()? {
            ABSENT => Some(None),
            n => Some(Some(String::from_utf8_lossy(self.take(usize::from(n))?).into_owned())),
        }
    }

    fn str(&mut self) -> Option<String> {
        Some(self.opt_str()?.unwrap_or_default())
    }
}

/// The contacts a record's bytes hold (`None`: not a record of this
/// format; the caller treats the record as empty).
pub fn decode(b: &[u8]) -> Option<Vec<UContact>> {
    let mut r = Reader(b);
    if r.take(1)? != [FORMAT] {
        return None;
    }
    let n = r.u16()?;
    let mut out = Vec::with_capacity(usize::from(n));
    for _ in 0..n {
        let expires = r.i64()?;
        let last_modified = r.i64()?;
        let q = r.u32()? as i32;
        let cseq = r.u32()?;
        let flags = r.u32()?;
        let cflags = r.u32()?;
        let methods = r.u32()?;
        let has_methods = r.take(1)?[0] != 0;
        let reg_id = r.u32()?;
        let server_id = r.u32()? as i32;
        let connection_id = r.u32()? as i32;
        let keepalive = r.u32()?;
        out.push(UContact {
            expires,
            last_modified,
            q,
            cseq,
            flags,
            cflags,
            methods: has_methods.then_some(methods),
            reg_id,
            server_id,
            connection_id,
            keepalive,
            ruid: r.str()?,
            contact: r.str()?,
            received: r.opt_str()?,
            path: r.opt_str()?,
            callid: r.str()?,
            user_agent: r.str()?,
            socket: r.opt_str()?,
            instance: r.opt_str()?,
        });
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let a = UContact {
            ruid: "uloc-1".into(),
            contact: "sip:alice@127.0.0.1:5060".into(),
            received: Some("sip:10.0.0.1:5060".into()),
            path: None,
            expires: 1_900_000_000,
            q: -1,
            callid: "c1".into(),
            cseq: 7,
            flags: 1,
            cflags: 64,
            user_agent: "phone".into(),
            socket: Some("udp:127.0.0.1:5060".into()),
            methods: Some(8191),
            instance: Some("<urn:uuid:1>".into()),
            reg_id: 1,
            server_id: 0,
            connection_id: -1,
            keepalive: 0,
            last_modified: 1_800_000_000,
        };
        let b = UContact { ruid: "uloc-2".into(), methods: None, q: 500, ..a.clone() };
        let bytes = encode(&[a.clone(), b.clone()]);
        assert_eq!(decode(&bytes), Some(vec![a, b]));
        assert_eq!(decode(&encode(&[])), Some(vec![]));
        // truncated or foreign bytes are no record, never a panic
        for n in 0..bytes.len() {
            let _ = decode(&bytes[..n]);
        }
        assert_eq!(decode(b"\x02\x00\x00"), None);
    }
}
