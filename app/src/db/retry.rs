//! The one retry loop of the repositories: a transaction that lost a race
//! with a concurrent writer (a uniqueness conflict, a busy SQLite file, a
//! Postgres serialization or deadlock victim) is run again from the start,
//! where it sees what the winner wrote.

use std::future::Future;

use crate::db::{is_transient, is_unique_violation};
use crate::error::Error;

/// Tries of an upsert: the second one sees the row a concurrent creator inserted.
pub const UPSERT_ATTEMPTS: usize = 2;
/// Tries of a transaction contending with other replicas' writers.
pub const CONTENDED_ATTEMPTS: usize = 4;

/// Runs `attempt` up to `attempts` times, again as long as `again` says its
/// outcome may change on a fresh try; returns the last outcome.
pub async fn retry<T, F, Fut>(
    attempts: usize,
    again: impl Fn(&Result<T, Error>) -> bool,
    mut attempt: F,
) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    let mut outcome = attempt().await;
    for _ in 1..attempts {
        if !again(&outcome) {
            break;
        }
        outcome = attempt().await;
    }
    outcome
}

/// A concurrent writer inserted the same key first.
pub fn lost_unique_race<T>(outcome: &Result<T, Error>) -> bool {
    matches!(outcome, Err(Error::Database(err)) if is_unique_violation(err))
}

/// Any failure a fresh transaction may not meet (see [`is_transient`]).
pub fn failed_transiently<T>(outcome: &Result<T, Error>) -> bool {
    matches!(outcome, Err(Error::Database(err)) if is_transient(err))
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use sea_orm::DbErr;

    use super::*;

    #[tokio::test]
    async fn stops_at_the_first_outcome_not_worth_repeating() {
        let calls = Cell::new(0);
        let outcome = retry(
            4,
            |r: &Result<u32, Error>| r.is_err(),
            || {
                calls.set(calls.get() + 1);
                let n = calls.get();
                async move { if n < 3 { Err(Error::Internal("again".into())) } else { Ok(n) } }
            },
        )
        .await;
        assert_eq!((outcome.ok(), calls.get()), (Some(3), 3));
    }

    #[tokio::test]
    async fn gives_up_after_the_attempts_with_the_last_outcome() {
        let calls = Cell::new(0);
        let outcome: Result<(), Error> = retry(
            2,
            |_| true,
            || {
                calls.set(calls.get() + 1);
                async { Err(Error::Database(DbErr::Custom("busy".into()))) }
            },
        )
        .await;
        assert!(matches!(outcome, Err(Error::Database(_))));
        assert_eq!(calls.get(), 2);
    }
}
