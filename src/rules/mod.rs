//! The rules engine: compliance rules as data (`rules/*.toml`), evaluated over facts.
//!
//! - [`model`]: the rule format (id, bilingual texts, severity, scope, `when`/`require`
//!   expressions, legal basis, status, embedded tests);
//! - [`load`]: strict parse then validation collecting every diagnostic with `file:line:col`,
//!   including unknown fact fields inside expressions ([`vocab`] derives the vocabulary from
//!   `src/facts.rs`);
//! - [`expr`]: the only module that knows the expression language (CEL, `cel` crate), with its
//!   load-time checker; [`span`] maps a problem inside a TOML string back to the file;
//! - [`eval`]: facts in, [`Outcome`]s out (pass / fail / not applicable / could not assess);
//!   [`counts`] gives agency rules their per-agency counts; only the fact fields the loaded
//!   rules read are converted ([`expr::Projection`], found once at load);
//! - [`waiver`]: accepted findings with reason, decision and expiry;
//! - [`selftest`] and [`doc`]: `rules test` and `rules doc`.
//!
//! A rule set is loaded once (`RuleSet::bundled()` or `RuleSet::load_dir`), configured with
//! deployment settings, then shared (it is `Send + Sync`) by every evaluation.

pub mod bench;
pub mod cases;
pub mod cli;
pub mod counts;
pub mod digest;
pub mod doc;
pub mod eval;
pub mod expr;
pub mod load;
pub mod model;
pub mod outcome;
pub mod reads;
pub mod selftest;
pub mod set;
pub mod span;
pub mod template;
pub mod vocab;
pub mod waiver;

pub use counts::count_services;
pub use eval::{AgencyScope, Evaluation};
pub use model::{OnFail, Rule, Scope, Severity, Status, Text};
pub use outcome::{AppliedWaiver, EvidenceRef, Outcome, Subject, Verdict, finding_fingerprint};
pub use selftest::{TestFailure, TestReport};
pub use set::{LoadedRules, RuleSet, RuleSettings, SettingsError};
pub use waiver::{WaiverReport, Waivers};
