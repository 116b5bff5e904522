//! Script values and Kamailio's typing rules for them.
//!
//! A value is an integer, a string (bytes: SIP text need not be UTF-8) or
//! `$null`. The rules below were measured on Kamailio 5.6 (README "cfg
//! language"): the *left* operand's type decides what `+` and `==` do, a
//! string that is not a number reads as 0 where an int is wanted, `$null`
//! on the left takes the type of the right operand, and only `$null`
//! equals `$null` on the right.

use std::borrow::Cow;
use std::fmt;

/// A value computed by the script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value<'a> {
    /// `$null`, or a PV that has no value for this message.
    Null,
    /// An integer (Kamailio's are C `long`).
    Int(i64),
    /// A string, borrowed from the message or the program when it can be.
    Str(Cow<'a, [u8]>),
}

impl<'a> Value<'a> {
    /// A borrowed string value.
    pub fn str(s: &'a [u8]) -> Value<'a> {
        Value::Str(Cow::Borrowed(s))
    }

    /// An owned string value.
    pub fn string(s: Vec<u8>) -> Value<'static> {
        Value::Str(Cow::Owned(s))
    }

    /// `Null` when `s` is `None`.
    pub fn opt_str(s: Option<&'a [u8]>) -> Value<'a> {
        s.map_or(Value::Null, Value::str)
    }

    /// Whether this is `$null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The value as an int: a string reads as its leading decimal number
    /// (optional sign), anything else as 0 — Kamailio's conversion.
    pub fn to_int(&self) -> i64 {
        match self {
            Value::Null => 0,
            Value::Int(i) => *i,
            Value::Str(s) => str_to_int(s).unwrap_or(0),
        }
    }

    /// The value as bytes: ints in decimal, `$null` as empty.
    pub fn to_bytes(&self) -> Cow<'_, [u8]> {
        match self {
            Value::Null => Cow::Borrowed(b""),
            Value::Int(i) => Cow::Owned(i.to_string().into_bytes()),
            Value::Str(s) => Cow::Borrowed(s),
        }
    }

    /// Truth in a condition: the int value is positive (so `"abc"`,
    /// `$null` and -1 are false, `"10"` is true — as Kamailio).
    pub fn truth(&self) -> bool {
        self.to_int() > 0
    }

    /// Detaches from borrowed data.
    pub fn into_owned(self) -> Value<'static> {
        match self {
            Value::Null => Value::Null,
            Value::Int(i) => Value::Int(i),
            Value::Str(s) => Value::Str(Cow::Owned(s.into_owned())),
        }
    }

    /// `self + rhs`: ints add when the left is an int, strings
    /// concatenate when the left is a string, `$null` on the left takes
    /// the right's type.
    pub fn plus(self, rhs: Value<'_>) -> Value<'static> {
        match self {
            Value::Int(a) => Value::Int(a.wrapping_add(rhs.to_int())),
            Value::Str(a) => {
                let mut s = a.into_owned();
                s.extend_from_slice(&rhs.to_bytes());
                Value::Str(Cow::Owned(s))
            }
            // Kamailio: an unset left side makes `+` a concatenation with
            // the empty string, so `$null + 1` is the *string* "1" (a
            // counter kept in an unset $sht then grows "1", "11", "111")
            Value::Null => match rhs {
                Value::Null => Value::Null,
                other => Value::Str(Cow::Owned(other.to_bytes().into_owned())),
            },
        }
    }

    /// `==` with Kamailio's rules (see the module docs).
    #[inline]
    pub fn equals(&self, rhs: &Value<'_>) -> bool {
        match (self, rhs) {
            (Value::Str(a), Value::Str(b)) => a.as_ref() == b.as_ref(),
            (Value::Int(a), Value::Int(b)) => a == b,
            (Value::Null, Value::Null) => true,
            (_, Value::Null) => false,
            (Value::Null, Value::Int(b)) => *b == 0,
            (Value::Null, Value::Str(b)) => b.is_empty(),
            (Value::Int(a), r) => *a == r.to_int(),
            (Value::Str(a), r) => a.as_ref() == r.to_bytes().as_ref(),
        }
    }
}

impl fmt::Display for Value<'_> {
    /// As xlog prints it: `<null>` for `$null`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("<null>"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Str(s) => f.write_str(&String::from_utf8_lossy(s)),
        }
    }
}

/// Parses a whole decimal integer (optional sign, surrounding blanks
/// tolerated as Kamailio's str2sint does not, but trailing junk refused).
pub fn str_to_int(s: &[u8]) -> Option<i64> {
    let t = trim_ascii(s);
    let (neg, digits) = match t.first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut n: i64 = 0;
    for d in digits {
        n = n.checked_mul(10)?.checked_add((d - b'0') as i64)?;
    }
    Some(if neg { -n } else { n })
}

/// Trims ASCII whitespace at both ends.
pub fn trim_ascii(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(s.len());
    let end = s.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(start, |e| e + 1);
    &s[start..end]
}

/// A value stored in a variable: owns its bytes and reuses the buffer on
/// the next string assignment (so a loop of `$var(x) = "..."` does not
/// allocate once warm).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// An int.
    Int(i64),
    /// A string.
    Str(Vec<u8>),
    /// Nothing (AVPs and xavps removed, hash entries absent).
    Null,
}

impl Default for Stored {
    fn default() -> Self {
        Stored::Int(0)
    }
}

impl Stored {
    /// Reads the stored value without copying.
    pub fn get(&self) -> Value<'_> {
        match self {
            Stored::Int(i) => Value::Int(*i),
            Stored::Str(s) => Value::str(s),
            Stored::Null => Value::Null,
        }
    }

    /// Stores `v`, reusing the string buffer.
    pub fn set(&mut self, v: &Value<'_>) {
        match v {
            Value::Null => *self = Stored::Null,
            Value::Int(i) => *self = Stored::Int(*i),
            Value::Str(s) => {
                if let Stored::Str(buf) = self {
                    buf.clear();
                    buf.extend_from_slice(s);
                } else {
                    *self = Stored::Str(s.to_vec());
                }
            }
        }
    }

    /// A stored copy of `v`.
    pub fn from_value(v: &Value<'_>) -> Stored {
        let mut s = Stored::Null;
        s.set(v);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Value<'_> {
        Value::str(x.as_bytes())
    }

    #[test]
    fn kamailio_typing_rules() {
        // measured on Kamailio 5.6.3
        assert_eq!(s("5").plus(Value::Int(3)), s("53").into_owned());
        assert_eq!(Value::Int(10).plus(s("5")), Value::Int(15));
        assert_eq!(Value::Int(10).plus(s("abc")), Value::Int(10));
        // a string: `$avp(n) = $null + 1; $avp(n) + 1` is "11" on Kamailio
        // (test/diff types:null_plus_int_is_str)
        assert_eq!(Value::Null.plus(Value::Int(1)), s("1").into_owned());
        assert_eq!(Value::Null.plus(s("s")), s("s").into_owned());
        assert_eq!(s("x").plus(Value::Null), s("x").into_owned());
        assert!(s("10").equals(&Value::Int(10)));
        assert!(!s("abc").equals(&Value::Int(0)));
        assert!(Value::Int(0).equals(&s("abc")));
        assert!(!Value::Int(0).equals(&Value::Null));
        assert!(!s("").equals(&Value::Null));
        assert!(Value::Null.equals(&s("")));
        assert!(Value::Null.equals(&Value::Int(0)));
        assert!(Value::Null.equals(&Value::Null));
        assert!(!s("abc").truth());
        assert!(s("10").truth());
        assert!(!Value::Null.truth());
        assert!(!Value::Int(-1).truth());
        assert_eq!(format!("{}", Value::Null), "<null>");
    }

    #[test]
    fn stored_reuses_buffer() {
        let mut st = Stored::default();
        assert_eq!(st.get(), Value::Int(0));
        st.set(&s("hello"));
        let cap = match &st {
            Stored::Str(b) => b.capacity(),
            _ => unreachable!(),
        };
        st.set(&s("hi"));
        assert_eq!(st.get(), s("hi"));
        assert!(matches!(&st, Stored::Str(b) if b.capacity() == cap));
    }
}
