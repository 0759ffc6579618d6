//! Everything a run needs, loaded and validated before any traffic: configuration, profiles,
//! rules (with deployment settings) and waivers. Every problem is collected and reported at
//! once with its `file:line:col`; nothing runs if any is an error (exit code 2).

use std::collections::BTreeMap;
use std::path::Path;

use crate::config::{Config, Loaded};
use crate::diag::{Diagnostic, Diagnostics, DiagnosticsError};
use crate::probe::{AnchorSet, ProbeConfig, WebRoots, load_pem_certs};
use crate::profile::ProfileSet;
use crate::rules::{RuleSet, RuleSettings, SettingsError, Waivers};

/// A validated run setup.
pub struct Setup {
    pub loaded: Loaded,
    pub profiles: ProfileSet,
    pub rules: RuleSet,
    pub waivers: Waivers,
    /// Non-fatal problems from every file.
    pub warnings: Diagnostics,
}

impl Setup {
    /// Load the configuration at `path` and everything it names.
    pub fn load(path: &Path) -> Result<Setup, DiagnosticsError> {
        let loaded = Config::load(path)?;
        Setup::from_loaded(loaded)
    }

    pub fn from_loaded(loaded: Loaded) -> Result<Setup, DiagnosticsError> {
        let mut diags = loaded.warnings.clone();

        // Profiles: bundled, overridden by configured directories.
        let (profiles, profile_diags) = load_profiles(&loaded);
        diags.extend(profile_diags);
        if let Some(set) = &profiles {
            for (i, a) in loaded.config.agencies.iter().enumerate() {
                if set.get(&a.platform).is_none() {
                    let known: Vec<&str> = set.ids().collect();
                    diags.push(loaded.diagnostic_at(
                        &format!("agency.{i}.platform"),
                        Diagnostic::error(
                            "config::platform",
                            format!(
                                "agency {:?}: no profile {:?} (known: {})",
                                a.id,
                                a.platform,
                                known.join(", ")
                            ),
                        ),
                        "unknown profile id",
                    ));
                }
            }
        }

        // Rules, then deployment settings pointed back at the config.
        let mut rules = None;
        let rule_dirs: Vec<_> = loaded
            .config
            .rules
            .dirs
            .iter()
            .map(|d| loaded.path(d))
            .collect();
        let loaded_rules = if rule_dirs.is_empty() {
            RuleSet::bundled()
        } else {
            let refs: Vec<&Path> = rule_dirs.iter().map(|p| p.as_path()).collect();
            RuleSet::load_dirs(&refs)
        };
        match loaded_rules {
            Ok(lr) => {
                diags.extend(lr.warnings);
                let mut set = lr.rules;
                let settings = rule_settings(&loaded, &set);
                if let Err(errors) = set.configure(&settings) {
                    for e in errors {
                        diags.push(settings_diagnostic(&loaded, &e));
                    }
                }
                rules = Some(set);
            }
            Err(e) => diags.extend(e.0),
        }

        // Waivers.
        let mut waivers = Waivers::default();
        if let (Some(set), Some(w)) = (&rules, &loaded.config.rules.waivers) {
            match Waivers::load(&loaded.path(w), set) {
                Ok((ws, warn)) => {
                    diags.extend(warn);
                    waivers = ws;
                }
                Err(e) => diags.extend(e.0),
            }
        }
        // Rules that did not load cannot check the waivers' rule ids, but a missing waivers
        // file is still a problem worth reporting now (every problem at once, not the first).
        if let (None, Some(w)) = (&rules, &loaded.config.rules.waivers)
            && !loaded.path(w).is_file()
        {
            diags.push(loaded.diagnostic_at(
                "rules.waivers",
                Diagnostic::error(
                    "config::waivers",
                    format!("waivers file {} does not exist", loaded.path(w).display()),
                ),
                "no such file",
            ));
        }

        if diags.has_errors() {
            return Err(DiagnosticsError(diags));
        }
        match (profiles, rules) {
            (Some(profiles), Some(rules)) => Ok(Setup {
                loaded,
                profiles,
                rules,
                waivers,
                warnings: diags,
            }),
            // Unreachable: a missing set always came with an error above.
            _ => Err(DiagnosticsError(diags)),
        }
    }

    /// The probe configuration from `[tls]` and `[crawl]` (pins, HTTP port, timeouts).
    pub fn probe_config(
        &self,
        extra_resolve: &[String],
    ) -> Result<ProbeConfig, crate::probe::ProbeError> {
        let c = &self.loaded.config;
        let mut cfg = ProbeConfig {
            expiry_warning_days: i64::from(c.tls.expiry_warning_days),
            http_port: c.crawl.http_port,
            connect_timeout: std::time::Duration::from_millis(c.crawl.connect_timeout_ms),
            address_guard: Some(crate::crawl::client::AddressPolicy::from_config(
                &c.crawl.allow_private,
                &[],
            )),
            ..ProbeConfig::default()
        };
        for (name, file) in &c.tls.anchors {
            cfg.anchors.push(AnchorSet {
                name: name.clone(),
                certs: load_pem_certs(&self.loaded.path(file))?,
            });
        }
        if let Some(w) = &c.tls.web_roots {
            cfg.web_roots = WebRoots::Custom(load_pem_certs(&self.loaded.path(w))?);
        }
        for spec in c.crawl.resolve.iter().chain(extra_resolve) {
            let (host, port, addr) = crate::probe::parse_resolve(spec)?;
            cfg.pin(&host, port, addr);
        }
        for a in &c.agencies {
            for url in std::iter::once(&a.portal).chain(&a.extra_hosts) {
                cfg.add_entry(url);
            }
        }
        Ok(cfg)
    }
}

/// The profiles a run uses: the bundled ones, overridden by each of `profiles.dirs` in order.
/// One code path for `run`, `config check` and `profile lint -c`.
pub fn load_profiles(loaded: &Loaded) -> (Option<ProfileSet>, Diagnostics) {
    let mut diags = Diagnostics::default();
    let mut profiles = None;
    let dirs: Vec<_> = loaded
        .config
        .profiles
        .dirs
        .iter()
        .map(|d| loaded.path(d))
        .collect();
    let first = dirs.first().map(|p| p.as_path());
    match ProfileSet::bundled_with_dir(first) {
        Ok((set, w)) => {
            diags.extend(w);
            profiles = Some(set);
        }
        Err(e) => diags.extend(e.0),
    }
    for extra in dirs.iter().skip(1) {
        match ProfileSet::load_dir(extra) {
            Ok((more, w)) => {
                diags.extend(w);
                if let Some(set) = profiles.as_mut() {
                    for id in more.ids().map(str::to_string).collect::<Vec<_>>() {
                        if let Some(p) = more.get(&id) {
                            set.insert((**p).clone());
                        }
                    }
                }
            }
            Err(e) => diags.extend(e.0),
        }
    }
    (profiles, diags)
}

/// `[rules]` settings, with `tls.expiry_warning_days` feeding the rule parameter of the same
/// name unless `[rules.params]` sets it.
fn rule_settings(loaded: &Loaded, set: &RuleSet) -> RuleSettings {
    let c = &loaded.config;
    let mut params: BTreeMap<String, toml::Value> = c.rules.params.clone();
    if set.params().contains_key("expiry_warning_days") {
        params
            .entry("expiry_warning_days".into())
            .or_insert(toml::Value::Integer(i64::from(c.tls.expiry_warning_days)));
    }
    RuleSettings {
        params,
        severity: c.rules.severity.clone(),
    }
}

fn settings_diagnostic(loaded: &Loaded, e: &SettingsError) -> Diagnostic {
    let (path, label) = match e {
        SettingsError::UnknownParam(name) => (format!("rules.params.{name}"), "unknown parameter"),
        SettingsError::ParamType { name, .. } => (format!("rules.params.{name}"), "wrong type"),
        SettingsError::UnknownRule(id) => (format!("rules.severity.{id}"), "unknown rule id"),
    };
    loaded.diagnostic_at(
        &path,
        Diagnostic::error("config::rules", e.to_string()),
        label,
    )
}
