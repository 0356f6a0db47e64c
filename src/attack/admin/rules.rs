//! The properties `attack admin` checks, as rules of the public catalogue.

use crate::rules::{RuleInfo, rule};

rule!(
    AttackHttp,
    UNLOGGED,
    "admin-impersonation-unlogged",
    High,
    "an impersonation left no audit event for the impersonated tenant",
    "tenantprobe logged in to the admin panel, impersonated tenant A with a unique reason and opened A's page; afterwards A's audit trail (the spec's `audit_query`) did not carry that reason, or tenant B's did. Operators reading a tenant's data without a trace in that tenant's audit log cannot be held to account, and the tenant cannot see who looked.",
    "Write the audit event in the impersonated tenant's log, in the same transaction as the first read (no event, no data), with the operator, the reason and the time box; keep a global admin log as well."
);
rule!(
    AttackHttp,
    CROSSES_TENANTS,
    "admin-impersonation-crosses-tenants",
    Critical,
    "an impersonation of one tenant opened another tenant's pages",
    "With the cookies of an impersonation of tenant A, the page of tenant B (the spec's `view`) answered with success. The impersonation is not bound to its tenant: an operator (or a stolen cookie) reaches any tenant without a reason and without a log entry for that tenant.",
    "Bind each impersonation server-side to one operator session and one tenant, and check both (and the expiry) on every request; answer 403 otherwise."
);
rule!(
    AttackHttp,
    OUTLIVES_TIME_BOX,
    "admin-impersonation-outlives-time-box",
    High,
    "an impersonation kept working after its time box",
    "After the spec's `time_box` had passed (plus a second), the impersonated tenant's page still answered with success. An impersonation that does not expire turns a short, justified look into standing access.",
    "Store the expiry server-side with the impersonation and refuse it on the server's clock; a cookie's own Max-Age is not enough."
);
rule!(
    AttackHttp,
    OPEN_TO_TENANT,
    "admin-route-open-to-tenant-token",
    Critical,
    "a tenant's own credentials reached an operator-only route",
    "A request carrying a valid tenant token (and the tenant's Host) to one of the spec's admin `routes` answered with success. Tenant users must never reach the operator surface, which sees across tenants.",
    "Authenticate operators separately from tenants (another credential, another session), and refuse tenant tokens on every admin route."
);
rule!(
    AttackHttp,
    OPEN_TO_ANONYMOUS,
    "admin-route-open-to-anonymous",
    Critical,
    "an operator-only route answered a request without credentials",
    "A request without any credential to one of the spec's admin `routes` answered with success.",
    "Put every admin route behind the operator login; redirect to it (or answer 401) before doing anything else."
);

pub static RULES: &[&RuleInfo] = &[
    &UNLOGGED,
    &CROSSES_TENANTS,
    &OUTLIVES_TIME_BOX,
    &OPEN_TO_TENANT,
    &OPEN_TO_ANONYMOUS,
];
