//! CSV of customer cards: `GET /customers/export` streams every matching
//! card, `POST /customers/import` upserts rows by `id` or `external_id` with
//! the bulk rules (`customer_csv_target`). One column list for both, so an export re-imports as is:
//! its `version` column then keeps the import from undoing edits made
//! since the export (`Exported`).

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use super::bulk::{self, BulkQuery, Planned};
use super::bulk_customers::{existing, external_id_key, external_ids, stale_item, upsert_one};
use super::bulk_customers_plan;
use super::charset::CsvCharset;
use super::customer_csv_target::{self, Resolved, Target};
use super::customer_query::CustomerQuery;
use super::customers::views;
use super::extract::{both_queries, parse_query, split_query, QueryParams};
use super::idempotency::IdemKey;
use crate::auth::AuthUser;
use crate::db::customer_list::{self, Filter, Sort};
use crate::db::customers::CustomerRow;
use crate::db::page::Cursor;
use crate::db::Db;
use crate::domain::codes::Role;
use crate::error::{ApiError, FieldError};
use crate::startup::AppState;

/// Columns an import writes, in export order (`tags` joined with `|`).
pub const WRITABLE: &[&str] = &[
    "external_id",
    "kind",
    "name",
    "company",
    "email",
    "phone",
    "address",
    "region",
    "birthday",
    "gender",
    "age_band",
    "income_band",
    "occupation",
    "education",
    "industry",
    "products",
    "employees",
    "annual_revenue_cents",
    "owner_id",
    "acquisition_source",
    "source_customer_id",
    "personality_type",
    "social_style",
    "funnel_stage",
    "prospect_grade",
    "wallet_size_cents",
    "currency",
    "notes",
    "tags",
];

/// Columns an import takes that the export never has: the reason a row moves
/// the card back down the funnel (as a bulk item's `change_reason`).
pub const IMPORT_ONLY: &[&str] = &["change_reason"];

/// Columns the export adds and an import does not write (Patron's own
/// figures); `version` is read as the row's `If-Match` (`Exported`), `id`
/// as the card the row updates (`customer_csv_target::Target`).
pub const READ_ONLY: &[&str] = &[
    "id",
    "version",
    "created_at",
    "updated_at",
    "archived_at",
    "last_contact_at",
    "purchase_count",
    "lifetime_revenue_cents",
    "lifetime_profit_cents",
    "revenue_12m_cents",
    "profit_12m_cents",
    "cpr_stage",
    "tier",
    // After the first ones, so that a file read by position keeps its columns.
    "first_purchase_at",
    "last_purchase_at",
    "open_complaints",
    "cpr_pinned",
    "share_of_wallet",
    "churned_at",
    "churn_reason",
    "satisfaction_overall",
    "loyalty_type",
];

const INTEGERS: &[&str] = &[
    "employees",
    "annual_revenue_cents",
    "owner_id",
    "source_customer_id",
    "wallet_size_cents",
];
/// Fields an empty cell leaves alone rather than clears (they cannot be null).
/// Columns a card cannot be without: an empty cell leaves the field as it is.
const REQUIRED: &[&str] = &[
    "kind",
    "name",
    "funnel_stage",
    "currency",
    "external_id",
    "owner_id",
];
const TAG_SEPARATOR: char = '|';
/// Rows fetched per database round trip of the export.
const EXPORT_PAGE: i64 = 1000;

fn header_row() -> Vec<&'static str> {
    ["id"]
        .into_iter()
        .chain(WRITABLE.iter().copied())
        .chain(READ_ONLY.iter().copied().filter(|c| *c != "id"))
        .collect()
}

fn cell(value: &Value, formulas: Formulas) -> String {
    let text = match value {
        Value::Null => return String::new(),
        // A number is never a formula: `-5` stays a number.
        Value::Number(n) => return n.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(&TAG_SEPARATOR.to_string()),
        other => return other.to_string(),
    };
    match formulas {
        Formulas::Keep => text,
        Formulas::Escape => escape_formula(text),
    }
}

/// Text a spreadsheet would evaluate as a formula (a first `=`, `+`, `-`,
/// `@`, or a tab or CR, which some read past) gets a leading `'`: Excel,
/// LibreOffice and Google Sheets then show it as text (OWASP's CSV
/// injection advice). So does each part after a `;`: a spreadsheet whose
/// list separator is `;` (most of continental Europe) splits the cell
/// there, quotes or not, and `Acme;=cmd|…` ran its second part (a review).
fn escape_formula(text: String) -> String {
    const STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];
    text.split(';')
        .map(|part| {
            if part.starts_with(STARTS) {
                format!("'{part}")
            } else {
                part.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(";")
}

/// What the export does with text a spreadsheet would run as a formula.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Formulas {
    /// As stored, for the round trip through the import (the default).
    #[default]
    Keep,
    /// Prefixed with `'`, for a file opened in a spreadsheet (not for
    /// re-import: the `'` would then be stored).
    Escape,
}

/// The export's own parameter, beside the list's filters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// The CSV's character set: `utf-8` (the default) or `gb18030`. Read as
    /// a charset label (any case; `utf8`; `gbk` and `gb2312` are answered
    /// in GB18030, their superset).
    #[param(value_type = Option<CsvCharset>, inline)]
    pub charset: Option<String>,
    /// `escape` prefixes text cells starting with `=`, `+`, `-`, `@`, a tab
    /// or a CR with `'`, and each such part after a `;` in a cell (where a
    /// spreadsheet with `;` as its list separator splits it), so a
    /// spreadsheet shows them instead of running them as formulas (CSV
    /// injection: a card named `=HYPERLINK(...)`);
    /// `keep` (the default) writes them as stored, for the round trip
    /// through the import (phone numbers start with `+`).
    #[param(value_type = Option<Formulas>, inline)]
    pub formulas: Option<String>,
}

impl ExportQuery {
    /// The charset and the formula handling, each bad one named.
    fn options(&self) -> Result<(CsvCharset, Formulas), ApiError> {
        both_queries(self.charset(), self.formulas())
    }

    fn formulas(&self) -> Result<Formulas, ApiError> {
        match self.formulas.as_deref() {
            None | Some("keep") => Ok(Formulas::Keep),
            Some("escape") => Ok(Formulas::Escape),
            Some(other) => Err(ApiError::InvalidQuery(vec![FieldError::new(
                "formulas",
                "invalid_value",
                format!("{other:?} is not a way the export writes formulas: keep or escape"),
            )])),
        }
    }

    fn charset(&self) -> Result<CsvCharset, ApiError> {
        let Some(label) = self.charset.as_deref() else {
            return Ok(CsvCharset::default());
        };
        CsvCharset::from_label(label).ok_or_else(|| {
            ApiError::InvalidQuery(vec![FieldError::new(
                "charset",
                "invalid_value",
                format!("{label:?} is not a charset the export writes: utf-8 or gb18030"),
            )])
        })
    }
}

/// The list's page parameters: the export is not paged (it streams every
/// matching card), so it refuses them, as any parameter it does not take.
/// It used to accept and ignore them, with the list's "Page size" and
/// "the `next_cursor` of the previous page" in its spec: a generated client
/// took it for a paged list.
const PAGE_PARAMS: [&str; 2] = ["limit", "cursor"];

/// The list's parameters (`CustomerQuery`) without its page: the export's
/// in the spec.
struct ExportFilters;

impl IntoParams for ExportFilters {
    fn into_params(
        parameter_in: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        CustomerQuery::into_params(parameter_in)
            .into_iter()
            .filter(|p| !PAGE_PARAMS.contains(&p.name.as_str()))
            .collect()
    }
}

/// A 400 naming each page parameter in `query` (the `PAGE_PARAMS` split
/// off the export's query), an empty `cursor=` too.
fn not_paged(query: &str) -> Result<(), ApiError> {
    let mut errors: Vec<FieldError> = Vec::new();
    for (name, _) in form_urlencoded::parse(query.as_bytes()) {
        if !errors.iter().any(|e| e.field == name) {
            errors.push(FieldError::new(
                name,
                "unknown_field",
                "the export is not paged: it streams every matching card (no `limit` or `cursor`)",
            ));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::InvalidQuery(errors))
    }
}

/// What every page of one export is read and written with.
#[derive(Clone)]
struct Page {
    filter: Filter,
    sort: Sort,
    charset: CsvCharset,
    formulas: Formulas,
}

/// One page of the export as CSV bytes, and the cursor after it.
fn export_page(
    db: &Db,
    page: &Page,
    after: Option<&Cursor>,
    with_header: bool,
) -> impl std::future::Future<Output = Result<(Bytes, Option<Cursor>), ApiError>> {
    let (db, page, after) = (db.clone(), page.clone(), after.cloned());
    async move {
        db.run(move |conn| {
            let Page {
                filter,
                sort,
                charset,
                formulas,
            } = page;
            // One snapshot: `views` reads the tags and tiers again (as the
            // list's `?tag=`, `GET /customers`).
            let (views, next) = crate::db::snapshot(conn, |conn| {
                let rows = customer_list::page(conn, &filter, &sort, after.as_ref(), EXPORT_PAGE)?;
                let more = rows.len() as i64 > EXPORT_PAGE;
                let rows: Vec<_> = rows.into_iter().take(EXPORT_PAGE as usize).collect();
                let next = if more {
                    rows.last().map(|r| sort.cursor_for(r))
                } else {
                    None
                };
                Ok::<_, ApiError>((views(conn, rows)?, next))
            })?;
            // RFC 4180 ends records with CRLF (the import reads either).
            let mut out = csv::WriterBuilder::new()
                .terminator(csv::Terminator::CRLF)
                .from_writer(Vec::with_capacity(views.len() * 300));
            let columns = header_row();
            if with_header {
                out.write_record(&columns)
                    .map_err(|e| ApiError::Internal(e.to_string()))?;
            }
            for view in views {
                let json =
                    serde_json::to_value(&view).map_err(|e| ApiError::Internal(e.to_string()))?;
                let record: Vec<String> = columns
                    .iter()
                    .map(|c| json.get(*c).map(|v| cell(v, formulas)).unwrap_or_default())
                    .collect();
                out.write_record(&record)
                    .map_err(|e| ApiError::Internal(e.to_string()))?;
            }
            let bytes = out
                .into_inner()
                .map_err(|e| ApiError::Internal(e.to_string()))?;
            Ok((Bytes::from(charset.encode(bytes)?), next))
        })
        .await
    }
}

/// Export customers as CSV.
///
/// Every card matching the list filters (the parameters of `GET
/// /customers`; `sort` orders the rows; the export is not paged: `limit`
/// and `cursor` are refused, 400),
/// streamed as `text/csv; charset=utf-8` (RFC 4180: records end with CRLF;
/// a header row, UTF-8 without BOM). Columns: `id`, then the writable card fields in the order
/// `external_id, kind, name, company, email, phone, address, region,
/// birthday, gender, age_band, income_band, occupation, education,
/// industry, products, employees, annual_revenue_cents, owner_id,
/// acquisition_source, source_customer_id, personality_type, social_style,
/// funnel_stage, prospect_grade, wallet_size_cents, currency, notes, tags`
/// (tags joined with `|`), then Patron's figures `version, created_at,
/// updated_at, archived_at, last_contact_at, purchase_count,
/// lifetime_revenue_cents, lifetime_profit_cents, revenue_12m_cents,
/// profit_12m_cents, cpr_stage, tier, first_purchase_at, last_purchase_at,
/// open_complaints, cpr_pinned, share_of_wallet, churned_at, churn_reason,
/// satisfaction_overall, loyalty_type` (each as the card has it; `cpr_pinned`
/// is `true` or `false`). Empty cell = no value. Rows are
/// read 1,000 at a time, so memory stays flat whatever the count; each
/// page is read on its own, so in an order by a value that changes
/// (`updated_at`, the figures) a card changed during the export may be in
/// the file twice or missed: for a sync, export in the default `id` order
/// (with `updated_since` for the changes since the last one). The import
/// takes at most 1,000 rows: split a larger export, each part with the
/// header row. The 200
/// is sent with the first 1,000: a database failure after them (a restart,
/// a pool timeout) ends the transfer early, on a row boundary, without the
/// chunked encoding's closing chunk. An HTTP/1.1 client sees the transfer
/// fail; retry the export then (an HTTP/1.0 client, whose body ends with the
/// connection, cannot tell: use HTTP/1.1).
///
/// `charset=gb18030` answers in GB18030 (`text/csv; charset=gb18030`),
/// which Excel on a Chinese Windows opens without garbling names: it reads
/// a CSV in the system's GBK, of which GB18030 is the lossless superset.
///
/// `formulas=escape` is for a file someone opens in a spreadsheet: text cells
/// a spreadsheet would run as a formula get a leading `'` (see the parameter).
#[utoipa::path(
    tag = "sync",
    params(ExportFilters, ExportQuery),
    responses((status = 200, description = "The CSV", content_type = "text/csv", body = String,
        example = "id,external_id,kind,name,...\n42,ERP-10042,organization,杭州华康贸易有限公司,...\n"))
)]
#[get("/customers/export")]
pub async fn export(
    state: web::Data<AppState>,
    _user: AuthUser,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    // Before the split, which re-encodes what it decoded.
    super::extract::check_query_text(req.query_string())?;
    let (own, rest) = split_query(req.query_string(), &["charset", "formulas"]);
    let (paging, list) = split_query(&rest, &PAGE_PARAMS);
    let filters = both_queries(parse_query::<CustomerQuery>(&list), not_paged(&paging));
    let ((q, ()), (charset, formulas)) = both_queries(
        filters,
        parse_query::<ExportQuery>(&own).and_then(|options| options.options()),
    )?;
    let filter = q.filter()?;
    let sort = Sort::parse(q.sort.as_deref())?;
    let response = |body: actix_web::body::BoxBody| {
        HttpResponse::Ok()
            .insert_header((
                header::CONTENT_TYPE,
                format!("text/csv; charset={}", charset.label()),
            ))
            .insert_header((
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"customers.csv\"",
            ))
            .body(body)
    };
    if super::head::sent_as_head(&req) {
        // The headers of the GET, streamed as its body would be (no
        // Content-Length), without reading a page.
        let nothing = futures_util::stream::empty::<Result<Bytes, ApiError>>();
        return Ok(response(actix_web::body::BoxBody::new(
            actix_web::body::BodyStream::new(nothing),
        )));
    }
    // The first page before answering: a database failure is still a 503 problem.
    let db = state.db.clone();
    let page = Page {
        filter,
        sort,
        charset,
        formulas,
    };
    let (first, next) = export_page(&db, &page, None, true).await?;
    let stream = futures_util::stream::unfold(
        (Some(first), next, db, page),
        |(ready, next, db, page)| async move {
            if let Some(bytes) = ready {
                return Some((Ok(bytes), (None, next, db, page)));
            }
            let after = next?;
            match export_page(&db, &page, Some(&after), false).await {
                Ok((bytes, next)) => Some((Ok(bytes), (None, next, db, page))),
                // Mid-stream the status is sent: end the body early (the
                // client sees a truncated transfer) and log why.
                Err(e) => {
                    log::warn!("CSV export stopped: {e}");
                    Some((Err(e), (None, None, db, page)))
                }
            }
        },
    );
    Ok(response(actix_web::body::BoxBody::new(
        actix_web::body::BodyStream::new(stream),
    )))
}

fn is_csv(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("text/csv"))
}

/// RFC 4180's quoting, which the csv crate reads leniently: a field is
/// either enclosed in quotes whole (a quote inside doubled) or holds none.
/// Read leniently, `"x"y"z"` became `xy"z"`, `"ab"c` became `abc`, and a
/// quoted field never closed swallowed every row after it into one cell:
/// each is a 400 naming the row (0: the header) instead.
fn strict_quoting(body: &[u8]) -> Result<(), ApiError> {
    #[derive(PartialEq)]
    enum At {
        FieldStart,
        Unquoted,
        Quoted,
        QuoteInQuoted,
    }
    // Named by row and line: with line breaks in quoted notes, "row 3"
    // alone was line 7 of the file, hard to find in an editor (a QA review).
    let malformed = |row: usize, pos: usize, what: &str| {
        let line = line_at(body, pos);
        let which = if row == 0 {
            format!("the CSV header row (line {line})")
        } else {
            format!("CSV row {row} (line {line})")
        };
        ApiError::BadRequest(format!(
            "{which} is malformed: {what} (RFC 4180: a field that holds a quote, comma or \
             line break is enclosed in quotes, and a quote inside it is doubled)"
        ))
    };
    let (mut at, mut row, mut has_content, mut opened) = (At::FieldStart, 0, false, 0);
    let mut bytes = body.iter().enumerate().peekable();
    while let Some((pos, &b)) = bytes.next() {
        let ends_record = (b == b'\n' || b == b'\r') && at != At::Quoted;
        if ends_record {
            if b == b'\r' && bytes.peek().is_some_and(|(_, next)| **next == b'\n') {
                bytes.next();
            }
            // Blank lines are skipped, as the reader skips them.
            row += usize::from(has_content);
            (at, has_content) = (At::FieldStart, false);
            continue;
        }
        has_content = true;
        if at == At::FieldStart && b == b'"' {
            opened = pos;
        }
        at = match (at, b) {
            (At::FieldStart, b'"') | (At::QuoteInQuoted, b'"') => At::Quoted,
            (At::Quoted, b'"') => At::QuoteInQuoted,
            (At::Quoted, _) => At::Quoted,
            (_, b',') => At::FieldStart,
            (At::FieldStart | At::Unquoted, _) => At::Unquoted,
            (At::QuoteInQuoted, _) => {
                return Err(malformed(
                    row,
                    pos,
                    "text follows the closing quote of a field",
                ))
            }
        };
        if at == At::Unquoted && b == b'"' {
            return Err(malformed(
                row,
                pos,
                "a quote stands in a field that is not quoted",
            ));
        }
    }
    if at == At::Quoted {
        return Err(malformed(row, opened, "a quoted field is not closed"));
    }
    Ok(())
}

/// A row the reader refuses: its quoting is checked before
/// (`strict_quoting`), so its field count differs from the header's. Named
/// by its row and the line it starts on: the csv crate's own text gave the
/// line where the row before it ended ("record 1 (line: 1, byte: 22)" for
/// the row on line 2 of a CRLF file), in its own words.
fn unequal_row(body: &[u8], row: usize, e: &csv::Error) -> ApiError {
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            pos: Some(pos),
            expected_len,
            len,
        } => ApiError::BadRequest(format!(
            "CSV row {row} (line {}) has {len} {}; the header has {expected_len}",
            line_of(body, pos.byte()),
            if *len == 1 { "field" } else { "fields" }
        )),
        _ => ApiError::BadRequest(format!("CSV row {row} is malformed: {e}")),
    }
}

/// The line (from 1) of the row the reader placed at `byte`: it may place
/// it on the line break (or blank lines) before the row. CRLF, LF and a
/// lone CR each end a line, as for the reader.
fn line_of(body: &[u8], byte: u64) -> usize {
    let mut at = usize::try_from(byte).unwrap_or(usize::MAX).min(body.len());
    while body.get(at).is_some_and(|b| *b == b'\n' || *b == b'\r') {
        at += 1;
    }
    line_at(body, at)
}

/// The line (from 1) of the byte at `pos`: CRLF, LF and a lone CR each end
/// a line.
fn line_at(body: &[u8], pos: usize) -> usize {
    let before = &body[..pos.min(body.len())];
    let breaks = before
        .iter()
        .enumerate()
        .filter(|(i, b)| **b == b'\n' || (**b == b'\r' && before.get(i + 1) != Some(&b'\n')))
        .count();
    breaks + 1
}

/// A row's `version` cell: the version its card had when the file was
/// exported. A row that updates that card must still find it there, as a
/// PATCH with `If-Match` must: the import ignored the column, so a file
/// exported, edited and re-imported put back the values of every row that
/// someone changed meanwhile (another user's new phone number became the
/// exported one again, `updated`, without a word).
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Exported {
    /// No column, or an empty cell (a file made by hand): no check.
    Unknown,
    At(i64),
    /// Not a whole number: the row's error.
    Bad(String),
}

impl Exported {
    fn of(cell: &str) -> Self {
        let cell = cell.trim();
        if cell.is_empty() {
            return Exported::Unknown;
        }
        // `42.0` too: pandas writes the column so once appended rows
        // leave cells empty (a review).
        whole_number(cell)
            .map(Exported::At)
            .unwrap_or_else(|| Exported::Bad(cell.to_string()))
    }

    fn error(&self) -> Option<ApiError> {
        match self {
            Exported::Bad(text) => Some(ApiError::invalid(
                "version",
                "invalid_type",
                &format!(
                    "{} is not a version: a whole number (the card's, from the export), or empty for no check",
                    super::wording::quoted(text)
                ),
            )),
            _ => None,
        }
    }
}

/// The error of a row exported before its card last changed, or holding a
/// version the card never had (`bulk_version::stale`).
pub(super) fn stale(exported: i64, current: i64) -> ApiError {
    let message = if exported < 1 {
        format!(
            "the row holds version {exported}, which is no version: versions start at 1 (the \
             card was at {current} when this import began)"
        )
    } else if exported < current {
        format!(
            "the row was exported at version {exported}; the card was at version {current} \
             when this import began, changed since: export again and redo the edit, or empty \
             the cell to overwrite"
        )
    } else {
        format!(
            "the row holds version {exported}; the card was at version {current} when this \
             import began, and every row of it is checked against that: export again, or \
             empty the cell to overwrite"
        )
    };
    ApiError::FieldConflict(FieldError::new("version", "conflict", message))
}

/// The set-based pass (`bulk_customers_plan::plan`) over the rows whose
/// `id` and `version` cells read; a row whose cell does not is its error,
/// unwritten. Rows that update a card without a key by its id go to the
/// per-item path, and every row does when one of them gives its card a key.
fn plan_rows(
    conn: &mut crate::db::DbConn,
    user: &AuthUser,
    items: Vec<Value>,
    exported: &[Exported],
    resolved: Resolved,
) -> Result<Vec<Planned<Value>>, ApiError> {
    let Resolved {
        mut errors,
        keyless,
        assigns_key,
    } = resolved;
    let mut out = Vec::with_capacity(items.len());
    let mut good = Vec::with_capacity(items.len());
    for (pos, (item, cell)) in items.into_iter().zip(exported).enumerate() {
        match errors.remove(&pos).or_else(|| cell.error()) {
            Some(e) => out.push(Some(Planned::Done(Err(e)))),
            // Rendered as it commits: a later row may name the card by id.
            None if keyless.contains_key(&pos) => out.push(Some(Planned::Repeated(item))),
            None => {
                good.push(item);
                out.push(None);
            }
        }
    }
    let planned = if assigns_key {
        let keys: Vec<Option<String>> = good.iter().map(external_id_key).collect();
        bulk::in_order(good, &keys)
    } else {
        bulk_customers_plan::plan(conn, user, good)?
    };
    let mut planned = planned.into_iter();
    for slot in &mut out {
        if slot.is_none() {
            *slot = planned.next();
        }
    }
    bulk::settled(out)
}

/// The CSV rows as bulk items (JSON objects), each with its `version` and
/// `id` cells.
type Rows = (Vec<Value>, Vec<Exported>, Vec<Target>);

/// The CSV rows as bulk items (JSON objects), each with its `version` cell;
/// header problems are a 422.
/// `body` is UTF-8 (`charset::decode`, which drops the byte order mark).
fn rows_as_items(body: &[u8]) -> Result<Rows, ApiError> {
    strict_quoting(body)?;
    let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(body);
    let raw_headers = reader
        .headers()
        .map_err(|e| ApiError::BadRequest(format!("the CSV header row is unreadable: {e}")))?;
    // One error for a header longer than every column named once, before
    // any cell is copied: an error per column of 4 million made hundreds of
    // MB of answer (a review).
    let columns = WRITABLE.len() + READ_ONLY.len() + IMPORT_ONLY.len();
    if raw_headers.len() > columns {
        return Err(ApiError::invalid(
            "header",
            "length",
            &format!(
                "{} columns; a customer CSV has at most {columns}, each named once",
                raw_headers.len()
            ),
        ));
    }
    let headers: Vec<String> = raw_headers.iter().map(|h| h.trim().to_string()).collect();
    let mut errors: Vec<FieldError> = headers
        .iter()
        .filter(|h| {
            let h = h.as_str();
            !WRITABLE.contains(&h) && !READ_ONLY.contains(&h) && !IMPORT_ONLY.contains(&h)
        })
        .map(|h| {
            // One column holding the separators of another: a spreadsheet
            // with a continental locale saves `;` (QA: the error named a
            // column `id;external_id;name`, no word on why).
            let message = match (raw_headers.len(), [';', '\t'].iter().find(|c| h.contains(**c))) {
                (1, Some(';')) => "not a customer column: the file seems separated by `;`; Patron reads commas (save as \"CSV UTF-8 (Comma delimited)\")",
                (1, Some(_)) => "not a customer column: the file seems separated by tabs; Patron reads commas (save as \"CSV UTF-8 (Comma delimited)\")",
                _ => "not a customer column",
            };
            FieldError::new(format!("header.{h}"), "unknown_field", message)
        })
        .collect();
    if !headers.iter().any(|h| h == "external_id" || h == "id") {
        errors.push(FieldError::new(
            "header.external_id",
            "required",
            "rows are matched by external_id (or id): the column is required",
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for h in &headers {
        if !seen.insert(h) {
            errors.push(FieldError::new(
                format!("header.{h}"),
                "duplicate",
                "column given twice",
            ));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let mut items = Vec::new();
    let mut versions = Vec::new();
    let mut targets = Vec::new();
    let mut records = Vec::new();
    for (i, record) in reader.records().enumerate() {
        // Counted as they are read: 8 MiB of one-letter rows are 4 million
        // records, ~700 MB held before a cap after the loop answered (a
        // review).
        if i >= bulk::MAX_ITEMS {
            return Err(ApiError::PayloadTooLarge(format!(
                "more than {} rows; split the file",
                bulk::MAX_ITEMS
            )));
        }
        let record = record.map_err(|e| unequal_row(body, i + 1, &e))?;
        records.push(record);
    }
    // A cell holding a control character is its row's error, as a JSON
    // item's text is (`bulk::parse_item`).
    for record in records {
        let mut obj = Map::new();
        let mut exported = Exported::Unknown;
        let mut target = Target::Key;
        for (name, raw) in headers.iter().zip(record.iter()) {
            let name_str = name.as_str();
            if name_str == "version" {
                exported = Exported::of(raw);
                continue;
            }
            if name_str == "id" {
                target = Target::of(raw);
                continue;
            }
            if IMPORT_ONLY.contains(&name_str) {
                if !raw.trim().is_empty() {
                    obj.insert(name.clone(), Value::String(raw.trim().to_string()));
                }
                continue;
            }
            if !WRITABLE.contains(&name_str) {
                continue;
            }
            let raw = raw.trim();
            let value = if name == "tags" {
                // An empty cell is no tags; an empty tag in a list (`a||b`,
                // `a|`) is kept, to be refused as in JSON (`tags[1]`), not
                // dropped without a word.
                Value::Array(if raw.is_empty() {
                    Vec::new()
                } else {
                    // One tag past the most: the list's length error says
                    // enough, where 8 million separators were 8 million
                    // tags (a review), and a last piece holding the rest
                    // was also refused for a `|` no one typed in a tag (a
                    // QA review).
                    raw.split(TAG_SEPARATOR)
                        .take(super::customer_input::MAX_TAGS + 1)
                        .map(|t| Value::String(t.trim().to_string()))
                        .collect()
                })
            } else if raw.is_empty() {
                if REQUIRED.contains(&name.as_str()) {
                    continue;
                }
                Value::Null
            } else if INTEGERS.contains(&name.as_str()) {
                whole_number(raw)
                    .map(Value::from)
                    .or_else(|| beyond_64_bits(raw))
                    .unwrap_or_else(|| Value::String(raw.to_string()))
            } else if name == "birthday" {
                Value::String(spreadsheet_date(raw).unwrap_or_else(|| raw.to_string()))
            } else {
                Value::String(raw.to_string())
            };
            obj.insert(name.clone(), value);
        }
        items.push(Value::Object(obj));
        versions.push(exported);
        targets.push(target);
    }
    bulk::count_ok(items.len(), "rows")?;
    Ok((items, versions, targets))
}

/// A date cell as a spreadsheet saves it on a Chinese (or Japanese)
/// system, `1990/1/5`, as the `1990-01-05` it means: Excel rewrites every
/// date of an opened export so, and each row with a birthday failed its
/// re-import (a QA review). Year first only: `1/5/1990` is ambiguous.
fn spreadsheet_date(cell: &str) -> Option<String> {
    let mut parts = cell.split('/');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    let digits = |s: &str, n: std::ops::RangeInclusive<usize>| {
        n.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
    };
    if parts.next().is_some() || !digits(y, 4..=4) || !digits(m, 1..=2) || !digits(d, 1..=2) {
        return None;
    }
    let date = chrono::NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)?;
    Some(date.format("%Y-%m-%d").to_string())
}

/// A cell of a whole-number column (the card's, `id`, `version`): `12`, or
/// `12.0` as pandas writes an integer column with missing values (every
/// such row was an `invalid_type`; a review). Anything else is None, for
/// the type error naming the column: an exponent too, as a spreadsheet
/// writes a number of 12 digits or more (`1.23457E+11`), which was taken
/// as the rounded amount it reads as, without a word (a review).
pub(super) fn whole_number(cell: &str) -> Option<i64> {
    whole_digits(cell)?.parse::<i64>().ok()
}

/// The digits of a whole-number cell (`12`, `12.0`, `-3`), if it is one.
fn whole_digits(cell: &str) -> Option<&str> {
    let digits = match cell.split_once('.') {
        Some((whole, zeros)) if !zeros.is_empty() && zeros.bytes().all(|b| b == b'0') => whole,
        Some(_) => return None,
        None => cell,
    };
    let unsigned = digits.strip_prefix(['-', '+']).unwrap_or(digits);
    (!unsigned.is_empty() && unsigned.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
}

/// A whole-number cell past the 64-bit range as the JSON number it is, so
/// that it is a `range` error as in a bulk item (it was `invalid_type`,
/// "got string", for a cell that is an integer: QA).
fn beyond_64_bits(cell: &str) -> Option<Value> {
    let digits = whole_digits(cell)?;
    let number = match digits.parse::<u64>() {
        Ok(n) => serde_json::Number::from(n),
        // Past f64 too (over 308 digits), any number past the range says so.
        Err(_) => {
            serde_json::Number::from_f64(digits.parse::<f64>().ok()?.clamp(f64::MIN, f64::MAX))?
        }
    };
    Some(Value::Number(number))
}

/// Null on create means "not given" (a card starts empty anyway).
fn drop_nulls(item: &mut Value, creating: bool) {
    if let (true, Some(obj)) = (creating, item.as_object_mut()) {
        obj.retain(|_, v| !v.is_null());
    }
}

/// The import's body in the spec: a CSV file, i.e. a string of bytes
/// (`format: binary`, `contentMediaType: text/csv`). `binary` rather than a
/// plain string so that generated clients upload a file as it is (the
/// Python client's generator takes only binary bodies for non-JSON types).
pub struct CsvFile;

impl utoipa::PartialSchema for CsvFile {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .content_media_type("text/csv")
            .into()
    }
}

impl utoipa::ToSchema for CsvFile {}

/// Import customers from CSV (upsert by `id` or `external_id`).
///
/// The body is `text/csv` (RFC 4180, a header row) with the columns of the
/// export; `external_id` or `id` is required. Its text is UTF-8 unless the
/// `Content-Type` names another `charset` of the WHATWG Encoding Standard
/// (`text/csv; charset=gbk` for a file Excel saved on a Chinese Windows;
/// `gb18030`, `big5`, `shift_jis`, `windows-1252`, `utf-16le`, ...): an
/// unknown charset is a 415, a byte sequence the charset does not define a
/// 400 naming its line. A byte order mark is dropped and, as in browsers,
/// wins over the declared charset.
/// A row with an `id` updates that card, never creates one: an empty
/// `external_id` cell matches it by id (cards made in the UI have no
/// external id), a key equal to the card's is fine, and a key in the row of
/// a card without one gives it that key (another card's key is the row's
/// error `external_id`, code `conflict`; while another row of the file names
/// that card too, no key is given: the row's error `id`, code `conflict`,
/// a copied row); a key other than the card's own
/// is the row's error `external_id`, code `conflict` (it would write over
/// another card, or make a second one); an id no card has is the row's
/// error `id`, code `not_found` (`invalid_type` when not a whole number).
/// Archived cards are matched by id as by key (a row that changes one is
/// its `customer_id`/`archived` error). A row with an empty `id` cell, or a
/// file without the column, is matched by `external_id`.
/// The figures' columns are ignored, so an export re-imports as is; an
/// unknown or repeated column is a 422. `version` is
/// not ignored: a row that holds one and updates an existing card applies
/// only while the card is still at that version (as a PATCH with
/// `If-Match`), so re-importing an edited export does not undo what others
/// changed since; a card changed since is that row's error (`version`,
/// code `conflict`), a row that changes nothing is still `unchanged`, an
/// empty cell checks nothing (a file made by hand), and a cell that is not
/// a whole number is the row's error (`invalid_type`). A row creating a
/// card ignores it. One
/// column the export never has is taken too: `change_reason`, the reason a
/// row moves the card back down the funnel (an empty cell gives none). Each
/// row upserts like one item of `POST /customers/bulk` (same rules, same
/// results, `all_or_none` and `Idempotency-Key` alike), with `index` the
/// data row number (1 = the first row after the header). A column left
/// out leaves that field unchanged; an empty cell clears it (for `kind`,
/// `name`, `funnel_stage` and `currency`, which cannot be empty, and for
/// `owner_id` and `external_id`, it leaves it unchanged); `tags` are separated by `|`. At most 1,000 rows.
#[utoipa::path(
    tag = "sync",
    params(BulkQuery),
    request_body(content = inline(CsvFile), content_type = "text/csv",
        example = "external_id,kind,name,region,tags\nERP-10042,organization,杭州华康贸易有限公司,Hangzhou,health|wholesale\n"),
    responses(
        (status = 200, description = "Per-row results", body = bulk::BulkResponse),
        (status = 413, description = "More than 1,000 rows or a body over 8 MiB", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not text/csv, or its charset is unknown", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "An unknown, repeated or missing column; no data row (`rows`, code `length`); or with `all_or_none`, a row failed and nothing was applied (`items[i].field` names the row by its data row number, 1 = the first row after the header, as each result's `index` does: not a position in the answer's `items`)", body = bulk::BulkRejection, content_type = "application/problem+json")
    )
)]
#[post("/customers/import")]
pub async fn import(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    query: QueryParams<BulkQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    user.require_any(&[Role::Admin, Role::Manager, Role::Sales, Role::Integration])?;
    super::charset::single_header(&req)?;
    if !is_csv(&req) {
        // A browser labels a `.csv` file by the program that opens it
        // (`application/vnd.ms-excel` where Excel is installed): the label
        // sent is named, and what to send instead (a QA review).
        let sent = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| format!("`{}`", super::wording::excerpt(v, 60)))
            .unwrap_or_else(|| "none".to_string());
        return Err(ApiError::UnsupportedMediaType(format!(
            "the request body must be CSV, sent with Content-Type: text/csv (this one: {sent}; \
             a browser may label a .csv file application/vnd.ms-excel or text/plain: set the \
             header yourself)"
        )));
    }
    let encoding = super::charset::of_request(&req)?;
    let all_or_none = query.0.all_or_none.unwrap_or(false);
    let body = bulk::read_body(&req, payload).await?;
    let (items, exported, targets) =
        bulk::off_the_worker(move || rows_as_items(&super::charset::decode(encoding, &body)?))
            .await?;
    let key = IdemKey::of(&req);
    state
        .db
        .write(move |conn| {
            // Set by the plan, once the rows' ids have filled their keys.
            let ids = std::cell::OnceCell::new();
            let keyless = std::cell::OnceCell::new();
            let assigns = std::cell::OnceCell::new();
            let mut known: Option<std::collections::HashMap<String, CustomerRow>> = None;
            // The known cards' versions before any row wrote: the rows of one
            // key were all exported at the version its first row then changes.
            let mut before = std::collections::HashMap::new();
            bulk::run_batch(
                conn,
                &user,
                items,
                1,
                all_or_none,
                key.as_ref(),
                |conn, mut items| {
                    let resolved = customer_csv_target::resolve(conn, &mut items, &targets)?;
                    let known = existing(conn, ids.get_or_init(|| external_ids(&items)))?;
                    // A key's second row in the file updates the card its first
                    // row creates (or gives by id): its empty cells clear, as
                    // they would in a file of their own (the items may go on
                    // to the per-row path).
                    let mut first = std::collections::HashSet::new();
                    for (pos, item) in items.iter_mut().enumerate() {
                        if resolved.keyless.contains_key(&pos) {
                            if let Some(key) = external_id_key(item) {
                                first.insert(key);
                            }
                            continue;
                        }
                        let creating =
                            item.get("external_id")
                                .and_then(Value::as_str)
                                .is_none_or(|e| {
                                    let e = e.trim();
                                    !known.contains_key(e) && first.insert(e.to_string())
                                });
                        drop_nulls(item, creating);
                    }
                    let _ = keyless.set(resolved.keyless.clone());
                    let _ = assigns.set(resolved.assigns_key);
                    plan_rows(conn, &user, items, &exported, resolved)
                },
                // In key order, as the bulk upsert (`bulk_customers::bulk_customers`):
                // a row's id has filled its key. Rows for cards without a
                // key name theirs only by id and have none: they run first,
                // in the file's order, and no other row can name their
                // cards, unless a row gives one a key: then the whole file
                // keeps its order.
                |item| {
                    (assigns.get() == Some(&false))
                        .then(|| external_id_key(item))
                        .flatten()
                },
                |conn, index, mut item| {
                    let known = match &mut known {
                        Some(k) => k,
                        None => {
                            let read = existing(conn, ids.get().map_or(&[], Vec::as_slice))?;
                            before = read.iter().map(|(e, r)| (e.clone(), r.version)).collect();
                            known.insert(read)
                        }
                    };
                    let pos = index.wrapping_sub(1);
                    if let Some(card) = keyless.get().and_then(|k| k.get(&pos)) {
                        return customer_csv_target::update_by_id(
                            conn,
                            &user,
                            card,
                            exported.get(pos),
                            known,
                            item,
                        );
                    }
                    let creating = item
                        .get("external_id")
                        .and_then(Value::as_str)
                        .is_none_or(|e| !known.contains_key(e.trim()));
                    drop_nulls(&mut item, creating);
                    let key = external_id_key(&item);
                    let card = key
                        .as_ref()
                        .and_then(|k| Some((before.get(k)?, known.get(k)?)));
                    if let (Some(Exported::At(wanted)), Some((&at, row))) =
                        (exported.get(index.wrapping_sub(1)), card)
                    {
                        if *wanted != at {
                            // Nothing to write, nothing undone: as the set-based pass answers.
                            return stale_item(conn, &user, row, &item, || stale(*wanted, at));
                        }
                    }
                    upsert_one(conn, &user, known, item)
                },
                |_| Ok(()),
            )
        })
        .await
        .map(bulk::Outcome::respond)
}

#[cfg(test)]
mod tests {
    use super::spreadsheet_date;

    #[test]
    fn a_spreadsheets_dates_are_read_year_first() {
        assert_eq!(spreadsheet_date("1990/1/5").as_deref(), Some("1990-01-05"));
        assert_eq!(
            spreadsheet_date("1990/01/05").as_deref(),
            Some("1990-01-05")
        );
        assert_eq!(
            spreadsheet_date("2000/12/31").as_deref(),
            Some("2000-12-31")
        );
        for other in [
            "1/5/1990",
            "1990/2/30",
            "1990/1/5/1",
            "90/1/5",
            "1990/001/5",
            "1990/+1/5",
            "1990-1-5",
            "1990/1/",
        ] {
            assert_eq!(spreadsheet_date(other), None, "{other}");
        }
    }

    #[test]
    fn whole_numbers_are_read_as_written_or_as_floats() {
        use super::whole_number;
        for (cell, n) in [
            ("12", Some(12)),
            ("-3", Some(-3)),
            ("12.0", Some(12)),
            ("1200000.0", Some(1_200_000)),
            ("-0.00", Some(0)),
            ("9007199254740993.0", Some(9_007_199_254_740_993)),
            ("1e3", None),
            ("1.23457E+11", None),
            ("1E+11", None),
            ("12.", None),
            (".0", None),
            ("12.5", None),
            ("12.0000000000000000001", None),
            ("12x", None),
            ("NaN", None),
            ("", None),
        ] {
            assert_eq!(whole_number(cell), n, "{cell:?}");
        }
    }

    #[test]
    fn text_a_spreadsheet_would_run_is_escaped_only_when_asked() {
        use super::{cell, Formulas};
        use serde_json::json;
        for (value, escaped) in [
            (json!("=1+1"), "'=1+1"),
            (json!("+86 1"), "'+86 1"),
            (json!("-x"), "'-x"),
            (json!("@x"), "'@x"),
            (json!("\tx"), "'\tx"),
            (json!("\rx"), "'\rx"),
            (json!("a=b"), "a=b"),
            (
                json!("Acme;=cmd|' /C calc'!A0;"),
                "Acme;'=cmd|' /C calc'!A0;",
            ),
            (json!("=a;+b;c"), "'=a;'+b;c"),
            (json!("a; -b"), "a; -b"),
            (json!(""), ""),
            (json!(-5), "-5"),
            (json!(null), ""),
            (json!(["=a", "b"]), "'=a|b"),
        ] {
            assert_eq!(cell(&value, Formulas::Escape), escaped, "{value}");
        }
        assert_eq!(cell(&json!("=1+1"), Formulas::Keep), "=1+1");
    }

    #[test]
    fn a_row_of_the_wrong_length_is_named_by_its_row_and_line() {
        let message = |body: &str| match super::rows_as_items(body.as_bytes()) {
            Err(crate::error::ApiError::BadRequest(m)) => m,
            other => panic!("{other:?}"),
        };
        for body in [
            "external_id,kind,name\nA,individual,x,extra\n",
            "external_id,kind,name\r\nA,individual,x,extra\r\n",
            "external_id,kind,name\rA,individual,x,extra",
        ] {
            assert_eq!(
                message(body),
                "CSV row 1 (line 2) has 4 fields; the header has 3",
                "{body:?}"
            );
        }
        assert_eq!(
            message("external_id,kind,name\r\nA,individual,x\r\n\r\nB,individual,\"two\nlines\"\r\nC,x\r\n"),
            "CSV row 3 (line 6) has 2 fields; the header has 3"
        );
    }

    use super::strict_quoting;
    use crate::error::ApiError;

    fn refused_row(body: &str) -> String {
        match strict_quoting(body.as_bytes()) {
            Err(ApiError::BadRequest(detail)) => detail,
            other => panic!("{body:?}: {other:?}"),
        }
    }

    #[test]
    fn rfc_4180_quoting_is_taken() {
        for good in [
            "a,b\n1,2\n",
            "a,b\r\n\"1,5\",\"say \"\"hi\"\"\"\r\n",
            "a\n\"line\nbreak\"\n",
            "a,b\r\r\n\n1,\"\"\n",
            "a,b\n1,",
            "a\r\"x\"\r",
        ] {
            assert!(strict_quoting(good.as_bytes()).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn lenient_readings_are_refused_naming_the_row() {
        // With the line each starts on: blank lines and quoted line breaks
        // count.
        for (bad, row) in [
            ("n\n\"x\"y\"z\"\n", "CSV row 1 (line 2)"),
            ("n\nok\n\"ab\"c\n", "CSV row 2 (line 3)"),
            ("n\n\nok\n\n a\"\"b\n", "CSV row 2 (line 5)"),
            ("n\r1\r \"abc\"\r", "CSV row 2 (line 3)"),
            ("n\n\"x\"  \n", "CSV row 1 (line 2)"),
            ("n,\"m\n1,2\n", "the CSV header row (line 1)"),
            ("n\n\"Acme\nQ-2,Beta\n", "CSV row 1 (line 2)"),
            ("n\n\"a\r\nb\"\nx\"y\n", "CSV row 2 (line 4)"),
        ] {
            let detail = refused_row(bad);
            assert!(detail.starts_with(row), "{bad:?}: {detail}");
        }
    }
}
