//! The tenants tenantprobe acts as (`Tenant`), obtained as the spec's `[tenants]` says: created
//! by an SQL statement or an API request (idempotently), or listed in the spec.

use secrecy::SecretString;
use serde_json::Value;
use sqlx::{AssertSqlSafe, Column, Connection, PgConnection, Row};

use super::{Env, HttpTarget};
use crate::Error;
use crate::spec::{Endpoint, ExistingTenant, Spec, SqlTemplate, TenantsSpec, Values, render_json};

/// A tenant tenantprobe may act as: a test tenant of `attack`, a synthetic tenant of `monitor`.
/// Its id, user id and marker are registered to it, so anything carrying them elsewhere is a leak.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub slug: String,
    pub tenant_id: String,
    pub user_id: Option<String>,
    /// A static token (from provisioning or the environment).
    pub token: Option<SecretString>,
    /// Text that identifies everything tenantprobe creates for this tenant.
    pub marker: String,
}

/// How tenants are obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provisioning {
    /// Create them if missing (`attack`, `monitor init`), idempotently.
    Create,
    /// Only look them up (`monitor run`, `serve`, `canary`): an SQL provisioning statement runs in
    /// a transaction that is rolled back, so nothing is written. A tenant that did not exist comes
    /// back with an id nothing has, so its canaries are missing.
    LookUp,
}

/// A tenant for each slug, as the spec's `[tenants]` says.
pub async fn tenants(
    spec: &Spec,
    env: Env<'_>,
    slugs: &[String],
    http: &reqwest::Client,
    target: Option<&HttpTarget>,
    provisioning: Provisioning,
) -> Result<Vec<Tenant>, Error> {
    let tenants = spec
        .tenants
        .as_ref()
        .ok_or(Error::MissingSection("tenants"))?;
    match tenants {
        TenantsSpec::Sql { url_env, statement } => {
            let commit = provisioning == Provisioning::Create;
            by_sql(spec, env, url_env, statement, slugs, commit).await
        }
        TenantsSpec::Api {
            request,
            tenant_id,
            user_id,
            token,
        } => {
            let target = target.ok_or(Error::MissingSection("api"))?;
            let (user_id, token) = (user_id.as_deref(), token.as_deref());
            by_api(http, target, request, tenant_id, user_id, token, slugs).await
        }
        TenantsSpec::Existing { tenants } => listed(env, tenants, slugs),
    }
}

/// Gets (creating them if the spec says so, idempotently) a tenant for each slug.
pub async fn obtain_tenants(
    spec: &Spec,
    env: Env<'_>,
    slugs: &[String],
    http: &reqwest::Client,
    target: Option<&HttpTarget>,
) -> Result<Vec<Tenant>, Error> {
    tenants(spec, env, slugs, http, target, Provisioning::Create).await
}

/// Runs the spec's provisioning statement once per slug in one transaction, committed only when
/// `commit` (else nothing is written).
async fn by_sql(
    spec: &Spec,
    env: Env<'_>,
    url_env: &str,
    statement: &SqlTemplate,
    slugs: &[String],
    commit: bool,
) -> Result<Vec<Tenant>, Error> {
    let url = env(url_env).ok_or_else(|| Error::MissingVariable(url_env.to_owned()))?;
    let limits = spec
        .database
        .as_ref()
        .map(|d| d.limits())
        .unwrap_or_default();
    let options = crate::sql::connect_options(&url)
        .map(|o| limits.apply(o))
        .map_err(|e| Error::Invalid {
            what: url_env.to_owned(),
            reason: e.to_string(),
        })?;
    let provision = |cause| Error::Provision {
        variable: url_env.to_owned(),
        cause,
    };
    let mut conn = PgConnection::connect_with(&options)
        .await
        .map_err(provision)?;
    let mut tx = conn.begin().await.map_err(provision)?;
    let (sql, names) = statement.0.to_sql();
    let mut out = Vec::new();
    for slug in slugs {
        let values = provision_values(slug);
        let mut query = sqlx::query(AssertSqlSafe(sql.clone()));
        for name in &names {
            query = query.bind(values.get(name).cloned().unwrap_or_default());
        }
        let row = query.fetch_one(&mut *tx).await.map_err(provision)?;
        let text = |column: &str| {
            row.columns()
                .iter()
                .any(|c| c.name() == column)
                .then(|| row.try_get::<Option<String>, _>(column).ok().flatten())
                .flatten()
        };
        out.push(Tenant {
            slug: slug.clone(),
            tenant_id: text("tenant_id").ok_or_else(|| Error::Invalid {
                what: "[tenants] statement".into(),
                reason: "it must return a `tenant_id` column (text)".into(),
            })?,
            user_id: text("user_id"),
            token: text("token").map(SecretString::from),
            marker: crate::marker::marker_for(slug),
        });
    }
    if commit {
        tx.commit().await.map_err(provision)?;
    } else {
        tx.rollback().await.map_err(provision)?;
    }
    let _ = conn.close().await;
    Ok(out)
}

/// Calls the spec's signup request once per slug; `tenant_id`, `user_id` and `token` are JSON
/// pointers into each response.
async fn by_api(
    http: &reqwest::Client,
    target: &HttpTarget,
    request: &Endpoint,
    tenant_id: &str,
    user_id: Option<&str>,
    token: Option<&str>,
    slugs: &[String],
) -> Result<Vec<Tenant>, Error> {
    let mut out = Vec::new();
    for slug in slugs {
        let values = provision_values(slug);
        let path = request
            .path
            .render(&values)
            .map_err(|reason| Error::Invalid {
                what: "[tenants] request path".into(),
                reason,
            })?;
        let body = request
            .body
            .as_ref()
            .map(|b| render_json(&b.0, &values))
            .transpose()
            .map_err(|reason| Error::Invalid {
                what: "[tenants] request body".into(),
                reason,
            })?;
        let method = reqwest::Method::from_bytes(
            request
                .method_for(crate::spec::Operation::Create)
                .as_bytes(),
        )
        .unwrap_or(reqwest::Method::POST);
        let mut req = http.request(method, target.url(&path));
        if let Some(body) = body {
            req = req.json(&body);
        }
        let response = req
            .send()
            .await
            .map_err(|e| Error::ProvisionApi(e.to_string()))?;
        let status = response.status();
        let json: Value = response
            .json()
            .await
            .map_err(|e| Error::ProvisionApi(e.to_string()))?;
        if !status.is_success() {
            return Err(Error::ProvisionApi(format!("{status}: {json}")));
        }
        let at = |pointer: &str| json.pointer(pointer).and_then(crate::sql::json_text);
        out.push(Tenant {
            slug: slug.clone(),
            tenant_id: at(tenant_id)
                .ok_or_else(|| Error::ProvisionApi(format!("no `{tenant_id}` in {json}")))?,
            user_id: user_id.and_then(at),
            token: token.and_then(at).map(SecretString::from),
            marker: crate::marker::marker_for(slug),
        });
    }
    Ok(out)
}

/// The tenants the spec lists, with their tokens from the environment.
fn listed(
    env: Env<'_>,
    tenants: &[ExistingTenant],
    slugs: &[String],
) -> Result<Vec<Tenant>, Error> {
    // The listed tenants the caller named, when it named at least two of them; else every
    // listed tenant (an `attack http` run uses them all, not the first two).
    let named: Vec<_> = tenants.iter().filter(|t| slugs.contains(&t.slug)).collect();
    let chosen = if named.len() >= 2 {
        named
    } else {
        tenants.iter().collect()
    };
    let mut out = Vec::new();
    for t in chosen {
        let token = match &t.token_env {
            Some(name) => Some(SecretString::from(
                env(name).ok_or_else(|| Error::MissingVariable(name.clone()))?,
            )),
            None => None,
        };
        out.push(Tenant {
            slug: t.slug.clone(),
            tenant_id: t.tenant_id.clone().unwrap_or_else(|| t.slug.clone()),
            user_id: t.user_id.clone(),
            token,
            marker: crate::marker::marker_for(&t.slug),
        });
    }
    if out.len() < 2 {
        return Err(Error::Invalid {
            what: "[tenants] existing".into(),
            reason: "at least two tenants are needed".into(),
        });
    }
    Ok(out)
}

/// The placeholder values for provisioning `slug`: its name, an email and its marker.
fn provision_values(slug: &str) -> Values {
    let marker = crate::marker::marker_for(slug);
    [
        ("slug".to_owned(), slug.to_owned()),
        (
            "name".to_owned(),
            format!("tenantprobe synthetic {slug} {marker}"),
        ),
        (
            "email".to_owned(),
            format!("{slug}+{marker}@tenantprobe.invalid"),
        ),
        ("marker".to_owned(), marker),
    ]
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const THREE: &str = r#"
name = "three"
[tenants]
provision = "existing"
tenants = [
    { slug = "alpha", tenant_id = "1" },
    { slug = "beta", tenant_id = "2" },
    { slug = "gamma", tenant_id = "3" },
]
"#;

    #[tokio::test]
    async fn every_listed_existing_tenant_is_used_unless_two_or_more_are_named() {
        let spec = Spec::parse(THREE, "three.toml").unwrap_or_else(|e| panic!("{e:?}"));
        let env = |_: &str| None;
        let http = reqwest::Client::new();
        let slugs = |names: &[&str]| names.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let all = obtain_tenants(
            &spec,
            &env,
            &slugs(&["tenantprobe-attack-a", "tenantprobe-attack-b"]),
            &http,
            None,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        let ids: Vec<&str> = all.iter().map(|t| t.tenant_id.as_str()).collect();
        assert_eq!(ids, ["1", "2", "3"]);
        let named = obtain_tenants(&spec, &env, &slugs(&["gamma", "alpha"]), &http, None)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let slugs: Vec<&str> = named.iter().map(|t| t.slug.as_str()).collect();
        assert_eq!(slugs, ["alpha", "gamma"]);
    }
}
