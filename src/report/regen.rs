//! `dvc-audit report`: render a stored run again (another language, other formats) from the
//! history database and the configuration, without crawling.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::build::{AgencyMeta, BuildError, gather_with};
use super::i18n::Lang;
use super::{Format, ReportError, write_all};
use crate::config::Loaded;
use crate::facts::{AgencyFacts, AgencyKind};
use crate::store::Store;

#[derive(Debug, thiserror::Error)]
pub enum RegenError {
    #[error("no history database at {0}")]
    NoDatabase(PathBuf),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error(transparent)]
    Report(#[from] ReportError),
}

/// The formats configured in `report.formats`.
pub fn configured_formats(loaded: &Loaded) -> Result<Vec<Format>, ReportError> {
    loaded
        .config
        .report
        .formats
        .iter()
        .map(|f| Format::parse(f))
        .collect()
}

/// Agencies of a run's scope, described by the configuration (an agency since removed from the
/// configuration is still listed, by id).
pub fn metas_for(loaded: &Loaded, scope: &[String]) -> Vec<AgencyMeta> {
    scope
        .iter()
        .map(|id| {
            loaded
                .config
                .agencies
                .iter()
                .find(|a| &a.id == id)
                .map(AgencyMeta::from_config)
                .unwrap_or_else(|| AgencyMeta {
                    facts: AgencyFacts {
                        id: id.clone(),
                        name: id.clone(),
                        name_en: String::new(),
                        kind: AgencyKind::Province,
                        portal: String::new(),
                        platform: String::new(),
                        jurisdiction: String::new(),
                    },
                    successor: String::new(),
                    former_names: Vec::new(),
                    verified: false,
                })
        })
        .collect()
}

/// Render run `run_id` (the latest complete run when `None`) into `out` (default: `report.dir`).
pub fn regenerate(
    loaded: &Loaded,
    run_id: Option<i64>,
    lang: Lang,
    formats: &[Format],
    out: Option<&Path>,
) -> Result<Vec<PathBuf>, RegenError> {
    let db = loaded.path(&loaded.config.storage.sqlite);
    if !db.exists() {
        return Err(RegenError::NoDatabase(db));
    }
    // Read-only: a report never migrates or writes the history.
    let store = Store::open_reader(&db)?;
    let run = match run_id {
        Some(id) => store.run(id)?,
        None => store
            .runs(1000)?
            .into_iter()
            .find(|r| r.status == "complete")
            .ok_or(crate::store::StoreError::NoSuchRun(0))?,
    };
    let metas = metas_for(loaded, &run.scope.agencies);
    let data = gather_with(
        &store,
        run.id,
        &loaded.config.audit.name,
        lang,
        metas,
        BTreeMap::new(),
        Vec::new(),
        loaded.config.report.max_rows_per_rule as usize,
    )?;
    let dir = out
        .map(Path::to_path_buf)
        .unwrap_or_else(|| loaded.path(&loaded.config.report.dir));
    Ok(write_all(&dir, &data, formats)?)
}
