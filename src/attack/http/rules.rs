//! The properties `attack http` checks, as rules of the public catalogue.

use crate::rules::rule;

rule!(
    AttackHttp,
    CROSS_TENANT_READ,
    "http-cross-tenant-read",
    Critical,
    "the API showed one tenant another tenant's data",
    "With tenant A's own credentials, a response carried a value that belongs to tenant B (a canary marker or an id tenantprobe created for B): through a list, a fetch by id, a nested route or a cache.",
    "Follow the reproducer. Typical causes: a cache key without the tenant, a handler that reads through a connection that bypasses RLS, a query without the tenant context."
);
rule!(
    AttackHttp,
    CROSS_TENANT_WRITE,
    "http-cross-tenant-write",
    Critical,
    "the API let one tenant change, delete or add to another tenant's data",
    "With tenant A's credentials, a write aimed at tenant B's resource (or placed under B's parent) succeeded: B afterwards saw A's change, lost its resource, or found A's new item.",
    "Resolve the tenant from the credentials only and run every write in that tenant's context; answer another tenant's id like a missing one."
);
rule!(
    AttackHttp,
    TENANT_CONFUSION,
    "http-tenant-confusion",
    Critical,
    "a tenant named in the request overrode the authenticated tenant",
    "Tenant A's valid credentials acted on tenant B because the request named B elsewhere: B's subdomain in the Host header or B in the path, B's value in the tenant header, or a tenant field of the JSON body or the query string (`[api.tenancy]` names them; `tenant_id` and `tenant` by default). Reported only when the same request without naming B does not leak (else it is a plain cross-tenant read or write).",
    "Derive the tenant from verified credentials; when a subdomain or field names a tenant too, require it to match and the user to be a member, else answer 403."
);
rule!(
    AttackHttp,
    ANONYMOUS_READ,
    "http-anonymous-read",
    Critical,
    "a request without valid credentials saw tenant data",
    "A request with no credentials, or naming an unknown tenant, received data of a tenant. Typical cause: the tenant context of an earlier request left on a pooled connection or in a cache.",
    "Refuse requests without credentials before touching data; set the tenant per transaction (set_config(…, true)), never per session."
);
rule!(
    AttackHttp,
    FORGED_TOKEN,
    "http-forged-token-accepted",
    Critical,
    "a forged or unsigned token was accepted",
    "A token claiming tenant B, signed with a key the API does not know or not signed at all (alg: none), was answered with success.",
    "Verify every token's signature and algorithm (and expiry) before reading a single claim."
);
rule!(
    AttackHttp,
    FOREIGN_ID_DISTINGUISHABLE,
    "http-foreign-id-distinguishable",
    Medium,
    "another tenant's id answers differently from a missing id",
    "Fetching, changing or deleting tenant B's resource by id gave a different status or body than an id that does not exist (or a status outside the spec's `foreign_status`), so tenant A can tell which of B's ids exist.",
    "Answer another tenant's id exactly like a missing id (the same 404, the same body)."
);
rule!(
    AttackHttp,
    SERVER_ERROR,
    "http-server-error",
    High,
    "the API answered with a server error",
    "A 5xx answer means a request reached code that did not expect it: often the first sign of a path where the tenant context is missing or malformed input is not checked.",
    "Read the server's log for the request in the reproducer; answer bad input with a 4xx."
);
rule!(
    AttackHttp,
    STALE_AFTER_DELETE,
    "http-stale-after-delete",
    High,
    "a deleted resource could still be read",
    "After tenant A deleted its resource, fetching it by id still succeeded: a cache that is not invalidated on writes (and so may also serve one tenant's stale data to another).",
    "Invalidate the cached list and detail on every write, under keys that carry the tenant."
);
rule!(
    AttackHttp,
    TENANT_LOCKED_OUT,
    "http-tenant-locked-out",
    High,
    "a tenant could not read its own resources",
    "Tenant A's own resource was missing from its list, or fetching it by id failed. Isolation that breaks the product will be switched off by someone.",
    "Check the tenant resolution and the policies against the tenant the token names."
);

rule!(
    AttackHttp,
    REQUEST_DESYNC,
    "http-request-desync",
    High,
    "an answer echoed another request's body (request desynchronisation)",
    "A response repeated the body of a different, earlier request. The server answered a request without reading its body (typically a 401 or 404 sent early) and left the body on the connection, where it was read as the start of the next request. Through a shared proxy or client pool that next request can be another user's. Reported once, and not as a cross-tenant leak: the data came from a request, not from another tenant's storage.",
    "Read (or discard) the whole request body before answering, or close the connection after an early answer (`Connection: close`)."
);

/// Every `attack http` rule, for the catalogue.
pub static RULES: &[&crate::rules::RuleInfo] = &[
    &CROSS_TENANT_READ,
    &CROSS_TENANT_WRITE,
    &TENANT_CONFUSION,
    &ANONYMOUS_READ,
    &FORGED_TOKEN,
    &FOREIGN_ID_DISTINGUISHABLE,
    &SERVER_ERROR,
    &STALE_AFTER_DELETE,
    &TENANT_LOCKED_OUT,
    &REQUEST_DESYNC,
];
