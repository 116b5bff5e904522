//! What siprctl prints: tables and indented `name: value` lines for people,
//! JSON with `--json` for scripts (the same data either way).

use std::io::Write;

use serde_json::Value;

/// Writes to standard output; a reader that went away (`| head`, `| grep
/// -q`) ends the output quietly, as a shell tool's should.
pub fn write_out(text: &str) {
    let mut out = std::io::stdout().lock();
    if out.write_all(text.as_bytes()).and_then(|()| out.flush()).is_err() {
        std::process::exit(0);
    }
}

/// `print!` that stops quietly on a closed pipe.
macro_rules! out {
    ($($arg:tt)*) => { $crate::output::write_out(&format!($($arg)*)) };
}

/// `println!` that stops quietly on a closed pipe.
macro_rules! outln {
    ($($arg:tt)*) => { $crate::output::write_out(&format!("{}\n", format!($($arg)*))) };
}

pub(crate) use {out, outln};

/// How to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// For people.
    Human,
    /// JSON.
    Json,
}

/// A table: its columns and rows.
pub fn table(cols: &[String], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = cols.iter().map(|c| c.chars().count()).collect();
    for r in rows {
        for (i, v) in r.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(v.chars().count());
            }
        }
    }
    let line = |cells: &[String]| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i > 0 {
                s.push_str("  ");
            }
            let w = widths.get(i).copied().unwrap_or(0);
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}"));
            }
        }
        s.trim_end().to_string()
    };
    let mut out = line(cols);
    out.push('\n');
    out.push_str(&widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().join("  "));
    out.push('\n');
    for r in rows {
        out.push_str(&line(r));
        out.push('\n');
    }
    out
}

/// Rows as JSON: a list of objects, one per row.
pub fn rows_json(cols: &[String], rows: &[Vec<String>]) -> Value {
    Value::Array(
        rows.iter()
            .map(|r| Value::Object(cols.iter().cloned().zip(r.iter().map(|v| Value::String(v.clone()))).collect()))
            .collect(),
    )
}

/// Prints rows in the chosen format.
pub fn print_rows(fmt: Format, cols: &[String], rows: &[Vec<String>]) {
    match fmt {
        Format::Json => crate::output::outln!("{}", pretty(&rows_json(cols, rows))),
        Format::Human => crate::output::out!("{}", table(cols, rows)),
    }
}

/// JSON laid out for reading.
pub fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// An RPC result for people: a list of objects with the same members as
/// a table, other lists a line each, objects as indented `name: value`.
pub fn human(v: &Value) -> String {
    if let Value::Array(items) = v {
        if let Some(Value::Object(first)) = items.first() {
            let cols: Vec<String> = first.keys().cloned().collect();
            let same = items.iter().all(|i| {
                i.as_object()
                    .is_some_and(|o| o.len() == cols.len() && o.values().all(|x| !x.is_object() && !x.is_array()))
                    && i.as_object().is_some_and(|o| o.keys().eq(cols.iter()))
            });
            if same {
                let rows: Vec<Vec<String>> = items
                    .iter()
                    .filter_map(Value::as_object)
                    .map(|o| cols.iter().map(|c| scalar(&o[c])).collect())
                    .collect();
                return table(&cols, &rows);
            }
        }
    }
    let mut out = String::new();
    tree(v, 0, &mut out);
    out
}

fn tree(v: &Value, depth: usize, out: &mut String) {
    let pad = "  ".repeat(depth);
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                match x {
                    Value::Object(_) | Value::Array(_) => {
                        out.push_str(&format!("{pad}{k}:\n"));
                        tree(x, depth + 1, out);
                    }
                    _ => out.push_str(&format!("{pad}{k}: {}\n", scalar(x))),
                }
            }
        }
        Value::Array(items) => {
            for x in items {
                match x {
                    Value::Object(_) | Value::Array(_) => {
                        tree(x, depth, out);
                        if depth == 0 {
                            out.push('\n');
                        }
                    }
                    _ => out.push_str(&format!("{pad}{}\n", scalar(x))),
                }
            }
        }
        other => out.push_str(&format!("{pad}{}\n", scalar(other))),
    }
}

/// Prints an RPC result in the chosen format.
pub fn print_value(fmt: Format, v: &Value) {
    match fmt {
        Format::Json => crate::output::outln!("{}", pretty(v)),
        Format::Human => crate::output::out!("{}", human(v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_and_trees() {
        let v: Value =
            serde_json::json!([{"IDX": 0, "PID": 10, "DSC": "main"}, {"IDX": 1, "PID": 11, "DSC": "udp receiver"}]);
        let t = human(&v);
        assert!(t.starts_with("IDX  PID  DSC\n---  ---  ------------\n0    10   main\n"), "{t}");
        let v: Value = serde_json::json!({"now": "x", "uptime": 5, "sub": {"a": 1}});
        assert_eq!(human(&v), "now: x\nuptime: 5\nsub:\n  a: 1\n");
        assert_eq!(human(&serde_json::json!(["a", "b"])), "a\nb\n");
    }
}
