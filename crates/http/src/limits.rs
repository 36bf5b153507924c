//! How long a client may make the server wait, and how much it may make it
//! read (see `docs/security.md`, "Resource limits"):
//!
//! - the request head must arrive within [`HEADER_READ_TIMEOUT`] (actix
//!   answers 408 and closes), and an idle kept-alive connection is closed
//!   after [`KEEP_ALIVE`];
//! - a body declared larger than [`MAX_BODY_BYTES`] is refused at once, unread
//!   ([`refuse_declared_oversize`]; a chunked body that crosses the limit is
//!   refused by the JSON extractor);
//! - the whole body must arrive within `BODY_READ_TIMEOUT_MS` of the head
//!   ([`bound_body`]), else 408 `request_timeout`;
//! - a body that is not read to its end (refused, timed out, or of no interest
//!   to the route) is never drained: the answer is sent with
//!   `Connection: close`, the connection stops being read, and it is closed
//!   [`UNREAD_BODY_GRACE`] later, whatever the client is still sending.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{BodySize, BoxBody, EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header::CONTENT_LENGTH;
use actix_web::http::ConnectionType;
use actix_web::middleware::Next;
use actix_web::rt::time::{sleep, Sleep};
use actix_web::web::{self, Bytes};
use actix_web::HttpMessage;
use futures::{Stream, StreamExt};

use crate::error::{problem, ApiError};
pub use crate::extract::MAX_BODY_BYTES;

/// How long a client has to send the head (request line and headers) of the
/// first request on a connection: 408, then the connection is closed.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// How long an idle connection is kept open for the client's next request.
pub const KEEP_ALIVE: Duration = Duration::from_secs(5);

/// How long a connection whose body was left unread stays open after its
/// answer, without being read, so the client can read the answer before the
/// close (which resets the connection, as unread data is discarded).
pub const UNREAD_BODY_GRACE: Duration = Duration::from_secs(1);

/// actix's own lingering after a response to an unread body *reads and
/// discards* the client's upload for this long; it is off, as
/// [`UNREAD_BODY_GRACE`] waits without reading instead.
pub const CLIENT_DISCONNECT_TIMEOUT: Duration = Duration::ZERO;

/// `BODY_READ_TIMEOUT_MS` when nothing sets it.
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// `BODY_READ_TIMEOUT_MS`: the deadline for a whole request body, counted
/// from the arrival of its head. In the app data; [`bound_body`] reads it.
#[derive(Debug, Clone, Copy)]
pub struct BodyReadTimeout(pub Duration);

/// The detail of every 413.
pub const TOO_LARGE: &str = "The body must be at most 64 KiB.";

/// Whether a body read failed because its deadline passed (see [`bound_body`]).
pub fn is_timeout(error: &PayloadError) -> bool {
    matches!(error, PayloadError::Io(e) if e.kind() == std::io::ErrorKind::TimedOut)
}

/// The outermost middleware: puts a deadline on the request body and keeps
/// the connection from draining a body that was not read to its end.
///
/// The body is handed on as a stream that fails once `BODY_READ_TIMEOUT_MS`
/// has passed (the JSON extractor answers 408 `request_timeout`). The
/// connection's own payload stays held here until the answer has been sent:
/// while anyone holds it, actix does not drain an unread body but closes the
/// connection, and stops reading once its small buffer is full.
pub async fn bound_body(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<HoldUnread>, actix_web::Error> {
    let payload = req.take_payload();
    if matches!(payload, Payload::None) {
        let hold = |_: &mut _, body: BoxBody| HoldUnread { body, payload: None, grace: None };
        return Ok(next.call(req).await?.map_into_boxed_body().map_body(hold));
    }
    let timeout = req
        .app_data::<web::Data<BodyReadTimeout>>()
        .map_or(DEFAULT_BODY_READ_TIMEOUT, |timeout| timeout.0);
    let payload = Rc::new(RefCell::new(payload));
    let progress = Rc::new(Cell::new(Progress::Reading));
    let deadline = Deadline {
        payload: payload.clone(),
        timer: Box::pin(sleep(timeout)),
        progress: progress.clone(),
    };
    req.set_payload(Payload::Stream { payload: Box::pin(deadline) });
    let response = next.call(req).await?;
    let unread = progress.get() != Progress::Finished;
    Ok(response.map_body(|head, body| {
        if unread {
            head.set_connection_type(ConnectionType::Close);
        }
        HoldUnread { body: body.boxed(), payload: unread.then_some(payload), grace: None }
    }))
}

/// Answers 413 at once to a request whose `Content-Length` is over
/// [`MAX_BODY_BYTES`], without reading any of it (so before any
/// authentication or storage). Sits inside the problem rendering.
pub async fn refuse_declared_oversize(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok());
    if declared.is_some_and(|length| length > MAX_BODY_BYTES as u64) {
        let error = ApiError::new(&problem::PAYLOAD_TOO_LARGE, TOO_LARGE);
        return Ok(req.error_response(error).map_into_right_body());
    }
    Ok(next.call(req).await?.map_into_left_body())
}

/// How far the body was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Progress {
    Reading,
    Finished,
    TimedOut,
}

/// The request body, failing once its deadline has passed.
struct Deadline {
    payload: Rc<RefCell<Payload>>,
    timer: Pin<Box<Sleep>>,
    progress: Rc<Cell<Progress>>,
}

impl Stream for Deadline {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        match this.progress.get() {
            Progress::Finished => return Poll::Ready(None),
            Progress::TimedOut => return Poll::Ready(Some(Err(timed_out()))),
            Progress::Reading => {}
        }
        // What has arrived is handed on even after the deadline: only waiting
        // for more is bounded.
        let next = this.payload.borrow_mut().poll_next_unpin(cx);
        match next {
            Poll::Ready(None) => {
                this.progress.set(Progress::Finished);
                Poll::Ready(None)
            }
            Poll::Ready(Some(chunk)) => Poll::Ready(Some(chunk)),
            Poll::Pending => match this.timer.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    this.progress.set(Progress::TimedOut);
                    Poll::Ready(Some(Err(timed_out())))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

fn timed_out() -> PayloadError {
    PayloadError::Io(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        "the body did not arrive within BODY_READ_TIMEOUT_MS",
    ))
}

/// A response body that, when the request body was left unread, holds the
/// connection's payload until the answer is sent and then for
/// [`UNREAD_BODY_GRACE`] more (without reading), so the connection is closed
/// rather than drained.
pub struct HoldUnread {
    body: BoxBody,
    payload: Option<Rc<RefCell<Payload>>>,
    grace: Option<Pin<Box<Sleep>>>,
}

impl std::fmt::Debug for HoldUnread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HoldUnread").field("holding", &self.payload.is_some()).finish()
    }
}

impl MessageBody for HoldUnread {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.body).poll_next(cx) {
            Poll::Ready(None) if this.payload.is_some() => {
                let grace = this.grace.get_or_insert_with(|| Box::pin(sleep(UNREAD_BODY_GRACE)));
                // The payload stays held until the body is dropped, after
                // the connection has decided to close.
                grace.as_mut().poll(cx).map(|()| None)
            }
            other => other,
        }
    }
}
