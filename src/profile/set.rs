//! Sets of profiles: the bundled ones (compiled in) and a directory of files.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use super::Profile;
use super::limits::MAX_PROFILE_BYTES;
use super::validate::parse_profile;
use crate::diag::{Diagnostic, Diagnostics, DiagnosticsError, SourceFile};

/// The profiles shipped with the binary: `(file name, text)`.
pub const BUNDLED: [(&str, &str); 10] = [
    (
        "accordion.toml",
        include_str!("../../rules/portals/accordion.toml"),
    ),
    ("table.toml", include_str!("../../rules/portals/table.toml")),
    ("spa.toml", include_str!("../../rules/portals/spa.toml")),
    (
        "spa-noapi.toml",
        include_str!("../../rules/portals/spa-noapi.toml"),
    ),
    ("dl.toml", include_str!("../../rules/portals/dl.toml")),
    (
        "list-api.toml",
        include_str!("../../rules/portals/list-api.toml"),
    ),
    (
        "dvcqg-api.toml",
        include_str!("../../rules/portals/dvcqg-api.toml"),
    ),
    (
        "opencps.toml",
        include_str!("../../rules/portals/opencps.toml"),
    ),
    (
        "liferay.toml",
        include_str!("../../rules/portals/liferay.toml"),
    ),
    ("igate.toml", include_str!("../../rules/portals/igate.toml")),
];

/// Loaded profiles by id.
#[derive(Debug, Clone, Default)]
pub struct ProfileSet {
    profiles: BTreeMap<String, Arc<Profile>>,
}

impl Profile {
    /// Load one profile from text (`name` is used in diagnostics).
    pub fn from_str_named(
        name: &str,
        text: &str,
    ) -> Result<(Profile, Diagnostics), DiagnosticsError> {
        parse_profile(&SourceFile::new(name, text))
    }

    /// Load one profile file.
    pub fn load(path: &Path) -> Result<(Profile, Diagnostics), DiagnosticsError> {
        let file = read_bounded(path)?;
        parse_profile(&file)
    }
}

fn read_bounded(path: &Path) -> Result<Arc<SourceFile>, DiagnosticsError> {
    let too_big = std::fs::metadata(path).is_ok_and(|m| m.len() > MAX_PROFILE_BYTES);
    if too_big {
        let mut d = Diagnostics::default();
        d.push(Diagnostic::error(
            "profile::io",
            format!(
                "{} is larger than {MAX_PROFILE_BYTES} bytes",
                path.display()
            ),
        ));
        return Err(DiagnosticsError(d));
    }
    SourceFile::read(path)
}

impl ProfileSet {
    /// The bundled profiles. They are tested to load; an error here is a build defect.
    pub fn bundled() -> Result<ProfileSet, DiagnosticsError> {
        let mut set = ProfileSet::default();
        let mut diags = Diagnostics::default();
        for (name, text) in BUNDLED {
            match Profile::from_str_named(&format!("bundled:{name}"), text) {
                Ok((p, _)) => {
                    set.profiles.insert(p.id.clone(), Arc::new(p));
                }
                Err(e) => diags.extend(e.0),
            }
        }
        diags.into_result().map(|_| set)
    }

    /// Every `*.toml` in `dir` (sorted by name), all problems collected. Duplicate ids are errors.
    pub fn load_dir(dir: &Path) -> Result<(ProfileSet, Diagnostics), DiagnosticsError> {
        let mut diags = Diagnostics::default();
        let mut set = ProfileSet::default();
        let mut paths: Vec<_> = match std::fs::read_dir(dir) {
            Ok(rd) => rd
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect(),
            Err(e) => {
                diags.push(Diagnostic::error(
                    "profile::io",
                    format!("cannot read directory {}: {e}", dir.display()),
                ));
                return Err(DiagnosticsError(diags));
            }
        };
        paths.sort();
        for path in paths {
            match Profile::load(&path) {
                Ok((p, warnings)) => {
                    diags.extend(warnings);
                    if let Some(prev) = set.profiles.get(&p.id) {
                        diags.push(Diagnostic::error(
                            "profile::duplicate",
                            format!(
                                "profile id `{}` in {} is already defined in {}",
                                p.id,
                                path.display(),
                                prev.origin
                            ),
                        ));
                    } else {
                        set.profiles.insert(p.id.clone(), Arc::new(p));
                    }
                }
                Err(e) => diags.extend(e.0),
            }
        }
        diags.into_result().map(|w| (set, w))
    }

    /// Bundled profiles, overridden by id by the files in `dir` when given.
    pub fn bundled_with_dir(
        dir: Option<&Path>,
    ) -> Result<(ProfileSet, Diagnostics), DiagnosticsError> {
        let mut set = ProfileSet::bundled()?;
        let mut warnings = Diagnostics::default();
        if let Some(dir) = dir {
            let (local, w) = ProfileSet::load_dir(dir)?;
            set.profiles.extend(local.profiles);
            warnings = w;
        }
        Ok((set, warnings))
    }

    pub fn get(&self, id: &str) -> Option<&Arc<Profile>> {
        self.profiles.get(id)
    }

    pub fn insert(&mut self, profile: Profile) {
        self.profiles.insert(profile.id.clone(), Arc::new(profile));
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.profiles.keys().map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.profiles.len()
    }

    pub fn is_empty(&self) -> bool {
        self.profiles.is_empty()
    }
}
