//! The daemon's schedule (`Schedule`): a cron line in the standard 5-field form that Kubernetes
//! CronJobs use (`*/5 * * * *`), or with a leading seconds field (`*/10 * * * * *`). Parsed by
//! croner, which accepts both; the `cron` crate rejects the 5-field form.

use chrono::{DateTime, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

/// A parsed cron line.
#[derive(Debug, Clone)]
pub struct Schedule {
    cron: Cron,
    line: String,
}

impl Schedule {
    pub fn parse(line: &str) -> Result<Self, String> {
        let fields = line.split_whitespace().count();
        let alias = line.trim_start().starts_with('@');
        if !alias && !(5..=6).contains(&fields) {
            return Err(format!(
                "schedule `{line}` has {fields} fields: use 5 (minute hour day-of-month month day-of-week, as in a Kubernetes CronJob) or 6 (seconds first)"
            ));
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Optional)
            .year(Year::Disallowed)
            .build()
            .parse(line)
            .map_err(|e| format!("schedule `{line}` is not a valid cron line: {e}"))?;
        Ok(Self {
            cron,
            line: line.trim().to_owned(),
        })
    }

    /// The first fire time strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.find_next_occurrence(&after, false).ok()
    }

    /// In words ("At every minute").
    pub fn describe(&self) -> String {
        self.cron.describe()
    }

    pub fn line(&self) -> &str {
        &self.line
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn five_and_six_field_lines_fire_when_they_say() {
        let at = Utc.with_ymd_and_hms(2026, 11, 26, 10, 0, 30).unwrap();
        let every_5_min = Schedule::parse("*/5 * * * *").unwrap();
        assert_eq!(
            every_5_min.next_after(at).unwrap(),
            Utc.with_ymd_and_hms(2026, 11, 26, 10, 5, 0).unwrap()
        );
        let every_10_s = Schedule::parse("*/10 * * * * *").unwrap();
        assert_eq!(
            every_10_s.next_after(at).unwrap(),
            Utc.with_ymd_and_hms(2026, 11, 26, 10, 0, 40).unwrap()
        );
        // Day of week as Kubernetes reads it: 1 = Monday (2026-11-30 is a Monday).
        let mondays = Schedule::parse("0 9 * * 1").unwrap();
        assert_eq!(
            mondays.next_after(at).unwrap(),
            Utc.with_ymd_and_hms(2026, 11, 30, 9, 0, 0).unwrap()
        );
        assert!(Schedule::parse("@hourly").is_ok());
    }

    #[test]
    fn bad_lines_say_what_is_wrong() {
        for (line, reason) in [
            ("* * * *", "has 4 fields"),
            ("0 0 0 * * * 2027", "has 7 fields"),
            ("61 * * * *", "not a valid cron line"),
        ] {
            let error = Schedule::parse(line).unwrap_err();
            assert!(error.contains(reason), "`{line}`: {error}");
        }
    }
}
