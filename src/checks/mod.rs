//! Checks that more than one engine runs, each one job with its own rules: the cross-tenant
//! visibility sweep (`visibility`), a transaction pooler's leftover session state (`pooled`), the
//! premium tier's database per tenant (`placement`) and the Redis key scan (`keys`). `attack db`,
//! `audit`, `cache` and the `monitor` compose them; none of them imports an engine.

pub mod keys;
pub mod placement;
pub mod pooled;
pub mod visibility;
