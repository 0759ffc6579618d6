//! The expression language behind rules: Common Expression Language via the `cel` crate.
//!
//! Everything CEL-specific lives here so the engine could swap the interpreter: the rest of the
//! rules module sees [`Expr`] (compiled once, `Send + Sync`), [`Activation`] (the variables of one
//! evaluation, layered: a root holding `params`/`agency`, a child per subject) and [`Value`].
//!
//! At load, [`Expr::check`] walks the parsed tree and follows every member path from a context
//! variable through the fact [`Shape`]s, binding the variables of list macros (`all`, `exists`,
//! `filter`, `map`) to the element shape, so `services.all(s, s.signature.suported)` is caught
//! as well as `service.signature.suported`. Offsets are byte ranges inside the expression text.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::{Arc, OnceLock};

use cel::common::ast::{EntryExpr, Expr as Node, LiteralValue, SourceInfo};
use cel::{Context, IdedExpr, Program};

use super::vocab::{Shape, closest};

/// Longest expression accepted (bytes); longer text is a lint error, not a slow parse.
pub const MAX_EXPR_LEN: usize = 4096;
/// Longest rendered value of one template placeholder (characters).
pub const MAX_VALUE_CHARS: usize = 200;

fn env() -> &'static Arc<cel::Env> {
    static ENV: OnceLock<Arc<cel::Env>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = cel::Env::stdlib();
        // String helpers (`lowerAscii`, `trim`, ...) are handy for labels; failure to add them
        // only makes those functions unknown.
        let _ = env.add_extension(cel::extensions::strings);
        Arc::new(env)
    })
}

/// A problem in an expression, located by a byte range inside the expression text.
#[derive(Debug, Clone, PartialEq)]
pub struct ExprProblem {
    /// Stable short code: `bad-expression`, `unknown-field`, `unknown-variable`,
    /// `impossible-value`.
    pub code: &'static str,
    pub message: String,
    pub span: Range<usize>,
    pub help: Option<String>,
}

/// A compiled expression.
#[derive(Debug)]
pub struct Expr {
    program: Program,
    source: String,
}

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

impl Expr {
    /// Parse `source`. Syntax errors come back with their position.
    pub fn compile(source: &str) -> Result<Expr, Vec<ExprProblem>> {
        if source.len() > MAX_EXPR_LEN {
            return Err(vec![ExprProblem {
                code: "bad-expression",
                message: format!("expression longer than {MAX_EXPR_LEN} bytes"),
                span: 0..source.len().min(1),
                help: None,
            }]);
        }
        if source.trim().is_empty() {
            return Err(vec![ExprProblem {
                code: "bad-expression",
                message: "empty expression".into(),
                span: 0..0,
                help: Some("write `true` for \"always\"".into()),
            }]);
        }
        match env().compile(source) {
            Ok(program) => Ok(Expr {
                program,
                source: source.to_string(),
            }),
            Err(errors) => Err(errors
                .errors
                .iter()
                .map(|e| {
                    let start = byte_of_line_col(source, e.pos.0, e.pos.1);
                    let end = next_char_end(source, start);
                    ExprProblem {
                        code: "bad-expression",
                        message: e.msg.clone(),
                        span: start..end,
                        help: None,
                    }
                })
                .collect()),
        }
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Check every variable and member path against `roots` (the context variables and their
    /// shapes). Returns every problem found.
    pub fn check(&self, roots: &BTreeMap<String, Shape>) -> Vec<ExprProblem> {
        let mut checker = Checker {
            roots,
            info: self.program.source_info(),
            source: &self.source,
            scopes: Vec::new(),
            problems: Vec::new(),
        };
        checker.walk(self.program.expression());
        checker.problems
    }

    /// Evaluate to a value; a runtime error becomes its message.
    pub fn eval(&self, act: &Activation<'_>) -> Result<Value, String> {
        self.program
            .execute(&act.ctx)
            .map(Value)
            .map_err(|e| bounded(&e.to_string(), 300))
    }

    /// Evaluate a condition: anything but a boolean is an error.
    pub fn eval_bool(&self, act: &Activation<'_>) -> Result<bool, String> {
        match self.eval(act)?.0 {
            cel::Value::Bool(b) => Ok(b),
            other => Err(format!(
                "expected a boolean, got {}",
                bounded(&Value(other).display(), 80)
            )),
        }
    }
}

/// The variables of one evaluation. A child borrows its parent, so per-agency values are
/// converted once and shared by every service of the agency.
pub struct Activation<'p> {
    ctx: Context<'p, 'static>,
}

impl Activation<'static> {
    pub fn root() -> Self {
        Activation {
            ctx: Context::with_env(Arc::clone(env())),
        }
    }
}

impl<'p> Activation<'p> {
    pub fn child(&self) -> Activation<'_> {
        Activation {
            ctx: self.ctx.new_inner_scope(),
        }
    }

    pub fn set(&mut self, name: &str, value: Value) {
        self.ctx.add_variable_from_value(name, value.0);
    }
}

/// A value of the expression language.
#[derive(Debug, Clone, PartialEq)]
pub struct Value(cel::Value);

impl Value {
    /// Convert typed facts (serde): `i64` becomes `int`, `Option::None` becomes `null`.
    pub fn from_serialize<T: serde::Serialize>(v: &T) -> Result<Value, String> {
        cel::to_value(v).map(Value).map_err(|e| e.to_string())
    }

    pub fn from_toml(v: &toml::Value) -> Value {
        Value(toml_to_cel(v))
    }

    pub fn list(items: Vec<Value>) -> Value {
        Value(cel::Value::List(Arc::new(
            items.into_iter().map(|v| v.0).collect(),
        )))
    }

    pub fn map(entries: BTreeMap<String, Value>) -> Value {
        let map: std::collections::HashMap<cel::objects::Key, cel::Value> = entries
            .into_iter()
            .map(|(k, v)| (cel::objects::Key::from(k), v.0))
            .collect();
        Value(cel::Value::Map(cel::objects::Map { map: Arc::new(map) }))
    }

    /// Human rendering for messages: strings bare, doubles with up to two decimals, lists joined
    /// with `, `.
    pub fn display(&self) -> String {
        display(&self.0)
    }
}

fn toml_to_cel(v: &toml::Value) -> cel::Value {
    match v {
        toml::Value::String(s) => cel::Value::from(s.clone()),
        toml::Value::Integer(i) => cel::Value::Int(*i),
        toml::Value::Float(f) => cel::Value::Float(*f),
        toml::Value::Boolean(b) => cel::Value::Bool(*b),
        toml::Value::Datetime(d) => cel::Value::from(d.to_string()),
        toml::Value::Array(items) => {
            cel::Value::List(Arc::new(items.iter().map(toml_to_cel).collect()))
        }
        toml::Value::Table(t) => {
            let map: std::collections::HashMap<cel::objects::Key, cel::Value> = t
                .iter()
                .map(|(k, v)| (cel::objects::Key::from(k.clone()), toml_to_cel(v)))
                .collect();
            cel::Value::Map(cel::objects::Map { map: Arc::new(map) })
        }
    }
}

fn display(v: &cel::Value) -> String {
    match v {
        cel::Value::String(s) => s.to_string(),
        cel::Value::Int(i) => i.to_string(),
        cel::Value::UInt(u) => u.to_string(),
        cel::Value::Float(f) => {
            let s = format!("{f:.2}");
            let s = s.trim_end_matches('0').trim_end_matches('.');
            s.to_string()
        }
        cel::Value::Bool(b) => b.to_string(),
        cel::Value::Null => "null".into(),
        cel::Value::List(items) => items.iter().map(display).collect::<Vec<_>>().join(", "),
        other => format!("{other:?}"),
    }
}

/// Cut to `max` characters, adding `…` when cut.
pub fn bounded(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max).collect();
    out.push('…');
    out
}

/// Byte offset of a 1-based line and 1-based character column.
fn byte_of_line_col(source: &str, line: isize, col: isize) -> usize {
    let mut offset = 0usize;
    for (i, l) in source.split_inclusive('\n').enumerate() {
        if (i as isize) + 1 == line {
            let col = usize::try_from(col.max(1) - 1).unwrap_or(0);
            let within = l.char_indices().nth(col).map_or(l.len(), |(b, _)| b);
            return (offset + within).min(source.len());
        }
        offset += l.len();
    }
    source.len()
}

fn next_char_end(source: &str, start: usize) -> usize {
    source
        .get(start..)
        .and_then(|s| s.chars().next())
        .map_or(start, |c| start + c.len_utf8())
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
                self.select(e.id, &operand, &sel.field)
            }
            Node::Call(call) => {
                let target = call.target.as_ref().map(|t| self.walk(t));
                let args: Vec<Shape> = call.args.iter().map(|a| self.walk(a)).collect();
                self.check_enum_literals(&call.func_name, &call.args, &args);
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
mod tests {
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
    fn unknown_variable_and_syntax_error() {
        let p = check("servce.code == ''");
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].help.as_deref(), Some("did you mean `service`?"));
        let src = "service.level_label == 'Mức độ' &&& true";
        let p = check(src);
        assert!(!p.is_empty());
        assert_eq!(src.get(p[0].span.clone()), Some("&"), "{p:?}");
    }

    #[test]
    fn evaluates_typed_facts_as_int() {
        let mut svc = crate::facts::ServiceFacts::default();
        svc.fetch.status = 200;
        let mut root = Activation::root();
        root.set("params", Value::from_toml(&toml::Value::Integer(30)));
        let mut act = root.child();
        act.set(
            "service",
            Value::from_serialize(&svc).unwrap_or(Value(cel::Value::Null)),
        );
        let e = Expr::compile(
            "service.fetch.status == 200 && params == 30 && service.fetch.error == null",
        );
        assert_eq!(e.map(|e| e.eval_bool(&act)), Ok(Ok(true)));
        let e = Expr::compile("service.fetch.error.kind == 'dns'");
        assert!(matches!(e.map(|e| e.eval_bool(&act)), Ok(Err(_))));
    }
}
