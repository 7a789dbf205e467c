//! The route handler every id-paged listing shares. It lives apart from
//! `http` because the handler it defines reads the application state, which
//! `http`, a lower layer, must not name.

/// Defines a `GET` handler that lists one kind of resource a page at a time in
/// id order. Products, stores, devices and tenants list the same way and differ
/// only in caller, tenant scope, repository and id field, so the handler (and
/// its OpenAPI operation) is written once here. Arguments: the doc comment (the
/// operation's summary), `name: path, tag`, `caller: Extractor => scope`, and
/// `repository list function => view type, id field`.
macro_rules! id_page_handler {
    (
        $(#[$doc:meta])*
        $name:ident: $path:tt, $tag:tt,
        $caller:ident: $caller_ty:ident => $scope:expr,
        $list:path => $view:ident, $id:ident $(,)?
    ) => {
        $(#[$doc])*
        #[utoipa::path(
            get, path = $path, tag = $tag,
            params(crate::http::PageQuery),
            responses((status = 200, body = crate::http::Page<$view>)),
        )]
        pub async fn $name(
            $caller: $caller_ty,
            state: actix_web::web::Data<crate::state::AppState>,
            query: actix_web::web::Query<crate::http::PageQuery>,
        ) -> Result<actix_web::web::Json<crate::http::Page<$view>>, crate::error::Error> {
            let page = query.validate()?;
            let items = $list(&state.db, $scope, &page).await?;
            Ok(actix_web::web::Json(crate::http::Page::from_overfetch(items, &page, |item| item.$id.clone())))
        }
    };
}
pub(crate) use id_page_handler;
