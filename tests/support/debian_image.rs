//! Docker images made here from Debian packages (`DebianImage`), since no registry is reachable:
//! a bookworm root filesystem made with `debootstrap --variant=minbase` (plus any packages the
//! image needs), cached as a tarball in `TENANTPROBE_CACHE_DIR` (default `/var/cache/tenantprobe`)
//! and `docker import`ed; the daemon keeps the image for later runs. Used by tests/docker.rs (the
//! runtime stage's base) and tests/containers.rs (the test kit's PostgreSQL and Redis image).

use std::path::PathBuf;
use std::process::{Command, Output};

/// One locally made image: its tag, the cached tarball's file name and the extra packages.
pub struct DebianImage {
    pub tag: &'static str,
    pub tarball: &'static str,
    pub include: &'static [&'static str],
}

pub fn docker(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        // The classic builder: Debian's docker.io has no buildx, and a newer docker CLI without
        // it refuses BuildKit. The Dockerfile is written for both.
        .env("DOCKER_BUILDKIT", "0")
        .output()
        .expect("docker is missing: apt-get install docker.io")
}

pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?}:\n{}", text(&out));
}

/// Panics (a test failure) with what to start when no Docker daemon answers.
pub fn require_daemon() {
    let info = docker(&["info", "--format", "{{.ServerVersion}}"]);
    assert!(
        info.status.success(),
        "no Docker daemon answers (start `dockerd --bridge=none --iptables=false`, as .ci/run does): {}",
        text(&info).trim()
    );
}

/// The Debian mirror apt uses here (first `bookworm` source), so that debootstrap goes through
/// the same registry; `TENANTPROBE_DEBIAN_MIRROR` overrides.
fn debian_mirror() -> Result<String, String> {
    if let Ok(mirror) = std::env::var("TENANTPROBE_DEBIAN_MIRROR") {
        return Ok(mirror);
    }
    let mut files = vec![PathBuf::from("/etc/apt/sources.list")];
    if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut more: Vec<PathBuf> = dir.filter_map(|e| Some(e.ok()?.path())).collect();
        more.sort();
        files.extend(more);
    }
    for file in files {
        let Ok(content) = std::fs::read_to_string(&file) else {
            continue;
        };
        // One-line format: `deb [options] URI SUITE COMPONENTS…`.
        for line in content.lines() {
            let words: Vec<&str> = line
                .split_whitespace()
                .filter(|w| !w.starts_with('['))
                .collect();
            if words.len() >= 3 && words[0] == "deb" && words[2] == "bookworm" {
                return Ok(words[1].to_owned());
            }
        }
        // deb822 format: stanzas separated by blank lines.
        for stanza in content.split("\n\n") {
            let field = |name: &str| {
                stanza
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .map(str::trim)
            };
            if let (Some(uris), Some(suites)) = (field("URIs:"), field("Suites:"))
                && suites.split_whitespace().any(|s| s == "bookworm")
                && let Some(uri) = uris.split_whitespace().next()
            {
                return Ok(uri.to_owned());
            }
        }
    }
    Err("no bookworm source in /etc/apt/sources.list*: set TENANTPROBE_DEBIAN_MIRROR".into())
}

impl DebianImage {
    /// The image: kept by the daemon; else imported from the cached tarball; else the tarball is
    /// made first with debootstrap (minutes, once per machine). Returns why not, if it cannot.
    pub fn ensure(&self) -> Result<(), String> {
        if docker(&["image", "inspect", self.tag]).status.success() {
            return Ok(());
        }
        let cache = PathBuf::from(
            std::env::var("TENANTPROBE_CACHE_DIR")
                .unwrap_or_else(|_| "/var/cache/tenantprobe".into()),
        );
        let tarball = cache.join(self.tarball);
        if !tarball.exists() {
            self.make_tarball(&cache, &tarball)?;
        }
        let started = std::time::Instant::now();
        let out = docker(&["import", &tarball.to_string_lossy(), self.tag]);
        if !out.status.success() {
            return Err(format!("docker import: {}", text(&out)));
        }
        eprintln!("imported {} in {:.1?}", self.tag, started.elapsed());
        Ok(())
    }

    fn make_tarball(
        &self,
        cache: &std::path::Path,
        tarball: &std::path::Path,
    ) -> Result<(), String> {
        let Some(debootstrap) = tenantprobe_testkit::servers::find_program("debootstrap")
            .or_else(|| Some(PathBuf::from("/usr/sbin/debootstrap")).filter(|p| p.exists()))
        else {
            return Err("debootstrap is missing: apt-get install debootstrap".into());
        };
        if !nix::unistd::Uid::effective().is_root() {
            return Err(format!(
                "making `{}` needs root (debootstrap) the first time",
                tarball.display()
            ));
        }
        std::fs::create_dir_all(cache).map_err(|e| format!("{}: {e}", cache.display()))?;
        let rootfs = tempfile::tempdir_in(cache).map_err(|e| e.to_string())?;
        let started = std::time::Instant::now();
        let mut cmd = Command::new(debootstrap);
        cmd.arg("--variant=minbase");
        if !self.include.is_empty() {
            cmd.arg(format!("--include={}", self.include.join(",")));
        }
        run(cmd.arg("bookworm").arg(rootfs.path()).arg(debian_mirror()?));
        // What an image never needs: package lists, caches, documentation.
        for dir in [
            "var/lib/apt/lists",
            "var/cache/apt",
            "usr/share/doc",
            "usr/share/man",
            "usr/share/locale",
            "usr/share/info",
        ] {
            let path = rootfs.path().join(dir);
            let _ = std::fs::remove_dir_all(&path);
            std::fs::create_dir_all(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        }
        // Written beside the final name and renamed: a concurrent or interrupted run never sees
        // half a tarball.
        let partial = tempfile::NamedTempFile::new_in(cache).map_err(|e| e.to_string())?;
        run(Command::new("tar")
            .arg("-C")
            .arg(rootfs.path())
            .args(["--numeric-owner", "-cf"])
            .arg(partial.path())
            .arg("."));
        partial.persist(tarball).map_err(|e| e.to_string())?;
        eprintln!(
            "made {} in {:.0?} ({} MiB)",
            tarball.display(),
            started.elapsed(),
            std::fs::metadata(tarball).map_or(0, |m| m.len() >> 20)
        );
        Ok(())
    }
}
