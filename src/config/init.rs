//! `dvc-audit config init [--vietnam|--sandbox]`: write a commented starting configuration.
//! It never overwrites a file (exit 2), and what it writes passes `config check`.

use std::io::Write as _;
use std::path::Path;

use crate::exit::ExitCode;

/// Every key with its default and meaning (commented), `crawl.user_agent` set.
const TEMPLATE: &str = include_str!("init.toml");
const VIETNAM: &str = include_str!("../../examples/vietnam.toml");
const SANDBOX: &str = include_str!("../../examples/demo.toml");

const EXAMPLE_AGENCY: &str = r#"
[[agency]]
id = "example"
name = "Sở Ví dụ"
name_en = "Example Department"
kind = "province"
portal = "https://dichvucong.example.gov.vn/"
platform = "accordion"
jurisdiction = "trung-uong"
verified = false
note = "Replace with a real agency; set verified = true once its portal address is confirmed."
"#;

/// Which starting point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The commented template with one placeholder agency.
    Plain,
    /// The template with the founding survey's agencies and inspectors (examples/vietnam.toml).
    Vietnam,
    /// The sandbox demo world's configuration (examples/demo.toml).
    Sandbox,
}

impl Kind {
    pub fn from_flags(vietnam: bool, sandbox: bool) -> Kind {
        match (vietnam, sandbox) {
            (true, _) => Kind::Vietnam,
            (_, true) => Kind::Sandbox,
            _ => Kind::Plain,
        }
    }
}

/// The text `config init` writes.
pub fn text(kind: Kind) -> String {
    match kind {
        Kind::Plain => format!("{TEMPLATE}{EXAMPLE_AGENCY}"),
        Kind::Vietnam => {
            // The survey's inspectors and agencies, after the commented settings.
            let from = VIETNAM.find("\n[inspectors]").map_or(0, |i| i + 1);
            let tail = VIETNAM.get(from..).unwrap_or(VIETNAM);
            format!(
                "{TEMPLATE}\n# The founding survey's agencies: HOST NAMES ARE UNVERIFIED (verified = false);\n# confirm each portal with its agency first (see examples/vietnam.toml).\n\n{tail}"
            )
        }
        Kind::Sandbox => format!(
            "# Written by `dvc-audit config init --sandbox`, for the demo world served by\n#   dvc-audit sandbox serve --size demo --seed 1 --https-port 18443 --http-port 18080 --out DIR\n# Put this file in DIR (beside ca.pem and gov-ca.pem). Every key is explained in\n# `dvc-audit config init` (without --sandbox) and the README.\n{SANDBOX}"
        ),
    }
}

/// Write the configuration to `path`, refusing to replace anything there.
pub fn run(path: &Path, kind: Kind) -> anyhow::Result<ExitCode> {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path);
    let mut file = match file {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            crate::logging::error(&format!(
                "{} already exists; not overwritten (remove it or choose another path with -c)",
                path.display()
            ));
            return Ok(ExitCode::USAGE);
        }
        Err(e) => {
            crate::logging::error(&format!("cannot create {}: {e}", path.display()));
            return Ok(ExitCode::Incomplete);
        }
    };
    file.write_all(text(kind).as_bytes())?;
    file.sync_all()?;
    crate::logging::result(
        &format!(
            "wrote {}; check it with: dvc-audit config check -c {}\n",
            path.display(),
            path.display()
        ),
        "config_written",
        serde_json::json!({"path": path.display().to_string()}),
    )?;
    Ok(ExitCode::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn load(kind: Kind) -> crate::config::Loaded {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.toml");
        std::fs::write(&path, text(kind)).expect("write");
        match Config::load(&path) {
            Ok(l) => l,
            Err(e) => panic!("{kind:?} does not load:\n{}", e.0.render(false)),
        }
    }

    #[test]
    fn plain_and_vietnam_load() {
        assert_eq!(load(Kind::Plain).config.agencies.len(), 1);
        let v = load(Kind::Vietnam);
        assert_eq!(v.config.agencies.len(), 15);
        assert!(!v.config.inspectors.is_empty());
    }

    /// Every commented `key = value` of the template, uncommented, still loads and gives the
    /// same configuration: the documented defaults are the real ones.
    #[test]
    fn commented_values_are_the_defaults() {
        let mut uncommented = String::new();
        for line in TEMPLATE.lines() {
            let body = line.strip_prefix("# ").unwrap_or(line);
            let is_setting = line.starts_with("# ")
                && body
                    .split_once(" = ")
                    .is_some_and(|(k, _)| k.chars().all(|c| c.is_ascii_lowercase() || c == '_'));
            // Examples of free-form tables (anchors, waivers file, password file, inspectors,
            // lead) are not defaults.
            let example = [
                "web_roots",
                "vgca",
                "password_file",
                "waivers",
                "trung-uong",
                "to",
                // The webhook section is commented out as a whole (it needs a secret).
                "url",
                "secret_env",
                "secret_file",
                "timeout_ms",
                "headers",
            ]
            .iter()
            .any(|k| body.starts_with(&format!("{k} = ")));
            if is_setting && !example {
                uncommented.push_str(body);
            } else {
                uncommented.push_str(line);
            }
            uncommented.push('\n');
        }
        uncommented.push_str(EXAMPLE_AGENCY);
        let dir = tempfile::tempdir().expect("tempdir");
        let a = dir.path().join("a.toml");
        let b = dir.path().join("b.toml");
        std::fs::write(&a, text(Kind::Plain)).expect("write");
        std::fs::write(&b, &uncommented).expect("write");
        let (a, b) = match (Config::load(&a), Config::load(&b)) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(e), _) | (_, Err(e)) => panic!("{}", e.0.render(false)),
        };
        let show = |c: &Config| {
            format!(
                "{:?}{:?}{:?}{:?}{:?}{:?}{:?}{:?}",
                c.audit, c.crawl, c.tls, c.storage, c.report, c.email, c.notify, c.rules
            )
        };
        assert_eq!(show(&a.config), show(&b.config));
    }

    #[test]
    fn init_refuses_to_overwrite() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.toml");
        std::fs::write(&path, "keep me").expect("write");
        assert_eq!(run(&path, Kind::Plain).expect("run"), ExitCode::USAGE);
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "keep me");
    }
}
