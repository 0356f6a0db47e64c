//! Who picks the value of a key column (`Picker`): the server (an identity, a random uuid), a
//! sequence a client may override, or the tenant. A unique key is an existence oracle only when a
//! tenant can guess another tenant's value, so its severity follows the least guessable column.

use super::snapshot::{Column, Relation};

/// Who chooses a column's value, from most to least guessable by another tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Picker {
    /// The tenant writes it (an email, a phone number, an external id, a name): guessable.
    Tenant,
    /// A sequence the client may override (serial, identity BY DEFAULT): ids can be enumerated.
    Sequence,
    /// The server fills it and a client cannot usefully choose it (identity ALWAYS: the values
    /// are the sequence's own; a random uuid default: 122 random bits): no existence oracle.
    Server,
}

/// Defaults that draw a random uuid.
const RANDOM_DEFAULTS: &[&str] = &["gen_random_uuid()", "uuid_generate_v4()"];

impl Picker {
    /// Who picks `column`'s value.
    pub fn of(column: &Column) -> Self {
        let default = column.default.as_deref().unwrap_or("");
        if column.identity == "a" || RANDOM_DEFAULTS.iter().any(|d| default.ends_with(d)) {
            Self::Server
        } else if column.identity == "d" || default.starts_with("nextval(") {
            Self::Sequence
        } else {
            // Stored generated columns derive from what the tenant wrote; so do expressions.
            Self::Tenant
        }
    }

    /// Who picks a key of `columns` on `rel`: the least guessable column decides, since a probe
    /// must guess the whole key. An expression ("") counts as tenant-chosen.
    pub fn of_key(rel: &Relation, columns: &[String]) -> Self {
        columns
            .iter()
            .map(|c| rel.column(c).map_or(Self::Tenant, Self::of))
            .max()
            .unwrap_or(Self::Tenant)
    }

    pub fn describe(self) -> &'static str {
        match self {
            Self::Tenant => "a value the tenant chooses",
            Self::Sequence => "a sequence a client may override",
            Self::Server => "a value the server fills",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(identity: &str, default: Option<&str>) -> Column {
        Column {
            num: 1,
            name: "k".into(),
            type_name: "text".into(),
            not_null: true,
            identity: identity.into(),
            generated: String::new(),
            default: default.map(str::to_owned),
        }
    }

    #[test]
    fn server_sequences_and_tenants_pick_values() {
        assert_eq!(Picker::of(&column("a", None)), Picker::Server);
        assert_eq!(
            Picker::of(&column("", Some("gen_random_uuid()"))),
            Picker::Server
        );
        assert_eq!(
            Picker::of(&column("", Some("public.uuid_generate_v4()"))),
            Picker::Server
        );
        assert_eq!(Picker::of(&column("d", None)), Picker::Sequence);
        assert_eq!(
            Picker::of(&column("", Some("nextval('items_id_seq'::regclass)"))),
            Picker::Sequence
        );
        assert_eq!(Picker::of(&column("", None)), Picker::Tenant);
        assert_eq!(Picker::of(&column("", Some("now()"))), Picker::Tenant);
    }
}
