//! Property-based cross-tenant attacks: at the database (`db`) and over HTTP (`http`).
//! Both judge by ownership (`crate::oracle`) and never change the target.

pub mod db;
pub mod http;
