//! Per-user rate limits (a GCRA bucket per user id, `governor`): every
//! authenticated request under `/api/v1` spends one unit. Users with the
//! `integration` role get their own, higher limit (ERP sync traffic). Over
//! the limit is a 429 problem with `Retry-After`; every counted response
//! carries `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`
//! (seconds until the bucket is full again). Limits are per process.

use std::num::NonZeroU32;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web::Data;
use actix_web::ResponseError;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use crate::config::Config;
use crate::domain::codes::Role;
use crate::error::ApiError;

type Limiter =
    RateLimiter<i64, DefaultKeyedStateStore<i64>, DefaultClock, StateInformationMiddleware>;

struct Bucket {
    per_min: u32,
    limiter: Limiter,
}

impl Bucket {
    fn new(per_min: u32) -> Option<Bucket> {
        let n = NonZeroU32::new(per_min)?;
        Some(Bucket {
            per_min,
            limiter: RateLimiter::keyed(Quota::per_minute(n))
                .with_middleware::<StateInformationMiddleware>(),
        })
    }
}

/// The limits of this process (0 in the configuration: unlimited).
pub struct RateLimits {
    users: Option<Bucket>,
    integrations: Option<Bucket>,
}

/// What a request is told about its limit.
struct Verdict {
    limit: u32,
    remaining: u32,
    reset_secs: u64,
    retry_after_secs: Option<u64>,
}

impl RateLimits {
    pub fn new(config: &Config) -> RateLimits {
        RateLimits {
            users: Bucket::new(config.rate_limit_per_min),
            integrations: Bucket::new(config.rate_limit_integration_per_min),
        }
    }

    /// Is any limit set? (Without one, no token needs reading here.)
    fn any(&self) -> bool {
        self.users.is_some() || self.integrations.is_some()
    }

    fn check(&self, user_id: i64, integration: bool) -> Option<Verdict> {
        let bucket = if integration {
            self.integrations.as_ref()
        } else {
            self.users.as_ref()
        }?;
        let per_unit_secs = 60.0 / f64::from(bucket.per_min);
        Some(match bucket.limiter.check_key(&user_id) {
            Ok(state) => {
                let remaining = state.remaining_burst_capacity();
                let used = bucket.per_min.saturating_sub(remaining);
                Verdict {
                    limit: bucket.per_min,
                    remaining,
                    reset_secs: (f64::from(used) * per_unit_secs).ceil() as u64,
                    retry_after_secs: None,
                }
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                let wait_secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                Verdict {
                    limit: bucket.per_min,
                    remaining: 0,
                    reset_secs: (f64::from(bucket.per_min) * per_unit_secs).ceil() as u64,
                    retry_after_secs: Some(wait_secs.max(1)),
                }
            }
        })
    }
}

fn add_headers(headers: &mut actix_web::http::header::HeaderMap, v: &Verdict) {
    for (name, value) in [
        ("ratelimit-limit", v.limit.to_string()),
        ("ratelimit-remaining", v.remaining.to_string()),
        ("ratelimit-reset", v.reset_secs.to_string()),
    ] {
        if let Ok(value) = HeaderValue::try_from(value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
}

/// The middleware: counts the requests of each authenticated user, by the
/// user's current role (a token's role may be older); requests that do not
/// authenticate are left to the handler's 401.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let limits = req.app_data::<Data<RateLimits>>().cloned();
    // Every API request is authenticated here, limits or not: the outcome is
    // kept in the request, so that a refused token is the handler's first
    // answer (401), not a race with its other extractors (a bad query's 400).
    // A login is no user's request: an SDK that sends its token on every
    // call was refused a new one once its user's minute was spent (review).
    // Logins have a throttle of their own (`PATRON_LOGIN_MAX_PER_MIN`).
    let path = super::routed_path(req.request());
    let user = if path.starts_with("/api/v1/") && path != "/api/v1/auth/token" {
        Some(crate::auth::extract::authenticate(req.request()).await)
    } else {
        None
    };
    let verdict = match (limits, user) {
        (Some(limits), Some(Ok(user))) if limits.any() => {
            limits.check(user.id, user.role == Role::Integration)
        }
        _ => None,
    };
    let Some(verdict) = verdict else {
        return next.call(req).await.map(|r| r.map_into_boxed_body());
    };
    if let Some(retry_after_secs) = verdict.retry_after_secs {
        let error = ApiError::TooManyRequests {
            detail: format!(
                "more than {} requests per minute; retry in {retry_after_secs} s",
                verdict.limit
            ),
            retry_after_secs,
        };
        let mut response = req.into_response(error.error_response());
        add_headers(response.headers_mut(), &verdict);
        return Ok(response);
    }
    let mut response = next.call(req).await?.map_into_boxed_body();
    add_headers(response.headers_mut(), &verdict);
    Ok(response)
}
