//! What the control modules (jsonrpcs, ctl, xhttp) share: where their
//! sockets and FIFOs go, and the owners and modes Kamailio's parameters
//! give those files.

use std::path::{Path, PathBuf};

use crate::ModValue;

/// A path from the cfg: absolute as it is, else inside `run_dir`.
pub fn in_run_dir(name: &str) -> PathBuf {
    let p = Path::new(name);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        crate::run_dir().join(p)
    }
}

/// Creates the directory of `path` and removes a stale file at `path` (a
/// previous run's FIFO or socket).
pub fn prepare_path(module: &str, path: &Path) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{module}: cannot create {}: {e}", dir.display()))?;
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("{module}: cannot remove the old {}: {e}", path.display())),
    }
}

/// Gives a control file the mode and the owner the cfg names.
pub fn set_access(module: &str, path: &Path, mode: u32, user: Option<&str>, group: Option<&str>) -> Result<(), String> {
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(mode))
        .map_err(|e| format!("{module}: {}: {e}", path.display()))?;
    crate::chown_to(path, user, group)
        .map_err(|e| format!("{module}: cannot give {} to {user:?}/{group:?}: {e}", path.display()))
}

/// A non-empty string parameter.
pub fn text(v: &ModValue, what: &str) -> Result<String, String> {
    match v {
        ModValue::Str(s) if !s.is_empty() => Ok(s.clone()),
        _ => Err(format!("{what} takes a non-empty string")),
    }
}

/// A file mode parameter (`0660`; the cfg's octal number, or its text).
pub fn mode(v: &ModValue) -> Result<u32, String> {
    match v {
        ModValue::Int(m) if (0..=0o777).contains(m) => Ok(*m as u32),
        ModValue::Str(s) => {
            u32::from_str_radix(s.trim(), 8).ok().filter(|m| *m <= 0o777).ok_or_else(|| format!("bad mode {s}"))
        }
        _ => Err("a mode is a number such as 0660".into()),
    }
}

/// A user or group as the cfg gives it: a name or a number.
pub fn owner(v: &ModValue, what: &str) -> Result<String, String> {
    match v {
        ModValue::Int(n) if *n >= 0 => Ok(n.to_string()),
        ModValue::Str(s) if !s.is_empty() => Ok(s.clone()),
        _ => Err(format!("{what} takes a user or group name or number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_are_names_or_numbers() {
        assert_eq!(owner(&ModValue::Str("kamailio".into()), "fifo_user").unwrap(), "kamailio");
        assert_eq!(owner(&ModValue::Int(33), "fifo_group").unwrap(), "33");
        assert!(owner(&ModValue::Int(-1), "fifo_group").is_err());
        assert!(owner(&ModValue::Str(String::new()), "fifo_user").is_err());
    }

    #[test]
    fn modes_are_octal() {
        assert_eq!(mode(&ModValue::Int(0o660)).unwrap(), 0o660);
        assert_eq!(mode(&ModValue::Str("0600".into())).unwrap(), 0o600);
        assert!(mode(&ModValue::Str("0999".into())).is_err());
        assert!(mode(&ModValue::Int(0o1777)).is_err());
    }
}
