//! Property-based cross-tenant attacks: at the database (`db`) and over HTTP (`http`).
//! Both judge by ownership (`crate::oracle`) and never change the target. `noisy` measures one
//! tenant's latency under another's bounded load (opt-in: it generates load).

pub mod db;
pub mod http;
pub mod noisy;
