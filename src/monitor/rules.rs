//! The API checks `tenantprobe monitor` makes, as rules of the public catalogue (the database
//! checks are the visibility rules, the Redis checks the cache rules).

use crate::finding::{Category, Severity};
use crate::rules::RuleInfo;

pub static FOREIGN_DATA_LISTED: RuleInfo = RuleInfo {
    id: "monitor-foreign-data-listed",
    category: Category::Monitor,
    severity: Severity::Critical,
    title: "a synthetic tenant's list shows another tenant's data",
    explanation: "Listing a resource as one synthetic tenant returned a value that belongs to the other synthetic tenant (its id, user or canary marker). In production this is a live cross-tenant read.",
    remediation: "Reproduce with the curl command in the evidence; the usual causes are a cache key without the tenant, a handler that reads outside `with_tenant`, or a policy that was dropped or relaxed.",
};

pub static UNEXPECTED_ITEM: RuleInfo = RuleInfo {
    id: "monitor-unexpected-item",
    category: Category::Monitor,
    severity: Severity::High,
    title: "a synthetic tenant's list shows an item that is not its own",
    explanation: "Nothing but the monitor writes to a synthetic tenant, so every item it lists must be one of its canaries or its own user. An item that is neither most likely belongs to a real tenant. Its content is not copied into the finding.",
    remediation: "Fetch the item id from the evidence as an operator and find whose it is; then look for the missing tenant filter on that route.",
};

pub static OWN_CANARIES_MISSING: RuleInfo = RuleInfo {
    id: "monitor-own-canaries-missing",
    category: Category::Monitor,
    severity: Severity::High,
    title: "a synthetic tenant cannot see its own canaries",
    explanation: "The list of a resource did not contain the canary `monitor init` created for this tenant, or the list was refused. This is the deny-everything failure: not a leak, but the product is broken for tenants (a dropped policy under forced RLS, a wrong setting name), and the usual hasty fix is to disable RLS.",
    remediation: "Run `tenantprobe monitor init` if the canaries were never created; otherwise check the relation's policy and the tenant the API resolves.",
};

pub static FOREIGN_CANARY_REACHABLE: RuleInfo = RuleInfo {
    id: "monitor-foreign-canary-reachable",
    category: Category::Monitor,
    severity: Severity::Critical,
    title: "a synthetic tenant reached another tenant's canary",
    explanation: "Fetching the other synthetic tenant's canary by id (or listing through the other tenant's subdomain with one's own token) did not answer like a missing id: it returned the canary, or a different status, which also tells an attacker the id exists.",
    remediation: "Look the id up inside the caller's tenant context only, and answer every id the tenant cannot see with the same status as a missing one.",
};

pub static FOREIGN_WRITE: RuleInfo = RuleInfo {
    id: "monitor-foreign-write",
    category: Category::Monitor,
    severity: Severity::Critical,
    title: "a synthetic tenant changed, deleted or added to another tenant's canaries",
    explanation: "One synthetic tenant updated or deleted the other's canary by id (also through a nested route under its own parent), or created an item under the other's parent canary, and the API accepted it, or the canary was found destroyed or changed afterwards. In production this is a live cross-tenant write. The monitor puts the canary back (or recreates it) in the same cycle, so the next cycle starts clean.",
    remediation: "Reproduce with the curl command in the evidence; look the object (and, on nested routes, the child as well as the parent) up inside the caller's tenant context before writing, and answer like a missing id otherwise.",
};

pub static ANONYMOUS_ACCESS: RuleInfo = RuleInfo {
    id: "monitor-anonymous-access",
    category: Category::Monitor,
    severity: Severity::Critical,
    title: "a request without credentials was served a tenant endpoint",
    explanation: "A request with no token at all (on the synthetic tenant's subdomain, where the spec has one) to an endpoint of a tenant-owned resource was answered with success. Every such endpoint must refuse it: whatever it served or changed was chosen by something other than an authenticated tenant (a default tenant, a pooled connection's leftover context).",
    remediation: "Make the authentication extractor mandatory on every tenant route and refuse (401) when there is no valid token; never fall back to a default or leftover tenant.",
};

pub static FORGED_TOKEN_ACCEPTED: RuleInfo = RuleInfo {
    id: "monitor-forged-token-accepted",
    category: Category::Monitor,
    severity: Severity::Critical,
    title: "a forged or unsigned token claiming a synthetic tenant was accepted",
    explanation: "A token claiming a synthetic tenant, signed with a key the API does not have or not signed at all (`alg: none`), was answered with success on that tenant's endpoints: anyone can act as any tenant by writing its id into a token.",
    remediation: "Verify every token's signature with the expected algorithm and key (and its expiry) before believing any claim; reject `alg: none`.",
};

pub static FOREIGN_SEARCH_RESULT: RuleInfo = RuleInfo {
    id: "monitor-foreign-search-result",
    category: Category::Monitor,
    severity: Severity::Critical,
    title: "a synthetic tenant's search finds another tenant's data",
    explanation: "Searching a resource as one synthetic tenant for the other synthetic tenant's canary marker returned an item holding that tenant's values. Search endpoints are often served by a separate index or a hand-written query that forgets the tenant filter.",
    remediation: "Filter every search by the caller's tenant inside the query (or the index's tenant field), never after the fact; reproduce with the curl command in the evidence.",
};

pub static FOREIGN_EXPORT_DATA: RuleInfo = RuleInfo {
    id: "monitor-foreign-export-data",
    category: Category::Monitor,
    severity: Severity::Critical,
    title: "a synthetic tenant's export holds another tenant's data",
    explanation: "An export (CSV, NDJSON, any format) taken as one synthetic tenant contained a value that belongs to the other synthetic tenant. Exports are bulk reads, often written outside the request's tenant scope (background jobs, reporting connections).",
    remediation: "Build the export inside the caller's tenant context (the same scoped query or transaction as its lists); reproduce with the curl command in the evidence.",
};

/// The monitor's API rules, for the catalogue.
pub static RULES: &[&RuleInfo] = &[
    &FOREIGN_DATA_LISTED,
    &UNEXPECTED_ITEM,
    &OWN_CANARIES_MISSING,
    &FOREIGN_CANARY_REACHABLE,
    &FOREIGN_WRITE,
    &ANONYMOUS_ACCESS,
    &FORGED_TOKEN_ACCEPTED,
    &FOREIGN_SEARCH_RESULT,
    &FOREIGN_EXPORT_DATA,
];
