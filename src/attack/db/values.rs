//! Values for seeded rows (`ValueGen`): deterministic from a case's salt (so a shrunk case replays
//! the same world), unique, and registered to their tenant wherever they are distinctive.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::schema::ValueKind;
use crate::oracle::{Ownership, TenantIdx};
use crate::sql::quote_literal;

/// A value as SQL text plus its type; NULL when `text` is `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlValue {
    pub text: Option<String>,
    pub sql_type: String,
}

impl SqlValue {
    pub fn new(text: impl Into<String>, sql_type: &str) -> Self {
        Self {
            text: Some(text.into()),
            sql_type: sql_type.to_owned(),
        }
    }

    /// `$n::type`: this value as the statement's `n`th parameter, cast in the SQL itself.
    pub fn param(&self, n: usize) -> String {
        format!("${n}::{}", self.sql_type)
    }

    /// `'text'::type` or `NULL::type`, for reproducer scripts.
    pub fn literal(&self) -> String {
        match &self.text {
            Some(t) => format!("{}::{}", quote_literal(t), self.sql_type),
            None => format!("NULL::{}", self.sql_type),
        }
    }
}

/// How text values are dressed, to exercise edge cases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextStyle {
    Plain,
    /// Non-ASCII after the marker.
    Unicode,
    /// Every tenant's text starts the same way; text tenant ids extend one another.
    SharedPrefix,
}

/// Marker length: `tp` + 14 hex digits. Fixed, so no marker is a prefix of another.
pub const MARKER_LEN: usize = 16;

pub struct ValueGen {
    rng: ChaCha8Rng,
    salt: u64,
    seq: u64,
    pub style: TextStyle,
    /// How often nullable columns get NULL (per mille).
    null_rate: u32,
    /// Bare markers only (a retry after a CHECK refused dressed text).
    pub plain: bool,
}

impl ValueGen {
    pub fn new(salt: u64) -> Self {
        let style = match salt % 3 {
            0 => TextStyle::Plain,
            1 => TextStyle::Unicode,
            _ => TextStyle::SharedPrefix,
        };
        Self {
            rng: ChaCha8Rng::seed_from_u64(salt),
            salt,
            seq: 0,
            style,
            null_rate: if salt.is_multiple_of(5) { 300 } else { 0 },
            plain: false,
        }
    }

    /// A fresh canary marker.
    pub fn marker(&mut self) -> String {
        self.seq += 1;
        let mixed = self.salt.wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ self.seq.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        format!("tp{:014x}", mixed & 0x00FF_FFFF_FFFF_FFFF)
    }

    pub fn uuid(&mut self) -> String {
        let bytes: [u8; 16] = self.rng.random();
        uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .to_string()
    }

    /// Distinct for every call in this world: a multiplicative walk through the range (the prime
    /// step does not divide `span`, so the first `span` calls never repeat).
    fn distinct_number(&mut self, low: u64, span: u64) -> u64 {
        self.seq += 1;
        low + (self
            .seq
            .wrapping_mul(2_654_435_761)
            .wrapping_add(self.salt % span))
            % span
    }

    /// Whether a nullable column should be NULL this time (an edge case).
    pub fn null_now(&mut self) -> bool {
        self.null_rate > 0 && self.rng.random_range(0..1000) < self.null_rate
    }

    /// The id of tenant `idx` for a tenant key of `kind` (ids extend one another under
    /// `SharedPrefix`, so prefix-matching policies are caught).
    pub fn tenant_id(&mut self, kind: &ValueKind, idx: TenantIdx, first: Option<&str>) -> String {
        match kind {
            ValueKind::Int { .. } => self.distinct_number(100_000, 30_000).to_string(),
            ValueKind::Text { .. } if self.style == TextStyle::SharedPrefix && idx > 0 => {
                match first {
                    Some(base) => format!("{base}{idx}"),
                    None => self.marker(),
                }
            }
            ValueKind::Text { .. } => self.marker(),
            _ => self.uuid(),
        }
    }

    /// A value for a column of `kind` owned by `tenant`, registered in `ownership`. `literals` are
    /// values a CHECK constraint names (used instead of generated text when given).
    pub fn value(
        &mut self,
        kind: &ValueKind,
        tenant: TenantIdx,
        literals: &[String],
        ownership: &mut Ownership,
    ) -> Option<String> {
        Some(match kind {
            ValueKind::Uuid => {
                let u = self.uuid();
                ownership.register(&u, tenant);
                u
            }
            ValueKind::Text { max } => {
                if let Some(choice) = pick(&mut self.rng, literals) {
                    return Some(choice);
                }
                let marker = self.marker();
                let style = if self.plain {
                    TextStyle::Plain
                } else {
                    self.style
                };
                let dressed = match style {
                    TextStyle::Plain => marker.clone(),
                    TextStyle::Unicode => format!("{marker}-ü✓"),
                    TextStyle::SharedPrefix => format!("shared {marker}"),
                };
                match max {
                    Some(m) if *m < MARKER_LEN => {
                        // Too short for a marker: a distinct but unregistered value.
                        self.seq += 1;
                        format!(
                            "{:0width$}",
                            self.seq % 10u64.pow(u32::try_from(*m).unwrap_or(1).min(18)),
                            width = *m
                        )
                    }
                    Some(m) if dressed.chars().count() > *m => {
                        ownership.register(&marker, tenant);
                        marker
                    }
                    _ => {
                        ownership.register(&marker, tenant);
                        dressed
                    }
                }
            }
            ValueKind::Int { bits } => {
                let n = if *bits == 16 {
                    self.distinct_number(10_000, 20_000)
                } else {
                    self.distinct_number(1_000_000, 1_000_000_000)
                };
                ownership.register_number(n.to_string(), tenant);
                n.to_string()
            }
            ValueKind::Numeric | ValueKind::Float => {
                let n = self.distinct_number(1_000_000, 1_000_000_000);
                let v = format!("{n}.5");
                ownership.register_number(&v, tenant);
                v
            }
            ValueKind::Bool => self.rng.random::<bool>().to_string(),
            ValueKind::Date => format!(
                "2024-{:02}-{:02}",
                self.rng.random_range(1..=12),
                self.rng.random_range(1..=28)
            ),
            ValueKind::Timestamp => format!(
                "2024-{:02}-{:02} 12:00:00+00",
                self.rng.random_range(1..=12),
                self.rng.random_range(1..=28)
            ),
            ValueKind::Json => {
                let marker = self.marker();
                ownership.register(&marker, tenant);
                serde_json::json!({ "tp": marker }).to_string()
            }
            ValueKind::Enum(labels) => pick(&mut self.rng, labels)?,
            ValueKind::Bytea => {
                let marker = self.marker();
                let hex: String = marker.bytes().map(|b| format!("{b:02x}")).collect();
                ownership.register(&hex, tenant);
                format!("\\x{hex}")
            }
            ValueKind::Array(inner, _) => {
                let element = self.value(inner, tenant, &[], ownership)?;
                format!(
                    "{{\"{}\"}}",
                    element.replace('\\', "\\\\").replace('"', "\\\"")
                )
            }
            ValueKind::Hstore => {
                let marker = self.marker();
                ownership.register(&marker, tenant);
                format!("\"tp\"=>\"{marker}\"")
            }
            ValueKind::Range(inner) => {
                // Bounds are not registered: a range's text is rarely echoed whole, and a bare
                // number or date would be too common to own.
                let start = self.distinct_number(0, 300);
                match inner.as_ref() {
                    ValueKind::Int { .. } | ValueKind::Numeric | ValueKind::Float => {
                        format!("[{},{})", 1_000 + start, 1_010 + start)
                    }
                    ValueKind::Date => {
                        let (y, d) = (2024, start % 28 + 1);
                        format!("[{y}-02-{d:02},{y}-03-{d:02})")
                    }
                    ValueKind::Timestamp => {
                        let d = start % 28 + 1;
                        format!("[\"2024-02-{d:02} 12:00:00+00\",\"2024-03-{d:02} 12:00:00+00\")")
                    }
                    _ => return None,
                }
            }
            ValueKind::Other => return None,
        })
    }

    /// A value for `column`, within the numeric bounds its CHECK constraints set.
    pub fn value_for(
        &mut self,
        column: &super::schema::SeedColumn,
        tenant: TenantIdx,
        ownership: &mut Ownership,
    ) -> Option<String> {
        let numeric = matches!(
            column.kind,
            ValueKind::Int { .. } | ValueKind::Numeric | ValueKind::Float
        );
        match column.check_bounds {
            (lo, hi) if numeric && (lo.is_some() || hi.is_some()) => {
                let low = lo.unwrap_or_else(|| hi.unwrap_or(0).saturating_sub(1_000_000_000));
                let high = hi.unwrap_or_else(|| low.saturating_add(1_000_000_000));
                let span = u64::try_from(high.saturating_sub(low))
                    .ok()?
                    .saturating_add(1);
                let offset = i64::try_from(self.distinct_number(0, span)).ok()?;
                let n = low.saturating_add(offset);
                // Only a wide range gives numbers distinctive enough to own.
                if span >= 1_000_000 {
                    ownership.register_number(n.to_string(), tenant);
                }
                Some(n.to_string())
            }
            _ => self.value(&column.kind, tenant, &column.check_literals, ownership),
        }
    }
}

fn pick(rng: &mut ChaCha8Rng, choices: &[String]) -> Option<String> {
    (!choices.is_empty()).then(|| choices[rng.random_range(0..choices.len())].clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_are_fixed_length_unique_and_deterministic() {
        let mut a = ValueGen::new(42);
        let mut b = ValueGen::new(42);
        let ma: Vec<String> = (0..100).map(|_| a.marker()).collect();
        let mb: Vec<String> = (0..100).map(|_| b.marker()).collect();
        assert_eq!(ma, mb);
        assert!(
            ma.iter()
                .all(|m| m.len() == MARKER_LEN && m.starts_with("tp"))
        );
        let mut unique = ma.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 100);
    }

    #[test]
    fn generated_values_are_registered_to_their_tenant() {
        let mut g = ValueGen::new(3);
        let mut o = Ownership::default();
        let text = g
            .value(&ValueKind::Text { max: None }, 1, &[], &mut o)
            .unwrap();
        let marker = &text[..MARKER_LEN];
        assert_eq!(o.owner_of(marker), Some(1));
        let n = g
            .value(&ValueKind::Int { bits: 32 }, 0, &[], &mut o)
            .unwrap();
        assert_eq!(o.owner_of(&n), Some(0));
        assert_eq!(
            g.value(&ValueKind::Text { max: None }, 0, &["only".into()], &mut o)
                .unwrap(),
            "only"
        );
        assert_eq!(SqlValue::new("it's", "text").literal(), "'it''s'::text");
    }
}
