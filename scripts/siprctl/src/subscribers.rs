//! The commands that work straight on the database: subscribers (kamctl
//! add / passwd / rm / show), domains, address groups, dispatcher sets,
//! and the tables themselves (kamdbctl's create / migrate / drop).

use anyhow::{anyhow, bail, Context, Result};
use md5::{Digest, Md5};

use crate::db::{Db, Param};
use crate::{output, Ctx};

/// `user[@domain]`, the domain from SIP_DOMAIN when not given.
fn split_user(ctx: &Ctx, spec: &str) -> Result<(String, String)> {
    let (user, domain) = match spec.split_once('@') {
        Some((u, d)) => (u.to_string(), d.to_string()),
        None => (
            spec.to_string(),
            ctx.config
                .get("SIP_DOMAIN")
                .ok_or_else(|| anyhow!("{spec}: no domain: give USER@DOMAIN, or set SIP_DOMAIN in the settings"))?,
        ),
    };
    if user.is_empty()
        || domain.is_empty()
        || user.contains(char::is_whitespace)
        || domain.contains(char::is_whitespace)
    {
        bail!("{spec}: not a USER@DOMAIN");
    }
    Ok((user, domain))
}

fn md5_hex(text: &str) -> String {
    String::from_utf8_lossy(&sipr_core::hash::hex(&Md5::digest(text.as_bytes()))).into_owned()
}

/// ha1 and ha1b as Kamailio's auth_db reads them: MD5(user:realm:pw) and
/// MD5(user@domain:realm:pw), the realm being the domain (kamctl's).
pub fn ha1s(user: &str, domain: &str, password: &str) -> (String, String) {
    (md5_hex(&format!("{user}:{domain}:{password}")), md5_hex(&format!("{user}@{domain}:{domain}:{password}")))
}

/// Fails with the way out when `table` is missing.
fn need_table(db: &mut Db, table: &str) -> Result<()> {
    if !db.has_table(table)? {
        bail!("the database {} has no {table} table: create it with `siprctl db create`", db.describe());
    }
    Ok(())
}

fn subscriber_exists(db: &mut Db, user: &str, domain: &str) -> Result<bool> {
    let (_, rows) = db.query(
        "SELECT id FROM subscriber WHERE username = ? AND domain = ?",
        &[Param::Text(user.into()), Param::Text(domain.into())],
    )?;
    Ok(!rows.is_empty())
}

fn check_password(p: &str) -> Result<()> {
    if p.is_empty() {
        bail!("the password is empty");
    }
    Ok(())
}

/// `add USER[@DOMAIN] PASSWORD`.
pub fn add(ctx: &Ctx, spec: &str, password: &str) -> Result<()> {
    let (user, domain) = split_user(ctx, spec)?;
    check_password(password)?;
    let mut db = ctx.db()?;
    need_table(&mut db, "subscriber")?;
    if subscriber_exists(&mut db, &user, &domain)? {
        bail!("{user}@{domain} exists already (change its password with `siprctl passwd`)");
    }
    let (ha1, ha1b) = ha1s(&user, &domain, password);
    let plain = if ctx.config.flag("STORE_PLAINTEXT_PW") { password } else { "" };
    db.execute(
        "INSERT INTO subscriber (username, domain, password, ha1, ha1b) VALUES (?, ?, ?, ?, ?)",
        &[
            Param::Text(user.clone()),
            Param::Text(domain.clone()),
            Param::Text(plain.into()),
            Param::Text(ha1),
            Param::Text(ha1b),
        ],
    )?;
    say(ctx, &format!("{user}@{domain} added"));
    Ok(())
}

/// `passwd USER[@DOMAIN] PASSWORD`.
pub fn passwd(ctx: &Ctx, spec: &str, password: &str) -> Result<()> {
    let (user, domain) = split_user(ctx, spec)?;
    check_password(password)?;
    let mut db = ctx.db()?;
    need_table(&mut db, "subscriber")?;
    let (ha1, ha1b) = ha1s(&user, &domain, password);
    let plain = if ctx.config.flag("STORE_PLAINTEXT_PW") { password } else { "" };
    let n = db.execute(
        "UPDATE subscriber SET password = ?, ha1 = ?, ha1b = ? WHERE username = ? AND domain = ?",
        &[
            Param::Text(plain.into()),
            Param::Text(ha1),
            Param::Text(ha1b),
            Param::Text(user.clone()),
            Param::Text(domain.clone()),
        ],
    )?;
    if n == 0 {
        bail!("{user}@{domain} is no subscriber (add it with `siprctl add`)");
    }
    say(ctx, &format!("{user}@{domain}: password changed"));
    Ok(())
}

/// `rm USER[@DOMAIN]`.
pub fn rm(ctx: &Ctx, spec: &str) -> Result<()> {
    let (user, domain) = split_user(ctx, spec)?;
    let mut db = ctx.db()?;
    need_table(&mut db, "subscriber")?;
    let n = db.execute(
        "DELETE FROM subscriber WHERE username = ? AND domain = ?",
        &[Param::Text(user.clone()), Param::Text(domain.clone())],
    )?;
    if n == 0 {
        bail!("{user}@{domain} is no subscriber");
    }
    say(ctx, &format!("{user}@{domain} removed"));
    Ok(())
}

/// `show [USER[@DOMAIN]]`.
pub fn show(ctx: &Ctx, spec: Option<&str>) -> Result<()> {
    let mut db = ctx.db()?;
    need_table(&mut db, "subscriber")?;
    let (cols, rows) = match spec {
        None => {
            db.query("SELECT id, username, domain, password, ha1, ha1b FROM subscriber ORDER BY domain, username", &[])?
        }
        Some(s) => {
            let (user, domain) = split_user(ctx, s)?;
            let r = db.query(
                "SELECT id, username, domain, password, ha1, ha1b FROM subscriber WHERE username = ? AND domain = ?",
                &[Param::Text(user.clone()), Param::Text(domain.clone())],
            )?;
            if r.1.is_empty() {
                bail!("{user}@{domain} is no subscriber");
            }
            r
        }
    };
    output::print_rows(ctx.fmt, &cols, &rows);
    Ok(())
}

/// Any listing: `SELECT ...` on `table`.
pub fn table_show(ctx: &Ctx, table: &str, sql: &str) -> Result<()> {
    let mut db = ctx.db()?;
    need_table(&mut db, table)?;
    let (cols, rows) = db.query(sql, &[])?;
    output::print_rows(ctx.fmt, &cols, &rows);
    Ok(())
}

/// Now as a DATETIME column holds it (UTC).
fn now_text() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    sipr_sdk::db::format_datetime(secs)
}

/// `domain add DOMAIN`.
pub fn domain_add(ctx: &Ctx, domain: &str) -> Result<()> {
    if domain.is_empty() || domain.contains(char::is_whitespace) {
        bail!("{domain:?} is not a domain");
    }
    let mut db = ctx.db()?;
    need_table(&mut db, "domain")?;
    let (_, rows) = db.query("SELECT id FROM domain WHERE domain = ?", &[Param::Text(domain.into())])?;
    if !rows.is_empty() {
        bail!("{domain} is in the domain table already");
    }
    db.execute(
        "INSERT INTO domain (domain, did, last_modified) VALUES (?, ?, ?)",
        &[Param::Text(domain.into()), Param::Text(domain.into()), Param::Text(now_text())],
    )?;
    say(ctx, &format!("{domain} added (the server reads it on domain.reload)"));
    Ok(())
}

/// `domain rm DOMAIN`.
pub fn domain_rm(ctx: &Ctx, domain: &str) -> Result<()> {
    let mut db = ctx.db()?;
    need_table(&mut db, "domain")?;
    if db.execute("DELETE FROM domain WHERE domain = ?", &[Param::Text(domain.into())])? == 0 {
        bail!("{domain} is not in the domain table");
    }
    say(ctx, &format!("{domain} removed"));
    Ok(())
}

/// `address add GROUP IP MASK PORT [TAG]`.
pub fn address_add(ctx: &Ctx, group: u32, ip: &str, mask: u32, port: u16, tag: Option<&str>) -> Result<()> {
    let addr: std::net::IpAddr = ip.parse().with_context(|| format!("{ip} is not an IP address"))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    if mask > max {
        bail!("mask {mask}: at most {max} for {ip}");
    }
    let mut db = ctx.db()?;
    need_table(&mut db, "address")?;
    db.execute(
        "INSERT INTO address (grp, ip_addr, mask, port, tag) VALUES (?, ?, ?, ?, ?)",
        &[
            Param::Int(i64::from(group)),
            Param::Text(ip.into()),
            Param::Int(i64::from(mask)),
            Param::Int(i64::from(port)),
            Param::Text(tag.unwrap_or("").into()),
        ],
    )?;
    say(ctx, &format!("{ip}/{mask} added to group {group} (siprctl address reload makes the server read it)"));
    Ok(())
}

/// `address rm GROUP IP`.
pub fn address_rm(ctx: &Ctx, group: u32, ip: &str) -> Result<()> {
    let mut db = ctx.db()?;
    need_table(&mut db, "address")?;
    let n = db.execute(
        "DELETE FROM address WHERE grp = ? AND ip_addr = ?",
        &[Param::Int(i64::from(group)), Param::Text(ip.into())],
    )?;
    if n == 0 {
        bail!("{ip} is not in group {group}");
    }
    say(ctx, &format!("{ip} removed from group {group}"));
    Ok(())
}

/// `dispatcher add SETID DESTINATION ...`.
pub fn dispatcher_add(
    ctx: &Ctx,
    setid: u32,
    destination: &str,
    flags: u32,
    priority: i32,
    attrs: &str,
    description: &str,
) -> Result<()> {
    if !destination.starts_with("sip:") && !destination.starts_with("sips:") {
        bail!("{destination}: a destination is a SIP URI (sip:HOST[:PORT])");
    }
    let mut db = ctx.db()?;
    need_table(&mut db, "dispatcher")?;
    db.execute(
        "INSERT INTO dispatcher (setid, destination, flags, priority, attrs, description) VALUES (?, ?, ?, ?, ?, ?)",
        &[
            Param::Int(i64::from(setid)),
            Param::Text(destination.into()),
            Param::Int(i64::from(flags)),
            Param::Int(i64::from(priority)),
            Param::Text(attrs.into()),
            Param::Text(description.into()),
        ],
    )?;
    say(ctx, &format!("{destination} added to set {setid} (siprctl dispatcher reload makes the server read it)"));
    Ok(())
}

/// `dispatcher rm ID`.
pub fn dispatcher_rm(ctx: &Ctx, id: u32) -> Result<()> {
    let mut db = ctx.db()?;
    need_table(&mut db, "dispatcher")?;
    if db.execute("DELETE FROM dispatcher WHERE id = ?", &[Param::Int(i64::from(id))])? == 0 {
        bail!("no dispatcher destination has id {id}");
    }
    say(ctx, &format!("destination {id} removed"));
    Ok(())
}

/// A schema file's statements, its `--` comments left out (a comment
/// may hold a ';').
fn statements(text: &str) -> Vec<String> {
    let code: String = text.lines().filter(|l| !l.trim_start().starts_with("--")).collect::<Vec<_>>().join("\n");
    code.split(';').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
}

/// The tables a schema file creates and the version it gives each.
fn tables_of(text: &str) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    for s in statements(text) {
        let s = s.replace('\n', " ");
        let s = s.trim();
        if let Some(rest) = s.strip_prefix("INSERT INTO version") {
            let vals = rest.split("VALUES").nth(1).unwrap_or("");
            let name = vals.split('\'').nth(1).unwrap_or("").to_string();
            let ver = vals.rsplit(',').next().unwrap_or("").trim().trim_matches(|c| c == ')' || c == '\'' || c == ' ');
            out.push((name, ver.parse().unwrap_or(0)));
        }
    }
    out
}

/// The statements of a schema file that concern tables not there yet.
fn missing_statements(text: &str, have: &dyn Fn(&str) -> bool) -> Vec<String> {
    let mut out = Vec::new();
    for body in statements(text) {
        let b = body.as_str();
        let table = if let Some(r) = b.strip_prefix("CREATE TABLE ") {
            r.split_whitespace().next()
        } else if b.starts_with("CREATE INDEX") {
            b.split(" ON ").nth(1).and_then(|r| r.split_whitespace().next())
        } else if b.starts_with("INSERT INTO version") {
            b.split('\'').nth(1)
        } else {
            None
        };
        if table.is_some_and(|t| !have(t)) {
            out.push(format!("{b};"));
        }
    }
    out
}

/// `db create` / `db migrate`: every missing table made; existing ones
/// kept (run it twice: nothing changes); their versions checked.
pub fn db_create(ctx: &Ctx, migrate: bool) -> Result<()> {
    let url = ctx.db_url();
    let mut db = Db::open(&url, true)?;
    let mut rows = Vec::new();
    let mut outdated = Vec::new();
    for entry in crate::db::SCHEMA {
        let text = db.schema_text(entry);
        let wanted = tables_of(text);
        let mut present = Vec::new();
        for (t, _) in &wanted {
            present.push((t.clone(), db.has_table(t)?));
        }
        let have = |t: &str| present.iter().any(|(n, p)| n == t && *p);
        let todo = missing_statements(text, &have);
        if !todo.is_empty() {
            db.batch(&todo.join("\n")).with_context(|| format!("creating the {} tables", entry.0))?;
        }
        for (t, want) in wanted {
            let (_, v) =
                db.query("SELECT table_version FROM version WHERE table_name = ?", &[Param::Text(t.clone())])?;
            let got: i64 = v.first().and_then(|r| r.first()).and_then(|x| x.parse().ok()).unwrap_or(0);
            let state = if !present.iter().any(|(n, p)| *n == t && *p) {
                "created".to_string()
            } else if got == want {
                "up to date".to_string()
            } else {
                outdated.push(format!("{t} (version {got}, sipr reads {want})"));
                format!("version {got}, sipr reads {want}")
            };
            rows.push(vec![t, want.to_string(), state]);
        }
    }
    output::print_rows(ctx.fmt, &["table".into(), "version".into(), "state".into()], &rows);
    if !outdated.is_empty() {
        let what = if migrate { "no automatic migration is known for" } else { "older tables kept:" };
        bail!(
            "{what} {} — dump the rows, drop the table, run `siprctl db create`, load them back",
            outdated.join(", ")
        );
    }
    Ok(())
}

/// `db drop`: every table of sipr's schema files, `version` last.
pub fn db_drop(ctx: &Ctx) -> Result<()> {
    let mut db = ctx.db()?;
    let mut dropped = Vec::new();
    for entry in crate::db::SCHEMA.iter().rev() {
        for (t, _) in tables_of(db.schema_text(entry)).into_iter().rev() {
            if db.has_table(&t)? {
                db.batch(&format!("DROP TABLE {t};"))?;
                dropped.push(vec![t]);
            }
        }
    }
    output::print_rows(ctx.fmt, &["dropped".into()], &dropped);
    Ok(())
}

/// A line for people (nothing with --json: scripts read the exit status).
fn say(ctx: &Ctx, text: &str) {
    if ctx.fmt == output::Format::Human {
        crate::output::outln!("{text}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ha1_as_kamailio() {
        // MD5("alice:example.com:secret") and MD5("alice@example.com:example.com:secret")
        let (ha1, ha1b) = ha1s("alice", "example.com", "secret");
        assert_eq!(ha1, md5_hex("alice:example.com:secret"));
        assert_eq!(ha1.len(), 32);
        assert_ne!(ha1, ha1b);
    }

    #[test]
    fn schema_statements() {
        // htable's header comment holds a ';'
        let htable = crate::db::SCHEMA.iter().find(|e| e.0 == "htable").unwrap().1;
        assert!(missing_statements(htable, &|_| false).iter().any(|s| s.starts_with("CREATE TABLE htable")));
        let text = crate::db::SCHEMA[1].1;
        assert_eq!(tables_of(text), vec![("subscriber".to_string(), 7)]);
        assert!(missing_statements(text, &|_| true).is_empty());
        let all = missing_statements(text, &|_| false);
        assert!(
            all.iter().any(|s| s.starts_with("CREATE TABLE subscriber"))
                && all.iter().any(|s| s.starts_with("CREATE INDEX"))
        );
    }
}
