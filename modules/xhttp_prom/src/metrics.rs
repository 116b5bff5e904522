//! The user-defined metrics of xhttp_prom (`prom_counter`, `prom_gauge`,
//! `prom_histogram`): declared by modparam, each series (a metric with one
//! set of label values) created on first use, kept in shm so every
//! process adds to the same figures, and listed as Kamailio lists them:
//! metrics in declaration order, series in creation order.
//!
//! A series is one entry of a [`ShmKvTable`]: the key is the metric's
//! index and the label values, the value its creation number and figures.
//! An update holds the key's bucket lock across its read and write, so
//! two processes adding at once both count. A series not updated for
//! `xhttp_prom_timeout` minutes expires (listing does not count as use).

use std::fmt::Write as _;

use sipr_sdk::{KvValue, ShmKvTable};

/// Kamailio's default histogram buckets.
const DEFAULT_BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// What a metric is.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// A number that only goes up (or is reset).
    Counter,
    /// A number set to any value.
    Gauge,
    /// Observations counted into buckets (upper bounds, increasing; +Inf
    /// implied), with their sum and count.
    Histogram(Vec<f64>),
}

/// A declared metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Decl {
    /// Its name (after the prefix in the listing).
    pub name: String,
    /// Counter, gauge or histogram.
    pub kind: Kind,
    /// Its label names (up to three).
    pub labels: Vec<String>,
}

/// Reads a declaration: `name=NAME; label=A:B:C; buckets=1:2.5` (labels
/// and buckets optional; buckets for histograms only).
pub fn parse_decl(kind: &str, spec: &str) -> Result<Decl, String> {
    let (mut name, mut labels, mut buckets) = (None, None, None);
    for attr in spec.split(';').map(str::trim).filter(|a| !a.is_empty()) {
        let (k, v) = attr.split_once('=').ok_or_else(|| format!("prom_{kind} \"{spec}\": {attr}: attribute=value"))?;
        let (k, v) = (k.trim(), v.trim());
        let slot = match k {
            "name" => &mut name,
            "label" => &mut labels,
            "buckets" if kind == "histogram" => &mut buckets,
            _ => return Err(format!("prom_{kind} \"{spec}\": unknown attribute {k}")),
        };
        if slot.replace(v.to_string()).is_some() {
            return Err(format!("prom_{kind} \"{spec}\": {k} given twice"));
        }
    }
    let name = name.filter(|n| !n.is_empty()).ok_or_else(|| format!("prom_{kind} \"{spec}\": name is mandatory"))?;
    let valid = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
    if !valid(&name) {
        return Err(format!("prom_{kind} \"{spec}\": name {name}: letters, digits, '_' and ':' only"));
    }
    let labels: Vec<String> = match labels {
        None => Vec::new(),
        Some(l) => l.split(':').map(str::to_string).collect(),
    };
    if labels.len() > 3 || labels.iter().any(|l| !valid(l) || l.contains(':')) {
        return Err(format!("prom_{kind} \"{spec}\": up to three label names, separated by ':'"));
    }
    let kind = match kind {
        "counter" => Kind::Counter,
        "gauge" => Kind::Gauge,
        _ => Kind::Histogram(match buckets {
            None => DEFAULT_BUCKETS.to_vec(),
            Some(b) => {
                let v: Vec<f64> = b
                    .split(':')
                    .map(|x| x.trim().parse::<f64>().ok().filter(|f| f.is_finite()))
                    .collect::<Option<_>>()
                    .ok_or_else(|| format!("prom_histogram \"{spec}\": buckets are numbers separated by ':'"))?;
                if v.is_empty() || v.windows(2).any(|w| w[0] >= w[1]) {
                    return Err(format!("prom_histogram \"{spec}\": buckets must increase"));
                }
                v
            }
        }),
    };
    Ok(Decl { name, kind, labels })
}

/// Why an update failed (the caller logs it or answers it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetricError {
    /// No metric of that name.
    NoSuchMetric(String),
    /// The metric is of another kind.
    WrongKind { name: String, wanted: &'static str },
    /// Not as many label values as the metric has label names.
    Labels { name: String, wanted: usize, given: usize },
    /// The shm pool is full.
    Full,
}

impl std::fmt::Display for MetricError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MetricError::NoSuchMetric(n) => write!(f, "no metric found for name: {n}"),
            MetricError::WrongKind { name, wanted } => write!(f, "metric {name} is not a {wanted}"),
            MetricError::Labels { name, wanted, given } => {
                write!(f, "metric {name} has {wanted} labels, {given} values given")
            }
            MetricError::Full => write!(f, "no shared memory for the metric"),
        }
    }
}

/// An update to a series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Update {
    /// Counter or gauge back to 0.
    Reset,
    /// Add to a counter.
    Add(u64),
    /// Set a gauge.
    Set(f64),
    /// Observe a value in a histogram.
    Observe(f64),
}

/// The metrics: their declarations and the series' table.
pub struct Metrics {
    decls: Vec<Decl>,
    table: ShmKvTable<'static>,
    /// Seconds a series lives without an update; 0 = for ever.
    timeout_secs: u64,
}

/// The key of the creation counter (no metric index is 0xffff).
const SEQ_KEY: &[u8] = b"\xff\xffseq";

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl Metrics {
    /// The table for `decls` (main process, before the fork).
    pub fn new(decls: Vec<Decl>, table: ShmKvTable<'static>, timeout_secs: u64) -> Self {
        Metrics { decls, table, timeout_secs }
    }

    /// Whether any metric is declared.
    pub fn is_empty(&self) -> bool {
        self.decls.is_empty()
    }

    fn key(index: usize, labels: &[&str]) -> Vec<u8> {
        let mut k = (index as u16).to_be_bytes().to_vec();
        for l in labels {
            k.extend_from_slice(l.as_bytes());
            k.push(0);
        }
        k
    }

    /// Applies `update` to the series of metric `name` with `labels`,
    /// creating it (at zero) on first use.
    pub fn update(&self, name: &str, labels: &[&str], update: Update) -> Result<(), MetricError> {
        let (index, decl) = self
            .decls
            .iter()
            .enumerate()
            .find(|(_, d)| d.name == name)
            .ok_or_else(|| MetricError::NoSuchMetric(name.to_string()))?;
        let wanted = match update {
            Update::Reset if decl.kind == Kind::Counter || decl.kind == Kind::Gauge => None,
            Update::Add(_) if decl.kind == Kind::Counter => None,
            Update::Set(_) if decl.kind == Kind::Gauge => None,
            Update::Observe(_) if matches!(decl.kind, Kind::Histogram(_)) => None,
            Update::Add(_) => Some("counter"),
            Update::Set(_) => Some("gauge"),
            Update::Observe(_) => Some("histogram"),
            Update::Reset => Some("counter or gauge"),
        };
        if let Some(wanted) = wanted {
            return Err(MetricError::WrongKind { name: name.to_string(), wanted });
        }
        if labels.len() != decl.labels.len() {
            return Err(MetricError::Labels { name: name.to_string(), wanted: decl.labels.len(), given: labels.len() });
        }
        let key = Self::key(index, labels);
        let now = now();
        let expires = if self.timeout_secs == 0 { 0 } else { now + self.timeout_secs };
        self.table.hold(&key);
        let result = self.update_held(&key, decl, update, now, expires);
        self.table.release(&key);
        result
    }

    /// The read-modify-write of one series, its bucket lock held.
    fn update_held(&self, key: &[u8], decl: &Decl, update: Update, now: u64, expires: u64) -> Result<(), MetricError> {
        let old = self.table.get(key, now, |v, _| match v {
            KvValue::Str(b) => Some(b.to_vec()),
            KvValue::Int(_) => None,
        });
        let mut series = match old.flatten().and_then(|b| Series::decode(&b, &decl.kind)) {
            Some(s) => s,
            None => {
                let seq = self.table.add(SEQ_KEY, 1, 0, 0, now).map_err(|_| MetricError::Full)?.unwrap_or(0);
                Series::new(seq as u64, &decl.kind)
            }
        };
        series.apply(update, &decl.kind);
        self.table.set(key, KvValue::Str(&series.encode()), expires).map_err(|_| MetricError::Full)
    }

    /// The listing: every live series, `prefix` before each name, `ts` the
    /// time in milliseconds; label values escaped as the text format
    /// wants.
    pub fn listing(&self, prefix: &str, ts: u128) -> String {
        let mut series: Vec<(usize, Vec<String>, Series)> = Vec::new();
        self.table.for_each(now(), |k, v, _| {
            let (KvValue::Str(b), Some(head)) = (v, k.get(..2)) else { return };
            let index = usize::from(u16::from_be_bytes([head[0], head[1]]));
            let Some(decl) = self.decls.get(index) else { return };
            let labels: Vec<String> = k[2..]
                .split(|c| *c == 0)
                .take(decl.labels.len())
                .map(|l| String::from_utf8_lossy(l).into_owned())
                .collect();
            if let Some(s) = Series::decode(b, &decl.kind) {
                series.push((index, labels, s));
            }
        });
        series.sort_by_key(|(i, _, s)| (*i, s.seq));
        let mut out = String::new();
        for (index, values, s) in series {
            let decl = &self.decls[index];
            let pairs: Vec<String> =
                decl.labels.iter().zip(&values).map(|(n, v)| format!("{n}=\"{}\"", crate::label(v))).collect();
            let labels = |extra: Option<String>| {
                let all: Vec<String> = pairs.iter().cloned().chain(extra).collect();
                if all.is_empty() {
                    String::new()
                } else {
                    format!("{{{}}}", all.join(", "))
                }
            };
            let name = format!("{prefix}{}", decl.name);
            match (&decl.kind, &s.figures) {
                (Kind::Counter, Figures::Counter(n)) => {
                    let _ = writeln!(out, "{name}{} {n} {ts}", labels(None));
                }
                (Kind::Gauge, Figures::Gauge(v)) => {
                    let _ = writeln!(out, "{name}{} {v:.6} {ts}", labels(None));
                }
                (Kind::Histogram(bounds), Figures::Histogram { buckets, sum, count }) => {
                    for (b, n) in bounds.iter().zip(buckets) {
                        let _ = writeln!(out, "{name}_bucket{} {n} {ts}", labels(Some(format!("le=\"{b:.6}\""))));
                    }
                    let _ = writeln!(out, "{name}_bucket{} {count} {ts}", labels(Some("le=\"+Inf\"".to_string())));
                    let _ = writeln!(out, "{name}_sum{} {sum:.6} {ts}", labels(None));
                    let _ = writeln!(out, "{name}_count{} {count} {ts}", labels(None));
                }
                _ => {}
            }
        }
        out
    }
}

/// One series' figures, with its creation number.
#[derive(Debug, Clone, PartialEq)]
struct Series {
    seq: u64,
    figures: Figures,
}

#[derive(Debug, Clone, PartialEq)]
enum Figures {
    Counter(u64),
    Gauge(f64),
    /// Cumulative counts per bound, sum and count of the observations.
    Histogram {
        buckets: Vec<u64>,
        sum: f64,
        count: u64,
    },
}

impl Series {
    fn new(seq: u64, kind: &Kind) -> Self {
        let figures = match kind {
            Kind::Counter => Figures::Counter(0),
            Kind::Gauge => Figures::Gauge(0.0),
            Kind::Histogram(b) => Figures::Histogram { buckets: vec![0; b.len()], sum: 0.0, count: 0 },
        };
        Series { seq, figures }
    }

    fn apply(&mut self, update: Update, kind: &Kind) {
        match (&mut self.figures, update) {
            (Figures::Counter(n), Update::Reset) => *n = 0,
            (Figures::Gauge(v), Update::Reset) => *v = 0.0,
            (Figures::Counter(n), Update::Add(d)) => *n = n.saturating_add(d),
            (Figures::Gauge(v), Update::Set(x)) => *v = x,
            (Figures::Histogram { buckets, sum, count }, Update::Observe(x)) => {
                if let Kind::Histogram(bounds) = kind {
                    for (n, b) in buckets.iter_mut().zip(bounds) {
                        if x <= *b {
                            *n += 1;
                        }
                    }
                }
                *sum += x;
                *count += 1;
            }
            _ => {}
        }
    }

    fn encode(&self) -> Vec<u8> {
        let mut b = self.seq.to_le_bytes().to_vec();
        match &self.figures {
            Figures::Counter(n) => b.extend_from_slice(&n.to_le_bytes()),
            Figures::Gauge(v) => b.extend_from_slice(&v.to_le_bytes()),
            Figures::Histogram { buckets, sum, count } => {
                buckets.iter().for_each(|n| b.extend_from_slice(&n.to_le_bytes()));
                b.extend_from_slice(&sum.to_le_bytes());
                b.extend_from_slice(&count.to_le_bytes());
            }
        }
        b
    }

    fn decode(b: &[u8], kind: &Kind) -> Option<Self> {
        let word = |i: usize| b.get(i * 8..i * 8 + 8).and_then(|w| w.try_into().ok()).map(u64::from_le_bytes);
        let seq = word(0)?;
        let figures = match kind {
            Kind::Counter => Figures::Counter(word(1)?),
            Kind::Gauge => Figures::Gauge(f64::from_bits(word(1)?)),
            Kind::Histogram(bounds) => {
                let n = bounds.len();
                Figures::Histogram {
                    buckets: (1..=n).map(word).collect::<Option<_>>()?,
                    sum: f64::from_bits(word(n + 1)?),
                    count: word(n + 2)?,
                }
            }
        };
        Some(Series { seq, figures })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declarations_as_documented() {
        let d = parse_decl("counter", "name=cnt_third; label=method").unwrap();
        assert_eq!((d.name.as_str(), d.labels.len()), ("cnt_third", 1));
        let g = parse_decl("gauge", "name=gg_third; label=method:handler;").unwrap();
        assert_eq!(g.labels, vec!["method", "handler"]);
        let h = parse_decl("histogram", "name=histo_fourth; label=lbl; buckets=3.1:5:6.5").unwrap();
        assert_eq!(h.kind, Kind::Histogram(vec![3.1, 5.0, 6.5]));
        assert_eq!(parse_decl("histogram", "name=h;").unwrap().kind, Kind::Histogram(DEFAULT_BUCKETS.to_vec()));
        assert!(parse_decl("counter", "label=x").is_err());
        assert!(parse_decl("counter", "name=a; label=a:b:c:d").is_err());
        assert!(parse_decl("histogram", "name=h; buckets=5:3").is_err());
        assert!(parse_decl("histogram", "name=h; buckets=x").is_err());
        assert!(parse_decl("counter", "name=c; buckets=1").is_err());
        assert!(parse_decl("counter", "name=c; colour=red").is_err());
    }

    #[test]
    fn series_round_trip_and_histograms_are_cumulative() {
        let kind = Kind::Histogram(vec![1.0, 5.0]);
        let mut s = Series::new(7, &kind);
        for x in [0.5, 3.0, 9.0] {
            s.apply(Update::Observe(x), &kind);
        }
        assert_eq!(s.figures, Figures::Histogram { buckets: vec![1, 2], sum: 12.5, count: 3 });
        assert_eq!(Series::decode(&s.encode(), &kind), Some(s));
        let mut c = Series::new(1, &Kind::Counter);
        c.apply(Update::Add(10), &Kind::Counter);
        c.apply(Update::Set(3.0), &Kind::Counter);
        assert_eq!(c.figures, Figures::Counter(10));
        c.apply(Update::Reset, &Kind::Counter);
        assert_eq!(c.figures, Figures::Counter(0));
    }
}
