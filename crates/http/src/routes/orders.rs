//! `/api/v1/orders`: customers book cleanings and see their own orders;
//! administrators see all of them, complete or cancel them, and delete them.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use tozalash_app::idempotency::Attempt;
use tozalash_app::orders::{OrderChange, PlaceOrder};
use tozalash_app::{AuthService, Idempotency, OrderService};
use tozalash_domain::{
    Address, FieldError, Notes, Order, OrderDetails, OrderQuery, OrderSort, OrderStatus,
    PageRequest, StoredResponse, Username, ValidationErrors,
};
use utoipa::openapi::Object;
use utoipa::{OpenApi, ToSchema};

use super::{endpoint, timestamp, Endpoint};
use crate::auth::{AdminUser, AuthUser, CheckedByWrite};
use crate::conditional::{self, IfMatch, IfNoneMatch};
use crate::error::responses::problems;
use crate::error::ApiError;
use crate::extract::{
    non_null, nullable, Fingerprinted, IdempotencyKeyHeader, Instant, JsonBody, PathId,
    QueryParams, WireId,
};
use crate::page::PageView;
use crate::schema::{self, IdParam};
use crate::telemetry::RequestId;

/// The orders' part of the OpenAPI document, mounted like [`ENDPOINTS`].
#[derive(Debug, OpenApi)]
#[openapi(
    paths(place, list, get, change, delete),
    modifiers(&PlaceProblems, &ListProblems, &GetProblems, &ChangeProblems, &DeleteProblems, &CONDITIONAL),
    tags((name = "orders", description = "Orders: customers book cleanings; administrators complete, cancel and delete them.")),
)]
pub struct Api;

/// An order's GET and PATCH carry its `ETag` and honour `If-None-Match` / `If-Match`.
const CONDITIONAL: conditional::Documented =
    conditional::Documented { reads: &["getOrder"], writes: &["changeOrder"] };

/// Mounted at `/api/v1`.
pub const ENDPOINTS: &[Endpoint] = &[
    endpoint!(GET "/orders" => list),
    endpoint!(POST "/orders" => place),
    endpoint!(GET "/orders/{id}" => get),
    endpoint!(PATCH "/orders/{id}" => change),
    endpoint!(DELETE "/orders/{id}" => delete),
];

/// An order. `serviceName` and `price` are a snapshot taken when it was
/// placed: editing or deleting the service never changes them.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "id": "665f1c2e9b1d4a0099887766",
    "userId": "665f1c2e9b1d4a0012345678",
    "customerName": "zarina",
    "serviceId": "665f1c2e9b1d4a00abcdef01",
    "serviceName": "Gilam yuvish (Carpet washing)",
    "price": 15000000,
    "status": "PENDING",
    "scheduledAt": "2031-06-12T09:00:00.000Z",
    "address": "Toshkent, Chilonzor tumani, 7-mavze, 12-uy, 34-xonadon",
    "notes": "Qo'ng'iroqni ikki marta bosing (ring twice).",
    "createdAt": "2031-06-01T14:20:00.000Z",
    "updatedAt": "2031-06-01T14:20:00.000Z"
}))]
pub struct OrderView<'a> {
    #[schema(schema_with = schema::response_id)]
    id: String,
    #[schema(schema_with = view_user_id_schema)]
    user_id: String,
    /// The customer's username when the order was placed; it stays after
    /// their account is deleted. `null` only for orders placed before this
    /// field existed whose customer was already deleted then.
    #[schema(required = true, min_length = 3, max_length = 32)]
    customer_name: Option<&'a str>,
    #[schema(schema_with = view_service_id_schema)]
    service_id: String,
    /// The service's name when the order was placed.
    #[schema(min_length = 1, max_length = 100)]
    service_name: &'a str,
    #[schema(schema_with = view_price_schema)]
    price: i64,
    #[schema(value_type = StatusParam)]
    status: &'static str,
    /// When to clean, if agreed.
    #[schema(required = true, format = DateTime)]
    scheduled_at: Option<String>,
    /// Where to clean.
    #[schema(required = true, max_length = 300)]
    address: Option<&'a str>,
    /// Notes for the cleaners.
    #[schema(required = true, max_length = 1000)]
    notes: Option<&'a str>,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
}

impl<'a> From<&'a Order> for OrderView<'a> {
    fn from(o: &'a Order) -> Self {
        Self {
            id: o.id.to_hex(),
            user_id: o.user_id.to_hex(),
            customer_name: o.customer_name.as_ref().map(Username::as_str),
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

/// An order's status. It moves only from `PENDING` to `COMPLETED` or
/// `CANCELLED`, which are final.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
#[schema(as = OrderStatus)]
pub(crate) enum StatusParam {
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
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({
    "serviceId": "665f1c2e9b1d4a00abcdef01",
    "scheduledAt": "2031-06-12T09:00:00Z",
    "address": "Toshkent, Chilonzor tumani, 7-mavze, 12-uy, 34-xonadon",
    "notes": "Qo'ng'iroqni ikki marta bosing (ring twice)."
}))]
pub(crate) struct PlaceOrderBody {
    #[schema(schema_with = service_id_schema)]
    service_id: WireId,
    #[serde(default, deserialize_with = "non_null")]
    #[schema(schema_with = user_id_schema)]
    user_id: Option<WireId>,
    /// When to clean: an RFC 3339 instant that keeps the booking rules (at
    /// least `BOOKING_MIN_LEAD` and at most `BOOKING_MAX_AHEAD` from now,
    /// starting within `BOOKING_HOURS` in `BUSINESS_TIMEZONE`); 422 on
    /// `scheduledAt` with `in_the_past`, `too_soon`, `too_far` or
    /// `outside_working_hours`. Without it the business schedules the visit.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    scheduled_at: Option<Instant>,
    #[serde(default)]
    #[schema(schema_with = new_address_schema)]
    address: Option<String>,
    #[serde(default)]
    #[schema(schema_with = new_notes_schema)]
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
            address: body.address.and_then(|a| errors.check(Address::parse(&a)).flatten()),
            notes: body.notes.and_then(|n| errors.check(Notes::parse(&n)).flatten()),
        };
        errors.into_result(|| request)
    }
}

// Documented as `ChangeOrderRequest`, which adds a rule to this schema.
/// The body of `PATCH /orders/{id}`: either `{"status": …}` or any of the
/// details (`null` clears one).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"status": "CANCELLED"}))]
pub(crate) struct ChangeOrderBody {
    /// `CANCELLED` (owner or administrator) or `COMPLETED` (administrator), on
    /// its own: not combinable with the other fields (422 `not_combinable`).
    #[serde(default, deserialize_with = "non_null")]
    #[schema(schema_with = status_change_schema)]
    status: Option<StatusParam>,
    /// A new visit time, under the booking rules of `POST /orders`; `null`
    /// clears it. Only while PENDING.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, format = DateTime)]
    scheduled_at: Option<Option<Instant>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(schema_with = address_schema)]
    address: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(schema_with = notes_schema)]
    notes: Option<Option<String>>,
}

// utoipa's items are named in full: importing them into this module would make
// the paths utoipa's generated code spells out here needless qualifications.
/// [`ChangeOrderBody`] as documented: `status` goes on its own (else 422
/// `not_combinable`), which JSON Schema's `dependentSchemas` says and utoipa
/// has no attribute for.
pub(crate) struct ChangeOrderRequest;

impl utoipa::PartialSchema for ChangeOrderRequest {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::{schema::Schema, RefOr};
        let mut schema = <ChangeOrderBody as utoipa::PartialSchema>::schema();
        if let RefOr::T(Schema::Object(object)) = &mut schema {
            let alone = serde_json::json!({
                "status": {"properties": {"scheduledAt": false, "address": false, "notes": false}}
            });
            let extensions = object.extensions.get_or_insert_with(Default::default);
            extensions.insert("dependentSchemas".into(), alone);
        }
        schema
    }
}

impl ToSchema for ChangeOrderRequest {
    fn name() -> std::borrow::Cow<'static, str> {
        ChangeOrderBody::name()
    }

    fn schemas(
        schemas: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>,
    ) {
        ChangeOrderBody::schemas(schemas);
    }
}

// The bodies' and the view's fields. utoipa reads no doc comment beside
// `schema_with`, so each schema carries its field's description; the rules come
// from the domain.

fn service_id_schema() -> Object {
    schema::id()
        .description(Some(
            "The catalogue service to order (422 `service_not_found` if none has this id).",
        ))
        .build()
}

fn user_id_schema() -> Object {
    schema::id()
        .description(Some("Administrators only: the customer to order for (422 `user_not_found`)."))
        .build()
}

fn new_address_schema() -> Object {
    schema::or_null(schema::lines(Address::MAX_CHARS))
        .description(Some(
            "Where to clean: up to 300 characters after trimming; may span lines. Blank is none.",
        ))
        .build()
}

fn new_notes_schema() -> Object {
    schema::or_null(schema::lines(Notes::MAX_CHARS))
        .description(Some(
            "Notes for the cleaners: up to 1000 characters after trimming; may span lines. \
             Blank is none.",
        ))
        .build()
}

fn address_schema() -> Object {
    schema::or_null(schema::lines(Address::MAX_CHARS))
        .description(Some(
            "Up to 300 characters after trimming; `null` or blank clears it. Only while PENDING.",
        ))
        .build()
}

fn notes_schema() -> Object {
    schema::or_null(schema::lines(Notes::MAX_CHARS))
        .description(Some(
            "Up to 1000 characters after trimming; `null` or blank clears it. Only while PENDING.",
        ))
        .build()
}

fn view_user_id_schema() -> Object {
    schema::canonical_id().description(Some("The customer.")).build()
}

fn view_service_id_schema() -> Object {
    schema::canonical_id()
        .description(Some("The catalogue service (which may since have been deleted)."))
        .build()
}

fn view_price_schema() -> Object {
    schema::money()
        .description(Some(
            "The service's price when the order was placed, in the currency's smallest unit.",
        ))
        .build()
}

/// The statuses an order can be moved to (`PENDING` is refused with 409).
fn status_change_schema() -> Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(["CANCELLED", "COMPLETED"]))
        .description(Some(
            "`CANCELLED` (owner or administrator) or `COMPLETED` (administrator), on its own: \
             not combinable with the other fields (422 `not_combinable`).",
        ))
        .build()
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

/// `GET /orders?page&limit&status&userId&serviceId&createdFrom&createdTo&scheduledFrom&scheduledTo&sort`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub(crate) struct ListParams {
    /// The page, from 1.
    #[param(minimum = 1, maximum = 1_000_000, default = 1, example = 1)]
    page: Option<u32>,
    /// Items per page.
    #[param(minimum = 1, maximum = 100, default = 20, example = 20)]
    limit: Option<u32>,
    /// Only orders with this status.
    #[param(inline)]
    status: Option<StatusParam>,
    /// Only this customer's orders. A customer may name only themselves (else 403).
    #[param(value_type = Option<IdParam>, inline)]
    user_id: Option<WireId>,
    /// Only orders of this catalogue service.
    #[param(value_type = Option<IdParam>, inline)]
    service_id: Option<WireId>,
    /// Created at or after this instant (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    created_from: Option<Instant>,
    /// Created before this instant (RFC 3339); not before `createdFrom` (else 422).
    #[param(value_type = Option<String>, format = DateTime)]
    created_to: Option<Instant>,
    /// Visit at or after this instant (RFC 3339). Orders without a visit time never match.
    #[param(value_type = Option<String>, format = DateTime)]
    scheduled_from: Option<Instant>,
    /// Visit before this instant (RFC 3339); not before `scheduledFrom` (else 422).
    #[param(value_type = Option<String>, format = DateTime)]
    scheduled_to: Option<Instant>,
    /// The order: by creation (`createdAt`, `-createdAt`: newest first, the
    /// default) or by visit time (`scheduledAt`, `-scheduledAt`; orders
    /// without one come first ascending, last descending). Ties go by id.
    #[param(
        value_type = Option<String>,
        pattern = "^-?(createdAt|scheduledAt)$",
        default = "-createdAt",
        example = "scheduledAt"
    )]
    sort: Option<String>,
}

impl TryFrom<ListParams> for OrderQuery {
    type Error = ValidationErrors;
    fn try_from(p: ListParams) -> Result<Self, Self::Error> {
        let mut errors = ValidationErrors::new();
        let page = PageRequest::new(p.page, p.limit)
            .map_err(|e| e.errors().iter().cloned().for_each(|e| errors.push(e)))
            .ok();
        let sort =
            errors.check(p.sort.as_deref().map_or(Ok(OrderSort::default()), OrderSort::parse));
        let (Some(page), Some(sort)) = (page, sort) else {
            return Err(errors);
        };
        Ok(Self {
            page,
            user_id: p.user_id.map(|id| id.0),
            status: p.status.map(OrderStatus::from),
            service_id: p.service_id.map(|id| id.0),
            created_from: p.created_from.map(|at| at.0),
            created_to: p.created_to.map(|at| at.0),
            scheduled_from: p.scheduled_from.map(|at| at.0),
            scheduled_to: p.scheduled_to.map(|at| at.0),
            sort,
        })
    }
}

problems!(PlaceProblems: MALFORMED_JSON, UNAUTHENTICATED, INVALID_TOKEN, FORBIDDEN, CSRF_FAILED, EMAIL_NOT_VERIFIED, NOT_FOUND, IDEMPOTENCY_IN_PROGRESS, REQUEST_TIMEOUT, PAYLOAD_TOO_LARGE, UNSUPPORTED_MEDIA_TYPE, VALIDATION_FAILED, IDEMPOTENCY_KEY_REUSED, SERVICE_NOT_FOUND, USER_NOT_FOUND, UNAVAILABLE);

/// Place an order
///
/// For the caller, who must have verified their e-mail (403
/// `email_not_verified`); an administrator may give `userId` to order for a
/// customer (anyone else: 403). The service's name and price are copied into
/// the order. 404 when the caller's own account no longer exists.
///
/// Send an `Idempotency-Key` to retry safely: a retry with the same key and
/// the same body gets the first answer again (marked `Idempotent-Replayed:
/// true`) instead of a second order, for 24 hours, whichever instance
/// receives it. The same key with another body is 422
/// `idempotency_key_reused`; while the first request still runs, 409
/// `idempotency_in_progress`. An answer that says "try again" (5xx, 429) is
/// not kept, so a retry runs again.
#[utoipa::path(
    post, path = "/orders", tag = "orders", operation_id = "placeOrder",
    params(
        ("Idempotency-Key" = Option<String>, Header,
            description = "A key of the client's choosing (a UUID, say): 1 to 255 visible ASCII characters; per user, kept 24 h.",
            min_length = 1, max_length = 255, pattern = r"^[\x21-\x7E]([\x20-\x7E]{0,253}[\x21-\x7E])?$",
            example = "8e03978e-40d5-43e8-bc93-6894a57f9324"),
    ),
    request_body = PlaceOrderBody,
    security(("bearerAuth" = []), ("cookieAuth" = [])),
    responses(
        (status = 201, description = "The new order, PENDING (or, for a retried `Idempotency-Key`, the first answer again).", body = OrderView,
            headers(
                ("Location" = String, description = "The order's address."),
                ("Idempotent-Replayed" = String, description = "`true` when this is the first answer to the `Idempotency-Key`, replayed."),
            ),
            links(
                ("GetOrder" = (operation_id = "getOrder", parameters(("id" = "$response.body#/id")))),
                ("ChangeOrder" = (operation_id = "changeOrder", parameters(("id" = "$response.body#/id")))),
                ("DeleteOrder" = (operation_id = "deleteOrder", parameters(("id" = "$response.body#/id")))),
            ),
        ),
        PlaceProblems,
    ),
)]
#[allow(clippy::too_many_arguments)] // one extractor per concern, as actix takes them
pub(crate) async fn place(
    req: HttpRequest,
    CheckedByWrite(token): CheckedByWrite,
    orders: web::Data<OrderService>,
    auth: web::Data<AuthService>,
    idempotency: web::Data<Idempotency>,
    IdempotencyKeyHeader(key): IdempotencyKeyHeader,
    Fingerprinted(body, fingerprint): Fingerprinted<PlaceOrderBody>,
) -> Result<HttpResponse, ApiError> {
    let place = async {
        let request = PlaceOrder::try_from(body).map_err(ApiError::validation)?;
        Ok::<_, ApiError>(orders.place(&token, request).await?)
    };
    let Some(key) = key else {
        return place.await.map(|order| created(&order));
    };
    // An attempt is recorded only for a caller whose session is live, so an
    // ended session's 401 is never the answer a key replays.
    auth.authority(&token).await?;
    let ticket = match idempotency.begin(token.user_id, key, fingerprint).await? {
        Attempt::Replay(first) => return Ok(replay(first, RequestId::of(&req))),
        Attempt::Run(ticket) => ticket,
    };
    let outcome = place.await;
    let answer = match &outcome {
        Ok(order) => StoredResponse {
            status: StatusCode::CREATED.as_u16(),
            content_type: "application/json".to_owned(),
            body: serde_json::to_string(&OrderView::from(order)).map_err(ApiError::internal)?,
        },
        Err(error) => error.to_stored(),
    };
    // The client gets this request's answer whatever happens to the record;
    // an unrecorded one makes a retry wait out the lease, then run again.
    if let Err(error) = idempotency.finish(ticket, answer).await {
        tracing::error!(error = ?error, "the answer of an idempotent request was not recorded");
    }
    outcome.map(|order| created(&order))
}

/// `201 Created` with the order and its address.
fn created(order: &Order) -> HttpResponse {
    HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/orders/{}", order.id)))
        .json(OrderView::from(order))
}

/// The first answer to a key, again, marked as a replay; a replayed 201
/// carries its `Location` as the first did, a replayed problem the id of
/// the request it now answers, as every problem does.
fn replay(first: StoredResponse, request_id: Option<String>) -> HttpResponse {
    let status = StatusCode::from_u16(first.status).unwrap_or(StatusCode::OK);
    let mut response = HttpResponse::build(status);
    response.insert_header((header::CONTENT_TYPE, first.content_type.as_str()));
    response.insert_header((IDEMPOTENT_REPLAYED, "true"));
    let Ok(mut body) = serde_json::from_str::<serde_json::Value>(&first.body) else {
        return response.body(first.body);
    };
    if status == StatusCode::CREATED {
        if let Some(id) = body["id"].as_str() {
            response.insert_header((header::LOCATION, format!("/api/v1/orders/{id}")));
        }
    } else if let (Some(problem), Some(id)) = (body.as_object_mut(), request_id) {
        problem.insert("requestId".into(), id.into());
    }
    response.body(body.to_string())
}

/// Marks an answer replayed for an `Idempotency-Key` (as Stripe does).
pub(crate) const IDEMPOTENT_REPLAYED: &str = "Idempotent-Replayed";

problems!(ListProblems: UNAUTHENTICATED, INVALID_TOKEN, FORBIDDEN, VALIDATION_FAILED, UNAVAILABLE);

/// List orders
///
/// Newest first unless `sort` says otherwise. A customer sees only their own
/// orders; an administrator sees all and may filter by customer. Dispatchers
/// plan with `scheduledFrom`/`scheduledTo` and `sort=scheduledAt`. A range
/// whose start lies after its end is 422 naming its start.
#[utoipa::path(
    get, path = "/orders", tag = "orders", operation_id = "listOrders",
    params(ListParams),
    security(("bearerAuth" = []), ("cookieAuth" = [])),
    responses(
        (status = 200, description = "A page of orders.", body = PageView<OrderView>),
        ListProblems,
    ),
)]
pub(crate) async fn list(
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

problems!(GetProblems: INVALID_ID, UNAUTHENTICATED, INVALID_TOKEN, NOT_FOUND, UNAVAILABLE);

/// Get an order
///
/// Its owner or an administrator; anyone else's order is 404.
#[utoipa::path(
    get, path = "/orders/{id}", tag = "orders", operation_id = "getOrder",
    params(("id" = inline(IdParam), Path, description = "The order's id.", example = "665f1c2e9b1d4a0099887766")),
    security(("bearerAuth" = []), ("cookieAuth" = [])),
    responses(
        (status = 200, description = "The order.", body = OrderView),
        GetProblems,
    ),
)]
pub(crate) async fn get(
    AuthUser(caller): AuthUser,
    PathId(id): PathId,
    orders: web::Data<OrderService>,
    cached: IfNoneMatch,
) -> Result<HttpResponse, ApiError> {
    let order = orders.get(&caller, id).await?;
    Ok(cached.respond(order.version, &OrderView::from(&order)))
}

problems!(ChangeProblems: MALFORMED_JSON, INVALID_ID, UNAUTHENTICATED, INVALID_TOKEN, FORBIDDEN, CSRF_FAILED, NOT_FOUND, INVALID_STATUS_TRANSITION, ORDER_NOT_PENDING, VISIT_NOT_DUE, TOO_LATE_TO_CANCEL, PRECONDITION_FAILED, REQUEST_TIMEOUT, PAYLOAD_TOO_LARGE, UNSUPPORTED_MEDIA_TYPE, VALIDATION_FAILED, UNAVAILABLE);

/// Change an order
///
/// Either its status (`{"status": "CANCELLED"}` by the owner or an
/// administrator, `{"status": "COMPLETED"}` by an administrator) or its
/// details while it is PENDING (`null` clears one). Statuses move only from
/// PENDING, as one conditional write: a refused or lost move is 409. A visit
/// is completed only once its time has come (else 409 `visit_not_due`); a
/// customer cancels only up to `CANCEL_CUTOFF` before it (else 409
/// `too_late_to_cancel`; an administrator may still cancel). With
/// the `ETag` you read in `If-Match`, the change applies only if nobody
/// changed the order since (else 412 `precondition_failed`).
#[utoipa::path(
    patch, path = "/orders/{id}", tag = "orders", operation_id = "changeOrder",
    params(("id" = inline(IdParam), Path, description = "The order's id.", example = "665f1c2e9b1d4a0099887766")),
    request_body = ChangeOrderRequest,
    security(("bearerAuth" = []), ("cookieAuth" = [])),
    responses(
        (status = 200, description = "The order as it is now.", body = OrderView),
        ChangeProblems,
    ),
)]
pub(crate) async fn change(
    AuthUser(caller): AuthUser,
    PathId(id): PathId,
    orders: web::Data<OrderService>,
    IfMatch(precondition): IfMatch,
    JsonBody(body): JsonBody<ChangeOrderBody>,
) -> Result<HttpResponse, ApiError> {
    let change = body.into_change().map_err(ApiError::validation)?;
    let order = orders.change(&caller, id, change, precondition).await?;
    Ok(conditional::tagged(order.version, &OrderView::from(&order)))
}

problems!(DeleteProblems: INVALID_ID, UNAUTHENTICATED, INVALID_TOKEN, FORBIDDEN, CSRF_FAILED, NOT_FOUND, ORDER_COMPLETED, UNAVAILABLE);

/// Delete an order
///
/// Administrators only. A COMPLETED order is a record of revenue and stays
/// (409 `order_completed`); cancel an order instead of deleting it to keep
/// its history.
#[utoipa::path(
    delete, path = "/orders/{id}", tag = "orders", operation_id = "deleteOrder",
    params(("id" = inline(IdParam), Path, description = "The order's id.", example = "665f1c2e9b1d4a0099887766")),
    security(("bearerAuth" = []), ("cookieAuth" = [])),
    responses(
        (status = 204, description = "Deleted."),
        DeleteProblems,
    ),
)]
pub(crate) async fn delete(
    AdminUser(admin): AdminUser,
    PathId(id): PathId,
    orders: web::Data<OrderService>,
) -> Result<HttpResponse, ApiError> {
    orders.delete(&admin, id).await?;
    Ok(HttpResponse::NoContent().finish())
}
