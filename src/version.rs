//! `dvc-audit --version`: what exactly is installed. The short form is the crate version; the
//! long form (`--version`) adds the git commit and build date (set by `build.rs`, `unknown`
//! without git) and the digests of the bundled rule pack and portal profiles, so a report can
//! be traced to the binary that judged it.

use sha2::{Digest, Sha256};

/// The crate version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The git commit the binary was built from, or `unknown`.
pub const GIT_COMMIT: &str = env!("DVC_AUDIT_GIT_COMMIT");
/// The build date, `YYYY-MM-DD` UTC (`SOURCE_DATE_EPOCH` when set).
pub const BUILD_DATE: &str = env!("DVC_AUDIT_BUILD_DATE");

/// SHA-256 (hex) of the bundled profiles: each file's name and text, in name order.
pub fn profiles_digest() -> String {
    let mut files: Vec<(&str, &str)> = crate::profile::BUNDLED.to_vec();
    files.sort();
    let mut h = Sha256::new();
    for (name, text) in files {
        h.update((name.len() as u64).to_le_bytes());
        h.update(name.as_bytes());
        h.update((text.len() as u64).to_le_bytes());
        h.update(text.as_bytes());
    }
    hex::encode(h.finalize())
}

/// The bundled rule pack's digest, as `rules lint` prints it and runs record it.
pub fn rules_digest() -> String {
    match crate::rules::RuleSet::bundled() {
        Ok(l) => l.rules.digest().to_string(),
        Err(_) => "unavailable (the bundled pack does not load)".to_string(),
    }
}

/// The long version text (after the program name).
pub fn long_version() -> String {
    format!(
        "{VERSION}\ncommit:          {GIT_COMMIT}\nbuilt:           {BUILD_DATE}\nrules pack:      sha256:{}\nprofiles:        sha256:{}\nplatform:        {}-{}",
        rules_digest(),
        profiles_digest(),
        std::env::consts::ARCH,
        std::env::consts::OS,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_version_names_commit_date_and_digests() {
        let v = long_version();
        assert!(v.starts_with(VERSION));
        assert!(v.contains(&format!("commit:          {GIT_COMMIT}")));
        assert!(BUILD_DATE.len() == 10 && BUILD_DATE.as_bytes().get(4) == Some(&b'-'));
        let rules = rules_digest();
        assert_eq!(rules.len(), 64, "{rules}");
        assert!(v.contains(&format!("rules pack:      sha256:{rules}")));
        assert_eq!(profiles_digest().len(), 64);
    }
}
