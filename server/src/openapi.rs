//! The OpenAPI document (`GET /openapi.json`), derived from the handlers' annotations.

use crate::dto;
use crate::error::ErrorBody;
use crate::routes;
use utoipa::Modify;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

/// The API's document.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "baton control plane", description = "Durable tasks, sessions and remote workers on fenced leases."),
    paths(
        routes::tasks::submit, routes::tasks::get_one, routes::tasks::list, routes::tasks::counts,
        routes::tasks::cancel, routes::tasks::explain,
        routes::sessions::connect, routes::sessions::disconnect, routes::sessions::list,
        routes::workers::poll, routes::workers::heartbeat, routes::workers::complete,
        routes::workers::fail,
        routes::ops::healthz, routes::ops::metrics, routes::ops::openapi,
    ),
    components(schemas(ErrorBody, dto::TaskDto, dto::ProgressDto, dto::LeaseDto)),
    modifiers(&Bearer)
)]
pub struct ApiDoc;

/// Adds the `bearer` security scheme.
struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}
