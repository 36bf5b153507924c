//! `/api/v1/services`: the catalogue. Anyone browses; administrators edit.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use tozalash_app::CatalogService;
use tozalash_domain::{
    Description, NewService, PageRequest, SearchText, Service, ServiceName, ServicePatch,
    ServiceQuery, ServiceSort, ValidationErrors,
};
use utoipa::openapi::Object;
use utoipa::{OpenApi, ToSchema};

use super::{endpoint, timestamp, Endpoint};
use crate::auth::AdminUser;
use crate::conditional::{self, IfMatch, IfNoneMatch};
use crate::error::responses::problems;
use crate::error::ApiError;
use crate::extract::{non_null, JsonBody, PathId, QueryParams};
use crate::page::PageView;
use crate::schema::{self, IdParam, SearchParam};

/// The catalogue's part of the OpenAPI document, mounted like [`ENDPOINTS`].
#[derive(Debug, OpenApi)]
#[openapi(
    paths(list, create, get, update, delete),
    modifiers(&ListProblems, &GetProblems, &CreateProblems, &UpdateProblems, &DeleteProblems, &CONDITIONAL),
    tags((name = "services", description = "The catalogue of cleaning services: anyone browses, administrators edit.")),
)]
pub struct Api;

/// A service's GET and PATCH carry its `ETag` and honour `If-None-Match` / `If-Match`.
const CONDITIONAL: conditional::Documented =
    conditional::Documented { reads: &["getService"], writes: &["updateService"] };

/// Mounted at `/api/v1`.
pub const ENDPOINTS: &[Endpoint] = &[
    endpoint!(GET "/services" => list),
    endpoint!(POST "/services" => create),
    endpoint!(GET "/services/{id}" => get),
    endpoint!(PATCH "/services/{id}" => update),
    endpoint!(DELETE "/services/{id}" => delete),
];

/// `GET /services?page&limit&q&sort&archived`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListParams {
    /// The page, from 1.
    #[param(minimum = 1, maximum = 1_000_000, default = 1, example = 1)]
    page: Option<u32>,
    /// Items per page.
    #[param(minimum = 1, maximum = 100, default = 20, example = 20)]
    limit: Option<u32>,
    /// Keeps services whose name contains this, ignoring case, apostrophe
    /// look-alikes (ʻ ʼ ' ’ ‘ `) and the alphabet: Uzbek Latin and Cyrillic
    /// find each other (`гилам` finds "Gilam yuvish", `shkaf` finds "Шкаф").
    /// Trimmed; empty means no filter.
    #[param(value_type = Option<SearchParam>, inline, example = "gilam")]
    q: Option<String>,
    /// `true`: only the archived services, for administrators (401 without a
    /// session, 403 for a customer). `false` or absent: the public catalogue.
    archived: Option<bool>,
    /// The order: `name`, `price` or `createdAt`, `-` first for descending; ties by id.
    #[param(
        value_type = Option<String>,
        pattern = "^-?(name|price|createdAt)$",
        default = "name",
        example = "-price"
    )]
    sort: Option<String>,
}

impl TryFrom<ListParams> for ServiceQuery {
    type Error = ValidationErrors;

    fn try_from(params: ListParams) -> Result<Self, Self::Error> {
        let mut errors = ValidationErrors::new();
        let page = PageRequest::new(params.page, params.limit)
            .map_err(|e| e.errors().iter().cloned().for_each(|e| errors.push(e)))
            .ok();
        let search = params.q.as_deref().map_or(Ok(None), |q| SearchText::parse("q", q));
        let search = errors.check(search);
        let sort = params.sort.as_deref().map_or(Ok(ServiceSort::default()), str::parse);
        let sort = errors.check(sort);
        let archived = params.archived.unwrap_or(false);
        match (page, search, sort) {
            (Some(page), Some(search), Some(sort)) => Ok(Self { page, search, sort, archived }),
            _ => Err(errors),
        }
    }
}

/// The body of `POST /services`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "name": "Gilam yuvish (Carpet washing)",
    "description": "Deep washing of carpets up to 12 m², pick-up and delivery included.",
    "price": 15000000
}))]
pub(crate) struct CreateServiceBody {
    #[schema(schema_with = name_schema)]
    name: String,
    #[serde(default, deserialize_with = "non_null")]
    #[schema(schema_with = new_description_schema)]
    description: Option<String>,
    #[schema(schema_with = new_price_schema)]
    price: i64,
}

impl TryFrom<CreateServiceBody> for NewService {
    type Error = ValidationErrors;
    fn try_from(body: CreateServiceBody) -> Result<Self, Self::Error> {
        NewService::parse(&body.name, body.description.as_deref(), body.price)
    }
}

/// The body of `PATCH /services/{id}`: any subset of the fields, none `null`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"price": 17500000}))]
pub(crate) struct UpdateServiceBody {
    #[serde(default, deserialize_with = "non_null")]
    #[schema(schema_with = name_schema)]
    name: Option<String>,
    #[serde(default, deserialize_with = "non_null")]
    #[schema(schema_with = description_schema)]
    description: Option<String>,
    #[serde(default, deserialize_with = "non_null")]
    #[schema(schema_with = price_schema)]
    price: Option<i64>,
    /// `true` archives the service (as `DELETE` does), `false` restores it to
    /// the catalogue.
    #[serde(default, deserialize_with = "non_null")]
    archived: Option<bool>,
}

impl TryFrom<UpdateServiceBody> for ServicePatch {
    type Error = ValidationErrors;
    fn try_from(body: UpdateServiceBody) -> Result<Self, Self::Error> {
        let patch =
            ServicePatch::parse(body.name.as_deref(), body.description.as_deref(), body.price)?;
        Ok(ServicePatch { archived: body.archived, ..patch })
    }
}

// The bodies' fields. utoipa reads no doc comment beside `schema_with`, so each
// schema carries its field's description; the rules come from the domain.

fn name_schema() -> Object {
    schema::one_line(ServiceName::MAX_CHARS)
        .min_length(Some(1))
        .description(Some(
            "1 to 100 characters after trimming, on one line, at least one of them visible. \
             Unique ignoring case, surrounding and repeated spaces and apostrophe look-alikes, \
             archived services included (409 `service_name_taken`).",
        ))
        .build()
}

fn description_schema() -> Object {
    schema::lines(Description::MAX_CHARS)
        .description(Some("Up to 2000 characters after trimming; may span lines."))
        .build()
}

fn new_description_schema() -> Object {
    schema::lines(Description::MAX_CHARS)
        .description(Some(
            "Up to 2000 characters after trimming; may span lines. Empty when omitted.",
        ))
        .build()
}

fn price_schema() -> Object {
    schema::money()
        .description(Some("In the currency's smallest unit, a whole number from 0 to 10^12."))
        .build()
}

fn new_price_schema() -> Object {
    schema::money()
        .description(Some(
            "In the currency's smallest unit (tiyin), a whole number from 0 to 10^12.",
        ))
        .build()
}

fn view_price_schema() -> Object {
    schema::money().description(Some("In the currency's smallest unit.")).build()
}

/// A cleaning service of the catalogue.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "id": "665f1c2e9b1d4a00abcdef01",
    "name": "Gilam yuvish (Carpet washing)",
    "description": "Deep washing of carpets up to 12 m², pick-up and delivery included.",
    "price": 15000000,
    "createdAt": "2026-05-01T09:30:00.000Z",
    "updatedAt": "2026-05-01T09:30:00.000Z",
    "archived": false,
    "archivedAt": null
}))]
pub struct ServiceView<'a> {
    #[schema(schema_with = schema::response_id)]
    id: String,
    #[schema(min_length = 1, max_length = 100)]
    name: &'a str,
    /// Empty when there is none.
    #[schema(max_length = 2000)]
    description: &'a str,
    #[schema(schema_with = view_price_schema)]
    price: i64,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
    /// Whether the service is archived: out of the public catalogue, not
    /// orderable; only administrators see archived services.
    archived: bool,
    /// When it was archived; `null` while it is in the catalogue.
    #[schema(format = DateTime)]
    archived_at: Option<String>,
}

impl<'a> From<&'a Service> for ServiceView<'a> {
    fn from(s: &'a Service) -> Self {
        Self {
            id: s.id.to_hex(),
            name: s.name.as_str(),
            description: s.description.as_str(),
            price: s.price.minor_units(),
            created_at: timestamp(&s.created_at),
            updated_at: timestamp(&s.updated_at),
            archived: s.is_archived(),
            archived_at: s.archived_at.as_ref().map(timestamp),
        }
    }
}

problems!(ListProblems: UNAUTHENTICATED, INVALID_TOKEN, FORBIDDEN, VALIDATION_FAILED, UNAVAILABLE);

/// List the catalogue
///
/// Anyone may browse. `q` searches names ignoring case, apostrophe look-alikes
/// and the alphabet (Uzbek Latin or Cyrillic); `sort` orders by name
/// (default), price or creation time. Administrators list the archived
/// services with `archived=true`.
#[utoipa::path(
    get, path = "/services", tag = "services", operation_id = "listServices",
    params(ListParams),
    responses(
        (status = 200, description = "A page of services.", body = PageView<ServiceView>),
        ListProblems,
    ),
)]
pub(crate) async fn list(
    req: HttpRequest,
    catalog: web::Data<CatalogService>,
    QueryParams(params): QueryParams<ListParams>,
) -> Result<HttpResponse, ApiError> {
    let query = ServiceQuery::try_from(params).map_err(ApiError::validation)?;
    let page = if query.archived {
        let AdminUser(admin) = AdminUser::from_request(&req, &mut Payload::None).await?;
        catalog.list_archived(&admin, &query).await?
    } else {
        catalog.list(&query).await?
    };
    let data = page.items.iter().map(ServiceView::from).collect();
    Ok(HttpResponse::Ok().json(PageView::new(data, page.total, query.page)))
}

problems!(GetProblems: INVALID_ID, NOT_FOUND, UNAVAILABLE);

/// Get a service
#[utoipa::path(
    get, path = "/services/{id}", tag = "services", operation_id = "getService",
    params(("id" = inline(IdParam), Path, description = "The service's id.", example = "665f1c2e9b1d4a00abcdef01")),
    responses(
        (status = 200, description = "The service.", body = ServiceView),
        GetProblems,
    ),
)]
pub(crate) async fn get(
    catalog: web::Data<CatalogService>,
    PathId(id): PathId,
    cached: IfNoneMatch,
) -> Result<HttpResponse, ApiError> {
    let service = catalog.get(id).await?;
    Ok(cached.respond(service.version, &ServiceView::from(&service)))
}

problems!(CreateProblems: MALFORMED_JSON, UNAUTHENTICATED, INVALID_TOKEN, FORBIDDEN, CSRF_FAILED, SERVICE_NAME_TAKEN, REQUEST_TIMEOUT, PAYLOAD_TOO_LARGE, UNSUPPORTED_MEDIA_TYPE, VALIDATION_FAILED, UNAVAILABLE);

/// Add a service
///
/// Administrators only. The name must not be another service's, ignoring
/// case and spaces, archived services included (409 `service_name_taken`).
#[utoipa::path(
    post, path = "/services", tag = "services", operation_id = "createService",
    request_body = CreateServiceBody,
    security(("bearerAuth" = []), ("cookieAuth" = [])),
    responses(
        (status = 201, description = "The new service.", body = ServiceView,
            headers(("Location" = String, description = "The new service's address.")),
            links(
                ("GetService" = (operation_id = "getService", parameters(("id" = "$response.body#/id")))),
                ("UpdateService" = (operation_id = "updateService", parameters(("id" = "$response.body#/id")))),
                ("DeleteService" = (operation_id = "deleteService", parameters(("id" = "$response.body#/id")))),
            ),
        ),
        CreateProblems,
    ),
)]
pub(crate) async fn create(
    AdminUser(admin): AdminUser,
    catalog: web::Data<CatalogService>,
    JsonBody(body): JsonBody<CreateServiceBody>,
) -> Result<HttpResponse, ApiError> {
    let new = NewService::try_from(body).map_err(ApiError::validation)?;
    let service = catalog.create(&admin, new).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/services/{}", service.id)))
        .json(ServiceView::from(&service)))
}

problems!(UpdateProblems: MALFORMED_JSON, INVALID_ID, UNAUTHENTICATED, INVALID_TOKEN, FORBIDDEN, CSRF_FAILED, NOT_FOUND, SERVICE_NAME_TAKEN, PRECONDITION_FAILED, REQUEST_TIMEOUT, PAYLOAD_TOO_LARGE, UNSUPPORTED_MEDIA_TYPE, VALIDATION_FAILED, UNAVAILABLE);

/// Change a service
///
/// Administrators only, archived services included. Any of `name`,
/// `description`, `price`, `archived`; `{}` changes nothing. `{"archived":
/// false}` restores an archived service to the catalogue. A name another
/// service has (ignoring case and spaces) is 409 `service_name_taken`. Orders
/// keep their snapshot of the name and price. Send the
/// `ETag` you read in `If-Match` so that a change made meanwhile by someone
/// else is not overwritten (412 `precondition_failed`).
#[utoipa::path(
    patch, path = "/services/{id}", tag = "services", operation_id = "updateService",
    params(("id" = inline(IdParam), Path, description = "The service's id.", example = "665f1c2e9b1d4a00abcdef01")),
    request_body = UpdateServiceBody,
    security(("bearerAuth" = []), ("cookieAuth" = [])),
    responses(
        (status = 200, description = "The service as it is now.", body = ServiceView),
        UpdateProblems,
    ),
)]
pub(crate) async fn update(
    AdminUser(admin): AdminUser,
    PathId(id): PathId,
    catalog: web::Data<CatalogService>,
    IfMatch(precondition): IfMatch,
    JsonBody(body): JsonBody<UpdateServiceBody>,
) -> Result<HttpResponse, ApiError> {
    let patch = ServicePatch::try_from(body).map_err(ApiError::validation)?;
    let service = catalog.update(&admin, id, patch, precondition).await?;
    Ok(conditional::tagged(service.version, &ServiceView::from(&service)))
}

problems!(DeleteProblems: INVALID_ID, UNAUTHENTICATED, INVALID_TOKEN, FORBIDDEN, CSRF_FAILED, NOT_FOUND, UNAVAILABLE);

/// Delete (archive) a service
///
/// Administrators only. The service is archived: it leaves the public
/// catalogue (its GET is 404) and cannot be ordered; orders keep their
/// snapshot of it. Administrators still list it with `archived=true` and
/// restore it with `PATCH {"archived": false}`. Deleting it again is 404.
#[utoipa::path(
    delete, path = "/services/{id}", tag = "services", operation_id = "deleteService",
    params(("id" = inline(IdParam), Path, description = "The service's id.", example = "665f1c2e9b1d4a00abcdef01")),
    security(("bearerAuth" = []), ("cookieAuth" = [])),
    responses(
        (status = 204, description = "Archived."),
        DeleteProblems,
    ),
)]
pub(crate) async fn delete(
    AdminUser(admin): AdminUser,
    PathId(id): PathId,
    catalog: web::Data<CatalogService>,
) -> Result<HttpResponse, ApiError> {
    catalog.delete(&admin, id).await?;
    Ok(HttpResponse::NoContent().finish())
}
