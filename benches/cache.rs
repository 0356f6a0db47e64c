//! `tenantprobe cache` full classification scan of 1,000,000 keys (release binary, process
//! start to exit) against a bare `SCAN COUNT 1000` loop (the fastest any client can walk the
//! keyspace: the server's SCAN cost is the bound) on the same data in the same run; keys/s, best
//! of three each, and peak RSS at 100,000 and 1,000,000 keys to show memory stays flat.
//!
//! `cargo bench --bench cache` (a throwaway Redis: the benchmark fills and flushes it).

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Instant;

use tenantprobe_testkit::servers::{ThrowawayRedis, find_program};

fn load(port: u16, keys: usize) -> anyhow::Result<()> {
    let cli = find_program("redis-cli").ok_or_else(|| {
        anyhow::anyhow!("redis-cli not found: install the Debian package redis-tools")
    })?;
    Command::new(&cli)
        .args(["-p", &port.to_string(), "FLUSHALL"])
        .output()?;
    let mut child = Command::new(&cli)
        .args(["-p", &port.to_string(), "--pipe"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()?;
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdin"))?;
    let tenants: Vec<String> = (0..1000)
        .map(|_| uuid::Uuid::new_v4().to_string())
        .collect();
    let mut buf = Vec::with_capacity(64 << 20);
    for i in 0..keys {
        // 95% tenant keys, 4% global by design, 1% not namespaced.
        let key = match i % 100 {
            0 => format!("users:list:{i}"),
            1..=4 => format!("feature:flag:{i}"),
            _ => format!("tenant:{}:projects:{i}", tenants[i % tenants.len()]),
        };
        write!(
            buf,
            "*3\r\n$3\r\nSET\r\n${}\r\n{}\r\n$1\r\nx\r\n",
            key.len(),
            key
        )?;
    }
    stdin.write_all(&buf)?;
    drop(stdin);
    child.wait()?;
    Ok(())
}

/// Runs `cmd`; wall seconds and its standard output.
fn timed(cmd: &mut Command) -> anyhow::Result<(f64, String)> {
    let begun = Instant::now();
    let out = cmd.output()?;
    Ok((
        begun.elapsed().as_secs_f64(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    ))
}

/// A bare `SCAN cursor COUNT 1000` loop on one connection: keys seen.
async fn bare_scan(url: &str) -> anyhow::Result<u64> {
    let mut conn = redis::Client::open(url)?
        .get_multiplexed_async_connection()
        .await?;
    let (mut cursor, mut seen) = (0u64, 0u64);
    loop {
        let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await?;
        seen += keys.len() as u64;
        if next == 0 {
            return Ok(seen);
        }
        cursor = next;
    }
}

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let redis = runtime.block_on(ThrowawayRedis::start())?;
    let port = redis
        .url()
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_owned();
    let args = [
        "cache",
        "--redis-url",
        &redis.url(),
        "--key-pattern",
        "tenant:{tenant_id:uuid}:*",
        "--global-key",
        "feature:*",
        "--format",
        "json",
    ];
    println!(
        "| keys | bare SCAN COUNT 1000 loop | tenantprobe cache | ratio | tenantprobe peak RSS | SCAN calls, final COUNT, max mean server µs/call |\n| --- | --- | --- | --- | --- | --- |"
    );
    for keys in [100_000usize, 1_000_000] {
        load(port.parse()?, keys)?;
        let mut base_secs = f64::MAX;
        let mut secs = f64::MAX;
        let mut stats = serde_json::Value::Null;
        for _ in 0..3 {
            let begun = Instant::now();
            let seen = runtime.block_on(bare_scan(&redis.url()))?;
            base_secs = base_secs.min(begun.elapsed().as_secs_f64());
            anyhow::ensure!(seen as usize >= keys, "the bare loop saw {seen} keys");
            let (s, out) = timed(Command::new(env!("CARGO_BIN_EXE_tenantprobe")).args(args))?;
            secs = secs.min(s);
            let report: serde_json::Value = serde_json::from_str(&out)?;
            anyhow::ensure!(
                report["stats"]["keys"] == keys,
                "tenantprobe saw {} keys",
                report["stats"]["keys"]
            );
            stats = report["stats"].clone();
        }
        let rss = peak_rss_kib(&args)?;
        println!(
            "| {keys} | {:.0} keys/s ({base_secs:.2} s) | {:.0} keys/s ({secs:.2} s) | {:.2}× | {:.1} MiB | {}, {}, {} |",
            keys as f64 / base_secs,
            keys as f64 / secs,
            base_secs / secs,
            rss as f64 / 1024.0,
            stats["scan_calls"],
            stats["scan_count_final"],
            stats["scan_call_usec_max_mean"],
        );
    }
    Ok(())
}

/// Peak resident memory of one run of tenantprobe, from `/usr/bin/time -f %M` (KiB).
fn peak_rss_kib(args: &[&str]) -> anyhow::Result<i64> {
    let out = Command::new("/usr/bin/time")
        .arg("-f")
        .arg("%M")
        .arg(env!("CARGO_BIN_EXE_tenantprobe"))
        .args(args)
        .stdout(Stdio::null())
        .output()?;
    let text = String::from_utf8_lossy(&out.stderr);
    text.lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no RSS from /usr/bin/time: {text}"))
}
