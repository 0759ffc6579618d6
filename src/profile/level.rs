//! Level labels → [`Level`]: an ordered list of patterns, first match wins.
//!
//! Labels and `contains` patterns are compared in folded form (see [`super::text::fold`]), so
//! "MỨC ĐỘ 4", "Mức độ 4" and "muc do 4" are the same. A `regex` pattern has its diacritics
//! stripped at load and is matched case-insensitively against the folded label.

use regex::Regex;

use super::text::fold;
use crate::facts::Level;

#[derive(Debug, Clone)]
pub enum LevelPattern {
    /// Folded substring.
    Contains(String),
    Regex(Regex),
}

#[derive(Debug, Clone)]
pub struct LevelRule {
    pub pattern: LevelPattern,
    pub level: Level,
}

/// The ordered mapping of a profile.
#[derive(Debug, Clone, Default)]
pub struct LevelMap {
    pub rules: Vec<LevelRule>,
}

impl LevelMap {
    /// Map a label as shown on the page. Returns the level and the cleaned label (NFC,
    /// whitespace collapsed). No label → `unknown` with an empty label; a label no pattern
    /// recognises → `unknown` with the label kept.
    pub fn map(&self, label: &str) -> (Level, String) {
        let label = super::text::clean(label);
        if label.is_empty() {
            return (Level::Unknown, label);
        }
        let folded = fold(&label);
        for rule in &self.rules {
            let hit = match &rule.pattern {
                LevelPattern::Contains(needle) => folded.contains(needle.as_str()),
                LevelPattern::Regex(re) => re.is_match(&folded),
            };
            if hit {
                return (rule.level, label);
            }
        }
        (Level::Unknown, label)
    }
}
