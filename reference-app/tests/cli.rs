//! The `reference-app` binary: `serve` binds port 0 and prints the address, warns loudly about
//! faults, and answers `/healthz` even before PostgreSQL is reachable; `migrate` names what it lacks.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

fn http_get(addr: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[test]
fn serve_prints_its_address_warns_about_faults_and_answers_healthz() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_reference-app"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--fault",
            "jwt-no-verify",
        ])
        .env("DATABASE_URL", "postgres://app_user@127.0.0.1:1/nowhere")
        .env("JWT_SECRET", "0123456789abcdef0123456789abcdef")
        .env("BASE_DOMAIN", "app.localhost")
        .env_remove("REDIS_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let addr = first
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line: {first}"))
        .to_owned();
    assert!(!addr.ends_with(":0"));
    assert!(http_get(&addr, "/healthz").starts_with("HTTP/1.1 200"));
    // No database: not ready, and no 5xx but 503 from readiness.
    assert!(http_get(&addr, "/readyz").starts_with("HTTP/1.1 503"));
    child.kill().unwrap();
    let stderr = std::io::read_to_string(child.stderr.take().unwrap()).unwrap();
    child.wait().unwrap();
    assert!(
        stderr.contains("WITH DELIBERATE ISOLATION FAULTS: jwt-no-verify"),
        "{stderr}"
    );
}

#[test]
fn unknown_faults_and_missing_configuration_are_named() {
    let out = Command::new(env!("CARGO_BIN_EXE_reference-app"))
        .args(["serve", "--fault", "no-such"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown fault `no-such`"));
    let out = Command::new(env!("CARGO_BIN_EXE_reference-app"))
        .arg("migrate")
        .env_remove("MIGRATION_DATABASE_URL")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("MIGRATION_DATABASE_URL is not set"));
}
