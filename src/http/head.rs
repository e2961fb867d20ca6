//! HEAD is answered wherever GET is (RFC 9110 §9.3.2; monitors and load
//! balancers probe with it): the request is routed as its GET, and actix's
//! HTTP/1 codec, which decoded a HEAD, sends the GET's status and headers
//! (`Content-Length` included) without the body. The access log keeps the
//! method the client sent.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest};

/// The mark of a request sent as HEAD and routed as its GET.
#[derive(Clone, Copy)]
struct SentAsHead;

pub async fn as_get(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if req.method() == Method::HEAD {
        req.head_mut().method = Method::GET;
        req.extensions_mut().insert(SentAsHead);
    }
    next.call(req).await
}

/// The request was a HEAD: its body will not be sent, so a handler that
/// streams one (the CSV export: the whole customer table) need not make it
/// (a review: a HEAD read and encoded every page to throw them away).
pub fn sent_as_head(req: &HttpRequest) -> bool {
    req.extensions().get::<SentAsHead>().is_some()
}
