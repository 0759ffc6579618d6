//! Load-time checking of a parsed expression against the fact vocabulary: every member path is
//! followed through the [`Shape`]s from a context variable; list-macro variables (`all`,
//! `exists`, `filter`, `map`) are bound to the element shape; comparisons with impossible enum
//! values and reads into optional facts without a null test are reported.

use std::collections::BTreeMap;
use std::ops::Range;

use cel::IdedExpr;
use cel::common::ast::{EntryExpr, Expr as Node, LiteralValue, SourceInfo};

use super::{ExprProblem, next_char_end};
use crate::rules::vocab::{Shape, closest};

/// Identifiers CEL itself defines (type names), accepted as bare identifiers.
const BUILTIN_IDENTS: &[&str] = &[
    "int",
    "uint",
    "double",
    "string",
    "bool",
    "bytes",
    "list",
    "map",
    "null_type",
    "type",
    "dyn",
];

/// Every problem of `expr` (parsed from `source`) given the variables in scope.
pub(super) fn check(
    expr: &IdedExpr,
    info: &SourceInfo,
    source: &str,
    roots: &BTreeMap<String, Shape>,
) -> Vec<ExprProblem> {
    let mut checker = Checker {
        roots,
        info,
        source,
        scopes: Vec::new(),
        problems: Vec::new(),
    };
    checker.walk(expr);
    checker.problems
}

/// `a.b.c` as text, for a chain of selections on an identifier.
fn dotted(e: &IdedExpr) -> Option<String> {
    match &e.expr {
        Node::Ident(name) => Some(name.clone()),
        Node::Select(sel) if !sel.test => Some(format!("{}.{}", dotted(&sel.operand)?, sel.field)),
        _ => None,
    }
}

/// A parser offset (bytes, as the lexer reads the text as bytes) clamped to a char boundary.
fn char_floor(source: &str, offset: usize) -> usize {
    let mut offset = offset.min(source.len());
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

struct Checker<'a> {
    roots: &'a BTreeMap<String, Shape>,
    info: &'a SourceInfo,
    source: &'a str,
    scopes: Vec<(String, Shape)>,
    problems: Vec<ExprProblem>,
}

impl Checker<'_> {
    /// Span of `name` at or after the node's token (the parser records the `.` or the name).
    fn span_of(&self, id: u64, name: &str) -> Range<usize> {
        let start = self
            .info
            .offset_for(id)
            .map_or(0, |(s, _)| char_floor(self.source, s as usize));
        match self.source.get(start..).and_then(|rest| rest.find(name)) {
            Some(i) => start + i..start + i + name.len(),
            None => start..next_char_end(self.source, start),
        }
    }

    fn lookup(&self, name: &str) -> Option<Shape> {
        self.scopes
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s.clone())
            .or_else(|| self.roots.get(name).cloned())
    }

    fn walk(&mut self, e: &IdedExpr) -> Shape {
        match &e.expr {
            Node::Ident(name) => match self.lookup(name) {
                Some(s) => s,
                None => {
                    if !BUILTIN_IDENTS.contains(&name.as_str()) {
                        let mut names: Vec<&str> = self.roots.keys().map(String::as_str).collect();
                        names.extend(self.scopes.iter().map(|(n, _)| n.as_str()));
                        let help = closest(name, &names).map(|c| format!("did you mean `{c}`?"));
                        self.problems.push(ExprProblem {
                            code: "unknown-variable",
                            message: format!("unknown variable `{name}`"),
                            span: self.span_of(e.id, name),
                            help: help
                                .or_else(|| Some(format!("variables here: {}", names.join(", ")))),
                        });
                    }
                    Shape::Any
                }
            },
            Node::Select(sel) => {
                let operand = self.walk(&sel.operand);
                if !sel.test {
                    self.check_null_guard(&sel.operand, &operand, &sel.field);
                }
                let field = self.select(e.id, &operand, &sel.field);
                // `has(x.f)` is a presence test: a bool, whatever `f` holds.
                if sel.test { Shape::Bool } else { field }
            }
            Node::Call(call) => {
                let target = call.target.as_ref().map(|t| self.walk(t));
                let args: Vec<Shape> = call.args.iter().map(|a| self.walk(a)).collect();
                self.check_enum_literals(&call.func_name, &call.args, &args);
                if let Some(shape) = self.check_types(e.id, &call.func_name, target.as_ref(), &args)
                {
                    return shape;
                }
                match (call.func_name.as_str(), target, args.as_slice()) {
                    ("_[_]", None, [Shape::List(el), _]) => (**el).clone(),
                    ("size", _, _) => Shape::Int,
                    _ => Shape::Any,
                }
            }
            Node::Comprehension(c) => {
                let range = self.walk(&c.iter_range);
                let elem = match &range {
                    Shape::List(el) => (**el).clone(),
                    Shape::Record(_) => Shape::String,
                    _ => Shape::Any,
                };
                self.walk(&c.accu_init);
                let depth = self.scopes.len();
                match &c.iter_var2 {
                    Some(v2) => {
                        let key = if matches!(range, Shape::List(_)) {
                            Shape::Int
                        } else {
                            elem.clone()
                        };
                        self.scopes.push((c.iter_var.clone(), key));
                        self.scopes.push((v2.clone(), Shape::Any));
                    }
                    None => self.scopes.push((c.iter_var.clone(), elem)),
                }
                self.scopes.push((c.accu_var.clone(), Shape::Any));
                self.walk(&c.loop_cond);
                self.walk(&c.loop_step);
                self.walk(&c.result);
                self.scopes.truncate(depth);
                Shape::Any
            }
            Node::List(list) => {
                let shapes: Vec<Shape> = list.elements.iter().map(|x| self.walk(x)).collect();
                Shape::List(Box::new(shapes.into_iter().next().unwrap_or(Shape::Any)))
            }
            Node::Map(map) => {
                self.entries(&map.entries);
                Shape::Any
            }
            Node::Struct(st) => {
                self.entries(&st.entries);
                Shape::Any
            }
            Node::Literal(lit) => match lit {
                LiteralValue::Boolean(_) => Shape::Bool,
                LiteralValue::Int(_) => Shape::Int,
                LiteralValue::Double(_) => Shape::Double,
                LiteralValue::String(_) => Shape::String,
                _ => Shape::Any,
            },
            Node::Unspecified => Shape::Any,
        }
    }

    /// Reading a field of an optional fact (`service.fetch.error.kind`) fails at run time when
    /// it is null, which yields `could_not_assess(rule_error)`. Warn unless the same expression
    /// tests it (`x != null`, `x == null` or `has(x)`); a textual check, deliberately simple.
    fn check_null_guard(&mut self, operand: &IdedExpr, _shape: &Shape, field: &str) {
        let Node::Select(inner) = &operand.expr else {
            return;
        };
        let Some(path) = dotted(operand) else {
            return;
        };
        let parent = self.walk_quiet(&inner.operand);
        let optional =
            matches!(&parent, Shape::Record(f) if f.get(&inner.field).is_some_and(|f| f.optional));
        if !optional {
            return;
        }
        let compact: String = self.source.chars().filter(|c| !c.is_whitespace()).collect();
        let guarded = [
            format!("{path}!=null"),
            format!("{path}==null"),
            format!("null!={path}"),
            format!("null=={path}"),
            format!("has({path})"),
        ]
        .iter()
        .any(|g| compact.contains(g.as_str()));
        if !guarded {
            self.problems.push(ExprProblem {
                code: "unguarded-optional",
                message: format!("`{path}` may be null; reading `.{field}` then fails"),
                span: self.span_of(operand.id, &inner.field),
                help: Some(format!("test it first: `{path} != null && ...`")),
            });
        }
    }

    /// The shape of an expression without recording problems (they were recorded once already).
    fn walk_quiet(&mut self, e: &IdedExpr) -> Shape {
        let n = self.problems.len();
        let s = self.walk(e);
        self.problems.truncate(n);
        s
    }

    /// Operator and function types against the fact types (issue #16): an expression that
    /// fails with "no such overload" at run time (`service.name + 1`) is a load/lint error,
    /// not a `rule_error` on every service. Deliberately conservative: `Any` (an unknown
    /// shape, a macro accumulator, `null`) passes everything. Returns the result shape when
    /// the operator is one it knows.
    fn check_types(
        &mut self,
        id: u64,
        func: &str,
        target: Option<&Shape>,
        args: &[Shape],
    ) -> Option<Shape> {
        #[derive(PartialEq, Clone, Copy)]
        enum Kind {
            Bool,
            Int,
            Double,
            String,
            List,
            Record,
        }
        fn kind(s: &Shape) -> Option<Kind> {
            match s {
                Shape::Bool => Some(Kind::Bool),
                Shape::Int => Some(Kind::Int),
                Shape::Double => Some(Kind::Double),
                Shape::String | Shape::Enum(_) => Some(Kind::String),
                Shape::List(_) => Some(Kind::List),
                Shape::Record(_) => Some(Kind::Record),
                Shape::Any => None,
            }
        }
        let numeric = |k: Kind| matches!(k, Kind::Int | Kind::Double);
        let symbol = |f: &str| -> String {
            f.trim_matches('_')
                .trim_start_matches('@')
                .split("_")
                .next()
                .unwrap_or(f)
                .to_string()
        };
        let mismatch = |this: &mut Self, what: String| {
            let op = symbol(func);
            this.problems.push(ExprProblem {
                code: "type-mismatch",
                message: what,
                span: this.span_of(id, &op),
                help: Some(
                    "CEL does not convert between types: this fails at run time on every subject"
                        .into(),
                ),
            });
        };
        let name = |s: &Shape| s.type_name();
        match (func, target, args) {
            ("_+_", None, [a, b]) => {
                let (Some(ka), Some(kb)) = (kind(a), kind(b)) else {
                    return Some(if kind(a).is_some() {
                        a.clone()
                    } else {
                        b.clone()
                    });
                };
                if ka != kb || matches!(ka, Kind::Bool | Kind::Record) {
                    mismatch(self, format!("no `+` for {} and {}", name(a), name(b)));
                    return Some(Shape::Any);
                }
                Some(a.clone())
            }
            ("_-_" | "_*_" | "_/_" | "_%_", None, [a, b]) => {
                let (Some(ka), Some(kb)) = (kind(a), kind(b)) else {
                    return Some(if kind(a).is_some() {
                        a.clone()
                    } else {
                        b.clone()
                    });
                };
                if ka != kb || !numeric(ka) || (func == "_%_" && ka == Kind::Double) {
                    mismatch(
                        self,
                        format!("no `{}` for {} and {}", symbol(func), name(a), name(b)),
                    );
                    return Some(Shape::Any);
                }
                Some(a.clone())
            }
            ("-_", None, [a]) => {
                if kind(a).is_some_and(|k| !numeric(k)) {
                    mismatch(self, format!("no unary `-` for {}", name(a)));
                    return Some(Shape::Any);
                }
                Some(a.clone())
            }
            ("_<_" | "_<=_" | "_>_" | "_>=_", None, [a, b]) => {
                if let (Some(ka), Some(kb)) = (kind(a), kind(b)) {
                    let ok = (numeric(ka) && numeric(kb))
                        || (ka == kb && matches!(ka, Kind::String | Kind::Bool));
                    if !ok {
                        mismatch(
                            self,
                            format!("cannot order {} against {}", name(a), name(b)),
                        );
                    }
                }
                Some(Shape::Bool)
            }
            ("_==_" | "_!=_", None, [a, b]) => {
                let scalar = |k: Kind| match k {
                    Kind::Int | Kind::Double => Some(0),
                    Kind::String => Some(1),
                    Kind::Bool => Some(2),
                    _ => None,
                };
                if let (Some(ka), Some(kb)) = (kind(a), kind(b))
                    && let (Some(x), Some(y)) = (scalar(ka), scalar(kb))
                    && x != y
                {
                    mismatch(
                        self,
                        format!("{} compared with {}: never equal", name(a), name(b)),
                    );
                }
                Some(Shape::Bool)
            }
            ("_&&_" | "_||_", None, [a, b]) => {
                for s in [a, b] {
                    if kind(s).is_some_and(|k| k != Kind::Bool) {
                        mismatch(
                            self,
                            format!("`{}` needs bool operands, not {}", symbol(func), name(s)),
                        );
                    }
                }
                Some(Shape::Bool)
            }
            ("!_", None, [a]) => {
                if kind(a).is_some_and(|k| k != Kind::Bool) {
                    mismatch(self, format!("`!` needs a bool, not {}", name(a)));
                }
                Some(Shape::Bool)
            }
            ("_?_:_", None, [c, a, b]) => {
                if kind(c).is_some_and(|k| k != Kind::Bool) {
                    mismatch(self, format!("a condition must be bool, not {}", name(c)));
                }
                Some(if kind(a).is_some() {
                    a.clone()
                } else {
                    b.clone()
                })
            }
            ("@in", None, [_, coll]) => {
                if kind(coll).is_some_and(|k| !matches!(k, Kind::List | Kind::Record)) {
                    mismatch(
                        self,
                        format!("`in` needs a list or map, not {}", name(coll)),
                    );
                }
                Some(Shape::Bool)
            }
            ("contains" | "startsWith" | "endsWith" | "matches", Some(t), [arg]) => {
                if kind(t).is_some_and(|k| k != Kind::String) {
                    mismatch(
                        self,
                        format!("`{func}` is a string function, not for {}", name(t)),
                    );
                } else if kind(arg).is_some_and(|k| k != Kind::String) {
                    mismatch(
                        self,
                        format!("`{func}` needs a string argument, not {}", name(arg)),
                    );
                }
                Some(Shape::Bool)
            }
            ("size", t, a) => {
                let subject = t.or(a.first());
                if subject
                    .and_then(kind)
                    .is_some_and(|k| matches!(k, Kind::Bool | Kind::Int | Kind::Double))
                {
                    mismatch(
                        self,
                        format!("`size` of a {}", subject.map_or("value", name)),
                    );
                }
                Some(Shape::Int)
            }
            _ => None,
        }
    }

    /// `level == 'ful'` and `level in ['full', 'partal']` can never hold: report the literal.
    fn check_enum_literals(&mut self, func: &str, nodes: &[IdedExpr], shapes: &[Shape]) {
        let mut check = |values: &[&str], lit: &IdedExpr| {
            if let Node::Literal(LiteralValue::String(s)) = &lit.expr {
                let s = s.inner();
                if !values.contains(&s) {
                    let help = match closest(s, values) {
                        Some(c) => format!("did you mean '{c}'?"),
                        None => format!("one of: {}", values.join(", ")),
                    };
                    self.problems.push(ExprProblem {
                        code: "impossible-value",
                        message: format!("'{s}' is not a possible value here"),
                        span: self.span_of(lit.id, s),
                        help: Some(help),
                    });
                }
            }
        };
        match (func, nodes, shapes) {
            ("_==_" | "_!=_", [a, b], [sa, sb]) => {
                if let Shape::Enum(v) = sa {
                    check(v, b);
                }
                if let Shape::Enum(v) = sb {
                    check(v, a);
                }
            }
            ("@in", [_, list], [Shape::Enum(v), _]) => {
                if let Node::List(l) = &list.expr {
                    for e in &l.elements {
                        check(v, e);
                    }
                }
            }
            _ => {}
        }
    }

    fn entries(&mut self, entries: &[cel::common::ast::IdedEntryExpr]) {
        for entry in entries {
            match &entry.expr {
                EntryExpr::StructField(f) => {
                    self.walk(&f.value);
                }
                EntryExpr::MapEntry(m) => {
                    self.walk(&m.key);
                    self.walk(&m.value);
                }
            }
        }
    }

    fn select(&mut self, id: u64, operand: &Shape, field: &str) -> Shape {
        match operand {
            Shape::Any => Shape::Any,
            Shape::Record(fields) => match fields.get(field) {
                Some(f) => f.shape.clone(),
                None => {
                    let names = operand.field_names();
                    let help = match closest(field, &names) {
                        Some(c) => format!("did you mean `{c}`?"),
                        None => format!("known fields: {}", names.join(", ")),
                    };
                    self.problems.push(ExprProblem {
                        code: "unknown-field",
                        message: format!("unknown field `{field}`"),
                        span: self.span_of(id, field),
                        help: Some(help),
                    });
                    Shape::Any
                }
            },
            other => {
                self.problems.push(ExprProblem {
                    code: "unknown-field",
                    message: format!("`{field}`: a {} has no fields", other.type_name()),
                    span: self.span_of(id, field),
                    help: None,
                });
                Shape::Any
            }
        }
    }
}

#[cfg(test)]
#[cfg(test)]
mod tests {
    use super::super::Expr;
    use super::*;
    use crate::rules::vocab::Vocabulary;

    fn roots() -> BTreeMap<String, Shape> {
        let v = Vocabulary::from_facts();
        BTreeMap::from([
            ("service".to_string(), v.service.clone()),
            ("services".to_string(), Shape::List(Box::new(v.service))),
            ("agency".to_string(), v.agency),
        ])
    }

    fn check(src: &str) -> Vec<ExprProblem> {
        match Expr::compile(src) {
            Ok(e) => e.check(&roots()),
            Err(p) => p,
        }
    }

    #[test]
    fn unknown_field_is_located_in_the_expression() {
        let src = "service.level_label != 'Mức độ' && service.signature.suported";
        let p = check(src);
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(&src[p[0].span.clone()], "suported");
        assert_eq!(p[0].help.as_deref(), Some("did you mean `supported`?"));
    }

    #[test]
    fn macro_variables_take_the_element_shape() {
        let src = "services.all(s, s.signature.supported) && services.exists(s, s.levl == 'full')";
        let p = check(src);
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(&src[p[0].span.clone()], "levl");
        assert!(
            check("services.filter(s, s.signature.providers.exists(p, p == 'vgca')).size() > 0")
                .is_empty()
        );
        assert!(check("has(service.fetch.error) && service.fetch.error.kind == 'dns'").is_empty());
        assert!(
            check("service.fetch.error != null && service.fetch.error.kind == 'dns'").is_empty()
        );
        let p = check("service.fetch.error.kind == 'dns'");
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].code, "unguarded-optional");
        assert!(
            check("services.exists(s, s.fetch.error != null && s.fetch.error.kind == 'dns')")
                .is_empty()
        );
    }

    #[test]
    fn impossible_enum_literals_are_errors() {
        let src = "service.level == 'ful' || service.level in ['full', 'partal']";
        let p = check(src);
        assert_eq!(p.len(), 2, "{p:?}");
        assert_eq!(&src[p[0].span.clone()], "ful");
        assert_eq!(p[0].help.as_deref(), Some("did you mean 'full'?"));
        assert_eq!(&src[p[1].span.clone()], "partal");
        assert!(
            check("service.fetch.error != null && 'dns' == service.fetch.error.kind && service.level != 'unknown'").is_empty()
        );
        assert_eq!(check("agency.kind == 'provence'").len(), 1);
    }

    #[test]
    fn type_errors_are_found_at_load_with_their_place() {
        let src = "service.name + 1 == 2";
        let p = check(src);
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].code, "type-mismatch");
        assert_eq!(&src[p[0].span.clone()], "+");
        for bad in [
            "service.name > 3",
            "service.signature.supported && 'x'",
            "!service.name",
            "size(service.signature.supported) > 0",
            "service.name == true",
            "services.size() - 'a' > 0",
            "service.name.startsWith(1)",
        ] {
            let p = check(bad);
            assert!(p.iter().any(|p| p.code == "type-mismatch"), "{bad}: {p:?}");
        }
        for good in [
            "service.name + 'x' == 'ax'",
            "services.size() + 1 > 2",
            "services.size() > 0.5",
            "service.name.startsWith('Thủ')",
            "!service.signature.supported",
            "services.filter(s, s.signature.supported).size() * 2 >= services.size()",
            "services.map(s, s.name).exists(n, n.contains('x'))",
            "service.level in ['full', 'partial'] ? true : false",
        ] {
            assert!(check(good).is_empty(), "{good}: {:?}", check(good));
        }
    }

    #[test]
    fn unknown_variable_and_syntax_error() {
        let p = check("servce.code == ''");
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].help.as_deref(), Some("did you mean `service`?"));
        let src = "service.level_label == 'Mức độ' &&& true";
        let p = check(src);
        assert!(!p.is_empty());
        assert_eq!(src.get(p[0].span.clone()), Some("&"), "{p:?}");
    }
}
