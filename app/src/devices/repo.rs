//! Device queries; every one is scoped to a tenant.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use replenish_api::EventType;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use secrecy::ExposeSecret;

use crate::auth::tokens::{TokenKind, issue_token};
use crate::changes::{Change, Changed, announce};
use crate::db::retry::{UPSERT_ATTEMPTS, lost_unique_race, retry};
use crate::db::scope::{DeviceScope, TenantScope};
use crate::db::{is_unique_violation, now};
use crate::devices::context::DeviceContext;
use crate::devices::entity;
use crate::devices::model::DeviceViewExt as _;
use crate::devices::model::{DeviceSpec, DeviceView, NewDevice};
use crate::error::{Error, FieldError};
use crate::events::{self, NewEvent};
use crate::http::{PageRequest, ResourceId};
use crate::stores;

/// What a device registration did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegisterOutcome {
    /// Registered (or re-registered after revocation) with a new token.
    Issued,
    /// The stored details were changed; the token is unchanged.
    Updated,
    /// Already as requested.
    Unchanged,
}

/// How to treat a device id that already exists and is active.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnExisting {
    /// Bring its details in line (admin PUT, idempotent).
    Update,
    /// Refuse with 409 (merchant POST).
    Conflict,
}

fn unknown_store(field: &str, store: &str) -> Error {
    Error::Validation(vec![FieldError::new(field, format!("store {store} does not exist"))])
}

/// Registers device `id` with `spec`, or brings an existing one in line.
pub async fn register(
    db: &DatabaseConnection,
    tenant: &TenantScope,
    id: &ResourceId,
    spec: &DeviceSpec,
    on_existing: OnExisting,
) -> Result<Changed<(RegisterOutcome, DeviceView)>, Error> {
    retry(UPSERT_ATTEMPTS, lost_unique_race, || try_register(db, tenant, id, spec, on_existing)).await
}

async fn try_register(
    db: &DatabaseConnection,
    tenant: &TenantScope,
    id: &ResourceId,
    spec: &DeviceSpec,
    on_existing: OnExisting,
) -> Result<Changed<(RegisterOutcome, DeviceView)>, Error> {
    let txn = crate::db::begin_write(db).await?;
    // Held until commit: a concurrent deactivation either revokes this device or is seen here.
    crate::tenants::repo::active::lock_active(&txn, tenant).await?;
    if !stores::repo::exists(&txn, tenant, spec.store.as_str()).await? {
        return Err(unknown_store("store", spec.store.as_str()));
    }
    let now = now();
    let existing = tenant.find::<entity::Entity>().filter(entity::Column::Id.eq(id.as_str())).one(&txn).await?;
    let device_changed = || Change::Device { tenant: tenant.to_string(), device: id.to_string() };
    // A device never seen before is in no cache: it needs no notice.
    let (outcome, model, token, changes) = match existing {
        None => {
            let token = issue_token(TokenKind::Device);
            let model = entity::ActiveModel::from(new_row(tenant.as_str(), id.as_str(), spec, token.hash, now))
                .insert(&txn)
                .await?;
            (RegisterOutcome::Issued, model, Some(token.secret), Vec::new())
        }
        Some(current) if current.active && on_existing == OnExisting::Conflict => {
            return Err(Error::Conflict {
                kind: "device-exists",
                detail: format!("device {} is already registered", current.id),
            });
        }
        Some(current) if current.active && matches_spec(&current, spec) => {
            (RegisterOutcome::Unchanged, current, None, Vec::new())
        }
        Some(current) => {
            let reissue = !current.active;
            let mut active: entity::ActiveModel = current.into();
            active.store_id = Set(spec.store.to_string());
            active.owner = Set(spec.owner.trim().to_owned());
            active.model = Set(spec.model.trim().to_owned());
            active.serial = Set(spec.serial.as_deref().map(|s| s.trim().to_owned()));
            active.test = Set(spec.test);
            active.updated_at = Set(now);
            let token = reissue.then(|| issue_token(TokenKind::Device));
            if let Some(token) = &token {
                active.token_hash = Set(token.hash.clone());
                active.active = Set(true);
            }
            let model = active.update(&txn).await?;
            let (outcome, changes) = if reissue {
                (RegisterOutcome::Issued, vec![Change::Credentials { tenant: tenant.to_string() }, device_changed()])
            } else {
                (RegisterOutcome::Updated, vec![device_changed()])
            };
            (outcome, model, token.map(|t| t.secret), changes)
        }
    };
    if outcome != RegisterOutcome::Unchanged {
        let event = NewEvent::of(EventType::DeviceRegistered, &model.id, model.test, &DeviceView::from_model(&model))?;
        events::record(&txn, tenant, event, now).await?;
    }
    announce(&txn, &changes).await?;
    txn.commit().await?;
    let mut view = DeviceView::from_model(&model);
    view.token = token.map(|t| t.expose_secret().to_owned());
    Ok(Changed::new((outcome, view), changes))
}

fn matches_spec(current: &entity::Model, spec: &DeviceSpec) -> bool {
    current.store_id == spec.store.as_str()
        && current.owner == spec.owner.trim()
        && current.model == spec.model.trim()
        && current.serial.as_deref() == spec.serial.as_deref().map(str::trim)
        && current.test == spec.test
}

fn new_row(tenant: &str, id: &str, spec: &DeviceSpec, token_hash: String, now: DateTime<Utc>) -> entity::Model {
    entity::Model {
        tenant_id: tenant.to_owned(),
        id: id.to_owned(),
        store_id: spec.store.to_string(),
        owner: spec.owner.trim().to_owned(),
        model: spec.model.trim().to_owned(),
        serial: spec.serial.as_deref().map(|s| s.trim().to_owned()),
        token_hash,
        active: true,
        created_at: now,
        updated_at: now,
        revoked_at: None,
        test: spec.test,
    }
}

/// Registers a whole batch in one transaction: all of them or none.
///
/// Any id that already exists (active or revoked) fails the batch with 409,
/// and any unknown store with 422, before anything is written.
pub async fn register_batch(
    db: &DatabaseConnection,
    tenant: &TenantScope,
    devices: &[NewDevice],
) -> Result<Vec<DeviceView>, Error> {
    let txn = crate::db::begin_write(db).await?;
    let result = insert_batch(&txn, tenant, devices).await;
    match result {
        Ok(views) => {
            txn.commit().await?;
            Ok(views)
        }
        Err(Error::Database(err)) if is_unique_violation(&err) => Err(Error::Conflict {
            kind: "device-exists",
            detail: "a device in this batch was registered concurrently; nothing was registered".into(),
        }),
        Err(other) => Err(other),
    }
}

async fn insert_batch(
    txn: &crate::db::WriteTxn,
    tenant: &TenantScope,
    devices: &[NewDevice],
) -> Result<Vec<DeviceView>, Error> {
    // The caller's API key was checked before this transaction began; the
    // tenant may have been deactivated since. Held until commit, as in `register`.
    crate::tenants::repo::active::lock_active(txn, tenant).await?;
    let mut wanted_stores: Vec<String> = devices.iter().map(|d| d.store.to_string()).collect();
    wanted_stores.sort();
    wanted_stores.dedup();
    let known = stores::repo::existing_ids(txn, tenant, wanted_stores).await?;
    let missing: Vec<FieldError> = devices
        .iter()
        .enumerate()
        .filter(|(_, d)| !known.iter().any(|k| k == d.store.as_str()))
        .map(|(i, d)| FieldError::new(format!("devices[{i}].store"), format!("store {} does not exist", d.store)))
        .collect();
    if !missing.is_empty() {
        return Err(Error::Validation(missing));
    }
    let ids: Vec<&str> = devices.iter().map(|d| d.device_id.as_str()).collect();
    let mut taken = Vec::new();
    for chunk in ids.chunks(500) {
        let found =
            tenant.find::<entity::Entity>().filter(entity::Column::Id.is_in(chunk.iter().copied())).all(txn).await?;
        taken.extend(found.into_iter().map(|d| d.id));
    }
    if !taken.is_empty() {
        taken.sort();
        return Err(Error::Conflict {
            kind: "device-exists",
            detail: format!("already registered: {}; nothing was registered", taken.join(", ")),
        });
    }
    let now = now();
    let mut views = Vec::with_capacity(devices.len());
    let mut rows = Vec::with_capacity(devices.len());
    let mut registered = Vec::with_capacity(devices.len());
    for device in devices {
        let token = issue_token(TokenKind::Device);
        let row = new_row(tenant.as_str(), device.device_id.as_str(), &device.spec(), token.hash, now);
        let mut view = DeviceView::from_model(&row);
        registered.push(NewEvent::of(EventType::DeviceRegistered, &row.id, row.test, &view)?);
        view.token = Some(token.secret.expose_secret().to_owned());
        views.push(view);
        rows.push(entity::ActiveModel::from(row));
    }
    // 12 columns a row: 250 rows stay well below every backend's bind-parameter limit.
    while !rows.is_empty() {
        let rest = rows.split_off(rows.len().min(250));
        entity::Entity::insert_many(std::mem::replace(&mut rows, rest)).exec(txn).await?;
    }
    // 10 columns an event: the same bound on bind parameters.
    while !registered.is_empty() {
        let rest = registered.split_off(registered.len().min(250));
        events::record_all(txn, tenant, std::mem::replace(&mut registered, rest), now).await?;
    }
    Ok(views)
}

/// Device `id` of the tenant, revoked or not; `NotFound` when there is none.
async fn find(db: &impl ConnectionTrait, tenant: &TenantScope, id: &ResourceId) -> Result<entity::Model, Error> {
    let device = tenant.find::<entity::Entity>().filter(entity::Column::Id.eq(id.as_str())).one(db).await?;
    device.ok_or(Error::NotFound("device"))
}

/// One device of the tenant.
pub async fn get(db: &DatabaseConnection, tenant: &TenantScope, id: &ResourceId) -> Result<DeviceView, Error> {
    let model = find(db, tenant, id).await?;
    Ok(DeviceView::from_model(&model))
}

/// A page of the tenant's devices, ordered by id.
pub async fn list(db: &DatabaseConnection, tenant: &TenantScope, page: &PageRequest) -> Result<Vec<DeviceView>, Error> {
    let mut query = tenant.find::<entity::Entity>().order_by_asc(entity::Column::Id);
    if let Some(after) = &page.after {
        query = query.filter(entity::Column::Id.gt(after.as_str()));
    }
    Ok(query.limit(page.limit + 1).all(db).await?.iter().map(DeviceView::from_model).collect())
}

/// What the dashboard's device search asks for.
#[derive(Debug, Clone, Copy)]
pub struct DeviceSearch<'a> {
    /// Text found in the id, owner, store or model (empty: any).
    pub text: &'a str,
    /// Only active (`Some(true)`) or revoked (`Some(false)`) devices.
    pub active: Option<bool>,
}

/// A page of the tenant's devices matching `search`, ordered by id (one more than
/// the page's limit when there are more).
pub async fn search(
    db: &DatabaseConnection,
    tenant: &TenantScope,
    search: &DeviceSearch<'_>,
    page: &PageRequest,
) -> Result<Vec<DeviceView>, Error> {
    let mut query = tenant.find::<entity::Entity>().order_by_asc(entity::Column::Id);
    if !search.text.is_empty() {
        let text = search.text;
        query = query.filter(
            Condition::any()
                .add(entity::Column::Id.contains(text))
                .add(entity::Column::Owner.contains(text))
                .add(entity::Column::StoreId.contains(text))
                .add(entity::Column::Model.contains(text)),
        );
    }
    if let Some(active) = search.active {
        query = query.filter(entity::Column::Active.eq(active));
    }
    if let Some(after) = &page.after {
        query = query.filter(entity::Column::Id.gt(after.as_str()));
    }
    Ok(query.limit(page.limit + 1).all(db).await?.iter().map(DeviceView::from_model).collect())
}

/// Revokes a device's token; revoking twice is fine.
pub async fn revoke(db: &DatabaseConnection, tenant: &TenantScope, id: &ResourceId) -> Result<Changed<()>, Error> {
    let txn = crate::db::begin_write(db).await?;
    let device = find(&txn, tenant, id).await?;
    let mut changes = Vec::new();
    if device.active {
        let now = now();
        let mut active: entity::ActiveModel = device.into();
        active.active = Set(false);
        active.revoked_at = Set(Some(now));
        active.updated_at = Set(now);
        let revoked = active.update(&txn).await?;
        let event =
            NewEvent::of(EventType::DeviceRevoked, &revoked.id, revoked.test, &DeviceView::from_model(&revoked))?;
        events::record(&txn, tenant, event, now).await?;
        changes = vec![
            Change::Credentials { tenant: tenant.to_string() },
            Change::Device { tenant: tenant.to_string(), device: id.to_string() },
        ];
        announce(&txn, &changes).await?;
    }
    txn.commit().await?;
    Ok(Changed::new((), changes))
}

/// Revokes every device of a tenant, with a `device.revoked` event each
/// (part of deactivation's transaction).
pub async fn revoke_all(txn: &impl ConnectionTrait, tenant: &TenantScope, now: DateTime<Utc>) -> Result<(), Error> {
    let revoked = tenant
        .update::<entity::Entity>()
        .col_expr(entity::Column::Active, Expr::value(false))
        .col_expr(entity::Column::RevokedAt, Expr::value(now))
        .col_expr(entity::Column::UpdatedAt, Expr::value(now))
        .filter(entity::Column::Active.eq(true))
        .exec_with_returning(txn)
        .await?;
    let mut events = revoked
        .iter()
        .map(|d| NewEvent::of(EventType::DeviceRevoked, &d.id, d.test, &DeviceView::from_model(d)))
        .collect::<Result<Vec<_>, _>>()?;
    while !events.is_empty() {
        let rest = events.split_off(events.len().min(250));
        events::record_all(txn, tenant, std::mem::replace(&mut events, rest), now).await?;
    }
    Ok(())
}

/// The device as the detection path needs it, whatever its token's state
/// (the credential check already happened).
pub async fn context(db: &DatabaseConnection, device: &DeviceScope) -> Result<Option<DeviceContext>, Error> {
    let row = device.find::<entity::Entity>().one(db).await?;
    Ok(row.map(|row| DeviceContext {
        tenant_id: row.tenant_id,
        device_id: row.id,
        store_id: row.store_id,
        owner: row.owner,
        test: row.test,
        scope: device.clone(),
    }))
}

/// The activation contexts of several devices in one statement, keyed by
/// (tenant, device); devices that do not exist are absent.
pub async fn contexts(
    db: &DatabaseConnection,
    devices: &[DeviceScope],
) -> Result<HashMap<(String, String), DeviceContext>, Error> {
    if devices.is_empty() {
        return Ok(HashMap::new());
    }
    let any = devices.iter().fold(Condition::any(), |any, d| any.add(d.condition::<entity::Entity>()));
    let rows = entity::Entity::find().filter(any).all(db).await?;
    let mut found = HashMap::with_capacity(rows.len());
    for row in rows {
        let scope = DeviceScope::parse(&row.tenant_id, &row.id)?;
        let context = DeviceContext {
            tenant_id: row.tenant_id.clone(),
            device_id: row.id.clone(),
            store_id: row.store_id,
            owner: row.owner,
            test: row.test,
            scope,
        };
        found.insert((row.tenant_id, row.id), context);
    }
    Ok(found)
}
