//! The deliberate isolation faults (`Fault`, `Faults`): each re-creates a classic multi-tenant bug
//! so that tests can prove tenantprobe catches it. All are off unless switched on by name; the code
//! of each sits where the real bug would live, marked `FAULT(<name>)`.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

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
}

impl Fault {
    pub const ALL: [Fault; 7] = [
        Self::GlobalCacheKey,
        Self::SubdomainTrust,
        Self::JwtNoVerify,
        Self::SessionContextLeak,
        Self::RlsBypassHandler,
        Self::BodyTenantOverride,
        Self::DebugTenantParam,
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

/// The faults switched on; empty for the correct app.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults(BTreeSet<Fault>);

impl Faults {
    pub fn none() -> Self {
        Self::default()
    }

    pub fn has(&self, fault: Fault) -> bool {
        self.0.contains(&fault)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = Fault> + '_ {
        self.0.iter().copied()
    }

    /// Parses `a,b,c` (as in `REFERENCE_APP_FAULTS`); empty parts are ignored.
    pub fn parse_list(list: &str) -> Result<Self, String> {
        list.split(',')
            .filter(|s| !s.trim().is_empty())
            .map(Fault::from_str)
            .collect::<Result<BTreeSet<_>, _>>()
            .map(Self)
    }
}

impl FromIterator<Fault> for Faults {
    fn from_iter<I: IntoIterator<Item = Fault>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
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
        assert!(
            Faults::parse_list("no-such-fault")
                .unwrap_err()
                .contains("known: global-cache-key")
        );
    }
}
