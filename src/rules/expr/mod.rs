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

use cel::{Context, Program};

use super::vocab::Shape;

mod check;
mod uses;
mod val;

pub use uses::Projection;

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
        check::check(
            self.program.expression(),
            self.program.source_info(),
            &self.source,
            roots,
        )
    }

    /// Context variable name → the part of it this expression can read (see [`Projection`]);
    /// a variable it does not read is absent.
    pub fn uses(&self) -> BTreeMap<String, Projection> {
        uses::uses(self.program.expression())
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

    /// Bind typed facts directly (one conversion pass; see `val.rs`).
    pub fn set_facts<T: serde::Serialize + ?Sized>(
        &mut self,
        name: &str,
        facts: &T,
    ) -> Result<(), String> {
        let v = val::to_val(facts)?;
        self.ctx.add_variable_as_val(name, v);
        Ok(())
    }

    /// Bind only the part of `facts` that `projection` keeps: what the loaded rules can read.
    pub fn set_facts_projected<T: serde::Serialize + ?Sized>(
        &mut self,
        name: &str,
        facts: &T,
        projection: &Projection,
    ) -> Result<(), String> {
        let v = val::to_val_projected(facts, projection)?;
        self.ctx.add_variable_as_val(name, v);
        Ok(())
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

    /// The text of a string value.
    pub fn as_text(&self) -> Option<&str> {
        match &self.0 {
            cel::Value::String(s) => Some(s.as_str()),
            _ => None,
        }
    }

    /// The texts of a list whose items are all strings.
    pub fn text_items(&self) -> Option<Vec<String>> {
        match &self.0 {
            cel::Value::List(items) => items
                .iter()
                .map(|v| match v {
                    cel::Value::String(s) => Some(s.to_string()),
                    _ => None,
                })
                .collect(),
            _ => None,
        }
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

pub(super) fn next_char_end(source: &str, start: usize) -> usize {
    source
        .get(start..)
        .and_then(|s| s.chars().next())
        .map_or(start, |c| start + c.len_utf8())
}

#[cfg(test)]
mod tests {
    use super::*;

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
