//! DRF's `PageNumberPagination`: `?page=` and `?page_size=` (capped), answered as
//! `{count, next, previous, results}` with absolute links (based as `forwarded` says).

use actix_web::{HttpRequest, HttpResponse, web};
use domain::admin::Page;
use serde::Serialize;
use utoipa::ToSchema;

use crate::errors::ApiError;
use crate::forwarded::Forwarded;
use crate::startup::AppState;

pub(crate) const DEFAULT_PAGE_SIZE: i64 = 20;
pub(crate) const MAX_PAGE_SIZE: i64 = 100;

/// The requested page: number (from 1) and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PageRequest {
    pub(crate) number: i64,
    pub(crate) size: i64,
}

impl PageRequest {
    /// Reads `page` and `page_size` from the query pairs. A bad page is DRF's
    /// 404 `Invalid page.`; a bad or missing size is the default, a large one the cap.
    pub(crate) fn from_query(pairs: &[(String, String)]) -> Result<Self, ApiError> {
        let number = match query_value(pairs, "page") {
            None | Some("") => 1,
            Some("last") => i64::MAX,
            Some(raw) => raw
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or(ApiError::InvalidPage)?,
        };
        let size = query_value(pairs, "page_size")
            .and_then(|raw| raw.parse::<i64>().ok())
            .filter(|size| *size >= 1)
            .map_or(DEFAULT_PAGE_SIZE, |size| size.min(MAX_PAGE_SIZE));
        Ok(Self { number, size })
    }

    pub(crate) fn offset(&self) -> i64 {
        (self.number.saturating_sub(1)).saturating_mul(self.size)
    }

    /// The page number of `last` resolved against the count (DRF's `page=last`).
    pub(crate) fn resolve(self, count: i64) -> Self {
        if self.number == i64::MAX {
            Self {
                number: ((count + self.size - 1) / self.size).max(1),
                ..self
            }
        } else {
            self
        }
    }
}

/// One page of a list (DRF's `PageNumberPagination`), with the absolute links to the
/// next and previous pages.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Paginated<T> {
    pub(crate) count: i64,
    pub(crate) next: Option<String>,
    pub(crate) previous: Option<String>,
    pub(crate) results: Vec<T>,
}

fn link(req: &HttpRequest, pairs: &[(String, String)], page: Option<i64>) -> String {
    let mut kept: Vec<(String, String)> =
        pairs.iter().filter(|(k, _)| k != "page").cloned().collect();
    if let Some(page) = page {
        kept.push(("page".to_owned(), page.to_string()));
    }
    let base = match req.app_data::<web::Data<AppState>>() {
        Some(state) => state.forwarded.base_url(req),
        None => Forwarded::new(&[], None).base_url(req),
    };
    let query = serde_urlencoded::to_string(&kept).unwrap_or_default();
    let base = format!("{base}{}/", req.path().trim_end_matches('/'));
    if query.is_empty() {
        base
    } else {
        format!("{base}?{query}")
    }
}

/// The page body; `Err(Invalid page.)` for a page past the last (but an empty first).
pub(crate) fn page_body<T: Serialize>(
    req: &HttpRequest,
    pairs: &[(String, String)],
    page: PageRequest,
    count: i64,
    results: Vec<T>,
) -> Result<Paginated<T>, ApiError> {
    if page.number > 1 && page.offset() >= count {
        return Err(ApiError::InvalidPage);
    }
    let next = (page.offset() + page.size < count).then(|| link(req, pairs, Some(page.number + 1)));
    // DRF drops `page` from the link back to the first page.
    let previous =
        (page.number > 1).then(|| link(req, pairs, (page.number > 2).then_some(page.number - 1)));
    Ok(Paginated {
        count,
        next,
        previous,
        results,
    })
}

/// Answers one page of a list fetched by `(offset, limit)`, resolving `page=last`.
pub(crate) async fn respond_page<T, R>(
    req: &HttpRequest,
    fetch: impl AsyncFn(i64, i64) -> Result<Page<T>, ApiError>,
) -> Result<HttpResponse, ApiError>
where
    R: Serialize + From<T>,
{
    let pairs = query_pairs(req)?;
    let mut page = PageRequest::from_query(&pairs)?;
    if page.number == i64::MAX {
        page = page.resolve(fetch(0, 1).await?.count);
    }
    let found = fetch(page.offset(), page.size).await?;
    let results: Vec<R> = found.items.into_iter().map(R::from).collect();
    Ok(HttpResponse::Ok().json(page_body(req, &pairs, page, found.count, results)?))
}

/// The last value given for `key`, as Django's `QueryDict.get` reads it.
pub(crate) fn query_value<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// The query string as pairs, repeated keys kept in order.
pub(crate) fn query_pairs(req: &HttpRequest) -> Result<Vec<(String, String)>, ApiError> {
    serde_urlencoded::from_str(req.query_string())
        .map_err(|error| ApiError::Parse(format!("Invalid query string - {error}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(raw: &[(&str, &str)]) -> Vec<(String, String)> {
        raw.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn page_and_size_read_like_drf() {
        assert_eq!(
            PageRequest::from_query(&[]).unwrap(),
            PageRequest {
                number: 1,
                size: 20
            }
        );
        let capped =
            PageRequest::from_query(&pairs(&[("page", "3"), ("page_size", "5000")])).unwrap();
        assert_eq!(
            capped,
            PageRequest {
                number: 3,
                size: 100
            }
        );
        let fallback = PageRequest::from_query(&pairs(&[("page_size", "-1")])).unwrap();
        assert_eq!(fallback.size, 20);
        for bad in ["0", "-2", "two", "1.5"] {
            assert!(matches!(
                PageRequest::from_query(&pairs(&[("page", bad)])),
                Err(ApiError::InvalidPage)
            ));
        }
        let last =
            PageRequest::from_query(&pairs(&[("page", "last"), ("page_size", "10")])).unwrap();
        assert_eq!(last.resolve(95).number, 10);
    }
}
