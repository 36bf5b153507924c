//! `/api/v1/services`: the catalogue. Anyone browses; administrators edit.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use tozalash_app::CatalogService;
use tozalash_domain::page::total_pages;
use tozalash_domain::{
    NewService, PageRequest, SearchText, Service, ServicePatch, ServiceQuery, ServiceSort,
    ValidationErrors,
};

use super::{method_not_allowed, timestamp};
use crate::auth::AdminUser;
use crate::error::ApiError;
use crate::extract::{non_null, JsonBody, PathId, QueryParams};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/services")
            .route(web::get().to(list))
            .route(web::post().to(create))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/services/{id}")
            .route(web::get().to(get))
            .route(web::patch().to(update))
            .route(web::delete().to(delete))
            .default_service(web::to(method_not_allowed)),
    );
}

/// `GET /services?page&limit&q&sort`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    page: Option<u32>,
    limit: Option<u32>,
    /// Case-insensitive part of the name.
    q: Option<String>,
    /// `name`, `price` or `createdAt`, `-` first for descending.
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
        match (page, search, sort) {
            (Some(page), Some(search), Some(sort)) => Ok(Self { page, search, sort }),
            _ => Err(errors),
        }
    }
}

/// The body of `POST /services`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateServiceBody {
    name: String,
    #[serde(default, deserialize_with = "non_null")]
    description: Option<String>,
    /// Minor currency units, a whole number.
    price: i64,
}

impl TryFrom<CreateServiceBody> for NewService {
    type Error = ValidationErrors;
    fn try_from(body: CreateServiceBody) -> Result<Self, Self::Error> {
        NewService::parse(&body.name, body.description.as_deref(), body.price)
    }
}

/// The body of `PATCH /services/{id}`: any subset of the fields, none `null`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateServiceBody {
    #[serde(default, deserialize_with = "non_null")]
    name: Option<String>,
    #[serde(default, deserialize_with = "non_null")]
    description: Option<String>,
    #[serde(default, deserialize_with = "non_null")]
    price: Option<i64>,
}

impl TryFrom<UpdateServiceBody> for ServicePatch {
    type Error = ValidationErrors;
    fn try_from(body: UpdateServiceBody) -> Result<Self, Self::Error> {
        ServicePatch::parse(body.name.as_deref(), body.description.as_deref(), body.price)
    }
}

/// A service as the API shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceView<'a> {
    id: String,
    name: &'a str,
    description: &'a str,
    price: i64,
    created_at: String,
    updated_at: String,
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
        }
    }
}

/// The list envelope: `{data, meta:{page,limit,total,totalPages}}`.
#[derive(Debug, Serialize)]
pub struct PageView<T> {
    data: Vec<T>,
    meta: PageMeta,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PageMeta {
    page: u32,
    limit: u32,
    total: u64,
    total_pages: u64,
}

impl<T> PageView<T> {
    /// `data` is the page's items, already turned into views.
    pub fn new(data: Vec<T>, total: u64, request: PageRequest) -> Self {
        Self {
            data,
            meta: PageMeta {
                page: request.page(),
                limit: request.limit(),
                total,
                total_pages: total_pages(total, request.limit()),
            },
        }
    }
}

async fn list(
    catalog: web::Data<CatalogService>,
    QueryParams(params): QueryParams<ListParams>,
) -> Result<HttpResponse, ApiError> {
    let query = ServiceQuery::try_from(params).map_err(ApiError::validation)?;
    let page = catalog.list(&query).await?;
    let data = page.items.iter().map(ServiceView::from).collect();
    Ok(HttpResponse::Ok().json(PageView::new(data, page.total, query.page)))
}

async fn get(
    catalog: web::Data<CatalogService>,
    PathId(id): PathId,
) -> Result<HttpResponse, ApiError> {
    let service = catalog.get(id).await?;
    Ok(HttpResponse::Ok().json(ServiceView::from(&service)))
}

async fn create(
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

async fn update(
    AdminUser(admin): AdminUser,
    PathId(id): PathId,
    catalog: web::Data<CatalogService>,
    JsonBody(body): JsonBody<UpdateServiceBody>,
) -> Result<HttpResponse, ApiError> {
    let patch = ServicePatch::try_from(body).map_err(ApiError::validation)?;
    let service = catalog.update(&admin, id, patch).await?;
    Ok(HttpResponse::Ok().json(ServiceView::from(&service)))
}

async fn delete(
    AdminUser(admin): AdminUser,
    PathId(id): PathId,
    catalog: web::Data<CatalogService>,
) -> Result<HttpResponse, ApiError> {
    catalog.delete(&admin, id).await?;
    Ok(HttpResponse::NoContent().finish())
}
