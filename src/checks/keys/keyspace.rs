//! Which keyspaces a cache check reads (`Keyspace`): every primary of a Redis Cluster, and on a
//! single server every logical database that `INFO keyspace` lists, the one the URL names, or the
//! ones the caller chose.

use redis::aio::MultiplexedConnection;

use super::CacheError;

/// One logical database on one server: what a SCAN walks.
#[derive(Debug, Clone)]
pub struct Keyspace {
    /// Connection URL (credentials kept; never printed).
    pub url: String,
    /// `host:port`, for reports and reproducers.
    pub node: String,
    pub db: u16,
    /// Whether reports name the database next to a key (not when the URL itself chose it).
    pub label_db: bool,
    /// A primary of a Redis Cluster.
    pub cluster: bool,
}

impl Keyspace {
    /// The key as reports name it: `key`, or `key (db 3)` outside database 0.
    pub fn locate(&self, key: &str) -> String {
        if self.label_db && self.db != 0 {
            format!("{key} (db {})", self.db)
        } else {
            key.to_owned()
        }
    }

    /// A short name for counts: `db3`, or `127.0.0.1:7001` for a cluster primary.
    pub fn name(&self) -> String {
        if self.cluster {
            self.node.clone()
        } else {
            format!("db{}", self.db)
        }
    }

    /// `redis-cli` arguments that reach this keyspace (host, port, database; no credentials).
    pub fn cli(&self) -> String {
        let (host, port) = self.node.rsplit_once(':').unwrap_or((&self.node, "6379"));
        let mut s = format!("redis-cli -h {host} -p {port}");
        if self.db != 0 {
            s.push_str(&format!(" -n {}", self.db));
        }
        s
    }
}

/// Which logical databases to read on a single server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Databases {
    /// Those the URL's path names (`redis://host/2`), else every one `INFO keyspace` lists.
    #[default]
    Listed,
    /// Exactly these.
    Only(Vec<u16>),
}

/// The keyspaces behind `url`, with an open connection to each.
pub async fn discover(
    url: &str,
    seed: &mut MultiplexedConnection,
    databases: &Databases,
) -> Result<Vec<Keyspace>, CacheError> {
    let parsed = reqwest::Url::parse(url).map_err(|e| CacheError::Url(e.to_string()))?;
    let node = format!(
        "{}:{}",
        parsed.host_str().unwrap_or("127.0.0.1"),
        parsed.port().unwrap_or(6379)
    );
    let cluster: String = redis::cmd("INFO")
        .arg("cluster")
        .query_async(seed)
        .await
        .unwrap_or_default();
    if cluster.lines().any(|l| l.trim() == "cluster_enabled:1") {
        let nodes: String = redis::cmd("CLUSTER").arg("NODES").query_async(seed).await?;
        let host = parsed.host_str().unwrap_or("127.0.0.1").to_owned();
        return primaries(&nodes, &host)
            .into_iter()
            .map(|node| {
                let mut u = parsed.clone();
                let (h, p) = node.rsplit_once(':').unwrap_or((&node, "6379"));
                u.set_host(Some(h))
                    .map_err(|e| CacheError::Url(e.to_string()))?;
                u.set_port(p.parse().ok())
                    .map_err(|()| CacheError::Url(format!("bad port in `{node}`")))?;
                u.set_path("");
                Ok(Keyspace {
                    url: u.to_string(),
                    node,
                    db: 0,
                    label_db: false,
                    cluster: true,
                })
            })
            .collect();
    }
    let named = parsed
        .path()
        .trim_start_matches('/')
        .parse::<u16>()
        .ok()
        .filter(|_| parsed.path().len() > 1);
    let (dbs, label_db) = match (databases, named) {
        (Databases::Only(dbs), _) => (dbs.clone(), true),
        (Databases::Listed, Some(db)) => (vec![db], false),
        (Databases::Listed, None) => {
            let info: String = redis::cmd("INFO").arg("keyspace").query_async(seed).await?;
            (listed(&info), true)
        }
    };
    Ok(dbs
        .into_iter()
        .map(|db| {
            let mut u = parsed.clone();
            u.set_path(&format!("/{db}"));
            Keyspace {
                url: u.to_string(),
                node: node.clone(),
                db,
                label_db,
                cluster: false,
            }
        })
        .collect())
}

/// Databases with keys, from `INFO keyspace` (`db3:keys=12,expires=0,avg_ttl=0`).
fn listed(info: &str) -> Vec<u16> {
    info.lines()
        .filter_map(|l| l.strip_prefix("db")?.split_once(':')?.0.parse().ok())
        .collect()
}

/// Primaries from `CLUSTER NODES` (`id ip:port@cport[,hostname] flags …`), failed ones skipped.
/// A node that does not know its own address yet prints `:port`: the seed's host stands in.
fn primaries(nodes: &str, seed_host: &str) -> Vec<String> {
    nodes
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let address = fields.nth(1)?;
            let flags = fields.next()?;
            let flags: Vec<&str> = flags.split(',').collect();
            if !flags.contains(&"master") || flags.iter().any(|f| f.starts_with("fail")) {
                return None;
            }
            let address = address.split(['@', ',']).next()?;
            let (host, port) = address.rsplit_once(':')?;
            let host = if host.is_empty() { seed_host } else { host };
            Some(format!("{host}:{port}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_keyspace_lists_the_databases_with_keys() {
        let info =
            "# Keyspace\r\ndb0:keys=3,expires=0,avg_ttl=0\r\ndb3:keys=1,expires=1,avg_ttl=9\r\n";
        assert_eq!(listed(info), [0, 3]);
        assert!(listed("# Keyspace\r\n").is_empty());
    }

    #[test]
    fn cluster_nodes_give_the_live_primaries() {
        let nodes = "a1 127.0.0.1:7001@17001 myself,master - 0 0 1 connected 0-5460\n\
                     b2 127.0.0.1:7002@17002,host-b master - 0 0 2 connected 5461-10922\n\
                     c3 127.0.0.1:7003@17003 slave b2 0 0 2 connected\n\
                     d4 127.0.0.1:7004@17004 master,fail - 0 0 3 disconnected\n\
                     e5 :7005@17005 myself,master - 0 0 0 connected\n";
        assert_eq!(
            primaries(nodes, "10.0.0.9"),
            ["127.0.0.1:7001", "127.0.0.1:7002", "10.0.0.9:7005"]
        );
    }
}
