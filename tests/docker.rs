//! The container image: the Dockerfile's runtime stage, built around the binary `cargo test` has
//! already built, on a Debian base image made here (no registry is reachable: `debootstrap
//! --variant=minbase bookworm`, then `docker import`), answers `--version` as the non-root uid the
//! manifests run as, and audits a real database over host networking with the manifests' locked
//! down settings: clean on the reference schema, a finding once row-level security is switched off;
//! the GitHub Action's `install: image` wrapper runs the same audit through it.
//! Also, without Docker: the names and uids in the Dockerfile and in deploy/ agree.
//!
//! The binary is the debug one (`CARGO_BIN_EXE_tenantprobe`), which `cargo test` builds anyway: a
//! release build would add ≈ 270 s to a cold CI run to test the same runtime stage (same glibc
//! and libgcc dependencies, same paths). `TENANTPROBE_IMAGE_BINARY` names another binary (e.g.
//! `target/release/tenantprobe`).
//!
//! Needs a Docker daemon (Debian `docker.io`; `.ci/run` starts `dockerd --bridge=none
//! --iptables=false`) and, the first time, root and `debootstrap`. The base image's root
//! filesystem is cached as a tarball in `TENANTPROBE_CACHE_DIR` (default `/var/cache/tenantprobe`)
//! and the imported image kept by the daemon (tests/support/debian_image.rs). Where Docker is
//! missing the test is ignored (build.rs), unless TENANTPROBE_REQUIRE_TOOLS=1 (as in CI), where it
//! fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

#[path = "support/action.rs"]
mod action;
#[path = "support/debian_image.rs"]
mod debian_image;

use std::process::Output;

use serde_json::Value;

use debian_image::{DebianImage, docker, text};

/// The tag of the locally made base image, standing in for `RUNTIME_BASE`.
const BASE_TAG: &str = "tenantprobe-test-base:bookworm-minbase";
/// The image deploy/ names, without the version.
const IMAGE: &str = "ghcr.io/tenantprobe/tenantprobe";
/// The uid the Dockerfile runs as and the manifests require.
const UID: &str = "65532";

/// The Debian base image, standing in for `RUNTIME_BASE`.
const BASE: DebianImage = DebianImage {
    tag: BASE_TAG,
    tarball: "bookworm-minbase.tar",
    include: &[],
};

/// A test image, removed on drop (the base image stays for the next run).
struct Image(String);

impl Drop for Image {
    fn drop(&mut self) {
        let _ = docker(&["rmi", "--force", &self.0]);
    }
}

/// The runtime-prebuilt target, built from a context holding only the binary.
fn build_image() -> Image {
    let binary = std::env::var("TENANTPROBE_IMAGE_BINARY")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_tenantprobe").to_owned());
    let context = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let inside = context.path().join("tenantprobe");
    // A hard link costs nothing; a copy where the binary lives on another file system.
    if std::fs::hard_link(&binary, &inside).is_err() {
        std::fs::copy(&binary, &inside).unwrap();
    }
    let tag = format!("{IMAGE}:test-{}", std::process::id());
    let base = format!("RUNTIME_BASE={BASE_TAG}");
    let out = docker(&[
        "build",
        "--quiet",
        "-f",
        &support::repo_path("Dockerfile"),
        "--target",
        "runtime-prebuilt",
        "--build-arg",
        &base,
        "-t",
        &tag,
        &context.path().to_string_lossy(),
    ]);
    assert!(out.status.success(), "docker build: {}", text(&out));
    Image(tag)
}

/// `docker run` with the manifests' securityContext: read-only root, no capabilities, no
/// privilege escalation; host networking (traffic stays on loopback).
fn docker_run(
    image: &Image,
    env: &[(&str, &str)],
    mounts: &[(&str, &str)],
    args: &[&str],
) -> Output {
    let mut cmd: Vec<String> = [
        "run",
        "--rm",
        "--network",
        "host",
        "--read-only",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
    ]
    .map(str::to_owned)
    .to_vec();
    for (k, v) in env {
        cmd.extend(["-e".to_owned(), format!("{k}={v}")]);
    }
    for (host, inside) in mounts {
        cmd.extend(["-v".to_owned(), format!("{host}:{inside}:ro")]);
    }
    cmd.push(image.0.clone());
    cmd.extend(args.iter().map(|a| (*a).to_owned()));
    docker(&cmd.iter().map(String::as_str).collect::<Vec<_>>())
}

#[tokio::test]
#[cfg_attr(not(has_docker), ignore = "needs Docker: apt-get install docker.io")]
async fn the_runtime_image_runs_as_non_root_and_audits_a_database_over_host_networking() {
    debian_image::require_daemon();
    BASE.ensure().unwrap_or_else(|why| panic!("{why}"));
    let image = build_image();

    let inspect = docker(&["image", "inspect", &image.0]);
    assert!(inspect.status.success(), "{}", text(&inspect));
    let config: Value = serde_json::from_slice(&inspect.stdout).unwrap();
    let config = &config[0]["Config"];
    assert_eq!(config["User"], format!("{UID}:{UID}"));
    assert_eq!(
        config["Entrypoint"],
        serde_json::json!(["/usr/local/bin/tenantprobe"])
    );

    let out = docker_run(&image, &[], &[], &["--version"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("tenantprobe {}", env!("CARGO_PKG_VERSION"))
    );
    // The user really is the non-root uid (the test base has coreutils; distroless has no `id`).
    let out = docker(&[
        "run",
        "--rm",
        "--network",
        "host",
        "--entrypoint",
        "id",
        &image.0,
        "-u",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        UID,
        "{}",
        text(&out)
    );

    // A real command against the host's PostgreSQL: the spec mounted as a ConfigMap would be.
    let db = support::reference_db().await;
    let url = db.admin_url();
    assert!(
        url.contains("@127.0.0.1:") || url.contains("@localhost:"),
        "host networking reaches loopback servers only: {url}"
    );
    let env = [("TENANTPROBE_DATABASE_URL", url.as_str())];
    let probes = support::repo_path("probes");
    let mounts = [(probes.as_str(), "/etc/tenantprobe")];
    let audit = [
        "audit",
        "--target",
        "/etc/tenantprobe/reference-app.toml",
        "--format",
        "json",
    ];
    let out = docker_run(&image, &env, &mounts, &audit);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["summary"]["active"], 0, "{report:#}");

    // The GitHub Action's `install: image` runs the same image through its wrapper, in the
    // workspace, with the caller's environment; the SARIF lands in the runner's temp directory.
    let mut runner = action::Runner::new(&[
        ("command", "audit --target probes/reference-app.toml"),
        ("install", "image"),
        ("image", &image.0),
    ]);
    runner.workdir = Some(support::repo_path("").into());
    runner
        .env
        .push(("TENANTPROBE_DATABASE_URL".into(), url.clone()));
    let install = runner.run("install");
    assert_eq!(install.code, 0, "{}{}", install.stdout, install.stderr);
    assert_eq!(
        install.stdout.trim(),
        format!("tenantprobe {}", env!("CARGO_PKG_VERSION"))
    );
    let run = runner.run("run");
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        runner.output("run", "exit-code"),
        Some("0"),
        "{}",
        run.stderr
    );
    let sarif: Value = serde_json::from_str(
        &std::fs::read_to_string(runner.output("run", "sarif-file").unwrap()).unwrap(),
    )
    .unwrap();
    assert_eq!(sarif["version"], "2.1.0");

    let mut owner = db.connect_as_owner().await.unwrap();
    sqlx::raw_sql("ALTER TABLE projects DISABLE ROW LEVEL SECURITY")
        .execute(&mut owner)
        .await
        .unwrap();
    let out = docker_run(&image, &env, &mounts, &audit);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["rule"] == "rls-disabled" && f["object"] == "public.projects"),
        "{report:#}"
    );
}

/// The first stage named `name` and the lines up to the next `FROM`.
fn stage<'a>(dockerfile: &'a str, name: &str) -> Vec<&'a str> {
    let mut lines = dockerfile.lines().skip_while(|l| {
        !(l.starts_with("FROM ") && l.trim_end().ends_with(&format!(" AS {name}")))
    });
    let mut out: Vec<&str> = lines.next().into_iter().collect();
    out.extend(lines.take_while(|l| !l.starts_with("FROM ")));
    out
}

#[test]
fn the_dockerfile_and_the_manifests_agree_on_image_uid_and_rust_version() {
    let dockerfile = std::fs::read_to_string(support::repo_path("Dockerfile")).unwrap();
    let tag = format!("{IMAGE}:{}", env!("CARGO_PKG_VERSION"));
    assert!(dockerfile.contains(&format!("-t {tag} ")), "{dockerfile}");

    // Both runtime targets: the same base and the binary at the same path; the prebuilt one comes
    // before the builder (the classic builder builds every stage up to its target).
    let copy = |name: &str| {
        let lines = stage(&dockerfile, name);
        assert_eq!(
            lines.first(),
            Some(&format!("FROM runtime-base AS {name}").as_str())
        );
        lines
            .iter()
            .find(|l| l.starts_with("COPY "))
            .map(|l| l.to_string())
            .unwrap()
    };
    assert_eq!(
        copy("runtime-prebuilt"),
        "COPY tenantprobe /usr/local/bin/tenantprobe"
    );
    assert_eq!(
        copy("runtime"),
        "COPY --from=builder /tenantprobe /usr/local/bin/tenantprobe"
    );
    let position = |s: &str| dockerfile.find(s).unwrap();
    assert!(position("AS runtime-prebuilt") < position("AS builder"));
    assert!(
        dockerfile
            .trim_end()
            .ends_with("/usr/local/bin/tenantprobe"),
        "the default target (last stage) builds from source"
    );
    assert!(stage(&dockerfile, "runtime-base").contains(&format!("USER {UID}:{UID}").as_str()));

    // The builder's toolchain is at least the workspace's minimum.
    let manifest: toml::Value =
        toml::from_str(&std::fs::read_to_string(support::repo_path("Cargo.toml")).unwrap())
            .unwrap();
    let msrv = manifest["workspace"]["package"]["rust-version"]
        .as_str()
        .unwrap();
    let rust_image = dockerfile
        .lines()
        .find_map(|l| l.strip_prefix("ARG RUST_IMAGE="))
        .unwrap();
    let version = rust_image
        .rsplit_once(":")
        .unwrap()
        .1
        .split('-')
        .next()
        .unwrap();
    let parse = |v: &str| -> Vec<u32> { v.split('.').map(|n| n.parse().unwrap()).collect() };
    assert!(parse(version) >= parse(msrv), "{rust_image} < {msrv}");

    // Every container in deploy/kubernetes runs this image, as this uid.
    let dir = support::repo_path("deploy/kubernetes");
    let mut images = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let content = std::fs::read_to_string(&path).unwrap();
        for line in content.lines() {
            if let Some(image) = line.trim().strip_prefix("image: ") {
                images += 1;
                assert_eq!(image, tag, "{}", path.display());
            }
            if let Some(i) = line.find("runAsUser: ") {
                let uid: String = line[i + "runAsUser: ".len()..]
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                assert_eq!(uid, UID, "{}", path.display());
            }
        }
    }
    assert!(images >= 3, "{images} images in {dir}");
}
