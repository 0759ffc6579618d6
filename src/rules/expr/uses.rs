//! Which parts of each context variable an expression can read, found once at load.
//!
//! Converting facts to CEL values dominates evaluation, and most of a service's facts
//! (evidence excerpts, URLs, hashes) are read by no rule. [`Projection`] is the part of a
//! variable the loaded rules can reach; the converter (`val.rs`) skips everything else.
//!
//! The analysis is conservative: a member path (`service.signature.providers`) keeps that
//! field and everything below it; a variable or path used as a whole value (`service`,
//! `size(service.evidence)`, `service['code']`, a `filter` that returns its elements) keeps the
//! whole subtree. Only two uses are narrowed: member selection, and the range of a list macro
//! (`service.evidence.exists(e, e.kind == 'x')` keeps the list and, in each element, `kind`).
//! Lists are transparent: a projection applies to each element.

use std::collections::BTreeMap;

use cel::IdedExpr;
use cel::common::ast::{EntryExpr, Expr as Node};

/// The readable part of one value: all of it, or some fields (each with its own projection).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Projection {
    whole: bool,
    fields: BTreeMap<String, Projection>,
}

impl Projection {
    /// Everything.
    pub fn whole() -> Projection {
        Projection {
            whole: true,
            fields: BTreeMap::new(),
        }
    }

    pub fn is_whole(&self) -> bool {
        self.whole
    }

    /// The projection of field `name`, or `None` when the field is not read at all.
    pub fn field(&self, name: &str) -> Option<&Projection> {
        self.fields.get(name)
    }

    /// Read `path` (below this value); `whole` keeps everything under its end.
    fn mark(&mut self, path: &[String], whole: bool) {
        if self.whole {
            return;
        }
        match path.split_first() {
            None => {
                if whole {
                    *self = Projection::whole();
                }
            }
            Some((first, rest)) => self
                .fields
                .entry(first.clone())
                .or_default()
                .mark(rest, whole),
        }
    }

    /// Whether the two projections read a common part of the value: one reads it whole (or
    /// reads the node itself, nothing inside), or a field both read overlaps.
    pub fn overlaps(&self, other: &Projection) -> bool {
        if self.whole || other.whole || self.fields.is_empty() || other.fields.is_empty() {
            return true;
        }
        self.fields
            .iter()
            .any(|(k, v)| other.fields.get(k).is_some_and(|w| v.overlaps(w)))
    }

    /// Everything either projection reads.
    pub fn merge(&mut self, other: &Projection) {
        if self.whole {
            return;
        }
        if other.whole {
            *self = Projection::whole();
            return;
        }
        for (k, v) in &other.fields {
            self.fields.entry(k.clone()).or_default().merge(v);
        }
    }

    /// The read paths, dotted (`signature.providers`; `evidence{}` for a list or record kept
    /// with nothing read inside; `` for the whole value), for tests and diagnostics.
    pub fn paths(&self) -> Vec<String> {
        if self.whole {
            return vec![String::new()];
        }
        let mut out = Vec::new();
        for (k, v) in &self.fields {
            if v.whole {
                out.push(k.clone());
            } else if v.fields.is_empty() {
                out.push(format!("{k}{{}}"));
            } else {
                out.extend(v.paths().into_iter().map(|p| format!("{k}.{p}")));
            }
        }
        out
    }
}

/// What a macro variable stands for: a path into a context variable, or something derived.
#[derive(Clone)]
enum Binding {
    Path(String, Vec<String>),
    Opaque,
}

/// Context variable name → the part of it `expr` can read. A variable absent from the map is
/// not read at all.
pub(super) fn uses(expr: &IdedExpr) -> BTreeMap<String, Projection> {
    let mut w = Walker {
        scopes: Vec::new(),
        roots: BTreeMap::new(),
    };
    w.walk(expr);
    w.roots
}

struct Walker {
    scopes: Vec<(String, Binding)>,
    roots: BTreeMap<String, Projection>,
}

impl Walker {
    /// The variable and member path `e` names (`service.signature.providers`), if it is one.
    /// `None` for anything computed, and for macro variables bound to computed values.
    fn path_of(&self, e: &IdedExpr) -> Option<(String, Vec<String>)> {
        match &e.expr {
            Node::Ident(name) => match self.scopes.iter().rev().find(|(n, _)| n == name) {
                Some((_, Binding::Path(root, path))) => Some((root.clone(), path.clone())),
                Some((_, Binding::Opaque)) => None,
                None => Some((name.clone(), Vec::new())),
            },
            // `has(a.b)` tests `b` on `a`: the same path as reading it.
            Node::Select(sel) => {
                let (root, mut path) = self.path_of(&sel.operand)?;
                path.push(sel.field.clone());
                Some((root, path))
            }
            _ => None,
        }
    }

    fn mark(&mut self, root: String, path: &[String], whole: bool) {
        self.roots.entry(root).or_default().mark(path, whole);
    }

    /// `e` used as a value: a path keeps its whole subtree; anything else is walked.
    fn walk(&mut self, e: &IdedExpr) {
        if let Some((root, path)) = self.path_of(e) {
            self.mark(root, &path, true);
            return;
        }
        match &e.expr {
            Node::Ident(_) => {}
            Node::Select(sel) => self.walk(&sel.operand),
            Node::Call(call) => {
                if let Some(t) = &call.target {
                    self.walk(t);
                }
                for a in &call.args {
                    self.walk(a);
                }
            }
            Node::Comprehension(c) => {
                let depth = self.scopes.len();
                match (self.path_of(&c.iter_range), &c.iter_var2) {
                    // One variable over a path: the variable reads elements of that path.
                    (Some((root, path)), None) => {
                        self.mark(root.clone(), &path, false);
                        self.scopes
                            .push((c.iter_var.clone(), Binding::Path(root, path)));
                    }
                    _ => {
                        self.walk(&c.iter_range);
                        self.scopes.push((c.iter_var.clone(), Binding::Opaque));
                        if let Some(v2) = &c.iter_var2 {
                            self.scopes.push((v2.clone(), Binding::Opaque));
                        }
                    }
                }
                self.walk(&c.accu_init);
                self.scopes.push((c.accu_var.clone(), Binding::Opaque));
                self.walk(&c.loop_cond);
                self.walk(&c.loop_step);
                self.walk(&c.result);
                self.scopes.truncate(depth);
            }
            Node::List(list) => {
                for x in &list.elements {
                    self.walk(x);
                }
            }
            Node::Map(map) => self.entries(&map.entries),
            Node::Struct(st) => self.entries(&st.entries),
            Node::Literal(_) | Node::Unspecified => {}
        }
    }

    fn entries(&mut self, entries: &[cel::common::ast::IdedEntryExpr]) {
        for entry in entries {
            match &entry.expr {
                EntryExpr::StructField(f) => self.walk(&f.value),
                EntryExpr::MapEntry(m) => {
                    self.walk(&m.key);
                    self.walk(&m.value);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Expr;
    use super::*;

    fn paths(src: &str, root: &str) -> Vec<String> {
        let e = Expr::compile(src).unwrap_or_else(|p| panic!("{p:?}"));
        e.uses()
            .get(root)
            .map(Projection::paths)
            .unwrap_or_default()
    }

    #[test]
    fn member_paths_keep_only_what_is_read() {
        assert_eq!(
            paths(
                "service.level == 'full' && 'vgca' in service.signature.providers",
                "service"
            ),
            ["level", "signature.providers"]
        );
        assert_eq!(
            paths("has(service.fetch.error) && params.x > 0", "service"),
            ["fetch.error"]
        );
        assert!(paths("host.reachable", "service").is_empty());
    }

    #[test]
    fn whole_values_and_computed_uses_keep_everything_below() {
        assert_eq!(paths("size(service.evidence) > 0", "service"), ["evidence"]);
        assert_eq!(paths("service['code'] == ''", "service"), [""]);
        assert_eq!(paths("service == service", "service"), [""]);
    }

    #[test]
    fn macro_variables_read_elements_of_their_range() {
        assert_eq!(
            paths("service.evidence.exists(e, e.kind == 'x')", "service"),
            ["evidence.kind"]
        );
        assert_eq!(
            paths("services.exists(s, s.level == 'full')", "services"),
            ["level"]
        );
        // `filter` returns the elements themselves: keep them whole.
        assert_eq!(
            paths("services.filter(s, s.level == 'full').size()", "services"),
            [""]
        );
        assert_eq!(
            paths("services.map(s, s.code).size()", "services"),
            ["code"]
        );
        // A macro variable shadowing a context variable is the element, not the variable.
        assert_eq!(
            paths("services.all(service, service.code != '')", "services"),
            ["code"]
        );
        assert!(paths("services.all(service, service.code != '')", "service").is_empty());
        // Nothing read inside the elements: the list is kept, its elements are empty.
        let e = Expr::compile("services.exists(s, true)").unwrap_or_else(|p| panic!("{p:?}"));
        assert_eq!(e.uses().get("services"), Some(&Projection::default()));
        assert_eq!(
            paths("service.evidence.exists(e, true)", "service"),
            ["evidence{}"]
        );
    }
}
