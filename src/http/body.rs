//! Reading a request body and decoding its `Content-Encoding` with the size
//! limit applied to the decoded bytes as they come out of the decoder.
//!
//! actix's own decoder (`dev::Decompress`, used by its `Bytes` extractor)
//! decodes each received chunk whole before a limit can look at it: a
//! 122 KB zstd body that decodes to 4 GB cost 7–10 s of CPU before its 413,
//! with no token needed (`POST /auth/token`). Here the decoder is read
//! through `take(limit + 1)`, so a body is refused after at most one byte
//! past the limit has been produced.

use std::cell::RefCell;
use std::io::{Read, Write};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header::{self, ContentEncoding};
use actix_web::middleware::Next;
use actix_web::web::{Bytes, BytesMut};
use actix_web::{HttpMessage, HttpRequest};
use futures_util::{Stream, StreamExt};

use crate::error::ApiError;

/// Why a body could not be read.
#[derive(Debug)]
pub enum BodyError {
    /// More than the limit, before or after decoding.
    TooLarge,
    /// A Content-Encoding Patron does not decode, or bytes that do not decode.
    Bad(ApiError),
}

/// The encoding of the body: 415 for one Patron cannot decode (actix reads
/// an unknown one as `identity`, and the compressed bytes were then parsed
/// as the body itself). `x-gzip` is gzip (RFC 9110 §8.4.1.3: old clients
/// and proxies still label it so; it was a 415).
pub fn encoding(req: &HttpRequest) -> Result<ContentEncoding, ApiError> {
    match req.headers().get(header::CONTENT_ENCODING) {
        None => Ok(ContentEncoding::Identity),
        Some(v) => match v.to_str().ok().map(str::trim) {
            Some(name) if name.eq_ignore_ascii_case("x-gzip") => Ok(ContentEncoding::Gzip),
            Some(name) => name
                .parse::<ContentEncoding>()
                .map_err(|_| ApiError::UnsupportedEncoding),
            None => Err(ApiError::UnsupportedEncoding),
        },
    }
}

/// The longest wait for the next bytes of a body. actix times out the
/// request head only (`client_request_timeout`): a client that sent its
/// headers and then stalled its body held the connection and its buffer for
/// as long as it liked, on `POST /auth/token` without a token.
pub const BODY_IDLE_LIMIT: Duration = Duration::from_secs(15);

/// The longest a whole body may take to arrive, by its size limit: a client
/// trickling a byte every few seconds never hits the idle limit.
pub fn body_deadline(limit: usize) -> Duration {
    if limit <= super::extract::JSON_LIMIT {
        Duration::from_secs(60)
    } else {
        Duration::from_secs(600)
    }
}

/// The payload of a body that stopped arriving, kept alive (in the request,
/// then in the response's body: `keep_stalled_body`) until the 408 has been
/// sent: actix closes the connection after a response only while the unread
/// payload is alive; once it is dropped, the rest of a chunked body is
/// drained for as long as the client keeps sending.
struct StalledBody(Payload);

/// The body as sent (still encoded), of at most `limit` bytes, within
/// `BODY_IDLE_LIMIT` between parts and `body_deadline` in all.
pub async fn read_raw(
    req: &HttpRequest,
    payload: &mut Payload,
    limit: usize,
) -> Result<Bytes, BodyError> {
    // A body declared longer than the limit is refused before any of it is
    // read (the 413 closes the connection: the body is never read).
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(BodyError::TooLarge);
    }
    // The runtime's clock (tests pause it).
    let started = actix_web::rt::time::Instant::now();
    let deadline = body_deadline(limit);
    let mut raw = BytesMut::new();
    loop {
        let left = deadline.saturating_sub(started.elapsed());
        let next = actix_web::rt::time::timeout(left.min(BODY_IDLE_LIMIT), payload.next()).await;
        let Ok(next) = next else {
            let detail = if left <= BODY_IDLE_LIMIT {
                format!(
                    "the body did not arrive within {} s; the connection is closed",
                    deadline.as_secs()
                )
            } else {
                format!(
                    "no part of the body arrived for {} s; the connection is closed",
                    BODY_IDLE_LIMIT.as_secs()
                )
            };
            req.extensions_mut().insert(StalledBody(payload.take()));
            return Err(BodyError::Bad(ApiError::RequestTimeout(detail)));
        };
        let Some(chunk) = next else {
            return Ok(raw.freeze());
        };
        let chunk = chunk.map_err(|e| BodyError::Bad(super::extract::unreadable(&e)))?;
        if raw.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge);
        }
        raw.extend_from_slice(&chunk);
    }
}

/// Moves a stalled body's payload into the response body (see
/// `StalledBody`), so that the connection is closed after the 408.
pub async fn keep_stalled_body(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let res = next.call(req).await?.map_into_boxed_body();
    let stalled = res.request().extensions_mut().remove::<StalledBody>();
    Ok(match stalled {
        Some(stalled) => res.map_body(|_, body| {
            BoxBody::new(HoldingBody {
                body,
                _payload: stalled.0,
            })
        }),
        None => res,
    })
}

/// A request's payload, shared between the stream the handlers read and
/// `close_unread_body`, which keeps it when they left it unread.
struct Shared {
    payload: Option<Payload>,
    /// Read to its end.
    done: bool,
}

/// The stream the handlers read the payload through.
struct Tracked(Rc<RefCell<Shared>>);

impl Stream for Tracked {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut shared = self.0.borrow_mut();
        let Some(payload) = shared.payload.as_mut() else {
            return Poll::Ready(None);
        };
        let next = Pin::new(payload).poll_next(cx);
        if matches!(next, Poll::Ready(None)) {
            shared.done = true;
        }
        next
    }
}

/// Whether the request says it has a body (chunked, or a length above 0).
fn has_body(req: &ServiceRequest) -> bool {
    let headers = req.headers();
    if headers.contains_key(header::TRANSFER_ENCODING) {
        return true;
    }
    headers
        .get(header::CONTENT_LENGTH)
        .is_some_and(|v| v.to_str().ok().and_then(|v| v.trim().parse::<u64>().ok()) != Some(0))
}

/// Closes the connection after a response to a request whose body was not
/// read to its end (a GET, a 401, a 404, a 415 answered without reading
/// it): actix then drained the rest with no timer running, for as long as
/// the client kept a chunked body open, past every timeout (a review: a
/// chunked `GET /healthz` held its connection for good, no token needed).
/// The unread payload is kept alive in the response body, as
/// `keep_stalled_body` does for a 408, so that actix closes instead.
pub async fn close_unread_body(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if !has_body(&req) {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    }
    let shared = Rc::new(RefCell::new(Shared {
        payload: Some(req.take_payload()),
        done: false,
    }));
    let tracked: Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>> =
        Box::pin(Tracked(Rc::clone(&shared)));
    req.set_payload(Payload::from(tracked));
    let res = next.call(req).await?.map_into_boxed_body();
    let unread = {
        let mut shared = shared.borrow_mut();
        if shared.done {
            None
        } else {
            shared.payload.take()
        }
    };
    Ok(match unread {
        Some(payload) => res.map_body(|_, body| {
            BoxBody::new(HoldingBody {
                body,
                _payload: payload,
            })
        }),
        None => res,
    })
}

/// A response body that keeps the request's payload alive while it is sent.
struct HoldingBody {
    body: BoxBody,
    _payload: Payload,
}

impl MessageBody for HoldingBody {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> actix_web::body::BodySize {
        self.body.size()
    }

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Bytes, Self::Error>>> {
        std::pin::Pin::new(&mut self.body).poll_next(cx)
    }
}

/// The body, decoded, of at most `limit` bytes (encoded and decoded).
pub async fn read(
    req: &HttpRequest,
    payload: &mut Payload,
    limit: usize,
) -> Result<Bytes, BodyError> {
    let encoding = encoding(req).map_err(BodyError::Bad)?;
    let raw = read_raw(req, payload, limit).await?;
    if encoding == ContentEncoding::Identity {
        return Ok(raw);
    }
    // Decoding an 8 MB bulk body takes tens of milliseconds of CPU: off the
    // async worker, so the other requests it serves do not wait for it.
    actix_web::web::block(move || decode(encoding, raw, limit))
        .await
        .map_err(|e| BodyError::Bad(ApiError::Internal(e.to_string())))?
}

/// `raw` decoded as `encoding`, refused past `limit` decoded bytes.
pub fn decode(encoding: ContentEncoding, raw: Bytes, limit: usize) -> Result<Bytes, BodyError> {
    // No body is no body, whatever `Content-Encoding` says (an SDK that sets
    // it on every request): gzip and brotli refuse empty input, and a DELETE
    // or a keyed restore without a body was a 400 (a review).
    if raw.is_empty() {
        return Ok(raw);
    }
    let bad = |e: std::io::Error| {
        BodyError::Bad(ApiError::BadRequest(format!(
            "the body does not decode as its Content-Encoding says ({})",
            e.kind()
        )))
    };
    // gzip with every member (RFC 1952 §2.2: a file is a series of members;
    // `gzip -c a b` writes two, and actix's decoder, like a single-member
    // one, dropped all but the first: the rows of a second member were lost
    // without a word), deflate as zlib (RFC 9110 §8.4.1.2), brotli and zstd
    // (every frame). The input is read through `rest`, so that bytes after
    // a deflate stream are seen.
    let mut rest: &[u8] = &raw;
    let decoder: Box<dyn Read + '_> = match encoding {
        ContentEncoding::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(&mut rest)),
        ContentEncoding::Deflate => Box::new(flate2::bufread::ZlibDecoder::new(&mut rest)),
        ContentEncoding::Brotli => return brotli(&raw, limit),
        ContentEncoding::Zstd => {
            Box::new(zstd::stream::read::Decoder::new(&mut rest).map_err(bad)?)
        }
        _ => return Ok(raw),
    };
    let mut out = Vec::new();
    decoder
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(bad)?;
    if out.len() > limit {
        return Err(BodyError::TooLarge);
    }
    // Bytes after the end of the stream are not part of the body: a 400,
    // not a body silently cut short (zstd refuses such bytes itself).
    if encoding == ContentEncoding::Deflate && !rest.is_empty() {
        return Err(BodyError::Bad(ApiError::BadRequest(format!(
            "{} bytes follow the end of the deflate stream",
            rest.len()
        ))));
    }
    Ok(Bytes::from(out))
}

/// A brotli body, fed to the decoder (its reader reads ahead, so what is
/// left of the input would say nothing about bytes after the stream; the
/// writer tells how much of each write the stream took).
fn brotli(raw: &[u8], limit: usize) -> Result<Bytes, BodyError> {
    let bad = |detail: String| {
        BodyError::Bad(ApiError::BadRequest(format!(
            "the body does not decode as its Content-Encoding says ({detail})"
        )))
    };
    let mut decoder = brotli::DecompressorWriter::new(Limited::new(limit), 8 * 1024);
    let mut rest = raw;
    while !rest.is_empty() {
        let taken = match decoder.write(rest) {
            Ok(taken) => taken,
            Err(_) if decoder.get_ref().exceeded => return Err(BodyError::TooLarge),
            Err(e) => return Err(bad(e.kind().to_string())),
        };
        // The stream ended before its input did.
        if taken < rest.len() {
            return Err(BodyError::Bad(ApiError::BadRequest(format!(
                "{} bytes follow the end of the brotli stream",
                rest.len() - taken
            ))));
        }
        rest = rest.get(taken..).unwrap_or_default();
    }
    match decoder.close() {
        Ok(()) => {}
        Err(_) if decoder.get_ref().exceeded => return Err(BodyError::TooLarge),
        Err(e) => return Err(bad(e.kind().to_string())),
    }
    let out = decoder.into_inner().unwrap_or_else(|partial| partial);
    Ok(Bytes::from(out.bytes))
}

/// A `Vec` that refuses to grow past `limit` bytes.
struct Limited {
    bytes: Vec<u8>,
    limit: usize,
    exceeded: bool,
}

impl Limited {
    fn new(limit: usize) -> Self {
        Limited {
            bytes: Vec::new(),
            limit,
            exceeded: false,
        }
    }
}

impl std::io::Write for Limited {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len() + buf.len() > self.limit {
            self.exceeded = true;
            return Err(std::io::Error::other("the decoded body is over the limit"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn gzip(data: &[u8]) -> Bytes {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(data).unwrap_or_else(|e| panic!("{e}"));
        Bytes::from(e.finish().unwrap_or_else(|e| panic!("{e}")))
    }

    /// A body whose parts come every `every`, `parts` of them (then it ends).
    fn slow_body(every: Duration, parts: usize) -> Payload {
        let stream = futures_util::stream::unfold(0, move |sent| async move {
            if sent == parts {
                return None;
            }
            tokio::time::sleep(every).await;
            let part: Result<Bytes, actix_web::error::PayloadError> = Ok(Bytes::from_static(b" "));
            Some((part, sent + 1))
        });
        Payload::Stream {
            payload: Box::pin(stream),
        }
    }

    async fn timed_out(payload: &mut Payload) -> (String, bool) {
        let req = actix_web::test::TestRequest::default().to_http_request();
        match read_raw(&req, payload, crate::http::extract::JSON_LIMIT).await {
            Err(BodyError::Bad(ApiError::RequestTimeout(detail))) => {
                let kept = req.extensions().get::<StalledBody>().is_some();
                (detail, kept)
            }
            other => panic!("{other:?}"),
        }
    }

    #[actix_web::test]
    async fn a_stalled_body_times_out_and_its_payload_is_kept() {
        tokio::time::pause();
        let started = tokio::time::Instant::now();
        let (detail, kept) = timed_out(&mut slow_body(Duration::from_secs(3600), 1)).await;
        assert!(detail.contains("for 15 s"), "{detail}");
        assert!(kept, "the payload stays alive until the 408 is sent");
        assert_eq!(started.elapsed().as_secs(), 15);
    }

    #[actix_web::test]
    async fn a_trickled_body_ends_at_the_deadline() {
        tokio::time::pause();
        let started = tokio::time::Instant::now();
        let (detail, _) = timed_out(&mut slow_body(Duration::from_secs(10), 1_000)).await;
        assert!(detail.contains("within 60 s"), "{detail}");
        assert_eq!(started.elapsed().as_secs(), 60);
    }

    #[actix_web::test]
    async fn a_slow_body_within_the_limits_is_read() {
        tokio::time::pause();
        let req = actix_web::test::TestRequest::default().to_http_request();
        let body = read_raw(&req, &mut slow_body(Duration::from_secs(10), 5), 1024).await;
        assert!(matches!(body, Ok(ref b) if b.len() == 5), "{body:?}");
    }

    #[test]
    fn each_encoding_decodes_to_the_same_bytes() {
        let body = br#"{"name": "Acme", "kind": "organization"}"#.repeat(50);
        let zlib = {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(&body).unwrap_or_else(|e| panic!("{e}"));
            e.finish().unwrap_or_else(|e| panic!("{e}"))
        };
        let br = {
            let mut out = Vec::new();
            let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
            w.write_all(&body).unwrap_or_else(|e| panic!("{e}"));
            drop(w);
            out
        };
        let zst = zstd::encode_all(&body[..], 3).unwrap_or_else(|e| panic!("{e}"));
        for (encoding, raw) in [
            (ContentEncoding::Identity, Bytes::from(body.clone())),
            (ContentEncoding::Gzip, gzip(&body)),
            (ContentEncoding::Deflate, Bytes::from(zlib)),
            (ContentEncoding::Brotli, Bytes::from(br)),
            (ContentEncoding::Zstd, Bytes::from(zst)),
        ] {
            let decoded = decode(encoding, raw, body.len()).unwrap_or_else(|e| panic!("{e:?}"));
            assert_eq!(&decoded[..], &body[..], "{encoding:?}");
        }
    }

    #[test]
    fn every_gzip_member_is_decoded_and_trailing_bytes_are_bad() {
        let mut two = gzip(b"external_id,name\nA,one\n").to_vec();
        two.extend_from_slice(&gzip(b"B,two\n"));
        let decoded = decode(ContentEncoding::Gzip, Bytes::from(two), 1024);
        assert!(
            matches!(decoded, Ok(ref b) if &b[..] == b"external_id,name\nA,one\nB,two\n"),
            "{decoded:?}"
        );
        let mut trailing = gzip(b"{}").to_vec();
        trailing.extend_from_slice(b"garbage");
        let r = decode(ContentEncoding::Gzip, Bytes::from(trailing), 1024);
        assert!(matches!(r, Err(BodyError::Bad(_))), "{r:?}");
        let mut zlib = {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(b"{}").unwrap_or_else(|e| panic!("{e}"));
            e.finish().unwrap_or_else(|e| panic!("{e}"))
        };
        zlib.extend_from_slice(b"junk");
        let r = decode(ContentEncoding::Deflate, Bytes::from(zlib), 1024);
        assert!(matches!(r, Err(BodyError::Bad(_))), "{r:?}");
    }

    fn brotli_of(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
        w.write_all(data).unwrap_or_else(|e| panic!("{e}"));
        drop(w);
        out
    }

    #[test]
    fn brotli_refuses_trailing_bytes_a_cut_stream_and_a_bomb() {
        let body = br#"{"name": "Acme"}"#.repeat(20);
        let whole = brotli_of(&body);
        let r = decode(
            ContentEncoding::Brotli,
            Bytes::from(whole.clone()),
            body.len(),
        );
        assert!(matches!(r, Ok(ref b) if b[..] == body[..]), "{r:?}");
        let mut trailing = whole.clone();
        trailing.extend_from_slice(b"garbage");
        match decode(ContentEncoding::Brotli, Bytes::from(trailing), 1024) {
            Err(BodyError::Bad(ApiError::BadRequest(detail))) => {
                assert!(detail.contains("7 bytes follow"), "{detail}")
            }
            other => panic!("{other:?}"),
        }
        let cut = whole.get(..whole.len() - 3).unwrap_or_default().to_vec();
        let r = decode(ContentEncoding::Brotli, Bytes::from(cut), 1024);
        assert!(matches!(r, Err(BodyError::Bad(_))), "{r:?}");
        let bomb = brotli_of(&vec![0_u8; 4 << 20]);
        let r = decode(ContentEncoding::Brotli, Bytes::from(bomb), 256 * 1024);
        assert!(matches!(r, Err(BodyError::TooLarge)), "{r:?}");
        let exact = brotli_of(&[b' '; 1024]);
        assert!(decode(ContentEncoding::Brotli, Bytes::from(exact), 1024).is_ok());
    }

    #[test]
    fn a_bomb_stops_at_the_limit() {
        // 64 MB of zeros in a few KB: refused after decoding limit + 1 bytes.
        let bomb = zstd::encode_all(&vec![0_u8; 64 << 20][..], 1).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            decode(ContentEncoding::Zstd, Bytes::from(bomb), 256 * 1024),
            Err(BodyError::TooLarge)
        ));
        assert!(matches!(
            decode(ContentEncoding::Gzip, gzip(&[b' '; 300 * 1024]), 256 * 1024),
            Err(BodyError::TooLarge)
        ));
        // Exactly at the limit is accepted.
        assert!(decode(ContentEncoding::Gzip, gzip(&[b' '; 1024]), 1024).is_ok());
    }

    #[test]
    fn bytes_that_do_not_decode_are_bad() {
        for encoding in [
            ContentEncoding::Gzip,
            ContentEncoding::Deflate,
            ContentEncoding::Zstd,
            ContentEncoding::Brotli,
        ] {
            let r = decode(
                encoding,
                Bytes::from_static(b"{\"not\": \"compressed\"}"),
                1024,
            );
            assert!(matches!(r, Err(BodyError::Bad(_))), "{encoding:?}: {r:?}");
        }
    }
}
