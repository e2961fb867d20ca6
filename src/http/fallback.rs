//! The last line of the one-error-shape rule: any error response that some
//! middleware (CORS, the payload limits of actix itself) produced in another
//! format becomes problem+json with the same status.

use actix_web::dev::ServiceResponse;
use actix_web::http::header;
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::HttpResponse;

use crate::error::Problem;

pub fn problem_fallback<B>(res: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if is_problem {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let reason = status.canonical_reason().unwrap_or("Error");
    // A missing file of Swagger UI is the 404 of any missing resource.
    let (kind, title) = match status.as_u16() {
        404 => ("/problems/not-found".to_string(), "Not found".to_string()),
        code => (format!("/problems/http-{code}"), reason.to_string()),
    };
    let problem = Problem {
        kind,
        title,
        status: status.as_u16(),
        detail: match status.as_u16() {
            400 => "the request was refused (for a browser: is its Origin allowed by PATRON_CORS_ORIGINS?)".to_string(),
            _ => format!("the request was refused: {reason}"),
        },
        errors: Vec::new(),
    };
    let (req, _) = res.into_parts();
    let response = HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, "application/problem+json"))
        .body(serde_json::to_string(&problem).unwrap_or_default());
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, response).map_into_right_body(),
    ))
}

/// Path templates (split at `/`) and their methods, from the spec, to tell
/// "no such resource" (404) from "this resource, but not with this method"
/// (405).
pub struct RouteTable(Vec<(Vec<String>, Vec<String>)>);

impl RouteTable {
    pub fn from_spec(spec: &utoipa::openapi::OpenApi) -> RouteTable {
        let routes = spec
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let segments = path.split('/').map(String::from).collect();
                let methods = [
                    ("GET", item.get.is_some()),
                    ("PUT", item.put.is_some()),
                    ("POST", item.post.is_some()),
                    ("PATCH", item.patch.is_some()),
                    ("DELETE", item.delete.is_some()),
                ]
                .into_iter()
                .filter(|(_, present)| *present)
                .map(|(m, _)| m.to_string())
                .collect();
                (segments, methods)
            })
            .collect();
        RouteTable(routes)
    }
}

/// The methods the resource at `path` answers, if any route has that shape.
pub fn allowed_methods(path: &str) -> Vec<String> {
    let parts: Vec<&str> = path.split('/').collect();
    let routes = &super::spec::routes().0;
    let matching: Vec<&(Vec<String>, Vec<String>)> = routes
        .iter()
        .filter(|(template, _)| {
            template.len() == parts.len()
                && template
                    .iter()
                    .zip(&parts)
                    .all(|(t, p)| (t.starts_with('{') && !p.is_empty()) || t == p)
        })
        .collect();
    // A literal route wins over a template, as in the router: `/segments/preview`
    // is not the segment with id "preview".
    let literal: Vec<_> = matching
        .iter()
        .filter(|(template, _)| !template.iter().any(|t| t.starts_with('{')))
        .collect();
    let chosen: Vec<_> = if literal.is_empty() {
        matching.iter().collect()
    } else {
        literal
    };
    let mut out: Vec<String> = chosen
        .into_iter()
        .flat_map(|(_, methods)| methods.clone())
        .collect();
    // Answered wherever GET is (`head::as_get`).
    if out.iter().any(|m| m == "GET") {
        out.push("HEAD".into());
    }
    out.sort();
    out.dedup();
    out
}

/// Unrouted requests: 405 with `Allow` when the path exists with other
/// methods (OPTIONS and HEAD included), otherwise 404.
pub async fn unrouted(req: actix_web::HttpRequest) -> HttpResponse {
    not_routed(&req, allowed_methods(super::routed_path(&req)))
}

/// The 405 of a path outside the spec that answers only GET (and HEAD): the
/// spec itself and Swagger UI's files.
pub async fn get_only(req: actix_web::HttpRequest) -> HttpResponse {
    not_routed(&req, vec!["GET".into(), "HEAD".into()])
}

/// A request the router gave to a templated route (`PATCH /segments/{id}`)
/// whose path is really a literal route without that method
/// (`/segments/preview`): the 405 the client would get without the template.
pub fn literal_route_refusal(req: &actix_web::HttpRequest) -> Option<HttpResponse> {
    let path = super::routed_path(req);
    let methods = allowed_methods(path);
    let method = req.method().as_str();
    let is_literal = super::spec::routes()
        .0
        .iter()
        .any(|(template, _)| template.iter().map(String::as_str).eq(path.split('/')));
    (is_literal && !methods.is_empty() && !methods.iter().any(|m| m == method))
        .then(|| not_routed(req, methods))
}

fn not_routed(req: &actix_web::HttpRequest, methods: Vec<String>) -> HttpResponse {
    let (status, detail) = if methods.is_empty() {
        (
            actix_web::http::StatusCode::NOT_FOUND,
            format!("no route for {} {}", req.method(), req.path()),
        )
    } else {
        (
            actix_web::http::StatusCode::METHOD_NOT_ALLOWED,
            format!(
                "{} is not allowed here; use {}",
                req.method(),
                methods.join(", ")
            ),
        )
    };
    let problem = Problem {
        kind: if methods.is_empty() {
            "/problems/not-found".into()
        } else {
            "/problems/method-not-allowed".into()
        },
        // The titles of the same types from handlers (`ApiError`).
        title: if methods.is_empty() {
            "Not found".into()
        } else {
            "Method not allowed".into()
        },
        status: status.as_u16(),
        detail,
        errors: Vec::new(),
    };
    let mut response = HttpResponse::build(status);
    response.insert_header((header::CONTENT_TYPE, "application/problem+json"));
    if !methods.is_empty() {
        response.insert_header((header::ALLOW, methods.join(", ")));
    }
    response.body(serde_json::to_string(&problem).unwrap_or_default())
}

/// A method outside HTTP's registered ones (RFC 9110 §9 and PATCH) is
/// answered before the metrics see it, as an unrouted request is (405 with
/// `Allow` on a known path, else 404): each made-up method token (`FOO`,
/// `M1`, …) was a series of its own in `/metrics`, without limit and without
/// a token. (Not 501: clients and schemathesis expect the 405 of a method the
/// resource does not offer, `QUERY` included.)
pub async fn known_method(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    use actix_web::http::Method;
    let known = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::CONNECT,
        Method::OPTIONS,
        Method::TRACE,
        Method::PATCH,
    ];
    if known.contains(req.method()) {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    }
    let response = not_routed(
        req.request(),
        allowed_methods(super::routed_path(req.request())),
    );
    Ok(req.into_response(response))
}
