//! The `AuthUser` extractor: a valid bearer token of an active user. No
//! token (or another scheme) is `ApiError::Unauthorized`, a bearer token sent
//! and refused `ApiError::InvalidToken`: they differ in `WWW-Authenticate`
//! (RFC 6750 §3.1). The user is checked on every request so that deactivation and role changes take
//! effect at once, not when the token expires (through a cache that every
//! change to the users empties: `auth::user_cache`, which remembers a
//! disabled user too).

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};

use super::user_cache::Known;
use crate::db::{users, DbConn};
use crate::domain::codes::{from_db, Role};
use crate::error::ApiError;
use crate::startup::AppState;

#[derive(Debug, Clone)]
pub struct AuthUser {
    pub id: i64,
    pub role: Role,
    pub email: String,
    /// The token generation the request's token holds (the user's, when it
    /// was checked): a password change or a deactivation raises the user's.
    pub token_generation: i64,
}

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        Box::pin(authenticate(req))
    }
}

/// The request's user: a valid token of an active user whose tokens were
/// not revoked, with the user's current role. Checked once per request (the
/// result is kept in the request): the rate limit and the idempotency
/// middlewares need it before the handler runs, and a replay must not answer
/// a token the handler would refuse.
pub(crate) fn authenticate(req: &HttpRequest) -> impl Future<Output = Result<AuthUser, ApiError>> {
    let known = req.extensions().get::<AuthUser>().cloned();
    let refused = req.extensions().get::<Refused>().cloned();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let token = bearer_token(req);
    let req = req.clone();
    async move {
        if let Some(user) = known {
            return Ok(user);
        }
        // Kept too, so that the handler's extractor answers at once: it
        // was still looking the user up when a bad query had answered 400;
        // and with the database down (a 503 after the pool's wait) it
        // waited as long again.
        if let Some(Refused(why)) = refused {
            return Err(why);
        }
        let checked = check(state, token).await;
        match &checked {
            Ok(user) => {
                req.extensions_mut().insert(user.clone());
            }
            Err(why) => {
                req.extensions_mut().insert(Refused(why.clone()));
            }
        }
        checked
    }
}

/// A request's token refused (a 401) or not checked (the database down: a
/// 503), with the error.
#[derive(Clone)]
struct Refused(ApiError);

/// The token's user: a valid signature, an active user, not revoked.
async fn check(
    state: Option<web::Data<AppState>>,
    token: Result<String, ApiError>,
) -> Result<AuthUser, ApiError> {
    let state = state.ok_or_else(|| ApiError::Internal("application state missing".into()))?;
    let claims = state.jwt.verify(&token?, chrono::Utc::now().timestamp())?;
    let id: i64 = claims
        .sub
        .parse()
        .map_err(|_| ApiError::InvalidToken("invalid token: bad subject".into()))?;
    // An entry is used only for tokens not newer than it (`user_cache`): a
    // newer one says this process missed a change another one made.
    let known = state.users.get(id).filter(|known| match known {
        Known::Active(_, generation) => claims.gen <= *generation,
        Known::Disabled { generation } => generation.is_none_or(|g| claims.gen < g),
    });
    let (user, generation) = match known {
        Some(Known::Active(user, generation)) => (user, generation),
        Some(Known::Disabled { .. }) => return Err(disabled()),
        None => {
            let epoch = users::epoch();
            let user = state
                .db
                .lookup(move |conn| Ok(users::find(conn, id)?))
                .await?;
            let generation = user.as_ref().map(|u| u.token_generation);
            let Some(user) = user.filter(|u| u.active) else {
                state.users.put_disabled(id, generation, epoch);
                return Err(disabled());
            };
            let auth = AuthUser {
                id: user.id,
                role: from_db(&user.role, Role::Viewer),
                email: user.email,
                token_generation: user.token_generation,
            };
            state.users.put(auth.clone(), user.token_generation, epoch);
            (auth, user.token_generation)
        }
    };
    if claims.gen != generation {
        return Err(revoked());
    }
    Ok(user)
}

/// The 401 of a token whose user's generation moved past it.
pub fn revoked() -> ApiError {
    ApiError::InvalidToken("the token was revoked; log in again".into())
}

pub(crate) fn bearer_token(req: &HttpRequest) -> Result<String, ApiError> {
    let value = req.headers().get(header::AUTHORIZATION).ok_or_else(|| {
        ApiError::Unauthorized("missing Authorization: Bearer <token> header".into())
    })?;
    let value = value
        .to_str()
        .map_err(|_| ApiError::Unauthorized("malformed Authorization header".into()))?;
    let (scheme, token) = value.split_once(' ').ok_or_else(|| {
        ApiError::Unauthorized("malformed Authorization header; expected Bearer <token>".into())
    })?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ApiError::Unauthorized(
            "expected Authorization: Bearer <token>".into(),
        ));
    }
    Ok(token.trim().to_string())
}

/// The 401 for a caller whose account is disabled or gone: at the token's
/// check, or found so by a write that names the caller (an owner, an
/// interaction's user) after a deactivation committed while the request was
/// on its way: a 422 there blamed a field the client may not have sent. The
/// token sent no longer holds: `invalid_token`.
pub fn disabled() -> ApiError {
    ApiError::InvalidToken("the account is disabled or no longer exists".into())
}

impl AuthUser {
    /// The caller's account as it stands where a write commits: still active
    /// (else the 401 of `disabled`), its token not revoked meanwhile (a
    /// password change: the 401 of a revoked token) and with the role its
    /// request was authorized under (else a 403). Call last in the write's transaction,
    /// after its waits: the role was checked when the token was, and a write
    /// can wait minutes after that (a bulk body's upload, a settings change
    /// behind a recompute); one made by an account deactivated or demoted
    /// meanwhile still created a webhook or applied a bulk batch (a review).
    /// Read, not locked: two admins changing each other would lock each
    /// other's rows in opposite orders.
    pub fn unchanged_in(&self, conn: &mut DbConn) -> Result<(), ApiError> {
        let Some(now) = users::find(conn, self.id)?.filter(|u| u.active) else {
            return Err(disabled());
        };
        if now.token_generation != self.token_generation {
            return Err(revoked());
        }
        let role = from_db(&now.role, Role::Viewer);
        if role == self.role {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "your role changed from {} to {} while this request waited; nothing was \
                 written (send it again if your new role allows it)",
                self.role.as_str(),
                role.as_str()
            )))
        }
    }

    /// `Err(disabled())` when `id` is the caller and `active` says the
    /// account is no longer active.
    pub fn still_active(&self, id: i64, active: bool) -> Result<(), ApiError> {
        if id == self.id && !active {
            Err(disabled())
        } else {
            Ok(())
        }
    }
}
