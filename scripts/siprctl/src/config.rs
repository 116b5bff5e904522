//! siprctl's settings: a kamctlrc-style file (`KEY=value` lines, shell
//! quoting, `#` comments) read from `--config`, else `~/.siprctlrc`, else
//! `/etc/sipr/siprctlrc`; command-line flags win over it. kamctlrc's own
//! names are read (SIP_DOMAIN, DBENGINE, DB_PATH, DBHOST, DBPORT, DBNAME,
//! DBRWUSER, DBRWPW, STORE_PLAINTEXT_PW, PID_FILE), so an operator's
//! kamctlrc works as a siprctlrc; sipr adds DBURL, RPC, SIPR_BIN, SIPR_CFG
//! and RUN_DIR.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// The settings file's values.
#[derive(Debug, Default, Clone)]
pub struct Config {
    values: HashMap<String, String>,
    /// Where they were read from.
    pub source: Option<PathBuf>,
}

impl Config {
    /// Reads `path`, or the first default file that exists.
    pub fn load(path: Option<&Path>) -> Result<Config> {
        let candidates: Vec<PathBuf> = match path {
            Some(p) => vec![p.to_path_buf()],
            None => {
                let mut c = Vec::new();
                if let Some(home) = std::env::var_os("HOME") {
                    c.push(PathBuf::from(home).join(".siprctlrc"));
                }
                c.push(PathBuf::from("/etc/sipr/siprctlrc"));
                c
            }
        };
        for p in candidates {
            match std::fs::read_to_string(&p) {
                Ok(text) => {
                    let values = parse(&text).with_context(|| format!("{}", p.display()))?;
                    return Ok(Config { values, source: Some(p) });
                }
                Err(e) if path.is_some() => return Err(e).with_context(|| format!("cannot read {}", p.display())),
                Err(_) => {}
            }
        }
        Ok(Config::default())
    }

    /// A value, the environment's first (as kamctl lets it override).
    pub fn get(&self, key: &str) -> Option<String> {
        std::env::var(key).ok().filter(|v| !v.is_empty()).or_else(|| self.values.get(key).cloned())
    }

    /// A yes/no value (`1`, `yes`, `true`).
    pub fn flag(&self, key: &str) -> bool {
        self.get(key).is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "yes" | "true" | "on"))
    }
}

/// `KEY=value` lines; values may be quoted ('...' or "...").
fn parse(text: &str) -> Result<HashMap<String, String>> {
    let mut out = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((k, v)) = line.split_once('=') else {
            bail!("line {}: expected KEY=value, got {line:?}", n + 1);
        };
        let k = k.trim();
        if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            bail!("line {}: {k:?} is not a setting name", n + 1);
        }
        let v = v.trim();
        let v = match (v.chars().next(), v.chars().last()) {
            (Some('"'), Some('"')) | (Some('\''), Some('\'')) if v.len() >= 2 => &v[1..v.len() - 1],
            _ => v.split(" #").next().unwrap_or(v).trim(),
        };
        out.insert(k.to_string(), v.to_string());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kamctlrc_lines() {
        let c =
            parse("# comment\nSIP_DOMAIN=example.com\nDBENGINE=\"PGSQL\"\nexport DBRWPW='a b'\nX=1 # note\n").unwrap();
        assert_eq!(c["SIP_DOMAIN"], "example.com");
        assert_eq!(c["DBENGINE"], "PGSQL");
        assert_eq!(c["DBRWPW"], "a b");
        assert_eq!(c["X"], "1");
        assert!(parse("not a setting\n").unwrap_err().to_string().contains("line 1"));
    }
}
