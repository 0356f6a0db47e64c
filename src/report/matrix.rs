//! The isolation matrix (`Matrix`): what was attacked and how — tenant relations, functions,
//! endpoints and key patterns as rows, the properties tried as columns, each cell passed, leaked or
//! not attacked, with counts. Built from a command's coverage and its findings.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::finding::Finding;

/// One cell: attempts of a property against an object.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Cell {
    pub attempts: u64,
    /// Attempts the target refused outright (an error, a 4xx): still a pass.
    pub refused: u64,
    /// Active findings of this property on this object.
    pub leaks: u64,
}

/// A cell's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Passed,
    Leaked,
    NotAttacked,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Passed => "passed",
            Self::Leaked => "leaked",
            Self::NotAttacked => "not attacked",
        }
    }
}

impl Cell {
    pub fn verdict(&self) -> Verdict {
        if self.leaks > 0 {
            Verdict::Leaked
        } else if self.attempts > 0 {
            Verdict::Passed
        } else {
            Verdict::NotAttacked
        }
    }
}

/// What a row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RowKind {
    Relation,
    Function,
    Endpoint,
    KeyPattern,
}

impl RowKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Relation => "relation",
            Self::Function => "function",
            Self::Endpoint => "endpoint",
            Self::KeyPattern => "key pattern",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    pub kind: RowKind,
    pub object: String,
    /// Column name → cell; columns absent here were not attacked on this object.
    pub cells: BTreeMap<String, Cell>,
    /// Why the object could not be attacked at all, when it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gap: Option<String>,
}

/// Which columns can reveal a rule's findings.
pub type ColumnsOf = fn(&str) -> &'static [&'static str];

/// Rows × columns. Serialised into the JSON report as `coverage`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Matrix {
    /// The properties tried, in display order.
    pub columns: Vec<String>,
    pub rows: Vec<Row>,
    /// Set by the builders; `marked` uses it once waivers and the baseline are known.
    #[serde(skip)]
    columns_of: Option<ColumnsOf>,
}

impl Matrix {
    pub fn new(columns: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            columns: columns.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
            columns_of: None,
        }
    }

    /// A copy with the cells that `findings` (the active ones, after waivers and the baseline)
    /// show leaking marked.
    pub fn marked(&self, findings: &[Finding]) -> Self {
        let mut matrix = self.clone();
        let columns_of = self.columns_of.unwrap_or(|_| &[]);
        matrix.mark(findings, columns_of);
        matrix
    }

    /// The row for `object`, created on first use.
    pub fn row(&mut self, kind: RowKind, object: &str) -> &mut Row {
        let index = match self.rows.iter().position(|r| r.object == object) {
            Some(i) => i,
            None => {
                self.rows.push(Row {
                    kind,
                    object: object.to_owned(),
                    cells: BTreeMap::new(),
                    gap: None,
                });
                self.rows.len() - 1
            }
        };
        &mut self.rows[index]
    }

    /// Adds attempts to a cell.
    pub fn add(&mut self, kind: RowKind, object: &str, column: &str, attempts: u64, refused: u64) {
        let cell = self
            .row(kind, object)
            .cells
            .entry(column.to_owned())
            .or_default();
        cell.attempts += attempts;
        cell.refused += refused;
    }

    /// Marks every active finding in the cells its rule tests (`columns_of(rule)`) on its object's
    /// row. A finding whose rule maps to no attempted cell still marks its row: it goes into the
    /// first mapped column, so a leak is never shown as a pass.
    pub fn mark(
        &mut self,
        findings: &[Finding],
        columns_of: impl Fn(&str) -> &'static [&'static str],
    ) {
        for f in findings.iter().filter(|f| f.is_active()) {
            let Some(row) = self.rows.iter_mut().find(|r| r.object == f.object) else {
                continue;
            };
            let mapped = columns_of(&f.rule);
            let mut marked = false;
            for column in mapped {
                if let Some(cell) = row.cells.get_mut(*column)
                    && cell.attempts > 0
                {
                    cell.leaks += 1;
                    marked = true;
                }
            }
            if !marked && let Some(first) = mapped.first() {
                row.cells.entry((*first).to_owned()).or_default().leaks += 1;
            }
        }
        self.rows
            .sort_by(|a, b| a.kind.cmp(&b.kind).then_with(|| a.object.cmp(&b.object)));
    }

    /// Totals per verdict over every (row, column) pair, not-attacked ones included.
    pub fn totals(&self) -> BTreeMap<&'static str, usize> {
        let mut totals = BTreeMap::new();
        for row in &self.rows {
            for column in &self.columns {
                let verdict = row.cells.get(column).copied().unwrap_or_default().verdict();
                *totals.entry(verdict.as_str()).or_default() += 1;
            }
        }
        totals
    }
}

/// The database attack's matrix: relations and functions × the properties of `attack db`.
pub fn from_attack_db(coverage: &crate::attack::db::Coverage) -> Matrix {
    use crate::attack::db::Property;
    let mut matrix = Matrix::new(Property::ALL.iter().map(|p| p.as_str()));
    let kind = |object: &str| {
        if object.contains('(') {
            RowKind::Function
        } else {
            RowKind::Relation
        }
    };
    for ((object, property), (attempts, refused)) in &coverage.cells {
        matrix.add(kind(object), object, property.as_str(), *attempts, *refused);
    }
    for (object, reason) in &coverage.gaps {
        matrix.row(kind(object), object).gap = Some(reason.clone());
    }
    matrix.columns_of = Some(attack_db_columns);
    matrix
}

/// Which `attack db` properties can reveal each of its rules.
fn attack_db_columns(rule: &str) -> &'static [&'static str] {
    match rule {
        "cross-tenant-read" => &["read", "point-read", "call"],
        "cross-tenant-write" => &["update", "delete"],
        "cross-tenant-insert" => &["insert"],
        "row-moved-to-other-tenant" => &["move"],
        "truncate-allowed" => &["truncate"],
        "foreign-key-existence-oracle" => &["fk-oracle"],
        "unique-key-existence-oracle" => &["unique-oracle"],
        "no-tenant-read" => &["unset", "empty", "malformed", "unknown"],
        "tenant-locked-out" | "tenant-object-not-attacked" => &["read"],
        _ => &[],
    }
}

/// The cache check's matrix: each key pattern (and the keys no pattern claims) × key namespacing
/// and value checks. Counts are keys.
pub fn from_cache(outcome: &crate::cache::CacheOutcome) -> Matrix {
    let mut matrix = Matrix::new(["namespaced", "known tenant", "tenant segment shape"]);
    for (pattern, tally) in &outcome.per_pattern {
        matrix.add(RowKind::KeyPattern, pattern, "namespaced", tally.keys, 0);
        let orphaned = outcome.orphaned.get(pattern).map_or(0, |t| t.keys);
        let malformed = outcome.malformed.get(pattern).map_or(0, |t| t.keys);
        matrix.add(
            RowKind::KeyPattern,
            pattern,
            "known tenant",
            tally.keys + orphaned,
            0,
        );
        matrix.add(
            RowKind::KeyPattern,
            pattern,
            "tenant segment shape",
            tally.keys + orphaned + malformed,
            0,
        );
        let row = matrix.row(RowKind::KeyPattern, pattern);
        if let Some(cell) = row.cells.get_mut("known tenant") {
            cell.leaks += u64::from(orphaned > 0);
        }
        if let Some(cell) = row.cells.get_mut("tenant segment shape") {
            cell.leaks += u64::from(malformed > 0);
        }
    }
    if outcome.not_namespaced.keys > 0 {
        let cell = matrix
            .row(RowKind::KeyPattern, "(no pattern)")
            .cells
            .entry("namespaced".to_owned())
            .or_default();
        cell.attempts += outcome.not_namespaced.keys;
        cell.leaks += 1;
    }
    matrix
}

/// The HTTP attack's matrix: endpoints (`METHOD path`) × the actors that sent to them, from
/// `(endpoint, actor)` step counts.
pub fn from_attack_http(steps: &BTreeMap<(String, String), u64>) -> Matrix {
    let mut matrix = Matrix::new(HTTP_ACTORS);
    for ((endpoint, actor), n) in steps {
        matrix.add(RowKind::Endpoint, endpoint, actor, *n, 0);
    }
    matrix.columns_of = Some(attack_http_columns);
    matrix
}

const HTTP_ACTORS: [&str; 9] = [
    "tenant",
    "anonymous",
    "anonymous-on-victim-host",
    "unknown-tenant-host",
    "forged-token",
    "unsigned-token",
    "victim-host",
    "body-tenant",
    "query-tenant",
];

/// Which actors can reveal each `attack http` rule.
fn attack_http_columns(rule: &str) -> &'static [&'static str] {
    match rule {
        "http-anonymous-read" => &["anonymous", "anonymous-on-victim-host"],
        "http-forged-token-accepted" => &["forged-token", "unsigned-token"],
        "http-tenant-confusion" => &[
            "victim-host",
            "body-tenant",
            "query-tenant",
            "unknown-tenant-host",
        ],
        "http-cross-tenant-read"
        | "http-cross-tenant-write"
        | "http-foreign-id-distinguishable"
        | "http-stale-after-delete"
        | "http-tenant-locked-out" => &["tenant"],
        "http-server-error" => &HTTP_ACTORS,
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::{Category, Severity};

    fn finding(rule: &str, object: &str) -> Finding {
        Finding::new(
            rule,
            Severity::High,
            Category::AttackDb,
            object,
            "",
            "t",
            "d",
            "r",
        )
    }

    #[test]
    fn cells_are_passed_leaked_or_not_attacked() {
        let mut m = Matrix::new(["read", "update", "truncate"]);
        m.add(RowKind::Relation, "public.a", "read", 10, 0);
        m.add(RowKind::Relation, "public.a", "update", 4, 4);
        m.add(RowKind::Relation, "public.b", "read", 3, 0);
        m.mark(
            &[finding("cross-tenant-read", "public.b")],
            attack_db_columns,
        );
        let a = &m.rows[0];
        assert_eq!(a.cells["read"].verdict(), Verdict::Passed);
        assert_eq!(a.cells["update"].verdict(), Verdict::Passed);
        assert!(!a.cells.contains_key("truncate"));
        assert_eq!(m.rows[1].cells["read"].verdict(), Verdict::Leaked);
        let totals = m.totals();
        assert_eq!(totals["passed"], 2);
        assert_eq!(totals["leaked"], 1);
        assert_eq!(totals["not attacked"], 3);
    }

    #[test]
    fn a_leak_on_an_unattempted_property_is_still_shown() {
        let mut m = Matrix::new(["read", "truncate"]);
        m.add(RowKind::Relation, "public.a", "read", 1, 0);
        m.mark(
            &[finding("truncate-allowed", "public.a")],
            attack_db_columns,
        );
        assert_eq!(m.rows[0].cells["truncate"].verdict(), Verdict::Leaked);
    }

    #[test]
    fn waived_findings_do_not_mark_cells() {
        let mut m = Matrix::new(["read"]);
        m.add(RowKind::Relation, "public.a", "read", 1, 0);
        let mut f = finding("cross-tenant-read", "public.a");
        f.waived = Some("accepted".into());
        m.mark(&[f], attack_db_columns);
        assert_eq!(m.rows[0].cells["read"].verdict(), Verdict::Passed);
    }

    #[test]
    fn http_rows_are_endpoints_and_leaks_land_on_the_actor_that_shows_them() {
        let mut steps = BTreeMap::new();
        steps.insert(
            ("GET /api/projects/{id}".to_owned(), "tenant".to_owned()),
            12,
        );
        steps.insert(
            (
                "GET /api/projects/{id}".to_owned(),
                "forged-token".to_owned(),
            ),
            3,
        );
        steps.insert(
            ("DELETE /api/projects/{id}".to_owned(), "tenant".to_owned()),
            5,
        );
        let mut forged = finding("http-forged-token-accepted", "GET /api/projects/{id}");
        forged.category = Category::AttackHttp;
        let m = from_attack_http(&steps).marked(&[forged]);
        let get = m.rows.iter().find(|r| r.object.starts_with("GET")).unwrap();
        assert_eq!(get.kind, RowKind::Endpoint);
        assert_eq!(get.cells["forged-token"].verdict(), Verdict::Leaked);
        assert_eq!(get.cells["tenant"].verdict(), Verdict::Passed);
        let delete = m
            .rows
            .iter()
            .find(|r| r.object.starts_with("DELETE"))
            .unwrap();
        assert_eq!(delete.cells["tenant"].verdict(), Verdict::Passed);
        assert!(!delete.cells.contains_key("anonymous"));
    }
}
