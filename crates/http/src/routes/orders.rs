//! `/api/v1/orders`: customers book cleanings and see their own orders;
//! administrators see all of them, complete or cancel them, and delete them.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use tozalash_app::orders::{OrderChange, PlaceOrder};
use tozalash_app::OrderService;
use tozalash_domain::{
    Address, FieldError, Notes, Order, OrderDetails, OrderQuery, OrderStatus, PageRequest,
    ValidationErrors,
};

use super::{method_not_allowed, timestamp};
use crate::auth::{AdminUser, AuthUser};
use crate::error::ApiError;
use crate::extract::{non_null, nullable, Instant, JsonBody, PathId, QueryParams, WireId};
use crate::routes::services::PageView;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/orders")
            .route(web::get().to(list))
            .route(web::post().to(place))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/orders/{id}")
            .route(web::get().to(get))
            .route(web::patch().to(change))
            .route(web::delete().to(delete))
            .default_service(web::to(method_not_allowed)),
    );
}

/// An order as the API shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderView<'a> {
    id: String,
    user_id: String,
    service_id: String,
    service_name: &'a str,
    price: i64,
    status: &'static str,
    scheduled_at: Option<String>,
    address: Option<&'a str>,
    notes: Option<&'a str>,
    created_at: String,
    updated_at: String,
}

impl<'a> From<&'a Order> for OrderView<'a> {
    fn from(o: &'a Order) -> Self {
        Self {
            id: o.id.to_hex(),
            user_id: o.user_id.to_hex(),
            service_id: o.service_id.to_hex(),
            service_name: o.service_name.as_str(),
            price: o.price.minor_units(),
            status: o.status.as_str(),
            scheduled_at: o.scheduled_at.as_ref().map(timestamp),
            address: o.address.as_ref().map(Address::as_str),
            notes: o.notes.as_ref().map(Notes::as_str),
            created_at: timestamp(&o.created_at),
            updated_at: timestamp(&o.updated_at),
        }
    }
}

/// `PENDING`, `COMPLETED` or `CANCELLED` on the wire.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
enum StatusParam {
    Pending,
    Completed,
    Cancelled,
}

impl From<StatusParam> for OrderStatus {
    fn from(s: StatusParam) -> Self {
        match s {
            StatusParam::Pending => OrderStatus::Pending,
            StatusParam::Completed => OrderStatus::Completed,
            StatusParam::Cancelled => OrderStatus::Cancelled,
        }
    }
}

/// The body of `POST /orders`. `userId` is for administrators ordering for a
/// customer; the status is never given.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PlaceOrderBody {
    service_id: WireId,
    #[serde(default, deserialize_with = "non_null")]
    user_id: Option<WireId>,
    #[serde(default)]
    scheduled_at: Option<Instant>,
    #[serde(default)]
    address: Option<String>,
    #[serde(default)]
    notes: Option<String>,
}

impl TryFrom<PlaceOrderBody> for PlaceOrder {
    type Error = ValidationErrors;
    fn try_from(body: PlaceOrderBody) -> Result<Self, Self::Error> {
        let mut errors = ValidationErrors::new();
        let request = PlaceOrder {
            service_id: body.service_id.0,
            for_user: body.user_id.map(|id| id.0),
            scheduled_at: body.scheduled_at.map(|at| at.0),
            address: body.address.and_then(|a| errors.check(Address::parse(&a))),
            notes: body.notes.and_then(|n| errors.check(Notes::parse(&n))),
        };
        errors.into_result(|| request)
    }
}

/// The body of `PATCH /orders/{id}`: either `{"status": …}` or any of the
/// details (`null` clears one).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ChangeOrderBody {
    #[serde(default, deserialize_with = "non_null")]
    status: Option<StatusParam>,
    #[serde(default, deserialize_with = "nullable")]
    scheduled_at: Option<Option<Instant>>,
    #[serde(default, deserialize_with = "nullable")]
    address: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    notes: Option<Option<String>>,
}

impl ChangeOrderBody {
    fn into_change(self) -> Result<OrderChange, ValidationErrors> {
        let has_details =
            self.scheduled_at.is_some() || self.address.is_some() || self.notes.is_some();
        match self.status {
            Some(_) if has_details => Err(FieldError::new(
                "status",
                "not_combinable",
                "change the status on its own, without other fields",
            )
            .into()),
            Some(status) => Ok(OrderChange::Status(status.into())),
            None => OrderDetails::parse(
                self.scheduled_at.map(|at| at.map(|at| at.0)),
                self.address.as_ref().map(|a| a.as_deref()),
                self.notes.as_ref().map(|n| n.as_deref()),
            )
            .map(OrderChange::Details),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ListParams {
    page: Option<u32>,
    limit: Option<u32>,
    status: Option<StatusParam>,
    user_id: Option<WireId>,
    service_id: Option<WireId>,
    /// Created at or after this instant.
    created_from: Option<Instant>,
    /// Created before this instant.
    created_to: Option<Instant>,
}

impl TryFrom<ListParams> for OrderQuery {
    type Error = ValidationErrors;
    fn try_from(p: ListParams) -> Result<Self, Self::Error> {
        Ok(Self {
            page: PageRequest::new(p.page, p.limit)?,
            user_id: p.user_id.map(|id| id.0),
            status: p.status.map(OrderStatus::from),
            service_id: p.service_id.map(|id| id.0),
            created_from: p.created_from.map(|at| at.0),
            created_to: p.created_to.map(|at| at.0),
        })
    }
}

async fn place(
    AuthUser(caller): AuthUser,
    orders: web::Data<OrderService>,
    JsonBody(body): JsonBody<PlaceOrderBody>,
) -> Result<HttpResponse, ApiError> {
    let request = PlaceOrder::try_from(body).map_err(ApiError::validation)?;
    let order = orders.place(&caller, request).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/orders/{}", order.id)))
        .json(OrderView::from(&order)))
}

async fn list(
    AuthUser(caller): AuthUser,
    orders: web::Data<OrderService>,
    QueryParams(params): QueryParams<ListParams>,
) -> Result<HttpResponse, ApiError> {
    let query = OrderQuery::try_from(params).map_err(ApiError::validation)?;
    let page_request = query.page;
    let page = orders.list(&caller, query).await?;
    let data = page.items.iter().map(OrderView::from).collect();
    Ok(HttpResponse::Ok().json(PageView::new(data, page.total, page_request)))
}

async fn get(
    AuthUser(caller): AuthUser,
    PathId(id): PathId,
    orders: web::Data<OrderService>,
) -> Result<HttpResponse, ApiError> {
    let order = orders.get(&caller, id).await?;
    Ok(HttpResponse::Ok().json(OrderView::from(&order)))
}

async fn change(
    AuthUser(caller): AuthUser,
    PathId(id): PathId,
    orders: web::Data<OrderService>,
    JsonBody(body): JsonBody<ChangeOrderBody>,
) -> Result<HttpResponse, ApiError> {
    let change = body.into_change().map_err(ApiError::validation)?;
    let order = orders.change(&caller, id, change).await?;
    Ok(HttpResponse::Ok().json(OrderView::from(&order)))
}

async fn delete(
    AdminUser(admin): AdminUser,
    PathId(id): PathId,
    orders: web::Data<OrderService>,
) -> Result<HttpResponse, ApiError> {
    orders.delete(&admin, id).await?;
    Ok(HttpResponse::NoContent().finish())
}
