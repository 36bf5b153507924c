//! OpenAPI schemas of the values whose rules the domain owns: ids, money and
//! free text. The DTOs take their patterns and bounds from here, and this takes
//! them from the domain, so the document says what the API really accepts.
//!
//! utoipa's `pattern` and `maximum` attributes take literals only, hence
//! builders for `#[schema(schema_with = ...)]`, and types whose schema is
//! written by hand for parameters (`inline(IdParam)`).

use std::borrow::Cow;

use tozalash_domain::text::{MULTI_LINE_PATTERN, SINGLE_LINE_PATTERN};
use tozalash_domain::{Id, Money, SearchText};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, SchemaType, Type};
use utoipa::openapi::{Object, RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

/// An id as a request gives it: 24 hexadecimal characters, either case.
pub(crate) fn id() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String).pattern(Some(Id::PATTERN))
}

/// An id as the API writes it: 24 lowercase hexadecimal characters.
pub(crate) fn canonical_id() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String).pattern(Some(Id::CANONICAL_PATTERN))
}

/// A response's id, which needs no description of its own.
pub(crate) fn response_id() -> Object {
    canonical_id().build()
}

/// An amount in the currency's smallest unit, from 0 to [`Money::MAX`].
pub(crate) fn money() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(0))
        .maximum(Some(Money::MAX))
}

/// Text on one line, of at most `max_chars` characters.
pub(crate) fn one_line(max_chars: usize) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(max_chars))
        .pattern(Some(SINGLE_LINE_PATTERN))
}

/// Text that may span lines, of at most `max_chars` characters.
pub(crate) fn lines(max_chars: usize) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(max_chars))
        .pattern(Some(MULTI_LINE_PATTERN))
}

/// A text schema that also takes `null` (which clears the field).
pub(crate) fn or_null(text: ObjectBuilder) -> ObjectBuilder {
    text.schema_type(SchemaType::from_iter([Type::String, Type::Null]))
}

/// The schema of an id parameter (`inline(IdParam)` in a path, `value_type =
/// Option<IdParam>, inline` in a query); the parameter says what it names.
#[derive(Debug)]
pub(crate) struct IdParam;

impl PartialSchema for IdParam {
    fn schema() -> RefOr<Schema> {
        id().into()
    }
}

impl ToSchema for IdParam {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Id")
    }
}

/// The schema of a list's `q` parameter: a [`SearchText`].
#[derive(Debug)]
pub(crate) struct SearchParam;

impl PartialSchema for SearchParam {
    fn schema() -> RefOr<Schema> {
        one_line(SearchText::MAX_CHARS).into()
    }
}

impl ToSchema for SearchParam {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("SearchText")
    }
}
