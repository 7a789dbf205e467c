//! The query of history listings (intents, orders): filters, page size and
//! a cursor over (created_at, id), newest first.

use chrono::{DateTime, Utc};

use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::error::Error;
use crate::http::{MAX_PAGE_SIZE, Page, ResourceId};
use replenish_api::time::check_time;

pub mod repo;

/// `?status=&device=&since=&until=&limit=&cursor=` for history listings.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// Only this status.
    pub status: Option<String>,
    /// Only this device.
    pub device: Option<String>,
    /// Created at or after (RFC 3339, years 0001-9999).
    pub since: Option<DateTime<Utc>>,
    /// Created before (RFC 3339, years 0001-9999).
    pub until: Option<DateTime<Utc>>,
    /// Items per page, 1-500 (default 50).
    pub limit: Option<u64>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// A validated history query.
#[derive(Debug, Clone)]
pub struct History {
    pub(crate) status: Option<String>,
    pub(crate) device: Option<String>,
    pub(crate) since: Option<DateTime<Utc>>,
    pub(crate) until: Option<DateTime<Utc>>,
    pub(crate) limit: u64,
    /// (created_at, id) of the last item already seen.
    pub(crate) after: Option<(DateTime<Utc>, Uuid)>,
}

/// The cursor that continues after this item.
pub fn cursor_of(created_at: DateTime<Utc>, id: Uuid) -> String {
    format!("{}-{}", created_at.timestamp_micros(), id.simple())
}

fn parse_cursor(cursor: &str) -> Option<(DateTime<Utc>, Uuid)> {
    let (micros, id) = cursor.split_once('-')?;
    let at = DateTime::from_timestamp_micros(micros.parse().ok()?)?;
    // A forged cursor must not carry a time the database cannot compare.
    check_time("cursor", at).ok()?;
    Some((at, Uuid::parse_str(id).ok()?))
}

impl HistoryQuery {
    /// Validates against the statuses of `T`.
    pub fn validate(&self, valid_status: impl Fn(&str) -> bool) -> Result<History, Error> {
        let limit = self.limit.unwrap_or(50);
        if !(1..=MAX_PAGE_SIZE).contains(&limit) {
            return Err(Error::InvalidQuery(format!("limit must be between 1 and {MAX_PAGE_SIZE}")));
        }
        if let Some(status) = &self.status
            && !valid_status(status)
        {
            return Err(Error::InvalidQuery(format!("unknown status {status:?}")));
        }
        // Out of range, a time would reach Postgres (nothing before 4713 BC) or
        // SQLite's text comparison (four-digit years only): 400, not a 500.
        for (field, at) in [("since", self.since), ("until", self.until)] {
            if let Some(at) = at {
                check_time(field, at)?;
            }
        }
        if let Some(device) = &self.device {
            ResourceId::parse(device).map_err(|_| Error::InvalidQuery("device is not a valid id".into()))?;
        }
        let after = match &self.cursor {
            Some(cursor) => Some(
                parse_cursor(cursor)
                    .ok_or_else(|| Error::InvalidQuery("cursor is not one this service issued".into()))?,
            ),
            None => None,
        };
        Ok(History {
            status: self.status.clone(),
            device: self.device.clone(),
            since: self.since,
            until: self.until,
            limit,
            after,
        })
    }
}

/// The page of at most `limit` views of `rows` (`limit + 1` fetched, newest
/// first: the extra one says there is more). `key` gives a row's creation time
/// and id, from which the last shown row's cursor is made; `view` turns a row
/// into what the client sees.
pub fn page<R, T>(
    rows: &[R],
    limit: u64,
    key: impl Fn(&R) -> (DateTime<Utc>, Uuid),
    view: impl Fn(&R) -> Result<T, Error>,
) -> Result<Page<T>, Error> {
    let mut items = rows.iter().map(view).collect::<Result<Vec<_>, _>>()?;
    let has_more = items.len() as u64 > limit;
    items.truncate(limit as usize);
    let last_shown = rows.get(items.len().saturating_sub(1));
    let next_cursor = if has_more { last_shown.map(key).map(|(at, id)| cursor_of(at, id)) } else { None };
    Ok(Page { items, next_cursor })
}
