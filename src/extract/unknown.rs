//! Facts a profile cannot observe at all: recorded as unknown, never as false or absent.
//!
//! A profile with no source for a field (no level locator anywhere, no signature signal, no
//! national-portal link locator) says nothing about that field on any service: the portal's
//! published interface does not carry it (e.g. the national portal's JSON API has no level
//! field). Such a field goes to `ServiceFacts.unknown` with reason `unobservable`, so the rules
//! reading it are could-not-assess instead of failing on an empty value. A field the profile
//! *can* read but a page does not show stays an observed absence.

use crate::facts::{AssessReason, ServiceFacts, UnknownFact};
use crate::profile::{Field, ListSource, Profile};

/// The service facts that stand or fall with the level.
pub const LEVEL_FACTS: [&str; 4] = [
    "level",
    "level_label",
    "level_unrecognised",
    "online_submission",
];
/// The facts a level label saying two levels leaves unknown (the label itself was read; so
/// is whether a pattern matched it, but which level it names is not: LVL-002 is not judged).
pub const LEVEL_CONFLICT_FACTS: [&str; 3] = ["level", "online_submission", "level_unrecognised"];
/// The facts a missing or unrecognised level label leaves unknown: the level, not the label.
pub const LEVEL_UNREAD_FACTS: [&str; 2] = ["level", "online_submission"];

fn push_level_unknown(unknown: &mut Vec<crate::facts::UnknownFact>, facts: &[&str], why: &str) {
    for fact in facts {
        if unknown.iter().all(|u| u.fact != *fact) {
            unknown.push(crate::facts::UnknownFact {
                fact: (*fact).into(),
                kind: crate::facts::AssessReason::NoData,
                message: crate::facts::excerpt(why),
                may_hold: Vec::new(),
            });
        }
    }
}

/// Record in `unknown` that the level label says more than one level (`why`, from
/// [`crate::profile::level::LevelRead::conflict`]), unless the level is already unknown there.
pub fn push_level_conflict(unknown: &mut Vec<crate::facts::UnknownFact>, why: &str) {
    push_level_unknown(unknown, &LEVEL_CONFLICT_FACTS, why);
}

/// Record in `unknown` that the level label `label` matches no level pattern of profile
/// `profile_id` ([`crate::profile::level::LevelRead::unrecognised`]): which level the service
/// has is not observed. The label is, and LVL-002 judges it.
pub fn push_level_unrecognised(
    unknown: &mut Vec<crate::facts::UnknownFact>,
    label: &str,
    profile_id: &str,
) {
    let why = format!(
        "the level label \"{label}\" matches no level pattern of profile `{profile_id}`: the \
         service's level is not observed"
    );
    push_level_unknown(unknown, &LEVEL_UNREAD_FACTS, &why);
}

/// Record in `unknown` that profile `profile_id`, which has a level source, found no level
/// label for a service whose page or list row was read: the level row is missing, or the
/// markup moved so the locator missed it. Either way the level is not observed (LVL-001
/// judges the missing label).
pub fn push_level_not_found(unknown: &mut Vec<crate::facts::UnknownFact>, profile_id: &str) {
    let why = format!(
        "profile `{profile_id}` found no level label for this service (the level row is \
         missing, or the markup changed): the service's level is not observed"
    );
    push_level_unknown(unknown, &LEVEL_UNREAD_FACTS, &why);
}

/// A read service (no `fetch.error`) of a profile with a level source that ended with no
/// level label: its level is unknown ([`push_level_not_found`]). Nothing for a profile
/// without a level source (its level is `unobservable`, [`mark_unobservable`]), an unread
/// service, or one with a label (an unrecognised or two-level label is recorded where it is
/// read).
pub fn mark_level_not_found(profile: &Profile, facts: &mut ServiceFacts) {
    if facts.fetch.error.is_none()
        && facts.level_label.is_empty()
        && facts.level == crate::facts::Level::Unknown
        && reads_level(profile)
    {
        push_level_not_found(&mut facts.unknown, &profile.id);
    }
}

/// The signature facts (one path covers all of `signature`).
pub const SIGNATURE_FACTS: [&str; 1] = ["signature"];
/// The national-portal link.
pub const NATIONAL_LINK_FACTS: [&str; 1] = ["national_portal_link"];

/// The profile reads the level somewhere: a detail locator (direct selector, JSON pointer, a
/// label/value pair with level labels) or a list item's `item_facts`.
fn reads_level(profile: &Profile) -> bool {
    let d = &profile.detail;
    let item = match &profile.listing.source {
        ListSource::Html(h) => h
            .item_facts
            .as_ref()
            .is_some_and(|f| f.get(Field::Level).is_some()),
        ListSource::Json(j) => j
            .item_facts
            .as_ref()
            .is_some_and(|f| f.get(Field::Level).is_some()),
    };
    item || d.direct.get(Field::Level).is_some()
        || d.json
            .as_ref()
            .is_some_and(|f| f.get(Field::Level).is_some())
        || d.label_value
            .as_ref()
            .is_some_and(|lv| lv.labels.get(Field::Level).is_some_and(|l| !l.is_empty()))
}

/// Which groups of service facts `profile` has no source for, with the group's name.
pub fn unobservable_groups(profile: &Profile) -> Vec<(&'static str, &'static [&'static str])> {
    let mut out: Vec<(&'static str, &'static [&'static str])> = Vec::new();
    if !reads_level(profile) {
        out.push(("level", &LEVEL_FACTS));
    }
    if profile.signals.is_empty() {
        out.push(("signature", &SIGNATURE_FACTS));
    }
    if profile.national_link.is_none() {
        out.push(("national-portal link", &NATIONAL_LINK_FACTS));
    }
    out
}

/// Unknown facts for `paths`, reason `unobservable`, saying profile `profile_id` has no source.
pub fn unobservable(paths: &[&str], profile_id: &str) -> Vec<UnknownFact> {
    paths
        .iter()
        .map(|p| UnknownFact {
            fact: (*p).to_string(),
            kind: AssessReason::Unobservable,
            message: format!(
                "profile `{profile_id}` has no source for `{p}`: the portal's published \
                 interface does not carry this field"
            ),
            may_hold: Vec::new(),
        })
        .collect()
}

/// Record on `facts` every field `profile` cannot observe (idempotent: a fact already listed
/// is not added again).
pub fn mark_unobservable(profile: &Profile, facts: &mut ServiceFacts) {
    for (_, paths) in unobservable_groups(profile) {
        for u in unobservable(paths, &profile.id) {
            if !facts.unknown.iter().any(|k| k.fact == u.fact) {
                facts.unknown.push(u);
            }
        }
    }
}

/// [`mark_unobservable`] on every service of a walk.
pub fn mark_all_unobservable(profile: &Profile, services: &mut [ServiceFacts]) {
    if unobservable_groups(profile).is_empty() {
        return;
    }
    for s in services {
        mark_unobservable(profile, s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::ProfileSet;

    fn bundled(id: &str) -> Profile {
        let set = ProfileSet::bundled().unwrap_or_else(|e| panic!("{e:?}"));
        set.get(id)
            .map(|p| (**p).clone())
            .unwrap_or_else(|| panic!("no bundled profile {id}"))
    }

    fn groups(id: &str) -> Vec<&'static str> {
        unobservable_groups(&bundled(id))
            .into_iter()
            .map(|(g, _)| g)
            .collect()
    }

    /// Decided from each profile's model: what it has no source for.
    #[test]
    fn bundled_profiles_declare_what_they_cannot_observe() {
        assert_eq!(
            groups("dvcqg-api"),
            ["level", "signature", "national-portal link"]
        );
        assert_eq!(groups("opencps"), ["signature", "national-portal link"]);
        for full in ["dl", "list-api", "liferay", "table", "accordion", "spa"] {
            assert!(groups(full).is_empty(), "{full}: {:?}", groups(full));
        }
    }

    #[test]
    fn marking_is_idempotent_and_names_the_profile() {
        let p = bundled("dvcqg-api");
        let mut s = ServiceFacts::default();
        mark_unobservable(&p, &mut s);
        mark_unobservable(&p, &mut s);
        let facts: Vec<&str> = s.unknown.iter().map(|u| u.fact.as_str()).collect();
        assert_eq!(
            facts,
            [
                "level",
                "level_label",
                "level_unrecognised",
                "online_submission",
                "signature",
                "national_portal_link"
            ]
        );
        assert!(s.unknown[0].message.contains("`dvcqg-api`"));
        assert!(s.unknown_fact("signature.providers").is_some());
        let mut t = ServiceFacts::default();
        mark_unobservable(&bundled("dl"), &mut t);
        assert!(t.unknown.is_empty());
    }
}
