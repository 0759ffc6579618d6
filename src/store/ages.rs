//! How long findings have been open: the lifecycle's first run and regression count, read for
//! the findings a report shows (its example rows), in bounded batches.

use std::collections::BTreeMap;

use rusqlite::params_from_iter;
use serde::{Deserialize, Serialize};

use super::{Result, Store};

/// Fingerprints per query (SQLite's default bound on host parameters is 32,766).
const BATCH: usize = 500;

/// When a finding was first seen failing and how often it came back after being resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingAge {
    pub first_seen_run: i64,
    /// RFC 3339, UTC: the start of the first run that saw it.
    pub first_seen_at: String,
    pub times_regressed: i64,
    /// Whole days from the first run's start to `as_of` (the reporting run's start).
    pub open_days: i64,
}

impl Store {
    /// The age, as of `as_of` (RFC 3339), of each of `fingerprints` that the lifecycle knows
    /// (complete runs only).
    pub fn finding_ages(
        &self,
        as_of: &str,
        fingerprints: &[&str],
    ) -> Result<BTreeMap<String, FindingAge>> {
        let mut out = BTreeMap::new();
        for chunk in fingerprints.chunks(BATCH) {
            let marks = vec!["?"; chunk.len()].join(",");
            let mut st = self.connection().prepare(&format!(
                "SELECT l.fingerprint, l.first_seen_run, r.started_at, l.times_regressed,
                        MAX(0, CAST(julianday(?1) - julianday(r.started_at) AS INTEGER))
                 FROM lifecycle l JOIN runs r ON r.id = l.first_seen_run
                 WHERE l.fingerprint IN ({marks})"
            ))?;
            let args = std::iter::once(as_of).chain(chunk.iter().copied());
            let rows = st.query_map(params_from_iter(args), |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    FindingAge {
                        first_seen_run: r.get(1)?,
                        first_seen_at: r.get(2)?,
                        times_regressed: r.get(3)?,
                        open_days: r.get::<_, Option<i64>>(4)?.unwrap_or(0),
                    },
                ))
            })?;
            for row in rows {
                let (fp, age) = row?;
                out.insert(fp, age);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fingerprints_have_no_age() {
        let store = Store::open_in_memory().expect("store");
        assert!(
            store
                .finding_ages("2026-01-01T00:00:00Z", &["nope"])
                .expect("ages")
                .is_empty()
        );
        assert!(
            store
                .finding_ages("2026-01-01T00:00:00Z", &[])
                .expect("ages")
                .is_empty()
        );
    }
}
