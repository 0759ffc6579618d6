//! `dvc-audit profile lint` and `dvc-audit profile test`: the argument types and the work.
//! Nothing here prints: [`run`] returns the text for stdout and stderr and the exit code, and
//! `cli.rs` writes them.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Subcommand, ValueEnum};

use super::{Profile, ProfileSet};
use crate::exit::ExitCode;
use crate::extract::Page;
use crate::extract::inspect::{ReadAs, decode_bytes, inspect};

/// Largest page file `profile test` reads.
const MAX_PAGE_BYTES: u64 = 32 << 20;

#[derive(Debug, Subcommand)]
pub enum ProfileCmd {
    /// Load every profile and report every problem with file:line:col.
    Lint {
        /// Directory of profile files (default: `rules/portals` if present, else the bundled ones).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Show what a profile extracts from one page (as a list page and/or a detail page).
    Test {
        /// Profile id (bundled or in --dir) or a profile file path.
        profile: String,
        /// The page: a saved file. (A URL will be accepted once the crawler exists.)
        page: String,
        /// The page's URL, against which relative links resolve.
        #[arg(long, default_value = "https://portal.invalid/")]
        url: String,
        /// Read the page as a list page, a detail page, or both.
        #[arg(long = "as", value_enum, default_value_t = AsArg::Both)]
        read_as: AsArg,
        /// Directory of profile files searched for the id before the bundled ones.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum AsArg {
    Both,
    List,
    Detail,
}

/// What a command produced, for the CLI to print.
#[derive(Debug, Default)]
pub struct CmdOutput {
    pub stdout: String,
    pub stderr: String,
    pub code: Option<ExitCode>,
}

impl CmdOutput {
    fn fail(mut self, msg: &str) -> CmdOutput {
        self.stderr.push_str(msg);
        if !msg.is_empty() && !msg.ends_with('\n') {
            self.stderr.push('\n');
        }
        self.code = Some(ExitCode::ConfigError);
        self
    }

    pub fn exit_code(&self) -> ExitCode {
        self.code.unwrap_or(ExitCode::Ok)
    }
}

/// Run a profile subcommand.
pub fn run(cmd: ProfileCmd, color: bool) -> anyhow::Result<CmdOutput> {
    run_with_config(cmd, None, color)
}

/// Run a profile subcommand; `profile lint` without `--dir` lints the profiles the
/// configuration at `config` uses (`profiles.dirs` over the bundled ones, exactly as `run`
/// loads them) when that file exists.
pub fn run_with_config(
    cmd: ProfileCmd,
    config: Option<&Path>,
    color: bool,
) -> anyhow::Result<CmdOutput> {
    match cmd {
        ProfileCmd::Lint { dir: None } if config.is_some_and(Path::is_file) => {
            Ok(lint_configured(config.unwrap_or(Path::new("")), color))
        }
        ProfileCmd::Lint { dir } => Ok(lint(dir.as_deref(), color)),
        ProfileCmd::Test {
            profile,
            page,
            url,
            read_as,
            dir,
            json,
        } => test(&profile, &page, &url, read_as, dir.as_deref(), json, color),
    }
}

fn lint(dir: Option<&Path>, color: bool) -> CmdOutput {
    let mut out = CmdOutput::default();
    let default = Path::new("rules/portals");
    let dir = dir.or_else(|| default.is_dir().then_some(default));
    let result = match dir {
        Some(d) => ProfileSet::load_dir(d),
        None => ProfileSet::bundled().map(|s| (s, crate::diag::Diagnostics::default())),
    };
    match result {
        Ok((set, warnings)) => {
            out.stderr = warnings.render(color);
            let where_ = dir.map_or("bundled".to_string(), |d| d.display().to_string());
            let _ = writeln!(
                out.stdout,
                "{where_}: ok ({} profiles: {})",
                set.len(),
                set.ids().collect::<Vec<_>>().join(", ")
            );
            out
        }
        Err(e) => out.fail(&e.0.render(color)),
    }
}

/// Lint the profiles a configuration uses (the run's own loading path).
fn lint_configured(config: &Path, color: bool) -> CmdOutput {
    let out = CmdOutput::default();
    let loaded = match crate::config::Config::load(config) {
        Ok(l) => l,
        Err(e) => return out.fail(&e.0.render(color)),
    };
    let (set, diags) = crate::run::setup::load_profiles(&loaded);
    match set {
        Some(set) if !diags.has_errors() => {
            let mut out = out;
            out.stderr = diags.render(color);
            let dirs: Vec<String> = loaded
                .config
                .profiles
                .dirs
                .iter()
                .map(|d| loaded.path(d).display().to_string())
                .collect();
            let where_ = if dirs.is_empty() {
                "bundled".to_string()
            } else {
                format!("bundled + {}", dirs.join(" + "))
            };
            let _ = writeln!(
                out.stdout,
                "{where_}: ok ({} profiles: {})",
                set.len(),
                set.ids().collect::<Vec<_>>().join(", ")
            );
            out
        }
        _ => out.fail(&diags.render(color)),
    }
}

/// Where a page comes from. Only files for now; `Url` is the slot for the crawler.
enum PageSource {
    File(PathBuf),
    Url(String),
}

fn page_source(arg: &str) -> PageSource {
    if arg.starts_with("http://") || arg.starts_with("https://") {
        PageSource::Url(arg.to_string())
    } else {
        PageSource::File(PathBuf::from(arg))
    }
}

/// The profile named by `arg` (a file, or an id in `dir` or the bundled set); problems are
/// written to `out`.
fn find_profile(
    arg: &str,
    dir: Option<&Path>,
    color: bool,
    out: &mut CmdOutput,
) -> Option<Arc<Profile>> {
    let path = Path::new(arg);
    if arg.ends_with(".toml") || path.is_file() {
        return match Profile::load(path) {
            Ok((p, w)) => {
                out.stderr.push_str(&w.render(color));
                Some(Arc::new(p))
            }
            Err(e) => {
                out.stderr.push_str(&e.0.render(color));
                None
            }
        };
    }
    match ProfileSet::bundled_with_dir(dir) {
        Ok((set, w)) => {
            out.stderr.push_str(&w.render(color));
            let found = set.get(arg).cloned();
            if found.is_none() {
                let _ = writeln!(
                    out.stderr,
                    "error: no profile `{arg}` (known: {})",
                    set.ids().collect::<Vec<_>>().join(", ")
                );
            }
            found
        }
        Err(e) => {
            out.stderr.push_str(&e.0.render(color));
            None
        }
    }
}

fn test(
    profile: &str,
    page: &str,
    url: &str,
    read_as: AsArg,
    dir: Option<&Path>,
    json: bool,
    color: bool,
) -> anyhow::Result<CmdOutput> {
    let mut out = CmdOutput::default();
    let Some(profile) = find_profile(profile, dir, color, &mut out) else {
        return Ok(out.fail(""));
    };
    let body = match page_source(page) {
        PageSource::Url(u) => {
            return Ok(out.fail(&format!(
                "error: fetching {u} needs the crawler, which is not available yet; save the page and pass the file (with --url {u})"
            )));
        }
        PageSource::File(path) => {
            let too_big = std::fs::metadata(&path).is_ok_and(|m| m.len() > MAX_PAGE_BYTES);
            if too_big {
                return Ok(out.fail(&format!(
                    "error: {} is larger than {MAX_PAGE_BYTES} bytes",
                    path.display()
                )));
            }
            match std::fs::read(&path) {
                Ok(b) => decode_bytes(&b),
                Err(e) => {
                    return Ok(out.fail(&format!("error: cannot read {}: {e}", path.display())));
                }
            }
        }
    };
    let page = Page::from_body(url, body);
    let read_as = match read_as {
        AsArg::Both => ReadAs::Both,
        AsArg::List => ReadAs::List,
        AsArg::Detail => ReadAs::Detail,
    };
    let report = inspect(&profile, &page, "test", read_as);
    out.stdout = if json {
        serde_json::to_string_pretty(&report)? + "\n"
    } else {
        report.render_text(50)
    };
    Ok(out)
}
