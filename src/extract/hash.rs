//! Content hash that ignores what changes on every fetch.

use sha2::{Digest, Sha256};

use crate::profile::Profile;

/// SHA-256 (hex) of `body` after removing every match of the profile's `[hash] strip` regexes
/// (CSRF tokens, nonces, `?v=` cache busters), so an unchanged page hashes the same on every run.
pub fn normalised_hash(profile: &Profile, body: &str) -> String {
    let mut text = std::borrow::Cow::Borrowed(body);
    for re in &profile.volatile {
        if re.is_match(&text) {
            text = std::borrow::Cow::Owned(re.replace_all(&text, "").into_owned());
        }
    }
    hex::encode(Sha256::digest(text.as_bytes()))
}
