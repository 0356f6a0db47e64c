//! One resolved target: the spec, the environment and the command line's flags turned into what
//! every command runs against.

mod http;

pub use http::*;
