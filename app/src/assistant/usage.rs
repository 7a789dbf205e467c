//! The token meter: one `assistant_usage` row per provider call, per tenant.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, FromQueryResult, IdenStatic, QueryFilter, QuerySelect, Set,
};

use crate::assistant::guard::Usage;
use crate::error::Error;

/// The `assistant_usage` table.
pub mod entity {
    use sea_orm::entity::prelude::*;

    /// One metered provider call.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "assistant_usage")]
    pub struct Model {
        /// Row id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// Tenant billed.
        pub tenant_id: String,
        /// Calling device.
        pub device_id: String,
        /// `assistant` or `frame`.
        pub route: String,
        /// Prompt tokens.
        pub prompt_tokens: i64,
        /// Completion tokens.
        pub completion_tokens: i64,
        /// Their sum as the provider reports it.
        pub total_tokens: i64,
        /// When the call finished.
        pub created_at: DateTimeUtc,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

fn as_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Records one call's tokens for `tenant`.
pub async fn record(
    db: &DatabaseConnection,
    tenant: &str,
    device: &str,
    route: &str,
    usage: Usage,
) -> Result<(), Error> {
    let row = entity::ActiveModel {
        id: Set(uuid::Uuid::new_v4()),
        tenant_id: Set(tenant.to_owned()),
        device_id: Set(device.to_owned()),
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
pub async fn totals(
    db: &DatabaseConnection,
    tenant: &str,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<(u64, Usage), Error> {
    use entity::Column;
    // CAST: Postgres sums BIGINT into NUMERIC, which does not decode as i64.
    let sum = |column: Column| Expr::cust(format!("CAST(COALESCE(SUM({}), 0) AS BIGINT)", column.as_str()));
    let totals = entity::Entity::find()
        .select_only()
        .column_as(Expr::cust("COUNT(*)"), "calls")
        .column_as(sum(Column::PromptTokens), "prompt")
        .column_as(sum(Column::CompletionTokens), "completion")
        .column_as(sum(Column::TotalTokens), "total")
        .filter(Column::TenantId.eq(tenant))
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
