//! `dvc-audit profile lint` and `dvc-audit profile test`: the argument types and the work.
//! Nothing here prints: [`run`] returns the text for stdout and stderr and the exit code, and
//! `cli.rs` writes them.

use std::fmt::Write as _;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Subcommand, ValueEnum};

use super::{Profile, ProfileSet};
use crate::config::{CrawlSection, Loaded};
use crate::exit::ExitCode;
use crate::extract::inspect::{ReadAs, decode_bytes, inspect_with};
use crate::extract::{AgencyVars, Page};

#[derive(Debug, Subcommand)]
pub enum ProfileCmd {
    /// Load every profile and report every problem with file:line:col.
    Lint {
        /// Directory of profile files (default: `rules/portals` if present, else the bundled ones).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Show what a profile extracts from one page (as a list page and/or a detail page).
    ///
    /// With `--agency ID`, the agency's `portal` (and `portal_origin`, ...) and `[agency.vars]`
    /// come from the configuration (`-c`), as in a run. A URL is fetched through the
    /// crawler's client with the configuration's crawl settings (robots.txt, rate limit,
    /// trust, `resolve` pins, body cap); a file is read up to the same body cap.
    Test {
        /// Profile id (bundled, in --dir or in the configuration's profile dirs) or a profile
        /// file path.
        profile: String,
        /// The page: a saved file, or an http(s) URL to fetch. A list URL that is one of the
        /// profile's start requests is sent as the profile says (method and body).
        page: String,
        /// The page's URL, against which relative links resolve (a file only; default: the
        /// agency's portal, else `https://portal.invalid/`).
        #[arg(long)]
        url: Option<String>,
        /// Read with this configured agency's portal and variables (needs `-c`).
        #[arg(long)]
        agency: Option<String>,
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

/// Run a profile subcommand. `config` is the global `-c` path (read by `test` when it needs
/// the agency or the crawl settings; `profile lint` without `--dir` lints the profiles that
/// configuration uses — `profiles.dirs` over the bundled ones, exactly as `run` loads them —
/// when the file exists).
pub async fn run(cmd: ProfileCmd, config: &Path, color: bool) -> anyhow::Result<CmdOutput> {
    match cmd {
        ProfileCmd::Lint { dir: None } if config.is_file() => Ok(lint_configured(config, color)),
        ProfileCmd::Lint { dir } => Ok(lint(dir.as_deref(), color)),
        ProfileCmd::Test {
            profile,
            page,
            url,
            agency,
            read_as,
            dir,
            json,
        } => {
            let args = TestArgs {
                profile,
                page,
                url,
                agency,
                read_as,
                dir,
                json,
            };
            test(&args, config, color).await
        }
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

/// Where a page comes from.
enum PageSource {
    File(PathBuf),
    Url(String),
}

fn page_source(arg: &str) -> PageSource {
    let lower = arg.get(..8).unwrap_or(arg).to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
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

struct TestArgs {
    profile: String,
    page: String,
    url: Option<String>,
    agency: Option<String>,
    read_as: AsArg,
    dir: Option<PathBuf>,
    json: bool,
}

/// Read at most `cap` bytes of a file; a longer file (or an endless one such as
/// `/dev/urandom`) is an error once `cap` is passed, never read to its end.
fn read_capped(path: &Path, cap: u64) -> Result<Vec<u8>, String> {
    let file = std::fs::File::open(path)
        .map_err(|e| format!("error: cannot read {}: {e}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(cap.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| format!("error: cannot read {}: {e}", path.display()))?;
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > cap {
        return Err(format!(
            "error: {} is larger than {cap} bytes (crawl.max_body_bytes, the crawler's cap on a page); nothing was read beyond it",
            path.display()
        ));
    }
    Ok(bytes)
}

async fn test(args: &TestArgs, config_path: &Path, color: bool) -> anyhow::Result<CmdOutput> {
    let mut out = CmdOutput::default();
    let is_url = matches!(page_source(&args.page), PageSource::Url(_));
    // The configuration: needed for an agency; used for a URL's crawl settings when present.
    let loaded: Option<Loaded> = if args.agency.is_some() || (is_url && config_path.is_file()) {
        match crate::config::Config::load(config_path) {
            Ok(l) => Some(l),
            Err(e) => return Ok(out.fail(&e.0.render(color))),
        }
    } else {
        None
    };
    let config_dir = loaded
        .as_ref()
        .and_then(|l| l.config.profiles.dirs.first().map(|d| l.path(d)));
    let dir = args.dir.clone().or(config_dir);
    let Some(profile) = find_profile(&args.profile, dir.as_deref(), color, &mut out) else {
        return Ok(out.fail(""));
    };
    let agency = match (&args.agency, &loaded) {
        (Some(id), Some(l)) => match l.config.agencies.iter().find(|a| &a.id == id) {
            Some(a) => Some(a.clone()),
            None => {
                let known: Vec<&str> = l.config.agencies.iter().map(|a| a.id.as_str()).collect();
                return Ok(out.fail(&format!(
                    "error: no agency `{id}` in {} (known: {})",
                    config_path.display(),
                    known.join(", ")
                )));
            }
        },
        _ => None,
    };
    let crawl: CrawlSection = loaded
        .as_ref()
        .map(|l| l.config.crawl.clone())
        .unwrap_or_default();
    let page_url = args
        .url
        .clone()
        .or_else(|| agency.as_ref().map(|a| a.portal.clone()))
        .unwrap_or_else(|| "https://portal.invalid/".to_string());
    let vars = match &agency {
        Some(a) => {
            let mut v = AgencyVars::new(&a.id, &a.portal);
            v.extend(a.vars.iter().map(|(k, v)| (k.clone(), v.clone())));
            v
        }
        // No agency: the page's own URL stands for the portal.
        None => AgencyVars::new("test", &page_url),
    };
    let agency_id = agency.as_ref().map_or("test", |a| a.id.as_str());
    let read_as = match args.read_as {
        AsArg::Both => ReadAs::Both,
        AsArg::List => ReadAs::List,
        AsArg::Detail => ReadAs::Detail,
    };
    let page = match page_source(&args.page) {
        PageSource::Url(u) => match fetch(&profile, &vars, &crawl, &u, read_as).await {
            Ok(p) => p,
            Err(msg) => {
                out.stderr.push_str(&msg);
                out.stderr.push('\n');
                out.code = Some(ExitCode::Incomplete);
                return Ok(out);
            }
        },
        PageSource::File(path) => match read_capped(&path, crawl.max_body_bytes) {
            Ok(b) => Page::from_body(&page_url, decode_bytes(&b)),
            Err(msg) => return Ok(out.fail(&msg)),
        },
    };
    let report = inspect_with(&profile, &page, agency_id, &vars, read_as);
    out.stdout = if args.json {
        serde_json::to_string_pretty(&report)? + "\n"
    } else {
        report.render_text(50)
    };
    Ok(out)
}

/// Fetch `url` through the crawler's client (robots.txt, politeness, trust, pins, caps). A
/// list URL that is one of the profile's start requests is sent as the profile says (method
/// and body); anything else is a GET. Transport failures are an error message.
async fn fetch(
    profile: &Profile,
    vars: &AgencyVars,
    crawl: &CrawlSection,
    url: &str,
    read_as: ReadAs,
) -> Result<Page, String> {
    use crate::crawl::fetch::{Method as HttpMethod, Request};
    let start = (read_as != ReadAs::Detail)
        .then(|| profile.start_requests(vars).ok())
        .flatten()
        .and_then(|starts| starts.into_iter().find(|r| r.url == url));
    let request = match start {
        Some(r) => Request {
            method: match r.method {
                super::Method::Get => HttpMethod::Get,
                super::Method::Post => HttpMethod::Post,
            },
            content_type: r.body.as_ref().map(|_| "application/json".to_string()),
            body: r.body,
            ..Request::get(url)
        },
        None => Request::get(url),
    };
    let fetcher = crate::crawl::fetcher_from_config(crawl, &[])
        .map_err(|e| format!("error: cannot build the HTTP client: {e}"))?;
    let fetched = fetcher.fetch(&request).await;
    let rec = fetched.record;
    let Some(body) = fetched.text else {
        let why = rec.error.as_ref().map_or_else(
            || format!("HTTP {} with no body", rec.status),
            |e| format!("{}: {}", e.kind, e.message),
        );
        return Err(format!("error: fetching {url}: {why}"));
    };
    Ok(Page {
        url: rec.url.clone(),
        final_url: rec.final_url.clone(),
        status: i64::from(rec.status),
        content_type: rec.content_type.clone(),
        fetch: crate::crawl::walk::fetch_facts(&rec),
        body,
    })
}
