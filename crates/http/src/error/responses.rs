//! The problems an operation can answer, as OpenAPI responses built from the
//! kinds of the table: a handler declares its set with [`problems!`], which
//! answers one reference per status, and the route module's part of the
//! document defines the shared responses those references name.

use std::collections::BTreeMap;

use utoipa::openapi::example::{Example, ExampleBuilder};
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{AllOfBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::{Content, OpenApi, Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

use super::{problem, ApiError, ProblemBody, ProblemKind};

/// The `X-Request-Id` header among the document's components (the document's
/// root defines it); every problem response carries it.
pub const REQUEST_ID: &str = "X-Request-Id";

/// Declares a type listing the problems an operation can answer, for its
/// `#[utoipa::path(responses(...))]` (500 `internal_error` is added to every
/// operation anyway). Name the type in the `modifiers(...)` of the route
/// module's `#[openapi]` too: that defines the shared responses it refers to.
macro_rules! problems {
    ($(#[$meta:meta])* $name:ident: $($kind:ident),+ $(,)?) => {
        $(#[$meta])*
        pub(crate) struct $name;

        impl $name {
            pub(crate) const KINDS: &'static [&'static $crate::error::ProblemKind] =
                &[$(&$crate::error::problem::$kind),+];
        }

        impl utoipa::IntoResponses for $name {
            fn responses() -> std::collections::BTreeMap<
                String,
                utoipa::openapi::RefOr<utoipa::openapi::response::Response>,
            > {
                $crate::error::responses::references(Self::KINDS)
            }
        }

        impl utoipa::Modify for $name {
            fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
                $crate::error::responses::define(doc, Self::KINDS);
            }
        }
    };
}
pub(crate) use problems;

/// `kinds` by status, each status's kinds in code order: one shared response
/// per status.
fn by_status(kinds: &[&'static ProblemKind]) -> BTreeMap<u16, Vec<&'static ProblemKind>> {
    let mut groups: BTreeMap<u16, Vec<&ProblemKind>> = BTreeMap::new();
    for kind in kinds {
        groups.entry(kind.status.as_u16()).or_default().push(kind);
    }
    for group in groups.values_mut() {
        group.sort_unstable_by_key(|kind| kind.code);
        group.dedup_by_key(|kind| kind.code);
    }
    groups
}

/// The shared response of one status's kinds is named by their codes, joined
/// by `.`: `invalid_token.unauthenticated`.
fn name(group: &[&ProblemKind]) -> String {
    group.iter().map(|kind| kind.code).collect::<Vec<_>>().join(".")
}

/// An operation's responses for `kinds`: per status, a reference to the shared
/// response of that status's kinds, which [`define`] adds to the document.
pub fn references(kinds: &[&'static ProblemKind]) -> BTreeMap<String, RefOr<Response>> {
    by_status(kinds)
        .into_iter()
        .map(|(status, group)| {
            let location = format!("#/components/responses/{}", name(&group));
            (status.to_string(), RefOr::Ref(Ref::new(location)))
        })
        .collect()
}

/// Adds to `doc` the shared responses that [`references`] names for `kinds`,
/// and the `Problem` schema they narrow.
pub fn define(doc: &mut OpenApi, kinds: &[&'static ProblemKind]) {
    let components = doc.components.get_or_insert_with(Default::default);
    for (status, group) in by_status(kinds) {
        components
            .responses
            .entry(name(&group))
            .or_insert_with(|| RefOr::T(response(status, &group)));
    }
    let mut schemas = vec![(ProblemBody::name().into_owned(), ProblemBody::schema())];
    ProblemBody::schemas(&mut schemas);
    for (name, schema) in schemas {
        components.schemas.entry(name).or_insert(schema);
    }
}

/// One status's problems: `Problem` narrowed to that status and those codes,
/// with an example of each.
fn response(status: u16, group: &[&ProblemKind]) -> Response {
    let description = group
        .iter()
        .map(|kind| format!("`{}`: {}.", kind.code, kind.title))
        .collect::<Vec<_>>()
        .join(" ");
    let schema: Schema = AllOfBuilder::new()
        .item(Ref::from_schema_name(ProblemBody::name()))
        .item(
            ObjectBuilder::new()
                .property(
                    "status",
                    ObjectBuilder::new().schema_type(Type::Integer).enum_values(Some([status])),
                )
                .property(
                    "code",
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .enum_values(Some(group.iter().map(|kind| kind.code))),
                ),
        )
        .into();
    let examples = group.iter().map(|kind| {
        (kind.code, RefOr::Ref(Ref::new(format!("#/components/examples/{}", kind.code))))
    });
    let content = Content::builder().schema(Some(schema)).examples_from_iter(examples).build();
    let mut response = ResponseBuilder::new()
        .description(description)
        .header_ref(REQUEST_ID, Ref::new(format!("#/components/headers/{REQUEST_ID}")))
        .content("application/problem+json", content);
    if status == 401 {
        response = response.header(
            "WWW-Authenticate",
            HeaderBuilder::new()
                .schema(Some(
                    ObjectBuilder::new().schema_type(Type::String).enum_values(Some(["Bearer"])),
                ))
                .description(Some("Always `Bearer`."))
                .build(),
        );
    }
    if status == 429 || status == 503 {
        response = response.header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(Some(ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(1))))
                .description(Some("Seconds to wait before trying again."))
                .build(),
        );
    }
    response.build()
}

/// An example of each problem of the table, by code, for the document's
/// `#/components/examples`.
pub fn examples() -> impl Iterator<Item = (String, Example)> {
    problem::ALL.iter().map(|kind| {
        let example =
            ExampleBuilder::new().summary(kind.title).value(Some(ApiError::example(kind)));
        (kind.code.to_owned(), example.build())
    })
}
