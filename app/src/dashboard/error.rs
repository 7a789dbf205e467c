//! The dashboard's failures, rendered as pages (never problem+json: a person
//! reads them in a browser).

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpResponse, ResponseError};

use crate::dashboard::views;
use crate::error::Error;

/// What can go wrong behind a dashboard page.
#[derive(Debug, thiserror::Error)]
pub enum DashError {
    /// No valid session: back to the sign-in form (`ended`: there was one).
    #[error("sign in first")]
    SignIn {
        /// A session existed but expired, or its key or tenant stopped being valid.
        ended: bool,
    },
    /// A POST without this session's CSRF token.
    #[error("the form did not carry this session's CSRF token")]
    Csrf,
    /// A form or query that does not parse.
    #[error("{0}")]
    BadRequest(String),
    /// A domain error.
    #[error(transparent)]
    Domain(#[from] Error),
}

impl ResponseError for DashError {
    fn status_code(&self) -> StatusCode {
        match self {
            DashError::SignIn { .. } => StatusCode::SEE_OTHER,
            DashError::Csrf => StatusCode::FORBIDDEN,
            DashError::BadRequest(_) => StatusCode::BAD_REQUEST,
            DashError::Domain(err) => err.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let (title, detail) = match self {
            DashError::SignIn { ended } => {
                let to = if *ended { "/dashboard/sign-in?ended=1" } else { "/dashboard/sign-in" };
                return HttpResponse::SeeOther()
                    .insert_header((header::LOCATION, to))
                    .insert_header((header::CACHE_CONTROL, "no-store"))
                    .finish();
            }
            DashError::Csrf => (
                "Form refused",
                "This form did not come from your dashboard session (its security token is missing or wrong), \
                 so nothing was changed. Go back, reload the page and try again."
                    .to_owned(),
            ),
            DashError::BadRequest(why) => ("Bad request", why.clone()),
            DashError::Domain(Error::NotFound(what)) => {
                ("Not found", format!("There is no such {what} in your account."))
            }
            DashError::Domain(err) if status.is_server_error() => {
                tracing::error!(error = ?err, "dashboard request failed");
                ("Something went wrong", "The server could not show this page; it has been logged. Try again.".into())
            }
            DashError::Domain(err) => ("Request refused", err.to_string()),
        };
        views::html_response(status, views::error_page(title, &detail))
    }
}
