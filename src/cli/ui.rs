//! Terminal conventions shared by every command (`Verbosity`): how chatty to be (`-q`/`-v`),
//! whether stderr is a terminal (progress, spinners, colour), and the progress bars themselves.

use std::io::IsTerminal;
use std::sync::OnceLock;
use std::time::Duration;

/// `-q` lowers it, each `-v` raises it; 0 is the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Verbosity(pub i8);

static VERBOSITY: OnceLock<Verbosity> = OnceLock::new();

pub fn set_verbosity(v: Verbosity) {
    let _ = VERBOSITY.set(v);
}

pub fn verbosity() -> Verbosity {
    VERBOSITY.get().copied().unwrap_or(Verbosity(0))
}

pub fn quiet() -> bool {
    verbosity() < Verbosity(0)
}

/// The log filter when neither `--log` nor `RUST_LOG` says: warnings; errors only with `-q`;
/// `-v` info, `-vv` debug, `-vvv` trace.
pub fn default_filter(v: Verbosity) -> &'static str {
    match v.0 {
        i8::MIN..=-1 => "error",
        0 => "warn",
        1 => "info,sqlx=warn",
        2 => "debug,sqlx=info,hyper=info,h2=info",
        _ => "trace",
    }
}

/// Progress on stderr: only on a terminal, never with `-q`.
pub fn show_progress() -> bool {
    !quiet() && std::io::stderr().is_terminal()
}

/// A progress bar of `len` test cases for `what`, ticking on its own so elapsed time and the
/// spinner move even while one case runs long or a failure is shrunk.
pub fn case_bar(what: &str, len: u64) -> Option<indicatif::ProgressBar> {
    show_progress().then(|| {
        let bar = indicatif::ProgressBar::new(len);
        bar.set_style(
            indicatif::ProgressStyle::with_template(&format!(
                "{{spinner}} {what} [{{bar:30}}] {{pos}}/{{len}} cases {{elapsed}} {{msg}}"
            ))
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    })
}

/// The hook that says so on `bar` while a failing case is being shrunk.
pub fn shrink_hook(
    bar: &Option<indicatif::ProgressBar>,
) -> Option<tenantprobe::attack::db::ProgressHook> {
    let bar = bar.clone()?;
    let steps = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    Some(tenantprobe::attack::db::ProgressHook(std::sync::Arc::new(
        move || {
            let n = steps.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            bar.set_message(format!(
                "shrinking a failing case to a minimal reproducer ({n} tries)"
            ));
        },
    )))
}

/// The hook that advances `bar` by one case (and clears a shrinking message).
pub fn case_hook(
    bar: &Option<indicatif::ProgressBar>,
) -> Option<tenantprobe::attack::db::ProgressHook> {
    let bar = bar.clone()?;
    Some(tenantprobe::attack::db::ProgressHook(std::sync::Arc::new(
        move || {
            bar.set_message("");
            bar.inc(1);
        },
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shrinking_shows_on_the_bar_and_the_next_case_clears_it() {
        let bar = Some(indicatif::ProgressBar::hidden());
        let shrink = shrink_hook(&bar).unwrap();
        let case = case_hook(&bar).unwrap();
        (shrink.0)();
        (shrink.0)();
        let shown = bar.as_ref().unwrap().message();
        assert!(
            shown.contains("shrinking") && shown.contains("2 tries"),
            "{shown}"
        );
        (case.0)();
        assert_eq!(bar.as_ref().unwrap().message(), "");
        assert_eq!(bar.as_ref().unwrap().position(), 1);
        assert!(shrink_hook(&None).is_none());
    }

    #[test]
    fn verbosity_picks_the_log_level() {
        assert_eq!(default_filter(Verbosity(-1)), "error");
        assert_eq!(default_filter(Verbosity(0)), "warn");
        assert!(default_filter(Verbosity(1)).starts_with("info"));
        assert_eq!(default_filter(Verbosity(9)), "trace");
    }
}
