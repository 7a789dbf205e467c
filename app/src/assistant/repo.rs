//! The token meter's queries: one `assistant_usage` row per provider call, per tenant.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, FromQueryResult, IdenStatic, QueryFilter,
    QuerySelect, Set,
};

use crate::assistant::entity;
use crate::assistant::guard::Usage;
use crate::db::scope::{DeviceScope, TenantScope};
use crate::error::Error;

fn as_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Records one call's tokens, billed to the device's tenant.
pub async fn record_usage(
    db: &DatabaseConnection,
    device: &DeviceScope,
    route: &str,
    usage: Usage,
) -> Result<(), Error> {
    let row = entity::ActiveModel {
        id: Set(uuid::Uuid::new_v4()),
        tenant_id: Set(device.tenant().as_str().to_owned()),
        device_id: Set(device.device_id().to_owned()),
        route: Set(route.to_owned()),
        prompt_tokens: Set(as_i64(usage.prompt_tokens)),
        completion_tokens: Set(as_i64(usage.completion_tokens)),
        total_tokens: Set(as_i64(usage.total_tokens)),
        created_at: Set(crate::db::now()),
    };
    entity::Entity::insert(row).exec_without_returning(db).await?;
    Ok(())
}

#[derive(Debug, FromQueryResult)]
struct Totals {
    calls: Option<i64>,
    prompt: Option<i64>,
    completion: Option<i64>,
    total: Option<i64>,
}

/// A tenant's metered calls and tokens in `[since, until)`: (calls, usage).
pub async fn usage_totals<C: ConnectionTrait>(
    db: &C,
    tenant: &TenantScope,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<(u64, Usage), Error> {
    use entity::Column;
    // CAST: Postgres sums BIGINT into NUMERIC, which does not decode as i64.
    let sum = |column: Column| Expr::cust(format!("CAST(COALESCE(SUM({}), 0) AS BIGINT)", column.as_str()));
    let totals = tenant
        .find::<entity::Entity>()
        .select_only()
        .column_as(Expr::cust("COUNT(*)"), "calls")
        .column_as(sum(Column::PromptTokens), "prompt")
        .column_as(sum(Column::CompletionTokens), "completion")
        .column_as(sum(Column::TotalTokens), "total")
        .filter(Column::CreatedAt.gte(since))
        .filter(Column::CreatedAt.lt(until))
        .into_model::<Totals>()
        .one(db)
        .await?;
    let n = |v: Option<i64>| v.and_then(|v| u64::try_from(v).ok()).unwrap_or(0);
    Ok(match totals {
        Some(t) => (
            n(t.calls),
            Usage { prompt_tokens: n(t.prompt), completion_tokens: n(t.completion), total_tokens: n(t.total) },
        ),
        None => (0, Usage::default()),
    })
}
