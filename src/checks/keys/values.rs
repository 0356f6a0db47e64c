//! Reading sampled keys' values by type (`read`), bounded and pipelined, each with the command
//! that read it (`Value`), so that a finding's reproducer is exactly what tenantprobe ran.

use redis::aio::MultiplexedConnection;

/// At most this many bytes of a string, and this many elements of a collection, are read: enough
/// to find another tenant's data, never a whole large value.
const STRING_BYTES: usize = 65_535;
const ELEMENTS: usize = 100;

/// One value: its parts (a string; a collection's elements; a hash's or stream entry's fields and
/// values) and the command that read them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value {
    pub command: String,
    pub parts: Vec<String>,
}

impl Value {
    /// The parts as one text, for evidence.
    pub fn text(&self) -> String {
        self.parts.join("\n")
    }
}

/// The command that reads a key of `kind`, bounded; `None` for types not read.
fn command(kind: &str, key: &str) -> Option<redis::Cmd> {
    let mut c;
    match kind {
        "string" => {
            c = redis::cmd("GETRANGE");
            c.arg(key).arg(0).arg(STRING_BYTES);
        }
        "hash" => {
            c = redis::cmd("HSCAN");
            c.arg(key).arg(0).arg("COUNT").arg(ELEMENTS);
        }
        "list" => {
            c = redis::cmd("LRANGE");
            c.arg(key).arg(0).arg(ELEMENTS - 1);
        }
        "set" => {
            c = redis::cmd("SRANDMEMBER");
            c.arg(key).arg(ELEMENTS);
        }
        "zset" => {
            c = redis::cmd("ZRANGE");
            c.arg(key).arg(0).arg(ELEMENTS - 1).arg("WITHSCORES");
        }
        "stream" => {
            c = redis::cmd("XRANGE");
            c.arg(key).arg("-").arg("+").arg("COUNT").arg(ELEMENTS);
        }
        // RedisJSON is not packaged here: this reader is untested.
        "ReJSON-RL" => {
            c = redis::cmd("JSON.GET");
            c.arg(key);
        }
        _ => return None,
    }
    Some(c)
}

/// The command as `redis-cli` arguments, the key quoted for a shell.
fn shown(kind: &str, key: &str) -> String {
    let key = format!("'{}'", key.replace('\'', r"'\''"));
    match kind {
        "string" => format!("GETRANGE {key} 0 {STRING_BYTES}"),
        "hash" => format!("HSCAN {key} 0 COUNT {ELEMENTS}"),
        "list" => format!("LRANGE {key} 0 {}", ELEMENTS - 1),
        "set" => format!("SRANDMEMBER {key} {ELEMENTS}"),
        "zset" => format!("ZRANGE {key} 0 {} WITHSCORES", ELEMENTS - 1),
        "stream" => format!("XRANGE {key} - + COUNT {ELEMENTS}"),
        _ => format!("JSON.GET {key}"),
    }
}

/// The values of `keys` (one TYPE pipeline, then one read pipeline, per 500 keys). Keys that are
/// gone or of a type not read give `None`.
pub async fn read(
    conn: &mut MultiplexedConnection,
    keys: &[&str],
) -> Result<Vec<Option<Value>>, redis::RedisError> {
    let mut out = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(500) {
        let mut types = redis::pipe();
        for key in chunk {
            types.cmd("TYPE").arg(*key);
        }
        let kinds: Vec<String> = types.query_async(conn).await?;
        let mut fetch = redis::pipe();
        let mut read = Vec::with_capacity(chunk.len());
        for (key, kind) in chunk.iter().zip(&kinds) {
            match command(kind, key) {
                Some(c) => {
                    fetch.add_command(c);
                    read.push(Some(shown(kind, key)));
                }
                None => read.push(None),
            }
        }
        // A key that changed type or vanished since TYPE fails alone, not the whole pipeline.
        let mut values = if read.iter().any(Option::is_some) {
            let v: Vec<redis::RedisResult<redis::Value>> =
                fetch.ignore_errors().query_async(conn).await?;
            v.into_iter()
        } else {
            Vec::new().into_iter()
        };
        for command in read {
            out.push(command.and_then(|command| {
                let value = values.next()?.ok()?;
                let mut parts = Vec::new();
                flatten(&value, &mut parts);
                Some(Value { command, parts })
            }));
        }
    }
    Ok(out)
}

/// Every scalar in a reply, in order (a HSCAN's cursor and a stream entry's id included: they are
/// harmless to match and keep the code simple).
fn flatten(v: &redis::Value, out: &mut Vec<String>) {
    match v {
        redis::Value::BulkString(b) => out.push(String::from_utf8_lossy(b).into_owned()),
        redis::Value::SimpleString(s) => out.push(s.clone()),
        redis::Value::VerbatimString { text, .. } => out.push(text.clone()),
        redis::Value::Int(i) => out.push(i.to_string()),
        redis::Value::Double(d) => out.push(d.to_string()),
        redis::Value::Array(items) | redis::Value::Set(items) => {
            items.iter().for_each(|i| flatten(i, out));
        }
        redis::Value::Map(pairs) => pairs.iter().for_each(|(k, v)| {
            flatten(k, out);
            flatten(v, out);
        }),
        _ => {}
    }
}
