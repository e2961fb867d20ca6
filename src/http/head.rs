//! HEAD is answered wherever GET is (RFC 9110 §9.3.2; monitors and load
//! balancers probe with it): the request is routed as its GET, and actix's
//! HTTP/1 codec, which decoded a HEAD, sends the GET's status and headers
//! (`Content-Length` included) without the body. The access log keeps the
//! method the client sent.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;

pub async fn as_get(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if req.method() == Method::HEAD {
        req.head_mut().method = Method::GET;
    }
    next.call(req).await
}
