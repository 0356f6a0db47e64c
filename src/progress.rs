//! A progress callback (`ProgressHook`) that the property engines call after every case and every
//! shrinking step, so a progress bar shows a long run is not stuck.

use std::sync::Arc;

/// A callback after every test case.
#[derive(Clone)]
pub struct ProgressHook(pub Arc<dyn Fn() + Send + Sync>);

impl std::fmt::Debug for ProgressHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProgressHook")
    }
}
