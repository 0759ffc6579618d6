//! Level labels → [`Level`]: an ordered list of patterns.
//!
//! Labels and `contains` patterns are compared in folded form (see [`super::text::fold`]), so
//! "MỨC ĐỘ 4", "Mức độ 4" and "muc do 4" are the same. A `regex` pattern has its diacritics
//! stripped at load and is matched case-insensitively against the folded label.
//!
//! Every pattern is tried. A label the matching patterns agree on gets that level; a label
//! that patterns of **different** levels match ("một phần (chưa đủ điều kiện toàn trình)",
//! "Mức độ 3 – toàn trình") says two things, and which one the agency meant is not observed:
//! its level is unknown, with the reason ([`LevelRead::conflict`]), never the level of
//! whichever pattern comes first. A label no pattern matches is [`LevelRead::unrecognised`]:
//! its level is not observed either (the extractor records it as an unknown fact).

use regex::Regex;

use super::text::fold;
use crate::facts::Level;

#[derive(Debug, Clone)]
pub enum LevelPattern {
    /// Folded substring.
    Contains(String),
    Regex(Regex),
}

impl LevelPattern {
    fn describe(&self) -> String {
        match self {
            LevelPattern::Contains(s) => format!("contains \"{s}\""),
            LevelPattern::Regex(re) => format!("regex '{}'", re.as_str()),
        }
    }
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

/// A label read through a [`LevelMap`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LevelRead {
    pub level: Level,
    /// The label as shown (NFC, whitespace collapsed).
    pub label: String,
    /// Patterns of different levels matched the label: why `level` is unknown.
    pub conflict: Option<String>,
    /// A label was shown and no pattern matched it: its level is not observed (the label is).
    pub unrecognised: bool,
}

impl LevelMap {
    /// Map a label as shown on the page. Returns the level and the cleaned label (NFC,
    /// whitespace collapsed). No label → `unknown` with an empty label; a label no pattern
    /// recognises, or one patterns of different levels match → `unknown` with the label kept
    /// (see [`LevelMap::read`] for the reason of the latter).
    pub fn map(&self, label: &str) -> (Level, String) {
        let r = self.read(label);
        (r.level, r.label)
    }

    /// [`LevelMap::map`], saying why a recognised label still has no level.
    pub fn read(&self, label: &str) -> LevelRead {
        let label = super::text::clean(label);
        if label.is_empty() {
            return LevelRead {
                level: Level::Unknown,
                label,
                conflict: None,
                unrecognised: false,
            };
        }
        let folded = fold(&label);
        // The first matching pattern of each level, in profile order.
        let mut hits: Vec<&LevelRule> = Vec::new();
        for rule in &self.rules {
            let hit = match &rule.pattern {
                LevelPattern::Contains(needle) => folded.contains(needle.as_str()),
                LevelPattern::Regex(re) => re.is_match(&folded),
            };
            if hit && hits.iter().all(|h| h.level != rule.level) {
                hits.push(rule);
            }
        }
        match hits.as_slice() {
            [] => LevelRead {
                level: Level::Unknown,
                label,
                conflict: None,
                unrecognised: true,
            },
            [one] => LevelRead {
                level: one.level,
                label,
                conflict: None,
                unrecognised: false,
            },
            many => {
                let said: Vec<String> = many
                    .iter()
                    .map(|h| format!("{} ({})", h.level.as_str(), h.pattern.describe()))
                    .collect();
                let conflict = format!(
                    "the level label \"{label}\" says more than one level: {}",
                    said.join(" and ")
                );
                LevelRead {
                    level: Level::Unknown,
                    label,
                    conflict: Some(conflict),
                    unrecognised: false,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decree_map() -> LevelMap {
        let c = |s: &str, level| LevelRule {
            pattern: LevelPattern::Contains(fold(s)),
            level,
        };
        let r = |s: &str, level| LevelRule {
            pattern: LevelPattern::Regex(Regex::new(s).expect("regex")),
            level,
        };
        LevelMap {
            rules: vec![
                c("toàn trình", Level::Full),
                c("một phần", Level::Partial),
                r(r"\bmuc (do )?(4|iv)\b", Level::Full),
                r(r"\bmuc (do )?(3|iii)\b", Level::Partial),
                r(r"\bmuc (do )?([12]|ii?)\b", Level::Info),
            ],
        }
    }

    #[test]
    fn patterns_that_agree_give_the_level() {
        let m = decree_map();
        assert_eq!(
            m.map("Dịch vụ công trực tuyến toàn trình"),
            (Level::Full, "Dịch vụ công trực tuyến toàn trình".into())
        );
        assert_eq!(m.map("Mức độ 4 - Toàn trình").0, Level::Full);
        assert_eq!(m.map("  MỨC ĐỘ 3 ").0, Level::Partial);
        assert_eq!(m.map("Mức độ IV").0, Level::Full);
        assert_eq!(m.map("Mức độ III").0, Level::Partial);
        assert_eq!(m.map("Mức độ II").0, Level::Info);
        assert_eq!(m.map("Mức độ I").0, Level::Info);
        assert_eq!(m.read("Mức độ 4").conflict, None);
        assert_eq!(m.map(""), (Level::Unknown, String::new()));
        let odd = m.read("Trực tuyến cấp cao");
        assert_eq!((odd.level, odd.conflict), (Level::Unknown, None));
        assert!(odd.unrecognised);
    }

    #[test]
    fn only_a_label_no_pattern_matches_is_unrecognised() {
        let m = decree_map();
        for label in ["Đang cập nhật", "Mức độ 14", "Trực tuyến cấp cao"] {
            let r = m.read(label);
            assert_eq!(r.level, Level::Unknown, "{label}");
            assert!(r.unrecognised, "{label}");
            assert_eq!(r.label, label);
        }
        // Recognised, empty, or saying two levels: not "unrecognised".
        for label in ["Mức độ 4", "Một phần", "", "   ", "Mức độ 3 - toàn trình"] {
            assert!(!m.read(label).unrecognised, "{label:?}");
        }
        assert_eq!(m.read("Mức độ 4").level, Level::Full);
    }

    #[test]
    fn a_label_saying_two_levels_has_none() {
        let m = decree_map();
        for label in [
            "Một phần (chưa đủ điều kiện toàn trình)",
            "Mức độ 3 - toàn trình",
            "Toàn trình / Mức độ 2",
        ] {
            let r = m.read(label);
            assert_eq!(r.level, Level::Unknown, "{label}");
            let why = r.conflict.expect("the reason");
            assert!(why.contains(label), "{why}");
            assert!(why.contains("full"), "{why}");
        }
        // The first pattern of the profile does not decide: reversed order, same verdict.
        let mut reversed = decree_map();
        reversed.rules.reverse();
        assert_eq!(
            reversed.map("Một phần (chưa đủ điều kiện toàn trình)").0,
            Level::Unknown
        );
    }
}
