//! `GET /users/directory`: who the users are, for every role. A card's
//! `owner_id`, an interaction's `user_id` and a plan action's owner are user
//! ids; the user list is for admins and managers, so a sales rep's or an
//! integration's app could show none of them by name, nor pick a
//! colleague as an action's owner (a review). The directory shows what a
//! colleague may know: id, name, role and whether the user is active; no
//! email, no login details.

use actix_web::{get, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::QueryParams;
use crate::auth::AuthUser;
use crate::db::page::{self, Cursor};
use crate::db::users;
use crate::domain::codes::{from_db, Role};
use crate::error::ApiError;
use crate::startup::AppState;

/// The cursors of the directory are its own: the user list's search also
/// reads emails, so one of its cursors would page another list.
const LIST: &str = "users-directory";

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DirectoryEntry {
    #[schema(example = 2)]
    pub id: i64,
    #[schema(example = "Li Na")]
    pub name: String,
    pub role: Role,
    /// A deactivated user stays listed (cards and contacts still name it);
    /// it cannot log in, nor be given new cards or actions.
    pub active: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DirectoryPage {
    pub items: Vec<DirectoryEntry>,
    /// Pass as `cursor` to get the next page; null on the last page.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// Filters, sort and page of the directory. Filters combine with AND.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DirectoryQuery {
    /// Only users with this role.
    #[param(inline)]
    pub role: Option<Role>,
    /// true: only active users (the ones a card or an action can be given
    /// to); false: only deactivated ones.
    pub active: Option<bool>,
    /// Case-insensitive search of the name (trimmed; blank is no filter).
    #[param(max_length = 200)]
    pub q: Option<String>,
    /// `id` or `name`; prefix `-` for descending. Default `id`. Ties go by
    /// id; `name` follows the database's collation, as the user list's.
    #[param(example = "name", pattern = "^-?(id|name)$")]
    pub sort: Option<String>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page, read with the same sort and filters.
    pub cursor: Option<String>,
}

impl DirectoryQuery {
    fn filter(&self) -> Result<users::Filter, ApiError> {
        Ok(users::Filter {
            role: self.role.map(Role::as_str),
            active: self.active,
            q: super::users::search_term(self.q.as_deref())?,
            q_name_only: true,
            updated_since: None,
        })
    }
}

/// The users by name and role, for every role: who owns a card, who had a
/// contact, whom to give an action. Filter by role, active flag or a search
/// of the name; sort by id or name.
#[utoipa::path(
    tag = "users",
    params(DirectoryQuery),
    responses((status = 200, body = DirectoryPage))
)]
#[get("/users/directory")]
pub async fn list(
    state: web::Data<AppState>,
    _user: AuthUser,
    query: QueryParams<DirectoryQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.0;
    let filter = q.filter()?;
    let sort = users::directory_sort(q.sort.as_deref())?;
    let limit = page::limit(q.limit)?;
    let list_name =
        super::common::filtered_list_name(LIST, &(filter.role, filter.active, &filter.q));
    let after = q
        .cursor
        .as_deref()
        .map(|c| Cursor::decode(c, &list_name, &sort.as_string()))
        .transpose()?;
    let rows = state
        .db
        .run(move |conn| users::page(conn, &filter, sort, after.as_ref(), limit))
        .await?;
    let page = page::finish(rows, limit, &list_name, |u| users::cursor_for(&sort, u));
    Ok(HttpResponse::Ok().json(DirectoryPage {
        items: page
            .items
            .into_iter()
            .map(|u| DirectoryEntry {
                id: u.id,
                role: from_db(&u.role, Role::Viewer),
                name: u.name,
                active: u.active,
            })
            .collect(),
        next_cursor: page.next_cursor,
    }))
}
