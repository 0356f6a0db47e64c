//! The SCAN loop (`scan`) over one keyspace after another, sending batches of keys down a bounded
//! channel, with a COUNT that adapts (`Pacer`) so that no single call holds the server for much
//! more than a millisecond.
//!
//! Redis runs commands one at a time: a SCAN with COUNT 10,000 holds every other client for
//! ≈ 9 ms. The server's own time per SCAN call comes from `INFO commandstats` (microseconds spent
//! in SCAN and calls made, so the difference between two readings is our calls' mean cost); where
//! INFO is not allowed, the round trip stands in (an upper bound). The cost of a SCAN grows with
//! the buckets it walks, so COUNT is scaled by target/measured and kept within bounds.

use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;

use super::CacheOptions;

/// Server time per SCAN call aimed at (microseconds): "about 1 ms" with room for variance.
const TARGET_USEC: f64 = 800.0;
const MIN_COUNT: usize = 10;
/// Re-measure after this many calls.
const EVERY: u64 = 16;

/// A batch of keys from keyspace `.0`.
pub type Batch = (usize, Vec<Vec<u8>>);

/// What the loop did, for the report.
#[derive(Debug, Default, Clone)]
pub struct ScanStats {
    pub calls: u64,
    /// Per keyspace: keys read and SCAN calls.
    pub per_keyspace: Vec<(u64, u64)>,
    /// COUNT used at the end, and the largest mean server time per call measured (µs).
    pub final_count: usize,
    pub max_call_usec: f64,
    /// Whether the server's own SCAN time could be read (`INFO commandstats`).
    pub server_timed: bool,
}

/// Adapts COUNT to the measured cost of a call.
#[derive(Debug)]
struct Pacer {
    count: usize,
    max: usize,
    /// Reading of `cmdstat_scan` (calls, usec) at the last measurement.
    last: Option<(u64, u64)>,
    calls_since: u64,
    round_trip: Duration,
    server_timed: bool,
    max_call_usec: f64,
}

impl Pacer {
    fn new(max: usize) -> Self {
        Self {
            count: 500.min(max),
            max,
            last: None,
            calls_since: 0,
            round_trip: Duration::ZERO,
            server_timed: false,
            max_call_usec: 0.0,
        }
    }

    /// Called before the first call and every `EVERY` calls.
    async fn measure(&mut self, conn: &mut MultiplexedConnection) {
        let reading = commandstats(conn).await;
        let mean = match (self.last, reading) {
            (Some((c0, u0)), Some((c1, u1))) if c1 > c0 => {
                self.server_timed = true;
                Some((u1.saturating_sub(u0)) as f64 / (c1 - c0) as f64)
            }
            (_, None) if self.calls_since > 0 => {
                Some(self.round_trip.as_secs_f64() * 1e6 / self.calls_since as f64)
            }
            _ => None,
        };
        self.last = reading;
        self.calls_since = 0;
        self.round_trip = Duration::ZERO;
        if let Some(mean) = mean.filter(|m| *m > 0.0) {
            self.max_call_usec = self.max_call_usec.max(mean);
            let scaled = (self.count as f64 * TARGET_USEC / mean).round();
            // At most double per step: one cheap stretch of empty buckets must not overshoot.
            let next = scaled.min(self.count as f64 * 2.0) as usize;
            self.count = next.clamp(MIN_COUNT, self.max);
        }
    }
}

/// `cmdstat_scan`'s calls and usec, if INFO commandstats may be read.
async fn commandstats(conn: &mut MultiplexedConnection) -> Option<(u64, u64)> {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(conn)
        .await
        .ok()?;
    let line = info.lines().find_map(|l| l.strip_prefix("cmdstat_scan:"))?;
    let field = |name: &str| {
        line.split(',')
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
    };
    Some((field("calls")?, field("usec")?))
}

/// Scans every keyspace in turn, sending batches; stops early at `options.max_keys` or when the
/// receiver is gone. `options.rate_limit` spreads the calls over time.
pub async fn scan(
    mut conns: Vec<MultiplexedConnection>,
    options: CacheOptions,
    tx: tokio::sync::mpsc::Sender<Batch>,
) -> Result<ScanStats, redis::RedisError> {
    let begun = Instant::now();
    let mut stats = ScanStats {
        per_keyspace: vec![(0, 0); conns.len()],
        ..ScanStats::default()
    };
    let mut seen: u64 = 0;
    // Rate-limited, a call asks for at most a tenth of a second's worth: smooth, not bursts.
    let max = match options.rate_limit.filter(|r| *r > 0) {
        Some(rate) => usize::try_from(rate / 10)
            .unwrap_or(usize::MAX)
            .clamp(MIN_COUNT, options.count.max(MIN_COUNT)),
        None => options.count.max(MIN_COUNT),
    };
    'keyspaces: for (index, conn) in conns.iter_mut().enumerate() {
        let mut pacer = Pacer::new(max);
        pacer.measure(conn).await;
        let mut cursor: u64 = 0;
        loop {
            let mut cmd = redis::cmd("SCAN");
            cmd.arg(cursor).arg("COUNT").arg(pacer.count);
            if let Some(glob) = &options.match_glob {
                cmd.arg("MATCH").arg(glob);
            }
            let sent = Instant::now();
            let (next, mut keys): (u64, Vec<Vec<u8>>) = cmd.query_async(conn).await?;
            pacer.round_trip += sent.elapsed();
            pacer.calls_since += 1;
            stats.calls += 1;
            stats.per_keyspace[index].1 += 1;
            if let Some(max) = options.max_keys {
                keys.truncate(usize::try_from(max.saturating_sub(seen)).unwrap_or(usize::MAX));
            }
            seen += keys.len() as u64;
            stats.per_keyspace[index].0 += keys.len() as u64;
            if !keys.is_empty() && tx.send((index, keys)).await.is_err() {
                break 'keyspaces;
            }
            if options.max_keys.is_some_and(|m| seen >= m) {
                break 'keyspaces;
            }
            if next == 0 {
                break;
            }
            cursor = next;
            if pacer.calls_since >= EVERY {
                pacer.measure(conn).await;
            }
            if let Some(rate) = options.rate_limit.filter(|r| *r > 0) {
                let due = Duration::from_secs_f64(seen as f64 / rate as f64);
                if let Some(wait) = due.checked_sub(begun.elapsed()) {
                    tokio::time::sleep(wait).await;
                }
            }
        }
        stats.final_count = pacer.count;
        stats.server_timed |= pacer.server_timed;
        stats.max_call_usec = stats.max_call_usec.max(pacer.max_call_usec);
    }
    Ok(stats)
}
