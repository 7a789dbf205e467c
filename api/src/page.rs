//! Keyset pagination of listings.

use serde::{Deserialize, Serialize};

/// A validated page request.
#[derive(Debug, Clone)]
pub struct PageRequest {
    /// Items per page.
    pub limit: u64,
    /// Exclusive lower bound on the id.
    pub after: Option<String>,
}

/// One page of a listing.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Page<T> {
    /// The items, ordered by id.
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` fetched items, so the extra one tells
    /// whether another page exists without a second query.
    pub fn from_overfetch(mut items: Vec<T>, request: &PageRequest, id_of: impl Fn(&T) -> String) -> Self {
        let has_more = items.len() as u64 > request.limit;
        items.truncate(request.limit as usize);
        let next_cursor = if has_more { items.last().map(id_of) } else { None };
        Self { items, next_cursor }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_reports_next_cursor_only_when_more_items_exist() {
        let request = PageRequest { limit: 2, after: None };
        let full = Page::from_overfetch(vec!["a", "b", "c"], &request, |s| s.to_string());
        assert_eq!(full.items, vec!["a", "b"]);
        assert_eq!(full.next_cursor.as_deref(), Some("b"));
        let last = Page::from_overfetch(vec!["a", "b"], &request, |s| s.to_string());
        assert_eq!(last.next_cursor, None);
    }
}
