//! `Idempotency-Key` on every POST that writes (one that only reads, or
//! recomputes every card, checks the key and ignores it: `ignores_key`): a retry with the same key and body gets
//! the stored first success and writes nothing; the same key with another
//! body is a 422; a retry while the first request still runs is a 409.
//!
//! Bulk writes and the CSV import store their response in the same database
//! transaction as the writes (`in_tx`), so a crash can never leave a write
//! without its key. Other POSTs are claimed before they run (an unfinished
//! claim row) and their response stored right after; their write's own
//! transaction marks the claim applied (`db::request_key`). A claim whose
//! request died is taken over after `IN_FLIGHT_LEASE_SECS` only when it was
//! not applied; an applied one without a response is a 409 for good.

use actix_web::body::{to_bytes, BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::web::{Bytes, Data};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, ResponseError};
use sha2::{Digest, Sha256};

use super::idempotency_settle::{passing, settle, Pending, LEASE};
use crate::db::idempotency::{self, Claim, Stored};
use crate::db::request_key::{self, RequestKey};
use crate::db::{self, DbConn};
use crate::error::{ApiError, FieldError};
use crate::startup::AppState;

/// The POSTs that recompute every card: run again, they give the same
/// cards, so a retry simply runs. They commit in many transactions, and a
/// claim is marked applied at the first: one that failed half-way (a 503)
/// kept its claim applied, and its retry with the same key was a 409
/// `idempotency-applied` for good, the recompute left half done (an outside
/// review).
const RERUN_POSTS: [&str; 2] = ["/api/v1/cpr/recompute", "/api/v1/tiers/recompute"];

/// Is this a POST whose key is checked for its form and otherwise ignored
/// (it only reads, or it is a recompute safe to run again)?
pub fn ignores_key(method: &actix_web::http::Method, path: &str) -> bool {
    super::read_only::reads_only(method, path)
        || (method == actix_web::http::Method::POST && RERUN_POSTS.contains(&path))
}

pub const HEADER: &str = "idempotency-key";
/// Set on a replayed response.
pub const REPLAYED: &str = "idempotent-replayed";
/// An unfinished claim older than this belongs to a request that died.
pub const IN_FLIGHT_LEASE_SECS: i64 = 60;
const MAX_KEY_LEN: usize = 255;
/// Response headers worth replaying.
const KEPT_HEADERS: [HeaderName; 3] = [header::CONTENT_TYPE, header::LOCATION, header::ETAG];

/// The key of the current request, for handlers that store their response
/// in their own transaction.
#[derive(Debug, Clone)]
pub struct IdemKey {
    pub user_id: i64,
    pub key: String,
    pub hash: String,
}

impl IdemKey {
    pub fn of(req: &HttpRequest) -> Option<IdemKey> {
        req.extensions().get::<IdemKey>().cloned()
    }
}

/// Paths whose handlers store the response in their write transaction.
fn stores_in_tx(path: &str) -> bool {
    path.ends_with("/customers/bulk")
        || path.ends_with("/transactions/bulk")
        || path.ends_with("/customers/import")
}

/// Largest body read here: the bulk limit for bulk paths, else the JSON limit.
fn body_limit(path: &str) -> usize {
    if stores_in_tx(path) {
        super::bulk::BULK_BODY_LIMIT
    } else {
        super::extract::JSON_LIMIT
    }
}

fn key_error(message: &str) -> ApiError {
    ApiError::Validation(vec![FieldError::new(
        "Idempotency-Key",
        "invalid_value",
        message,
    )])
}

/// The key header, checked: 1 to 255 visible ASCII characters.
fn key_of(req: &ServiceRequest) -> Result<Option<String>, ApiError> {
    let Some(value) = req.headers().get(HEADER) else {
        return Ok(None);
    };
    // Two keys: which one the client meant is a guess (the first was used).
    if req.headers().get_all(HEADER).nth(1).is_some() {
        return Err(key_error("send one Idempotency-Key header, not several"));
    }
    let key = value
        .to_str()
        .map_err(|_| key_error("must be visible ASCII characters"))?
        .trim();
    if key.is_empty() || key.len() > MAX_KEY_LEN || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(key_error("must be 1 to 255 visible ASCII characters"));
    }
    Ok(Some(key.to_string()))
}

/// Method, path, query, body and what the body is declared to be: a key
/// reused for anything else is a misuse. `body` is the decoded body
/// (`decoded`).
fn request_hash(req: &ServiceRequest, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(req.method().as_str());
    h.update([0]);
    h.update(super::routed_path(req.request()));
    h.update([0]);
    h.update(req.query_string());
    h.update([0]);
    match without_password(req, body) {
        Some(redacted) => h.update(redacted),
        None => h.update(body),
    }
    // The usual types leave the hash as it was before the type counted, so
    // that keys stored by an older version still replay.
    let meaning = super::charset::meaning(req.request());
    if !matches!(meaning.as_str(), "" | "application/json" | "text/csv") {
        h.update([0]);
        h.update(meaning);
    }
    hex::encode(h.finalize())
}

/// A new user's body with its password left out: hashed whole, the stored
/// hash was a plain SHA-256 of the password beside fields the users table
/// holds, which a copy of the database could test guesses against at GPU
/// speed for the key's whole life instead of against Argon2 (a review). A
/// retry with another password replays the first answer (the user exists,
/// with the first one). None for any other request, or a body that is not a
/// JSON object (refused before any user is made).
fn without_password(req: &ServiceRequest, body: &[u8]) -> Option<Vec<u8>> {
    if req.method() != Method::POST || super::routed_path(req.request()) != USERS {
        return None;
    }
    // Parsed as the handler parses it: with a byte order mark kept, the
    // parse failed and the password went into the hash (a review).
    let body = super::extract::json_document(body);
    let mut value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let password = value.as_object_mut()?.get_mut("password")?;
    *password = serde_json::Value::Null;
    serde_json::to_vec(&value).ok()
}

const USERS: &str = "/api/v1/users";

async fn read_body(
    req: &actix_web::HttpRequest,
    payload: &mut Payload,
    limit: usize,
) -> Result<Bytes, ApiError> {
    super::body::read_raw(req, payload, limit)
        .await
        .map_err(|e| match e {
            super::body::BodyError::TooLarge => {
                ApiError::PayloadTooLarge(format!("the body is larger than {limit} bytes"))
            }
            super::body::BodyError::Bad(e) => e,
        })
}

/// The body as the handler reads it, decoded from its `Content-Encoding`:
/// the hash covered the compressed bytes, and a client compressing the same
/// body again for its retry (gzip stamps the time in its header, as
/// Python's `gzip.compress` does) got 422 "already used with a different
/// request" instead of the replay. A compressed body is decoded twice (here
/// and by the handler, off the async worker both times); a body identity
/// encoded hashes as it did, so keys stored before still replay.
async fn decoded(
    req: &actix_web::HttpRequest,
    raw: Bytes,
    limit: usize,
) -> Result<Bytes, ApiError> {
    let encoding = super::body::encoding(req)?;
    if encoding == header::ContentEncoding::Identity {
        return Ok(raw);
    }
    actix_web::web::block(move || super::body::decode(encoding, raw, limit))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|e| match e {
            super::body::BodyError::TooLarge => {
                ApiError::PayloadTooLarge(format!("the body is larger than {limit} bytes"))
            }
            super::body::BodyError::Bad(e) => e,
        })
}

fn payload_of(body: Bytes) -> Payload {
    let stream = futures_util::stream::once(async move { Ok(body) });
    Payload::Stream {
        payload: Box::pin(stream),
    }
}

/// The request's user, if it authenticates: a revoked token or a disabled
/// user's gets no replay (the handler answers 401 and nothing is stored).
async fn token_user(req: &ServiceRequest) -> Option<i64> {
    crate::auth::extract::authenticate(req.request())
        .await
        .ok()
        .map(|user| user.id)
}

/// Should a response be kept for replay? Only a success: a refused request
/// wrote nothing (every write is one transaction), so running its retry again
/// is safe, and the retry is usually the request corrected. A review found a
/// 415 (wrong `Content-Type`) replayed for 24 h to the fixed retry.
fn replayable(status: StatusCode) -> bool {
    status.is_success() || status.is_redirection()
}

/// The stored form of a response.
pub fn stored(status: StatusCode, headers: &[(HeaderName, String)], body: String) -> Stored {
    let pairs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    Stored {
        status: status.as_u16(),
        headers: serde_json::to_string(&pairs).unwrap_or_else(|_| "[]".into()),
        body,
    }
}

/// The response a stored one replays as.
pub fn replay(stored: &Stored) -> HttpResponse {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut response = HttpResponse::build(status);
    let pairs: Vec<(String, String)> = serde_json::from_str(&stored.headers).unwrap_or_default();
    for (name, value) in pairs {
        if let (Ok(n), Ok(v)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value.as_str()),
        ) {
            response.insert_header((n, v));
        }
    }
    response.insert_header((HeaderName::from_static(REPLAYED), "true"));
    response.body(stored.body.clone())
}

fn in_flight() -> ApiError {
    ApiError::InProgress(
        "a request with this Idempotency-Key is still being processed; retry later".into(),
    )
}

fn applied() -> ApiError {
    ApiError::IdempotencyApplied(
        "the first request with this Idempotency-Key was applied, but its response was not kept \
         (the server stopped or failed before storing it): read the resource to see the outcome; \
         a new request needs a new key"
            .into(),
    )
}

fn mismatch() -> ApiError {
    key_error("this Idempotency-Key was already used with a different request")
}

/// For handlers that store their response in their write transaction: what
/// the key says before writing (None: go ahead).
pub fn check_in_tx(conn: &mut DbConn, key: &IdemKey) -> Result<Option<Stored>, ApiError> {
    match idempotency::find(conn, key.user_id, &key.key)? {
        None => Ok(None),
        Some((hash, _)) if hash != key.hash => Err(mismatch()),
        Some((_, Some(stored))) => Ok(Some(stored)),
        Some((_, None)) => Err(in_flight()),
    }
}

/// Stores the response in the caller's write transaction.
pub fn store_in_tx(conn: &mut DbConn, key: &IdemKey, stored: &Stored) -> Result<(), ApiError> {
    idempotency::insert_complete(conn, key.user_id, &key.key, &key.hash, stored, db::now()).map_err(
        |e| match e {
            diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            ) => in_flight(),
            other => other.into(),
        },
    )
}

fn error_response(req: ServiceRequest, e: ApiError) -> ServiceResponse<BoxBody> {
    req.into_response(e.error_response())
}

/// The POSTs whose answer is a token.
const TOKEN_POSTS: [&str; 2] = ["/api/v1/auth/token", super::auth_password::PATH];

/// The middleware (wrapped around the whole app; only keyed POSTs under
/// `/api/v1` are touched).
pub async fn middleware(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    // A login writes nothing a retry could repeat; neither answer (a token)
    // may be stored, and a password change retried checks the old password
    // again (a 422 once it has changed: the client logs in with the new one).
    let path = super::routed_path(req.request()).to_string();
    if req.method() != Method::POST
        || !path.starts_with("/api/v1/")
        || TOKEN_POSTS.contains(&path.as_str())
    {
        return next.call(req).await.map(|r| r.map_into_boxed_body());
    }
    if !req.headers().contains_key(HEADER) {
        return next.call(req).await.map(|r| r.map_into_boxed_body());
    }
    let Some(state) = req.app_data::<Data<AppState>>().cloned() else {
        return next.call(req).await.map(|r| r.map_into_boxed_body());
    };
    // A request that does not authenticate gets the handler's 401, whatever
    // its key: the key is judged only for a caller who may send one.
    let Some(user_id) = token_user(&req).await else {
        return next.call(req).await.map(|r| r.map_into_boxed_body());
    };
    let key = match key_of(&req) {
        Ok(Some(key)) => key,
        Ok(None) => return next.call(req).await.map(|r| r.map_into_boxed_body()),
        Err(e) => return Ok(error_response(req, e)),
    };
    // A POST that only reads (a segment preview, a customer share) has
    // nothing a retry could repeat: its key is checked as any, then ignored.
    // Stored, a viewer (who may send these) wrote a claim row, on SQLite in
    // the single writer's turn, and kept answers of up to a megabyte each
    // for a day, as many as it had keys (an outside review).
    if ignores_key(req.method(), &path) {
        return next.call(req).await.map(|r| r.map_into_boxed_body());
    }
    let mut payload = req.take_payload();
    let body = match read_body(req.request(), &mut payload, body_limit(&path)).await {
        Ok(body) => body,
        Err(e) => return Ok(error_response(req, e)),
    };
    let hash = match decoded(req.request(), body.clone(), body_limit(&path)).await {
        Ok(decoded) => request_hash(&req, &decoded),
        Err(e) => return Ok(error_response(req, e)),
    };
    req.set_payload(payload_of(body));
    let idem = IdemKey { user_id, key, hash };
    if stores_in_tx(&path) {
        // The handler claims, writes and stores in one transaction; a
        // replay found now saves it the work.
        let found = {
            let idem = idem.clone();
            state
                .db
                .run(move |conn| Ok(idempotency::find(conn, idem.user_id, &idem.key)?))
                .await
        };
        match found {
            Ok(Some((hash, _))) if hash != idem.hash => return Ok(error_response(req, mismatch())),
            Ok(Some((_, Some(stored)))) => {
                let response = replay(&stored);
                return Ok(req.into_response(response));
            }
            Ok(_) => {}
            Err(e) => return Ok(error_response(req, e)),
        }
        req.extensions_mut().insert(idem);
        return next.call(req).await.map(|r| r.map_into_boxed_body());
    }
    // A run of this process whose settling the database refused so far
    // (`idempotency_settle`): its response is the replay, its freed claim is
    // free.
    let released = match state.unsettled.get(idem.user_id, &idem.key) {
        Some(Pending::Completed { hash, .. }) if hash != idem.hash => {
            return Ok(error_response(req, mismatch()))
        }
        Some(Pending::Completed { stored, .. }) => return Ok(req.into_response(replay(&stored))),
        Some(Pending::Released { token }) => Some(token),
        None => None,
    };
    // Before the claim's own time, so that what is kept of it in memory
    // ends no later than its lease (`idempotency_settle`).
    let claimed_at = std::time::Instant::now();
    let claimed = {
        let (idem, released) = (idem.clone(), released.clone());
        state
            .db
            .write_grouped(move |conn| {
                // The database's clock on PostgreSQL, as for the answer's
                // store (`idempotency_settle`): with each process's own, a
                // retry on a replica running a minute ahead found a claim
                // just applied past its lease and answered it applied, for
                // good, before its response was stored (a review).
                let now = db::clock(conn)?;
                let stale = now - chrono::Duration::seconds(IN_FLIGHT_LEASE_SECS);
                db::write_tx(conn, |conn| {
                    idempotency::claim(
                        conn,
                        idem.user_id,
                        &idem.key,
                        &idem.hash,
                        now,
                        stale,
                        released.as_deref(),
                    )
                })
                .or_else(|e| match e {
                    diesel::result::Error::DatabaseError(
                        diesel::result::DatabaseErrorKind::UniqueViolation,
                        _,
                    ) => Ok(Claim::InFlight),
                    other => Err(other.into()),
                })
            })
            .await
    };
    // Only a takeover ends the released run's entry: one applied still has
    // its stale stamp to write, and forgotten, it was dropped, and the
    // retries told "applied" were then told "still being processed".
    if let (Some(token), Ok(Claim::Fresh(_))) = (&released, &claimed) {
        state.unsettled.forget(idem.user_id, &idem.key, token);
    }
    let token = match claimed {
        Ok(Claim::Fresh(token)) => token,
        Ok(Claim::Replay(stored)) => return Ok(req.into_response(replay(&stored))),
        Ok(Claim::Mismatch) => return Ok(error_response(req, mismatch())),
        Ok(Claim::InFlight) => return Ok(error_response(req, in_flight())),
        Ok(Claim::Applied) => return Ok(error_response(req, applied())),
        Err(e) => return Ok(error_response(req, e)),
    };
    let claim = Claimed {
        state: state.clone(),
        idem: idem.clone(),
        token: token.clone(),
        lease_end: claimed_at + LEASE,
    };
    let key = RequestKey {
        user_id: idem.user_id,
        key: idem.key.clone(),
        token,
    };
    let result = request_key::scope(key, next.call(req)).await;
    let response = match result {
        Ok(response) => response,
        Err(e) => {
            claim.release().await;
            return Err(e);
        }
    };
    let status = response.status();
    let (req, res) = response.into_parts();
    let (head, body) = res.into_parts();
    let bytes = match to_bytes(body).await {
        Ok(bytes) => bytes,
        Err(_) => {
            claim.release().await;
            return Ok(ServiceResponse::new(
                req,
                ApiError::Internal("response body unreadable".into()).error_response(),
            ));
        }
    };
    if replayable(status) {
        let headers: Vec<(HeaderName, String)> = KEPT_HEADERS
            .iter()
            .filter_map(|n| {
                head.headers()
                    .get(n)
                    .and_then(|v| v.to_str().ok())
                    .map(|v| (n.clone(), v.to_string()))
            })
            .collect();
        let stored = stored(
            status,
            &headers,
            String::from_utf8_lossy(&bytes).into_owned(),
        );
        claim.complete(stored).await;
    } else {
        claim.release().await;
    }
    let res = head.set_body(bytes).map_into_boxed_body();
    Ok(ServiceResponse::new(req, res))
}

/// A run's claim, settled once: its response stored, or the claim freed.
/// (An HTTP/1.1 client that gives up does not cancel the request: actix runs
/// it to the end and it settles here as usual; see
/// `a_post_the_client_gave_up_on_is_answered_to_its_retry`.)
struct Claimed {
    state: Data<AppState>,
    idem: IdemKey,
    token: String,
    lease_end: std::time::Instant,
}

impl Claimed {
    async fn complete(self, stored: Stored) {
        let pending = Pending::Completed {
            token: self.token.clone(),
            hash: self.idem.hash.clone(),
            stored,
        };
        self.settle(pending).await;
    }

    async fn release(self) {
        let pending = Pending::Released {
            token: self.token.clone(),
        };
        self.settle(pending).await;
    }

    /// Settles the claim now, or (the database busy) in the background.
    async fn settle(self, pending: Pending) {
        let (user_id, key) = (self.idem.user_id, self.idem.key.clone());
        match settle(&self.state.db, user_id, &key, &pending).await {
            Ok(()) => {}
            Err(e) if passing(&e) => {
                log::warn!("idempotency claim not settled, retrying in the background: {e}");
                let db = self.state.db.clone();
                let until = self.lease_end;
                self.state.unsettled.retry(db, user_id, key, pending, until);
            }
            Err(e) => log::error!("idempotency claim of user {user_id} not settled: {e}"),
        }
    }
}
