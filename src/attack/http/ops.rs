//! What `attack http` generates: who acts (`Actor`), what they do (`Op`), in sequences (`Case`).

use proptest::prelude::*;

/// A choice among whatever the world offers (taken modulo the number of options).
pub type Pick = u8;

/// Who sends a request, relative to the acting tenant A and its victim B.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Actor {
    /// A's own, valid credentials (and A's subdomain).
    Tenant,
    /// No credentials at all.
    Anonymous,
    /// No credentials, on B's subdomain.
    AnonymousOnVictimHost,
    /// A's token on the subdomain of a tenant that does not exist.
    UnknownTenantHost,
    /// A token claiming B, signed with a key the API does not know.
    Forged,
    /// A token claiming B, not signed at all (`alg: none`).
    Unsigned,
    /// A's token on B's subdomain.
    VictimHost,
    /// A's credentials, with B named as `tenant_id` in the JSON body.
    BodyTenant,
    /// A's credentials, with B named in the query string.
    QueryTenant,
    /// A's credentials, with B's value in the tenant header (`[api.tenancy] header`).
    VictimHeader,
}

impl Actor {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tenant => "tenant",
            Self::Anonymous => "anonymous",
            Self::AnonymousOnVictimHost => "anonymous-on-victim-host",
            Self::UnknownTenantHost => "unknown-tenant-host",
            Self::Forged => "forged-token",
            Self::Unsigned => "unsigned-token",
            Self::VictimHost => "victim-host",
            Self::BodyTenant => "body-tenant",
            Self::QueryTenant => "query-tenant",
            Self::VictimHeader => "victim-header",
        }
    }

    /// Acts with A's valid credentials (so A's own data may show).
    pub fn is_a(self) -> bool {
        matches!(
            self,
            Self::Tenant
                | Self::UnknownTenantHost
                | Self::VictimHost
                | Self::BodyTenant
                | Self::QueryTenant
                | Self::VictimHeader
        )
    }

    /// A's valid credentials with B named somewhere else in the request (tenant confusion).
    pub fn is_confusion(self) -> bool {
        self.is_a() && self != Self::Tenant
    }
}

/// Which parent a nested route (`{parent_id}` and `{id}` in one path) is given, beside the
/// child's own. Routes without `{parent_id}` ignore it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParentMix {
    /// B's child under its own (B's) parent.
    Own,
    /// B's child under one of A's parents: the handler that checks only the parent lets it by.
    ActorsParent(Pick),
    /// A's child under one of B's parents: the handler that checks only the child lets it by.
    VictimsParent(Pick),
}

#[derive(Debug, Clone)]
pub enum Op {
    /// List a resource (a child resource under a parent of A, or of B).
    List {
        resource: Pick,
        parent: Pick,
        foreign_parent: bool,
    },
    /// Fetch B's item by id.
    Get {
        resource: Pick,
        item: Pick,
        parent: ParentMix,
    },
    /// Change B's item.
    Update {
        resource: Pick,
        item: Pick,
        parent: ParentMix,
    },
    /// Delete B's item.
    Delete {
        resource: Pick,
        item: Pick,
        parent: ParentMix,
    },
    /// Create: under B's parent (child resources), or at the top with the actor's tenant tricks.
    Create { resource: Pick, parent: Pick },
    /// Fetch A's own item (A must see it).
    Own { resource: Pick, item: Pick },
    /// A creates an item, deletes it, and fetches it again.
    DeleteThenGet { resource: Pick },
    /// Search for the marker of B's item (it must find nothing of B), or of A's own (`own`: A
    /// must find it).
    Search {
        resource: Pick,
        item: Pick,
        own: bool,
    },
    /// Export the tenant's data: the whole body is scanned for other tenants' values.
    Export { resource: Pick },
}

impl Op {
    pub fn name(&self) -> &'static str {
        match self {
            Self::List { .. } => "list",
            Self::Get { .. } => "get",
            Self::Update { .. } => "update",
            Self::Delete { .. } => "delete",
            Self::Create { .. } => "create",
            Self::Own { .. } => "own",
            Self::DeleteThenGet { .. } => "delete-then-get",
            Self::Search { .. } => "search",
            Self::Export { .. } => "export",
        }
    }
    /// The resource the step names (modulo the spec's resources).
    pub fn resource(&self) -> Pick {
        match self {
            Self::List { resource, .. }
            | Self::Get { resource, .. }
            | Self::Update { resource, .. }
            | Self::Delete { resource, .. }
            | Self::Create { resource, .. }
            | Self::Own { resource, .. }
            | Self::DeleteThenGet { resource }
            | Self::Search { resource, .. }
            | Self::Export { resource } => *resource,
        }
    }

    /// The endpoints a step of this operation sends to, named as findings name them
    /// (`METHOD path`): the rows of the report's isolation matrix.
    pub fn endpoints(&self, resources: &[crate::spec::ResourceSpec]) -> Vec<String> {
        use crate::spec::Operation as O;
        if resources.is_empty() {
            return Vec::new();
        }
        let spec = &resources[usize::from(self.resource()) % resources.len()];
        let reads = |e: Option<&crate::spec::Endpoint>| {
            e.map(|e| format!("{} {}", e.method_for(O::Get), e.path.1))
                .into_iter()
                .collect()
        };
        let ops: &[O] = match self {
            Self::Search { .. } => return reads(spec.search.as_ref()),
            Self::Export { .. } => return reads(spec.export.as_ref()),
            Self::List { .. } => &[O::List],
            Self::Get { .. } | Self::Own { .. } => &[O::Get],
            Self::Update { .. } => &[O::Update],
            Self::Delete { .. } => &[O::Delete],
            Self::Create { .. } => &[O::Create],
            Self::DeleteThenGet { .. } => &[O::Create, O::Delete, O::Get],
        };
        spec.endpoints()
            .filter(|(op, _)| ops.contains(op))
            .map(|(op, e)| format!("{} {}", e.method_for(op), e.path.1))
            .collect()
    }
}

#[derive(Debug, Clone)]
pub struct Step {
    pub actor_tenant: Pick,
    pub victim: Pick,
    pub actor: Actor,
    pub op: Op,
}

#[derive(Debug, Clone)]
pub struct Case {
    /// Items per tenant and resource (per parent for child resources).
    pub rows: usize,
    pub steps: Vec<Step>,
}

fn arb_actor() -> impl Strategy<Value = Actor> {
    prop_oneof![
        6 => Just(Actor::Tenant),
        1 => Just(Actor::Anonymous),
        1 => Just(Actor::AnonymousOnVictimHost),
        1 => Just(Actor::UnknownTenantHost),
        1 => Just(Actor::Forged),
        1 => Just(Actor::Unsigned),
        2 => Just(Actor::VictimHost),
        1 => Just(Actor::BodyTenant),
        2 => Just(Actor::QueryTenant),
        2 => Just(Actor::VictimHeader),
    ]
}

/// `Own` first, so shrinking ends on the plainest request that still leaks.
fn arb_parent_mix() -> impl Strategy<Value = ParentMix> {
    prop_oneof![
        2 => Just(ParentMix::Own),
        2 => any::<u8>().prop_map(ParentMix::ActorsParent),
        1 => any::<u8>().prop_map(ParentMix::VictimsParent),
    ]
}

fn arb_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<u8>(), any::<u8>(), any::<bool>()).prop_map(|(resource, parent, foreign_parent)| Op::List { resource, parent, foreign_parent }),
        2 => (any::<u8>(), any::<u8>(), arb_parent_mix()).prop_map(|(resource, item, parent)| Op::Get { resource, item, parent }),
        1 => (any::<u8>(), any::<u8>(), arb_parent_mix()).prop_map(|(resource, item, parent)| Op::Update { resource, item, parent }),
        1 => (any::<u8>(), any::<u8>(), arb_parent_mix()).prop_map(|(resource, item, parent)| Op::Delete { resource, item, parent }),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(resource, parent)| Op::Create { resource, parent }),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(resource, item)| Op::Own { resource, item }),
        1 => any::<u8>().prop_map(|resource| Op::DeleteThenGet { resource }),
        2 => (any::<u8>(), any::<u8>(), any::<bool>()).prop_map(|(resource, item, own)| Op::Search { resource, item, own }),
        1 => any::<u8>().prop_map(|resource| Op::Export { resource }),
    ]
}

/// Cases of 1–`max_steps` steps over worlds of 1–2 items per tenant and resource.
pub fn arb_case(max_steps: usize) -> impl Strategy<Value = Case> {
    let step = (any::<u8>(), any::<u8>(), arb_actor(), arb_op()).prop_map(
        |(actor_tenant, victim, actor, op)| Step {
            actor_tenant,
            victim,
            actor,
            op,
        },
    );
    (
        1..=2usize,
        proptest::collection::vec(step, 1..=max_steps.max(1)),
    )
        .prop_map(|(rows, steps)| Case { rows, steps })
}
