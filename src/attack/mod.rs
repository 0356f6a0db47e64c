//! Property-based cross-tenant attacks: at the database (`db`) and over HTTP (`http`).
//! Both judge by ownership (`crate::oracle`) and never change the target; one property `engine`
//! drives both (case loop, time budget, shrinking, confirmation by replay). `noisy` measures one
//! tenant's latency under another's bounded load (opt-in: it generates load). `admin` checks an
//! admin panel's impersonation: logged, bound to one tenant, time-boxed, closed to tenants.

pub mod admin;
pub mod db;
pub mod engine;
pub mod http;
pub mod noisy;

pub use engine::RunControls;
