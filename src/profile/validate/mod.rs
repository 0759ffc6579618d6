//! Second loading phase: raw profile → [`Profile`], collecting every problem with its span.
//! `listing.rs` holds the listing and pagination checks.

mod listing;

use std::ops::Range;
use std::sync::Arc;

use regex::{Regex, RegexBuilder};
use scraper::Selector;
use toml::Spanned;
use unicode_normalization::UnicodeNormalization;

use super::level::{LevelPattern, LevelRule};
use super::model::{LevelTarget, RawDetail, RawFields, RawLabels, RawProfile, RawSignal};
use super::template::Template;
use super::text::{fold, strip_diacritics};
use super::*;
use crate::diag::{Diagnostic, Diagnostics, SourceFile, from_toml_error};
use crate::facts::Level;

/// Check a JSON pointer (RFC 6901): empty, or `/`-separated tokens where `~` is followed by
/// `0` or `1`. Returns a message on error.
pub fn check_pointer(p: &str) -> Result<(), String> {
    if p.is_empty() {
        return Ok(());
    }
    if !p.starts_with('/') {
        return Err(format!("JSON pointer `{p}` must start with `/`"));
    }
    let bytes = p.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'~' && !matches!(bytes.get(i + 1), Some(b'0' | b'1')) {
            return Err(format!(
                "JSON pointer `{p}`: `~` must be followed by 0 or 1"
            ));
        }
    }
    Ok(())
}

/// Parse and validate one profile source. Warnings are returned with the profile.
pub fn parse_profile(
    file: &Arc<SourceFile>,
) -> Result<(Profile, Diagnostics), crate::diag::DiagnosticsError> {
    let mut cx = Cx {
        file: Arc::clone(file),
        diags: Diagnostics::default(),
    };
    let raw: RawProfile = match toml::from_str(&file.text) {
        Ok(r) => r,
        Err(e) => {
            cx.diags.push(from_toml_error(file, "profile::parse", &e));
            return Err(crate::diag::DiagnosticsError(cx.diags));
        }
    };
    let profile = cx.profile(raw);
    match (profile, cx.diags.has_errors()) {
        (Some(p), false) => Ok((p, cx.diags)),
        _ => Err(crate::diag::DiagnosticsError(cx.diags)),
    }
}

struct Cx {
    file: Arc<SourceFile>,
    diags: Diagnostics,
}

impl Cx {
    fn err(&mut self, code: &str, span: Range<usize>, msg: impl Into<String>, label: &str) {
        let d = Diagnostic::error(code, msg).at(&self.file, span, label);
        self.diags.push(d);
    }

    fn css(&mut self, s: &Spanned<String>) -> Option<Css> {
        match Selector::parse(s.get_ref()) {
            Ok(selector) => Some(Css {
                text: s.get_ref().clone(),
                selector,
            }),
            Err(e) => {
                self.err(
                    "profile::selector",
                    s.span(),
                    format!("CSS selector `{}` does not parse: {e}", s.get_ref()),
                    "invalid selector",
                );
                None
            }
        }
    }

    fn opt_css(&mut self, s: &Option<Spanned<String>>) -> Option<Css> {
        s.as_ref().and_then(|s| self.css(s))
    }

    /// Compile a regex as written (for raw page text: script sources, JS literals, volatile parts).
    fn regex(&mut self, s: &Spanned<String>) -> Option<Regex> {
        self.build_regex(s, s.get_ref(), false)
    }

    /// Compile a regex for folded level labels: diacritics stripped from the pattern,
    /// case-insensitive.
    /// Compile a regex for page text (signals): NFC like the text it meets, case-insensitive,
    /// diacritics significant (in Vietnamese "ký số" is a signature, "ký sổ" signs a book).
    fn page_text_regex(&mut self, s: &Spanned<String>) -> Option<Regex> {
        let pattern: String = s.get_ref().nfc().collect();
        self.build_regex(s, &pattern, true)
    }

    fn text_regex(&mut self, s: &Spanned<String>) -> Option<Regex> {
        let pattern = strip_diacritics(s.get_ref());
        self.build_regex(s, &pattern, true)
    }

    fn build_regex(&mut self, s: &Spanned<String>, pattern: &str, ci: bool) -> Option<Regex> {
        match RegexBuilder::new(pattern)
            .case_insensitive(ci)
            .size_limit(limits::REGEX_SIZE_LIMIT)
            .build()
        {
            Ok(r) => Some(r),
            Err(e) => {
                let first = e.to_string();
                let first = first.lines().last().unwrap_or("invalid regex");
                let first = first.trim().trim_start_matches("error: ").to_string();
                self.err(
                    "profile::regex",
                    s.span(),
                    format!("regex `{}` does not compile: {first}", s.get_ref()),
                    "invalid regex",
                );
                None
            }
        }
    }

    fn pointer(&mut self, s: &Spanned<String>) -> Option<String> {
        match check_pointer(s.get_ref()) {
            Ok(()) => Some(s.get_ref().clone()),
            Err(m) => {
                self.err("profile::pointer", s.span(), m, "invalid JSON pointer");
                None
            }
        }
    }

    fn opt_pointer(&mut self, s: &Option<Spanned<String>>) -> Option<String> {
        s.as_ref().and_then(|s| self.pointer(s))
    }

    fn template(&mut self, s: &Spanned<String>) -> Option<Template> {
        match Template::parse(s.get_ref()) {
            Ok(t) => Some(t),
            Err(e) => {
                // Point inside the string: +1 skips the opening quote (exact for plain strings).
                let span = s.span();
                let at = (span.start + 1 + e.offset).min(span.end.saturating_sub(1));
                self.err(
                    "profile::template",
                    at..at + 1,
                    format!("template `{}`: {}", s.get_ref(), e.message),
                    "here",
                );
                None
            }
        }
    }

    fn profile(&mut self, raw: RawProfile) -> Option<Profile> {
        let id = raw.id.get_ref().clone();
        if id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            self.err(
                "profile::id",
                raw.id.span(),
                "profile id must be lower-case letters, digits and `-`",
                "invalid id",
            );
        }
        let listing = self.listing(raw.listing);
        let list_only = listing
            .as_ref()
            .is_some_and(|l| matches!(&l.source, ListSource::Json(j) if j.detail_url.is_none()));
        let detail = self.detail(raw.detail, list_only);
        let mut levels = LevelMap::default();
        for rule in &raw.levels {
            let pattern = match (&rule.contains, &rule.regex) {
                (Some(c), None) => Some(LevelPattern::Contains(fold(c.get_ref()))),
                (None, Some(r)) => self.text_regex(r).map(LevelPattern::Regex),
                _ => {
                    self.err(
                        "profile::level",
                        rule.level.span(),
                        "a [[level]] rule needs exactly one of `contains` or `regex`",
                        "in this rule",
                    );
                    None
                }
            };
            let level = match rule.level.get_ref() {
                LevelTarget::Full => Level::Full,
                LevelTarget::Partial => Level::Partial,
                LevelTarget::Info => Level::Info,
            };
            if let Some(pattern) = pattern {
                levels.rules.push(LevelRule { pattern, level });
            }
        }
        let signals = raw.signals.iter().filter_map(|s| self.signal(s)).collect();
        let national_link = match raw.national_link {
            Some(n) => match (&n.selector, &n.pointer) {
                (Some(s), None) => self.css(s).map(Locator::Css),
                (None, Some(p)) => self.pointer(p).map(Locator::Pointer),
                _ => {
                    self.diags.push(
                        Diagnostic::error(
                            "profile::national_link",
                            "[national_link] needs exactly one of `selector` or `pointer`",
                        )
                        .in_file(&self.file),
                    );
                    None
                }
            },
            None => None,
        };
        let volatile = raw
            .hash
            .map(|h| h.strip.iter().filter_map(|r| self.regex(r)).collect())
            .unwrap_or_default();
        let shell = raw.shell.and_then(|s| self.css(&s.marker));
        Some(Profile {
            id,
            name: raw.name,
            description: raw.description,
            origin: self.file.name.clone(),
            listing: listing?,
            detail: detail?,
            levels,
            signals,
            national_link,
            volatile,
            shell,
        })
    }

    pub(super) fn fields_css(&mut self, raw: &RawFields) -> FieldMap<Css> {
        let mut map = FieldMap::default();
        for (f, v) in fields(raw) {
            if let Some(c) = v.and_then(|v| self.css(v)) {
                map.set(f, c);
            }
        }
        map
    }

    pub(super) fn fields_pointer(&mut self, raw: &RawFields) -> FieldMap<String> {
        let mut map = FieldMap::default();
        for (f, v) in fields(raw) {
            if let Some(p) = v.and_then(|v| self.pointer(v)) {
                map.set(f, p);
            }
        }
        map
    }

    /// `list_only`: the listing fetches no detail page, so `[detail]` may be empty.
    fn detail(&mut self, raw: RawDetail, list_only: bool) -> Option<Detail> {
        let direct = self.fields_css(&raw.direct);
        let json = raw.json.as_ref().map(|j| self.fields_pointer(j.get_ref()));
        let label_value = match &raw.label_value {
            Some(lv) => {
                let container = self.css(&lv.container);
                let label = self.css(&lv.label);
                let pairs = lv.pairs.as_ref().map(|p| *p.get_ref()).unwrap_or_default();
                let value = match &lv.value {
                    Some(v) => self.css(v).map(Some),
                    None if pairs == PairsMode::Inline => Some(None),
                    None => {
                        self.err(
                            "profile::detail",
                            lv.label.span(),
                            "[detail.label_value] needs `value` (only `pairs = \"inline\"` reads the text after the label)",
                            "label given here",
                        );
                        None
                    }
                };
                let labels = folded_labels(&raw.labels);
                if labels.is_empty() {
                    self.err(
                        "profile::detail",
                        lv.container.span(),
                        "[detail.label_value] needs label synonyms in [detail.labels]",
                        "label/value reading declared here",
                    );
                }
                Some(LabelValue {
                    container: container?,
                    label: label?,
                    value: value?,
                    pairs,
                    labels,
                })
            }
            None => None,
        };
        let code_pattern = raw.code_pattern.as_ref().and_then(|r| self.regex(r));
        if let Some(j) = &raw.json
            && (label_value.is_some() || !direct.is_empty())
        {
            self.err(
                "profile::detail",
                j.span(),
                "detail pages are either JSON ([detail.json]) or HTML ([detail.label_value] / [detail.direct]), not both",
                "JSON declared here",
            );
        }
        if raw.json.is_none() && label_value.is_none() && direct.is_empty() && !list_only {
            self.diags.push(
                Diagnostic::error(
                    "profile::detail",
                    "[detail] needs [detail.label_value], [detail.direct] or [detail.json]",
                )
                .in_file(&self.file),
            );
            return None;
        }
        Some(Detail {
            label_value,
            direct,
            json,
            code_pattern,
        })
    }

    fn signal(&mut self, s: &RawSignal) -> Option<Signal> {
        let kind = *s.kind.get_ref();
        let span = s.kind.span();
        let need = |cx: &mut Cx, present: bool, key: &str| {
            if !present {
                cx.err(
                    "profile::signal",
                    span.clone(),
                    format!("a `{}` signal needs `{key}`", kind.as_str()),
                    "kind given here",
                );
            }
            present
        };
        let mut ok = true;
        let (selector, regex, pointer) = match kind {
            SignalKind::ScriptSrc | SignalKind::JsLiteral => {
                ok &= need(self, s.regex.is_some(), "regex");
                let sel = self.opt_css(&s.selector);
                (sel, s.regex.as_ref().and_then(|r| self.regex(r)), None)
            }
            SignalKind::Control => {
                ok &= need(self, s.selector.is_some(), "selector");
                let sel = self.opt_css(&s.selector);
                (
                    sel,
                    s.regex.as_ref().and_then(|r| self.page_text_regex(r)),
                    None,
                )
            }
            SignalKind::RequirementText => {
                ok &= need(self, s.regex.is_some(), "regex");
                (
                    None,
                    s.regex.as_ref().and_then(|r| self.page_text_regex(r)),
                    None,
                )
            }
            SignalKind::JsonField => {
                ok &= need(self, s.pointer.is_some(), "pointer");
                let ptr = self.opt_pointer(&s.pointer);
                (
                    None,
                    s.regex.as_ref().and_then(|r| self.page_text_regex(r)),
                    ptr,
                )
            }
        };
        let provider = match &s.provider {
            Some(p) => {
                let v = p.get_ref();
                if v.is_empty()
                    || !v
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                {
                    self.err(
                        "profile::provider",
                        p.span(),
                        "a provider is a slug: lower-case letters, digits and `-`",
                        "invalid provider",
                    );
                } else if !KNOWN_PROVIDERS.contains(&v.as_str()) {
                    self.diags.push(
                        Diagnostic::warning(
                            "profile::provider",
                            format!("provider `{v}` is not one of the documented providers"),
                        )
                        .at(&self.file, p.span(), "unknown provider")
                        .with_help(format!("documented: {}", KNOWN_PROVIDERS.join(", "))),
                    );
                }
                v.clone()
            }
            None => String::new(),
        };
        let locator = [
            s.selector.as_ref().map(|v| v.get_ref().as_str()),
            s.pointer.as_ref().map(|v| v.get_ref().as_str()),
            s.regex.as_ref().map(|v| v.get_ref().as_str()),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ~ ");
        let unless = match (&s.unless, kind) {
            (None, _) => None,
            (Some(u), SignalKind::RequirementText) => self.page_text_regex(u),
            (Some(u), _) => {
                self.err(
                    "profile::signal",
                    u.span(),
                    format!(
                        "`unless` applies to `requirement_text` signals, not `{}`",
                        kind.as_str()
                    ),
                    "not read for this kind",
                );
                ok = false;
                None
            }
        };
        if !ok {
            return None;
        }
        Some(Signal {
            kind,
            selector,
            regex,
            pointer,
            provider,
            unless,
            effect: s.effect,
            locator,
        })
    }
}

fn fields(raw: &RawFields) -> [(Field, Option<&Spanned<String>>); 5] {
    [
        (Field::Code, raw.code.as_ref()),
        (Field::Name, raw.name.as_ref()),
        (Field::Level, raw.level.as_ref()),
        (Field::Dossier, raw.dossier.as_ref()),
        (Field::Requirements, raw.requirements.as_ref()),
    ]
}

fn folded_labels(raw: &RawLabels) -> FieldMap<Vec<String>> {
    let mut map = FieldMap::default();
    for (f, list) in [
        (Field::Code, &raw.code),
        (Field::Name, &raw.name),
        (Field::Level, &raw.level),
        (Field::Dossier, &raw.dossier),
        (Field::Requirements, &raw.requirements),
    ] {
        if !list.is_empty() {
            map.set(f, list.iter().map(|l| fold(l)).collect());
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use super::check_pointer;

    #[test]
    fn json_pointers_follow_rfc_6901() {
        for ok in ["", "/", "/a/0", "/a~0b/c~1d"] {
            assert!(check_pointer(ok).is_ok(), "{ok}");
        }
        for bad in ["a", "a/b", "/a~", "/a~2"] {
            assert!(check_pointer(bad).is_err(), "{bad}");
        }
    }
}
