//! What a policy expression means for tenant isolation (`analyse`): does every row it admits have
//! the tenant key equal to the tenant in the setting, whatever else it ORs in?
//!
//! Expressions come from `pg_get_expr`, so they are normalised PostgreSQL; they are parsed with
//! sqlparser and judged by structure: `AND` pins if either side pins, `OR` only if both do,
//! `key = <setting>` pins, where `<setting>` is `current_setting(name[, missing_ok])` through casts,
//! `NULLIF(…, '')` and scalar subqueries. Fallbacks (`COALESCE(setting, default)`), prefix matches
//! (`LIKE setting || '%'`), `IS NULL OR …` branches and constants do not pin. What cannot be
//! followed (membership subqueries, unknown functions) is `Undecided`, never clean.

use std::ops::ControlFlow;

use sqlparser::ast::{
    BinaryOperator, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Query, SelectItem,
    SetExpr, UnaryOperator, Value, Visit, Visitor,
};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

/// What the expression is judged against.
pub struct Subject<'a> {
    /// The column that names the tenant on this table (`tenant_id`, or the tenants table's key).
    pub key_column: &'a str,
    /// The setting that holds the current tenant (`app.current_tenant`).
    pub setting: &'a str,
    /// The body of a parameterless SQL function, by unqualified name, for following helpers such
    /// as `current_tenant_id()`.
    pub function_body: &'a dyn Fn(&str) -> Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every admitted row has the tenant key equal to the setting (or no row is admitted).
    Pins,
    /// Rows of other tenants, or of no tenant, can be admitted; the text says how.
    Leaks(String),
    /// tenantprobe cannot tell; the text says what it could not follow.
    Undecided(String),
}

/// The judgement of one expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Analysis {
    pub verdict: Verdict,
    /// True whatever the row: the policy admits everything.
    pub always_true: bool,
    /// The setting is read outside a scalar subquery, so it is evaluated once per row instead of
    /// once per statement.
    pub per_row_setting: bool,
}

/// Judges one policy expression (a USING or WITH CHECK clause).
pub fn analyse(expr: &str, subject: &Subject<'_>) -> Analysis {
    match parse(expr) {
        Ok(e) => {
            let always_true = is_constant_true(&e);
            let verdict = if always_true {
                Verdict::Leaks("it is always true".into())
            } else {
                verdict(&e, subject, 0)
            };
            Analysis {
                verdict,
                always_true,
                per_row_setting: reads_setting_per_row(&e),
            }
        }
        Err(e) => Analysis {
            verdict: Verdict::Undecided(format!("tenantprobe cannot parse `{expr}`: {e}")),
            always_true: false,
            per_row_setting: false,
        },
    }
}

fn parse(expr: &str) -> Result<Expr, sqlparser::parser::ParserError> {
    Parser::new(&PostgreSqlDialect {})
        .try_with_sql(expr)?
        .parse_expr()
}

const MAX_DEPTH: usize = 8;

fn verdict(e: &Expr, s: &Subject<'_>, depth: usize) -> Verdict {
    let e = strip(e);
    if depth > MAX_DEPTH {
        return Verdict::Undecided("the expression nests too deeply to follow".into());
    }
    match e {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            let (l, r) = (verdict(left, s, depth + 1), verdict(right, s, depth + 1));
            match (l, r) {
                (Verdict::Pins, _) | (_, Verdict::Pins) => Verdict::Pins,
                (Verdict::Undecided(why), _) | (_, Verdict::Undecided(why)) => {
                    Verdict::Undecided(why)
                }
                (Verdict::Leaks(why), _) => Verdict::Leaks(why),
            }
        }
        Expr::BinaryOp {
            left,
            op: BinaryOperator::Or,
            right,
        } => {
            let (l, r) = (verdict(left, s, depth + 1), verdict(right, s, depth + 1));
            match (&l, &r) {
                (Verdict::Pins, Verdict::Pins) => Verdict::Pins,
                (Verdict::Leaks(why), _) => Verdict::Leaks(format!(
                    "the OR branch `{left}` admits rows of other tenants: {why}"
                )),
                (_, Verdict::Leaks(why)) => Verdict::Leaks(format!(
                    "the OR branch `{right}` admits rows of other tenants: {why}"
                )),
                (Verdict::Undecided(why), _) | (_, Verdict::Undecided(why)) => {
                    Verdict::Undecided(why.clone())
                }
            }
        }
        Expr::BinaryOp {
            left,
            op: BinaryOperator::Eq,
            right,
        } => equality(left, right, s, depth),
        Expr::BinaryOp { left, op, right }
            if matches!(
                op,
                BinaryOperator::PGLikeMatch
                    | BinaryOperator::PGILikeMatch
                    | BinaryOperator::PGRegexMatch
                    | BinaryOperator::PGRegexIMatch
                    | BinaryOperator::PGStartsWith
            ) && (is_key(left, s) || is_key(right, s)) =>
        {
            Verdict::Leaks(format!(
                "`{e}` matches the tenant key by pattern, so one tenant's value can match another's (a prefix, a wildcard)"
            ))
        }
        Expr::Like { expr, .. } | Expr::ILike { expr, .. } | Expr::SimilarTo { expr, .. }
            if is_key(expr, s) =>
        {
            Verdict::Leaks(format!(
                "`{e}` matches the tenant key by pattern, so one tenant's value can match another's (a prefix, a wildcard)"
            ))
        }
        Expr::Value(v) if matches!(v.value, Value::Boolean(false) | Value::Null) => Verdict::Pins,
        Expr::In { .. } | Expr::Exists { .. } | Expr::Subquery(_) => Verdict::Undecided(format!(
            "`{e}` consults a subquery (a membership table?); tenantprobe cannot prove which tenants it admits"
        )),
        Expr::AnyOp { .. } | Expr::AllOp { .. } | Expr::Case { .. } => {
            Verdict::Undecided(format!("tenantprobe cannot follow `{e}`"))
        }
        Expr::Function(f) => Verdict::Undecided(format!(
            "`{e}` calls `{}`; tenantprobe cannot tell which tenants it admits",
            f.name
        )),
        _ if mentions_key(e, s) => Verdict::Leaks(format!(
            "`{e}` does not compare the tenant key `{}` with the setting using `=`",
            s.key_column
        )),
        _ => Verdict::Leaks(format!(
            "`{e}` does not involve the tenant key `{}`, so it admits rows of any tenant",
            s.key_column
        )),
    }
}

fn equality(left: &Expr, right: &Expr, s: &Subject<'_>, depth: usize) -> Verdict {
    let other = match (is_key(left, s), is_key(right, s)) {
        (true, false) => right,
        (false, true) => left,
        (true, true) => return Verdict::Leaks("it compares the tenant key with itself".into()),
        (false, false) => {
            return Verdict::Leaks(format!(
                "`{left} = {right}` does not involve the tenant key `{}`, so it admits rows of any tenant",
                s.key_column
            ));
        }
    };
    match setting(other, s, depth) {
        Setting::Exact => Verdict::Pins,
        Setting::Fallback(default) => Verdict::Leaks(format!(
            "`{other}` falls back to `{default}` when the setting is unset or empty, so no tenant still means some tenant"
        )),
        Setting::Other(name) => Verdict::Leaks(format!(
            "it reads the setting `{name}`, not `{}`",
            s.setting
        )),
        Setting::Constant => Verdict::Leaks(format!(
            "it compares the tenant key with the constant `{other}`"
        )),
        Setting::Unknown => Verdict::Undecided(format!(
            "it compares the tenant key with `{other}`, which tenantprobe cannot follow"
        )),
    }
}

enum Setting {
    Exact,
    Fallback(String),
    Other(String),
    Constant,
    Unknown,
}

/// Whether `e` is the tenant setting (through casts, NULLIF, scalar subqueries, helper functions).
fn setting(e: &Expr, s: &Subject<'_>, depth: usize) -> Setting {
    let e = strip(e);
    if depth > MAX_DEPTH {
        return Setting::Unknown;
    }
    match e {
        Expr::Subquery(q) => match single_select_expr(q) {
            Some(inner) => setting(inner, s, depth + 1),
            None => Setting::Unknown,
        },
        Expr::Function(f) => {
            let name = f.name.to_string().to_ascii_lowercase();
            let name = name
                .rsplit('.')
                .next()
                .unwrap_or(&name)
                .trim_matches('"')
                .to_owned();
            let args = function_args(&f.args);
            match (name.as_str(), args.as_slice()) {
                ("current_setting", [first, ..]) => match literal_string(first) {
                    Some(setting_name) if setting_name == s.setting => Setting::Exact,
                    Some(other) => Setting::Other(other),
                    None => Setting::Unknown,
                },
                ("nullif", [first, _]) => setting(first, s, depth + 1),
                ("coalesce", [first, rest @ ..]) => match setting(first, s, depth + 1) {
                    Setting::Exact
                        if rest.iter().all(
                            |r| matches!(strip(r), Expr::Value(v) if v.value == Value::Null),
                        ) =>
                    {
                        Setting::Exact
                    }
                    Setting::Exact => Setting::Fallback(
                        rest.iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(", "),
                    ),
                    other => other,
                },
                (_, []) => {
                    match (s.function_body)(&name).and_then(|body| parse_function_body(&body)) {
                        Some(body) => setting(&body, s, depth + 1),
                        None => Setting::Unknown,
                    }
                }
                _ => Setting::Unknown,
            }
        }
        Expr::Value(_) => Setting::Constant,
        _ => Setting::Unknown,
    }
}

/// A SQL function body such as `SELECT <expr>` or `<expr>`.
fn parse_function_body(body: &str) -> Option<Expr> {
    let body = body.trim().trim_end_matches(';').trim();
    let dialect = PostgreSqlDialect {};
    if body.len() >= 6 && body[..6].eq_ignore_ascii_case("select") {
        let query = Parser::new(&dialect)
            .try_with_sql(body)
            .ok()?
            .parse_query()
            .ok()?;
        return single_select_expr(&query).cloned();
    }
    parse(body).ok()
}

/// `SELECT <expr>` with no FROM, WHERE or set operation.
fn single_select_expr(q: &Query) -> Option<&Expr> {
    let SetExpr::Select(select) = q.body.as_ref() else {
        return None;
    };
    if !select.from.is_empty() || select.selection.is_some() || select.projection.len() != 1 {
        return None;
    }
    match &select.projection[0] {
        SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => Some(e),
        _ => None,
    }
}

fn function_args(args: &FunctionArguments) -> Vec<&Expr> {
    match args {
        FunctionArguments::List(list) => list
            .args
            .iter()
            .filter_map(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e))
                | FunctionArg::Named {
                    arg: FunctionArgExpr::Expr(e),
                    ..
                } => Some(e),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn literal_string(e: &Expr) -> Option<String> {
    match strip(e) {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::EscapedStringLiteral(s) => Some(s.clone()),
            _ => None,
        },
        _ => None,
    }
}

/// Removes parentheses and casts, which change neither which row is admitted nor which tenant.
fn strip(e: &Expr) -> &Expr {
    match e {
        Expr::Nested(inner) | Expr::Cast { expr: inner, .. } => strip(inner),
        _ => e,
    }
}

fn is_key(e: &Expr, s: &Subject<'_>) -> bool {
    match strip(e) {
        Expr::Identifier(id) => id.value == s.key_column,
        Expr::CompoundIdentifier(parts) => parts.last().is_some_and(|id| id.value == s.key_column),
        _ => false,
    }
}

fn mentions_key(e: &Expr, s: &Subject<'_>) -> bool {
    struct Finder<'a>(&'a str, bool);
    impl Visitor for Finder<'_> {
        type Break = ();
        fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
            let hit = match e {
                Expr::Identifier(id) => id.value == self.0,
                Expr::CompoundIdentifier(parts) => {
                    parts.last().is_some_and(|id| id.value == self.0)
                }
                _ => false,
            };
            if hit {
                self.1 = true;
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        }
    }
    let mut finder = Finder(s.key_column, false);
    let _ = e.visit(&mut finder);
    finder.1
}

/// True for `true`, `1 = 1`, `'a' = 'a'`, `x OR true`, `NOT false` and the like.
fn is_constant_true(e: &Expr) -> bool {
    match strip(e) {
        Expr::Value(v) => v.value == Value::Boolean(true),
        Expr::BinaryOp {
            left,
            op: BinaryOperator::Eq,
            right,
        } => {
            matches!((strip(left), strip(right)), (Expr::Value(a), Expr::Value(b)) if a.value == b.value && a.value != Value::Null)
        }
        Expr::BinaryOp {
            left,
            op: BinaryOperator::Or,
            right,
        } => is_constant_true(left) || is_constant_true(right),
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => is_constant_true(left) && is_constant_true(right),
        Expr::UnaryOp {
            op: UnaryOperator::Not,
            expr,
        } => matches!(strip(expr), Expr::Value(v) if v.value == Value::Boolean(false)),
        Expr::IsNotNull(inner) => matches!(strip(inner), Expr::Value(v) if v.value != Value::Null),
        _ => false,
    }
}

/// Whether `current_setting` is called outside every subquery.
fn reads_setting_per_row(e: &Expr) -> bool {
    struct Finder {
        depth: usize,
        found: bool,
    }
    impl Visitor for Finder {
        type Break = ();
        fn pre_visit_query(&mut self, _: &Query) -> ControlFlow<()> {
            self.depth += 1;
            ControlFlow::Continue(())
        }
        fn post_visit_query(&mut self, _: &Query) -> ControlFlow<()> {
            self.depth -= 1;
            ControlFlow::Continue(())
        }
        fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
            if let Expr::Function(f) = e
                && self.depth == 0
                && f.name
                    .to_string()
                    .to_ascii_lowercase()
                    .ends_with("current_setting")
            {
                self.found = true;
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        }
    }
    let mut finder = Finder {
        depth: 0,
        found: false,
    };
    let _ = e.visit(&mut finder);
    finder.found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judge(expr: &str) -> Analysis {
        let helpers = |name: &str| {
            match name {
            "current_tenant_id" => Some("SELECT NULLIF(current_setting('app.current_tenant', true), '')::uuid".to_owned()),
            "any_tenant" => Some("SELECT coalesce(current_setting('app.current_tenant', true), '00000000-0000-0000-0000-000000000000')::uuid".to_owned()),
            _ => None,
        }
        };
        analyse(
            expr,
            &Subject {
                key_column: "tenant_id",
                setting: "app.current_tenant",
                function_body: &helpers,
            },
        )
    }

    fn pins(expr: &str) {
        assert_eq!(judge(expr).verdict, Verdict::Pins, "{expr}");
    }

    fn leaks(expr: &str, because: &str) {
        match judge(expr).verdict {
            Verdict::Leaks(why) => assert!(why.contains(because), "{expr}: {why}"),
            other => panic!("{expr}: expected a leak, got {other:?}"),
        }
    }

    fn undecided(expr: &str) {
        assert!(
            matches!(judge(expr).verdict, Verdict::Undecided(_)),
            "{expr}: {:?}",
            judge(expr).verdict
        );
    }

    #[test]
    fn the_reference_policy_pins_and_reads_the_setting_once() {
        let expr = r#"(tenant_id = ( SELECT (NULLIF(current_setting('app.current_tenant'::text, true), ''::text))::uuid AS "nullif"))"#;
        let a = judge(expr);
        assert_eq!(a.verdict, Verdict::Pins);
        assert!(!a.always_true && !a.per_row_setting);
    }

    #[test]
    fn equality_with_the_setting_pins_in_every_spelling() {
        pins("(tenant_id = (current_setting('app.current_tenant'::text))::uuid)");
        pins("((tenant_id)::text = current_setting('app.current_tenant'::text, true))");
        pins("(t.tenant_id = current_tenant_id())");
        pins(
            "((status = 'active'::text) AND (tenant_id = (current_setting('app.current_tenant'::text))::uuid))",
        );
        pins(
            "((tenant_id = (current_setting('app.current_tenant'::text))::uuid) OR (tenant_id = (current_setting('app.current_tenant'::text))::uuid))",
        );
        pins("false");
        assert!(
            judge("(tenant_id = (current_setting('app.current_tenant'::text))::uuid)")
                .per_row_setting
        );
    }

    #[test]
    fn what_ors_the_tenant_away_leaks() {
        leaks("true", "always true");
        assert!(judge("(1 = 1)").always_true);
        leaks(
            "((NULLIF(current_setting('app.current_tenant'::text, true), ''::text) IS NULL) OR (tenant_id = (NULLIF(current_setting('app.current_tenant'::text, true), ''::text))::uuid))",
            "OR branch",
        );
        leaks(
            "((tenant_id = (current_setting('app.current_tenant'::text))::uuid) OR (status = 'public'::text))",
            "OR branch `(status = 'public'",
        );
        leaks(
            "(tenant_id = (COALESCE(current_setting('app.current_tenant'::text, true), '00000000-0000-0000-0000-000000000000'::text))::uuid)",
            "falls back",
        );
        leaks("(tenant_id = any_tenant())", "falls back");
        leaks(
            "((tenant_id)::text ~~ (current_setting('app.current_tenant'::text, true) || '%'::text))",
            "by pattern",
        );
        leaks(
            "(tenant_id = (current_setting('app.other_tenant'::text))::uuid)",
            "`app.other_tenant`",
        );
        leaks(
            "(tenant_id = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid)",
            "constant",
        );
        leaks("(tenant_id IS NOT NULL)", "does not compare");
        leaks("(status = 'open'::text)", "does not involve the tenant key");
    }

    #[test]
    fn what_cannot_be_followed_is_undecided_not_clean() {
        undecided(
            "(tenant_id IN ( SELECT m.tenant_id FROM memberships m WHERE (m.user_id = (current_setting('app.user'::text))::uuid)))",
        );
        undecided("(tenant_id = mystery())");
        undecided("is_member(tenant_id)");
        undecided("(tenant_id = ANY (ARRAY['a'::uuid]))");
        assert!(matches!(judge("((( broken").verdict, Verdict::Undecided(_)));
    }
}
