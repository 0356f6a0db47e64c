//! `tenantprobe cache` full classification scan of 1,000,000 keys (release binary, process
//! start to exit) against `redis-cli --scan` on the same data in the same run; keys/s and peak
//! RSS, and the RSS at 100,000 keys to show memory stays flat.
//!
//! `cargo bench --bench cache` (a throwaway Redis: the benchmark fills and flushes it).

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Instant;

use tenantprobe::servers::{ThrowawayRedis, find_program};

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
    let cli = find_program("redis-cli").ok_or_else(|| anyhow::anyhow!("redis-cli not found"))?;
    println!(
        "| keys | redis-cli --scan | tenantprobe cache | ratio | tenantprobe peak RSS |\n| --- | --- | --- | --- | --- |"
    );
    for keys in [100_000usize, 1_000_000] {
        load(port.parse()?, keys)?;
        // The baseline's output goes straight to `wc -l`, as one would run it.
        let (base_secs, listed) = timed(
            Command::new("sh")
                .arg("-c")
                .arg(format!("'{}' -p {port} --scan | wc -l", cli.display())),
        )?;
        anyhow::ensure!(
            listed.trim() == keys.to_string(),
            "redis-cli saw {} keys",
            listed.trim()
        );
        let (secs, _) = timed(Command::new(env!("CARGO_BIN_EXE_tenantprobe")).args([
            "cache",
            "--redis-url",
            &redis.url(),
            "--key-pattern",
            "tenant:{tenant_id:uuid}:*",
            "--global-key",
            "feature:*",
            "--format",
            "json",
        ]))?;
        let rss = peak_rss_kib(&[
            "cache",
            "--redis-url",
            &redis.url(),
            "--key-pattern",
            "tenant:{tenant_id:uuid}:*",
            "--global-key",
            "feature:*",
            "--format",
            "json",
        ])?;
        println!(
            "| {keys} | {:.0} keys/s ({base_secs:.2} s) | {:.0} keys/s ({secs:.2} s) | {:.1}× | {:.1} MiB |",
            keys as f64 / base_secs,
            keys as f64 / secs,
            base_secs / secs,
            rss as f64 / 1024.0
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
