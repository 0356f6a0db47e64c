//! Where throwaway servers come from (`Backend`): local binaries (the default, fast path) or
//! Docker containers (`TENANTPROBE_TESTKIT_BACKEND=containers`, cargo feature `containers`).

use super::ServerError;

/// The variable that picks the backend.
pub const BACKEND_VARIABLE: &str = "TENANTPROBE_TESTKIT_BACKEND";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    /// `initdb`/`postgres` and `redis-server` from this machine.
    #[default]
    Local,
    /// Containers from local images, through testcontainers (src/servers/containers.rs).
    Containers,
}

impl Backend {
    /// `TENANTPROBE_TESTKIT_BACKEND` (`local` when unset or empty).
    pub fn from_env() -> Result<Self, ServerError> {
        match std::env::var(BACKEND_VARIABLE) {
            Ok(value) => Self::parse(&value),
            Err(_) => Ok(Self::Local),
        }
    }

    pub fn parse(value: &str) -> Result<Self, ServerError> {
        let backend = match value.trim() {
            "" | "local" => Self::Local,
            "containers" => Self::Containers,
            other => {
                return Err(ServerError::UnknownBackend {
                    value: other.to_owned(),
                });
            }
        };
        if backend == Self::Containers && !cfg!(feature = "containers") {
            return Err(ServerError::ContainersNotBuilt);
        }
        Ok(backend)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backend_variable_reads_local_or_containers_and_rejects_anything_else() {
        assert_eq!(Backend::parse("").unwrap(), Backend::Local);
        assert_eq!(Backend::parse("local").unwrap(), Backend::Local);
        let containers = Backend::parse("containers");
        if cfg!(feature = "containers") {
            assert_eq!(containers.unwrap(), Backend::Containers);
        } else {
            let message = containers.unwrap_err().to_string();
            assert!(message.contains("--features containers"), "{message}");
        }
        let message = Backend::parse("docker").unwrap_err().to_string();
        assert!(message.contains("`docker`") && message.contains("local, containers"));
    }
}
