//! Property-based cross-tenant attacks: at the database (`db`) and, in later modules, over HTTP.
//! Both judge by ownership (`crate::oracle`) and never change the target.

pub mod db;
