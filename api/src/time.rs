//! Times a client sends in a query string (`since`, `until`, cursors): the
//! range the service accepts, and the window a report may span.
//!
//! chrono parses RFC 3339 with years from -262143 to 262142, but Postgres
//! stores nothing before 4713 BC, SQLite compares times as text (right only
//! for four-digit years), and `until - 24 h` overflows at chrono's lower end.
//! So every time input is held to the years RFC 3339 itself can write,
//! 0001 to 9999, before it reaches arithmetic or a database.

use chrono::{DateTime, TimeDelta, Utc};

use crate::problem::Invalid;

/// Unix seconds of `0001-01-01T00:00:00Z`.
const EARLIEST_SECS: i64 = -62_135_596_800;
/// Unix seconds of `9999-12-31T23:59:59Z`.
const LATEST_SECS: i64 = 253_402_300_799;

/// The earliest time accepted: `0001-01-01T00:00:00Z`.
pub fn earliest() -> DateTime<Utc> {
    DateTime::from_timestamp(EARLIEST_SECS, 0).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// The latest time accepted: `9999-12-31T23:59:59.999999999Z`.
pub fn latest() -> DateTime<Utc> {
    DateTime::from_timestamp(LATEST_SECS, 999_999_999).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Rejects a query-string time outside [`earliest`]..=[`latest`].
pub fn check_time(field: &str, at: DateTime<Utc>) -> Result<(), Invalid> {
    if at < earliest() || at > latest() {
        return Err(Invalid::Query(format!("{field} must be between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z")));
    }
    Ok(())
}

/// The longest window one report may span: a year, leap day included. A
/// report counts rows in the window, so its cost grows with the window.
pub const MAX_REPORT_WINDOW: TimeDelta = TimeDelta::days(366);

/// The window of a report when the client names no start: 24 hours.
pub const DEFAULT_REPORT_WINDOW: TimeDelta = TimeDelta::hours(24);

/// The `[since, until)` of a report: `until` defaults to `now`, `since` to
/// [`DEFAULT_REPORT_WINDOW`] before `until`. Both must be in range, `since`
/// before `until`, and the window at most [`MAX_REPORT_WINDOW`].
pub fn report_window(
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), Invalid> {
    if let Some(since) = since {
        check_time("since", since)?;
    }
    if let Some(until) = until {
        check_time("until", until)?;
    }
    let until = until.unwrap_or(now);
    let since = match since {
        Some(since) => since,
        // Checked and clamped: `until` may be as early as `earliest()`.
        None => until.checked_sub_signed(DEFAULT_REPORT_WINDOW).map_or(earliest(), |since| since.max(earliest())),
    };
    if since >= until {
        return Err(Invalid::Query("since must be before until".into()));
    }
    if until.signed_duration_since(since) > MAX_REPORT_WINDOW {
        return Err(Invalid::Query(format!("the window may span at most {} days", MAX_REPORT_WINDOW.num_days())));
    }
    Ok((since, until))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap_or_else(|err| panic!("{text}: {err}"))
    }

    #[test]
    fn bounds_are_the_four_digit_years() {
        assert_eq!(earliest(), at("0001-01-01T00:00:00Z"));
        assert_eq!(latest(), at("9999-12-31T23:59:59.999999999Z"));
        assert!(check_time("t", at("2026-11-30T12:00:00Z")).is_ok());
        for bad in
            ["-262143-01-01T00:00:00Z", "-4714-01-01T00:00:00Z", "0000-12-31T23:59:59Z", "+10000-01-01T00:00:00Z"]
        {
            assert!(matches!(check_time("t", at(bad)), Err(Invalid::Query(_))), "{bad}");
        }
    }

    #[test]
    fn report_windows_default_and_are_bounded() {
        let now = at("2026-11-30T12:00:00Z");
        assert_eq!(report_window(None, None, now), Ok((at("2026-11-29T12:00:00Z"), now)));
        let year_ago = at("2025-11-29T12:00:00Z");
        assert_eq!(report_window(Some(year_ago), None, now), Ok((year_ago, now)));
        let too_long = report_window(Some(at("2025-11-29T11:59:59Z")), None, now);
        assert!(matches!(too_long, Err(Invalid::Query(_))));
        assert!(report_window(Some(now), Some(now), now).is_err());
        // The reported panic: `until - 24 h` at chrono's lower end.
        assert!(report_window(None, Some(at("-262143-01-01T00:00:00Z")), now).is_err());
        // Near the earliest `until` the default window starts at `earliest()`.
        let early = at("0001-01-01T01:00:00Z");
        assert_eq!(report_window(None, Some(early), now), Ok((earliest(), early)));
        assert!(report_window(None, Some(earliest()), now).is_err());
    }
}
