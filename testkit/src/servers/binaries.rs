//! Finds server binaries on this machine: `find_postgres` and `find_program`.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::ServerError;

/// The PostgreSQL server programs a throwaway cluster needs, from one installation.
#[derive(Debug, Clone)]
pub struct PostgresBinaries {
    pub initdb: PathBuf,
    pub postgres: PathBuf,
}

/// Looks for `initdb` and `postgres` side by side: in `pg_config --bindir`, in
/// `/usr/lib/postgresql/*/bin` (newest first), then beside any `initdb` on PATH (following links,
/// since Debian links only some programs into PATH).
pub fn find_postgres() -> Result<PostgresBinaries, ServerError> {
    let mut dirs = Vec::new();
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        dirs.push(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    }
    dirs.extend(debian_bindirs());
    if let Some(initdb) = find_program("initdb") {
        if let Some(dir) = initdb.parent() {
            dirs.push(dir.to_path_buf());
        }
        if let Some(dir) = std::fs::canonicalize(&initdb)
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
        {
            dirs.push(dir);
        }
    }
    dirs.into_iter()
        .map(|dir| PostgresBinaries {
            initdb: dir.join("initdb"),
            postgres: dir.join("postgres"),
        })
        .find(|b| is_executable(&b.initdb) && is_executable(&b.postgres))
        .ok_or(ServerError::MissingBinary {
            program: "initdb and postgres",
            package: "postgresql",
            variable: "DATABASE_URL",
        })
}

/// `redis-server` from PATH.
pub fn find_redis() -> Result<PathBuf, ServerError> {
    find_program("redis-server").ok_or(ServerError::MissingBinary {
        program: "redis-server",
        package: "redis-server",
        variable: "REDIS_URL",
    })
}

/// The first executable called `name` on PATH.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

/// `/usr/lib/postgresql/<major>/bin`, highest major version first.
fn debian_bindirs() -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") else {
        return Vec::new();
    };
    let mut versions: Vec<(u32, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let major = e.file_name().to_str()?.parse().ok()?;
            Some((major, e.path().join("bin")))
        })
        .collect();
    versions.sort_by_key(|(major, _)| std::cmp::Reverse(*major));
    versions.into_iter().map(|(_, dir)| dir).collect()
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
