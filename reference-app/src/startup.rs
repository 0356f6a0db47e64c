//! Wiring (`AppState`, `app`, `Application`): builds the state from `Config`, binds the listener
//! (port 0 allowed) and serves until told to stop.

use std::future::Future;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Request, StatusCode};
use secrecy::SecretString;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{
    MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::auth::TokenVerifier;
use crate::cache::Cache;
use crate::config::Config;
use crate::db::Database;
use crate::faults::{Fault, Faults};
use crate::rate_limit::TenantRateLimiter;

/// Largest request body accepted (413 beyond).
pub const BODY_LIMIT: usize = 64 * 1024;

/// Shared, cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub db: Database,
    pub cache: Cache,
    pub verifier: TokenVerifier,
    pub limiter: TenantRateLimiter,
    pub faults: Faults,
    pub base_domain: String,
    pub admin_token: Option<SecretString>,
    /// The admin panel, when `ADMIN_USERNAME`, `ADMIN_PASSWORD` and `ADMIN_DATABASE_URL` are set.
    pub panel: Option<crate::admin::Panel>,
    pub body_limit: usize,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// Connects (lazily) to PostgreSQL and Redis; warns loudly when any fault is on.
    pub fn new(config: &Config) -> anyhow::Result<Self> {
        if !config.faults.is_empty() {
            warn_faults(&config.faults);
        }
        for fault in [Fault::RlsBypassHandler, Fault::NestedParentOnly] {
            if config.faults.has(fault) && config.migration_database_url.is_none() {
                anyhow::bail!(
                    "the {fault} fault reads through the owner's pool: set MIGRATION_DATABASE_URL"
                );
            }
        }
        let per_second = NonZeroU32::new(config.rate_limit_per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(config.rate_limit_burst).unwrap_or(NonZeroU32::MIN);
        Ok(Self(Arc::new(Inner {
            db: Database::connect(
                &config.database_url,
                config.migration_database_url.as_ref(),
                config.pool_size,
                config.tenant_connections,
                config.faults.clone(),
                config.behind_transaction_pooler,
                &config.database_pools,
            )?,
            cache: Cache::connect(
                config.redis_url.as_ref(),
                config.cache_ttl,
                config.faults.clone(),
            )?,
            verifier: TokenVerifier::new(&config.jwt_secret, config.faults.clone()),
            limiter: TenantRateLimiter::new(per_second, burst),
            faults: config.faults.clone(),
            base_domain: config.base_domain.clone(),
            admin_token: config.admin_token.clone(),
            panel: config
                .panel
                .clone()
                .map(crate::admin::Panel::new)
                .transpose()?,
            body_limit: BODY_LIMIT,
        })))
    }
}

fn warn_faults(faults: &Faults) {
    let banner = format!(
        "\n!!! reference-app is running WITH DELIBERATE ISOLATION FAULTS: {faults}\n!!! tenants are NOT isolated. This build exists to prove that tenantprobe catches these bugs; never deploy it.\n"
    );
    eprintln!("{banner}");
    tracing::warn!(faults = %faults, "deliberate isolation faults are switched on");
}

/// The whole HTTP surface, ready to serve or to call directly in tests.
pub fn app(state: AppState) -> Router {
    crate::routes::router()
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::tenant::body_tenant_override,
        ))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(15),
        ))
        .layer(CatchPanicLayer::new())
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(
            TraceLayer::new_for_http()
                // One line per request, when it is answered: by then the tenant is known.
                .on_request(())
                .on_response(DefaultOnResponse::new().level(Level::INFO))
                .make_span_with(|request: &Request<_>| {
                    let request_id = request
                        .extensions()
                        .get::<RequestId>()
                        .and_then(|id| id.header_value().to_str().ok())
                        .unwrap_or("-");
                    tracing::info_span!(
                        "request",
                        request_id = %request_id,
                        method = %request.method(),
                        path = %request.uri().path(),
                        tenant_id = tracing::field::Empty,
                    )
                }),
        )
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
}

/// A bound, not yet serving application.
pub struct Application {
    listener: TcpListener,
    router: Router,
}

impl Application {
    pub async fn build(config: &Config, listen: SocketAddr) -> anyhow::Result<Self> {
        let state = AppState::new(config)?;
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on `{listen}`: {e}"))?;
        Ok(Self {
            listener,
            router: app(state),
        })
    }

    /// The bound address (the real port when asked for port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves, then finishes in-flight requests.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await
    }

    /// Serves forever (tests abort the task).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(std::future::pending()).await
    }
}
