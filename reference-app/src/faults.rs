//! The deliberate isolation faults (`Fault`, `Faults`): each re-creates a classic multi-tenant bug
//! so that tests can prove tenantprobe catches it. All are off unless switched on by name; the code
//! of each sits where the real bug would live, marked `FAULT(<name>)`.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

/// One deliberate bug.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fault {
    /// The project list is cached under a key without the tenant.
    GlobalCacheKey,
    /// The tenant is taken from the subdomain without checking that the token belongs to it.
    SubdomainTrust,
    /// Token signatures (and expiry) are not checked.
    JwtNoVerify,
    /// The tenant setting is set for the session, not the transaction, and requests that resolve
    /// no tenant run on the pooled connection as the previous request left it.
    SessionContextLeak,
    /// `GET /api/users` reads through the owner's pool (which bypasses RLS), with no tenant filter.
    RlsBypassHandler,
    /// A `tenant_id` in a JSON body switches the tenant context.
    BodyTenantOverride,
    /// A leftover `?tenant=` debug parameter switches the tenant context.
    DebugTenantParam,
    /// No per-tenant limits: no rate limit, and every tenant draws from one shared pool.
    NoTenantLimits,
    /// `/api/projects/{project_id}/tasks/{task_id}` checks that the project is the tenant's, then
    /// reads, updates or deletes the task by `task_id` alone through the owner's pool.
    NestedParentOnly,
    /// A premium tenant whose own database is unknown to the app or cannot be reached is served
    /// from the shared database instead of failing.
    PremiumRouteFallback,
    /// `promote` switches the route but leaves the tenant's rows readable in the shared schema.
    PromoteLeftovers,
    /// The admin panel's impersonation writes no audit event (neither the tenant's nor the
    /// global admin log).
    ImpersonationUnlogged,
    /// The admin panel's impersonation cookie keeps working for another tenant and after its
    /// time box.
    ImpersonationSticky,
}

impl Fault {
    pub const ALL: [Fault; 13] = [
        Self::GlobalCacheKey,
        Self::SubdomainTrust,
        Self::JwtNoVerify,
        Self::SessionContextLeak,
        Self::RlsBypassHandler,
        Self::BodyTenantOverride,
        Self::DebugTenantParam,
        Self::NoTenantLimits,
        Self::NestedParentOnly,
        Self::PremiumRouteFallback,
        Self::PromoteLeftovers,
        Self::ImpersonationUnlogged,
        Self::ImpersonationSticky,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::GlobalCacheKey => "global-cache-key",
            Self::SubdomainTrust => "subdomain-trust",
            Self::JwtNoVerify => "jwt-no-verify",
            Self::SessionContextLeak => "session-context-leak",
            Self::RlsBypassHandler => "rls-bypass-handler",
            Self::BodyTenantOverride => "body-tenant-override",
            Self::DebugTenantParam => "debug-tenant-param",
            Self::NoTenantLimits => "no-tenant-limits",
            Self::NestedParentOnly => "nested-parent-only",
            Self::PremiumRouteFallback => "premium-route-fallback",
            Self::PromoteLeftovers => "promote-leftovers",
            Self::ImpersonationUnlogged => "impersonation-unlogged",
            Self::ImpersonationSticky => "impersonation-sticky",
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Fault {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|f| f.name() == s.trim())
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|f| f.name()).collect();
                format!("unknown fault `{s}` (known: {})", names.join(", "))
            })
    }
}

/// The faults switched on; empty for the correct app. Clones share one switchboard, so a test
/// (or the monitor's tests) can switch a fault on in a running app with `switch` and watch the
/// next probe catch it.
#[derive(Debug, Clone, Default)]
pub struct Faults(Arc<AtomicU32>);

impl Faults {
    pub fn none() -> Self {
        Self::default()
    }

    fn bit(fault: Fault) -> u32 {
        1 << Fault::ALL.iter().position(|f| *f == fault).unwrap_or(0)
    }

    pub fn has(&self, fault: Fault) -> bool {
        self.0.load(Ordering::Relaxed) & Self::bit(fault) != 0
    }

    /// Switches `fault` on or off for every clone, at once.
    pub fn switch(&self, fault: Fault, on: bool) {
        if on {
            self.0.fetch_or(Self::bit(fault), Ordering::Relaxed);
        } else {
            self.0.fetch_and(!Self::bit(fault), Ordering::Relaxed);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.load(Ordering::Relaxed) == 0
    }

    pub fn iter(&self) -> impl Iterator<Item = Fault> + '_ {
        Fault::ALL.into_iter().filter(|f| self.has(*f))
    }

    /// Parses `a,b,c` (as in `REFERENCE_APP_FAULTS`); empty parts are ignored.
    pub fn parse_list(list: &str) -> Result<Self, String> {
        list.split(',')
            .filter(|s| !s.trim().is_empty())
            .map(Fault::from_str)
            .collect::<Result<Faults, _>>()
    }
}

impl PartialEq for Faults {
    fn eq(&self, other: &Self) -> bool {
        self.0.load(Ordering::Relaxed) == other.0.load(Ordering::Relaxed)
    }
}

impl Eq for Faults {}

impl FromIterator<Fault> for Faults {
    fn from_iter<I: IntoIterator<Item = Fault>>(iter: I) -> Self {
        let faults = Self::none();
        for fault in iter {
            faults.switch(fault, true);
        }
        faults
    }
}

impl fmt::Display for Faults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.iter().map(Fault::name).collect();
        f.write_str(&names.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fault_parses_back_from_its_name() {
        for fault in Fault::ALL {
            assert_eq!(fault.name().parse::<Fault>(), Ok(fault));
        }
        assert_eq!(
            Faults::parse_list("jwt-no-verify, global-cache-key,")
                .unwrap()
                .iter()
                .count(),
            2
        );
        let faults = Faults::none();
        let shared = faults.clone();
        shared.switch(Fault::SubdomainTrust, true);
        assert!(faults.has(Fault::SubdomainTrust) && !faults.has(Fault::JwtNoVerify));
        shared.switch(Fault::SubdomainTrust, false);
        assert!(faults.is_empty());
        assert!(
            Faults::parse_list("no-such-fault")
                .unwrap_err()
                .contains("known: global-cache-key")
        );
    }
}
