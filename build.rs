//! Build metadata for `dvc-audit --version`: the git commit and the build date.
//!
//! Works from a clean clone, a source tarball, without network and without git:
//! - commit: `DVC_AUDIT_GIT_COMMIT` if set at build time, else `git rev-parse HEAD` when git
//!   and a repository are there, else `unknown`;
//! - date: `SOURCE_DATE_EPOCH` (reproducible builds) if set, else the build's own clock.

use std::path::PathBuf;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=DVC_AUDIT_GIT_COMMIT");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");

    let commit = match std::env::var("DVC_AUDIT_GIT_COMMIT") {
        Ok(c) if !c.trim().is_empty() => c.trim().to_string(),
        _ => git_commit().unwrap_or_else(|| "unknown".to_string()),
    };
    println!("cargo:rustc-env=DVC_AUDIT_GIT_COMMIT={commit}");

    let secs = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
        });
    println!("cargo:rustc-env=DVC_AUDIT_BUILD_DATE={}", date(secs));
}

/// The commit of HEAD; the script reruns when HEAD moves (a commit, a checkout).
fn git_commit() -> Option<String> {
    let out = |args: &[&str]| -> Option<String> {
        let o = Command::new("git").args(args).output().ok()?;
        if !o.status.success() {
            return None;
        }
        let s = String::from_utf8(o.stdout).ok()?.trim().to_string();
        (!s.is_empty()).then_some(s)
    };
    let commit = out(&["rev-parse", "HEAD"])?;
    // Watch only files that exist (a missing path would rerun this script on every build).
    let mut watch: Vec<PathBuf> = Vec::new();
    if let Some(dir) = out(&["rev-parse", "--git-dir"]) {
        watch.push(PathBuf::from(&dir).join("HEAD"));
    }
    if let Some(head_ref) = out(&["symbolic-ref", "-q", "HEAD"])
        && let Some(common) = out(&["rev-parse", "--git-common-dir"])
    {
        watch.push(PathBuf::from(&common).join(head_ref));
        watch.push(PathBuf::from(&common).join("packed-refs"));
    }
    for w in watch.iter().filter(|p| p.exists()) {
        println!("cargo:rerun-if-changed={}", w.display());
    }
    Some(commit)
}

/// `YYYY-MM-DD` (UTC) of a Unix time (Howard Hinnant's days-to-civil).
fn date(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}
