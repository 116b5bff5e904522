//! Time as text for the script: strftime's conversions (`$timef`,
//! `$utimef`, `{s.ftime}`) and ctime's layout (`$Tf`). sipr keeps the
//! timezone out of the core: every time is UTC, and `$timef` equals
//! `$utimef` (Kamailio's follow the host's local zone; a host running on
//! UTC, as servers usually do, sees no difference).

use crate::sip::{civil, days_from_civil};

const DAYS: [&str; 7] = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// A Unix time broken down (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BrokenDown {
    /// Year, e.g. 2026.
    pub year: i64,
    /// Month 1–12.
    pub month: u32,
    /// Day of the month 1–31.
    pub day: u32,
    /// Hour 0–23.
    pub hour: u32,
    /// Minute 0–59.
    pub minute: u32,
    /// Second 0–59.
    pub second: u32,
    /// Day of the week, 0 = Sunday.
    pub weekday: u32,
    /// Day of the year, 0-based.
    pub yday: u32,
}

impl BrokenDown {
    /// The UTC broken-down form of `secs` since 1970.
    pub fn utc(secs: i64) -> BrokenDown {
        let days = secs.div_euclid(86_400);
        let rest = secs.rem_euclid(86_400) as u32;
        let (year, month, day) = civil(days);
        BrokenDown {
            year,
            month,
            day,
            hour: rest / 3600,
            minute: rest / 60 % 60,
            second: rest % 60,
            // 1970-01-01 was a Thursday (4)
            weekday: (days + 4).rem_euclid(7) as u32,
            yday: (days - days_from_civil(year, 1, 1)) as u32,
        }
    }
}

/// `secs` formatted by a strftime format. Unknown conversions are kept as
/// written.
pub fn strftime(fmt: &[u8], secs: i64) -> Vec<u8> {
    let t = BrokenDown::utc(secs);
    let mut out = Vec::with_capacity(fmt.len() + 16);
    let mut it = fmt.iter().copied();
    while let Some(c) = it.next() {
        if c != b'%' {
            out.push(c);
            continue;
        }
        let Some(conv) = it.next() else {
            out.push(b'%');
            break;
        };
        conversion(&mut out, conv, &t, secs);
    }
    out
}

fn conversion(out: &mut Vec<u8>, conv: u8, t: &BrokenDown, secs: i64) {
    use std::io::Write;
    let hour12 = if t.hour % 12 == 0 { 12 } else { t.hour % 12 };
    let wd = DAYS[t.weekday as usize];
    let mon = MONTHS[(t.month - 1) as usize];
    let _ = match conv {
        b'Y' => write!(out, "{}", t.year),
        b'y' => write!(out, "{:02}", t.year.rem_euclid(100)),
        b'C' => write!(out, "{:02}", t.year.div_euclid(100)),
        b'm' => write!(out, "{:02}", t.month),
        b'd' => write!(out, "{:02}", t.day),
        b'e' => write!(out, "{:2}", t.day),
        b'H' => write!(out, "{:02}", t.hour),
        b'I' => write!(out, "{:02}", hour12),
        b'M' => write!(out, "{:02}", t.minute),
        b'S' => write!(out, "{:02}", t.second),
        b'p' => write!(out, "{}", if t.hour < 12 { "AM" } else { "PM" }),
        b'j' => write!(out, "{:03}", t.yday + 1),
        b'a' => write!(out, "{}", &wd[..3]),
        b'A' => write!(out, "{wd}"),
        b'b' | b'h' => write!(out, "{}", &mon[..3]),
        b'B' => write!(out, "{mon}"),
        b'u' => write!(out, "{}", if t.weekday == 0 { 7 } else { t.weekday }),
        b'w' => write!(out, "{}", t.weekday),
        b's' => write!(out, "{secs}"),
        b'T' => write!(out, "{:02}:{:02}:{:02}", t.hour, t.minute, t.second),
        b'R' => write!(out, "{:02}:{:02}", t.hour, t.minute),
        b'D' => write!(out, "{:02}/{:02}/{:02}", t.month, t.day, t.year.rem_euclid(100)),
        b'F' => write!(out, "{}-{:02}-{:02}", t.year, t.month, t.day),
        b'c' => write!(out, "{}", ctime(secs)),
        b'Z' => write!(out, "UTC"),
        b'z' => write!(out, "+0000"),
        b'n' => writeln!(out),
        b't' => write!(out, "\t"),
        b'%' => write!(out, "%"),
        other => write!(out, "%{}", other as char),
    };
}

/// ctime's layout without its newline: `Fri Dec  4 07:16:44 2026`.
pub fn ctime(secs: i64) -> String {
    let t = BrokenDown::utc(secs);
    format!(
        "{} {} {:2} {:02}:{:02}:{:02} {}",
        &DAYS[t.weekday as usize][..3],
        &MONTHS[(t.month - 1) as usize][..3],
        t.day,
        t.hour,
        t.minute,
        t.second,
        t.year
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        // 2010-11-13 23:29:05 UTC, a Saturday
        let t = 1_289_690_945;
        assert_eq!(strftime(b"%Y-%m-%d %H:%M:%S", t), b"2010-11-13 23:29:05");
        assert_eq!(strftime(b"%a %A %b %B %e %j %p %I %y %%", t), b"Sat Saturday Nov November 13 317 PM 11 10 %");
        assert_eq!(strftime(b"%T %F %D %s %u %w %Q", t), b"23:29:05 2010-11-13 11/13/10 1289690945 6 6 %Q");
        assert_eq!(ctime(t), "Sat Nov 13 23:29:05 2010");
        assert_eq!(ctime(0), "Thu Jan  1 00:00:00 1970");
        assert_eq!(BrokenDown::utc(0).yday, 0);
        assert_eq!(strftime(b"%", t), b"%");
    }
}
