//! The checks `tenantprobe cache` makes, as rules of the public catalogue.

use crate::rules::{RuleInfo, rule};

rule!(
    Cache,
    NOT_NAMESPACED,
    "cache-key-not-namespaced",
    High,
    "cache keys without a tenant",
    "These keys match no tenant key pattern and are not on the list of legitimately global keys. A key like `users:list` is shared by every tenant: whoever fills it first serves its data to everyone.",
    "Build every key from the tenant (`tenant:{tenant_id}:…`) in one place; add keys that are global by design to `global_keys` in the spec."
);
rule!(
    Cache,
    ORPHANED,
    "cache-key-orphaned",
    Medium,
    "cache keys of tenants that do not exist",
    "These keys are well formed but name tenants the database does not know (deleted tenants, or ids from another environment). Their data outlives its tenant, against retention promises, and would be served if the id were ever reused.",
    "Delete a tenant's keys when the tenant is deleted (SCAN MATCH tenant:{id}:*), and give cached entries a TTL."
);
rule!(
    Cache,
    MALFORMED,
    "cache-key-malformed-tenant",
    Medium,
    "cache keys whose tenant segment is malformed",
    "These keys start like tenant keys but their tenant segment is empty or not of the expected type (`tenant::projects`, `tenant:None:…`): a code path built the key without a resolved tenant, so every tenant on that path shares it.",
    "Find the code that builds the key and make it refuse to run without a tenant."
);
rule!(
    Cache,
    FOREIGN_VALUE,
    "cache-value-foreign",
    Critical,
    "a tenant's cache entry holds another tenant's data",
    "A value stored under one tenant's key contains a value that belongs to another tenant (its id, a canary marker, or a distinctive value learned from its rows in the database: an email, a name, an external id, a large number): the cache will serve it to the wrong tenant.",
    "Find what wrote the entry; compute cached values inside the tenant's own context, and key them by that tenant."
);
rule!(
    Cache,
    GLOBAL_VALUE,
    "cache-global-key-holds-tenant-data",
    High,
    "a global cache entry holds a tenant's data",
    "A key without a tenant holds values that belong to a tenant: whatever reads that key gets that tenant's data, whoever it is.",
    "Key the entry by tenant, or keep only tenant-independent data under global keys."
);
rule!(
    Cache,
    CROSS_RESPONSE,
    "cache-cross-tenant-response",
    Critical,
    "a cached answer for one tenant was served to another",
    "After tenant A warmed the caches through the API, tenant B calling the same routes received A's data.",
    "Key every cached response by the tenant it was computed for."
);

/// Every `cache` rule, for the catalogue.
pub static RULES: &[&RuleInfo] = &[
    &NOT_NAMESPACED,
    &ORPHANED,
    &MALFORMED,
    &FOREIGN_VALUE,
    &GLOBAL_VALUE,
    &CROSS_RESPONSE,
];
