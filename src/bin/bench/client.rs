//! A minimal HTTP/1.1 client over one keep-alive TCP connection: enough for
//! GETs with a bearer token and a JSON POST, and cheap enough not to be what
//! the benchmark measures.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};

use crate::BenchResult;

pub struct Client {
    addr: SocketAddr,
    stream: Option<BufReader<TcpStream>>,
    request: Vec<u8>,
}

pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> BenchResult<Client> {
        let mut client = Client {
            addr,
            stream: None,
            request: Vec::with_capacity(1024),
        };
        client.reconnect()?;
        Ok(client)
    }

    fn reconnect(&mut self) -> BenchResult<()> {
        let stream =
            TcpStream::connect(self.addr).map_err(|e| format!("connect {}: {e}", self.addr))?;
        stream
            .set_nodelay(true)
            .map_err(|e| format!("set_nodelay: {e}"))?;
        self.stream = Some(BufReader::with_capacity(64 * 1024, stream));
        Ok(())
    }

    pub fn get(&mut self, path: &str, token: &str) -> BenchResult<Response> {
        self.request.clear();
        let _ = write!(
            self.request,
            "GET {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\nAccept: application/json\r\n\r\n",
            self.addr
        );
        self.exchange()
    }

    pub fn post_json(&mut self, path: &str, body: &str) -> BenchResult<Response> {
        self.request.clear();
        let _ = write!(
            self.request,
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.addr,
            body.len()
        );
        self.exchange()
    }

    /// An authenticated request with a JSON body (`POST`, `DELETE`, …).
    pub fn send_json(
        &mut self,
        method: &str,
        path: &str,
        body: &str,
        token: &str,
    ) -> BenchResult<Response> {
        self.request.clear();
        let _ = write!(
            self.request,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\nAccept: application/json\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.addr,
            body.len()
        );
        self.exchange()
    }

    /// Sends the request; if the server had closed the idle connection,
    /// reconnects once and sends it again.
    fn exchange(&mut self) -> BenchResult<Response> {
        match self.try_exchange() {
            Ok(Some(resp)) => Ok(resp),
            Ok(None) | Err(_) => {
                self.reconnect()?;
                self.try_exchange()?
                    .ok_or_else(|| "the server closed the connection".to_string())
            }
        }
    }

    /// `Ok(None)`: the connection was closed before any response byte.
    fn try_exchange(&mut self) -> BenchResult<Option<Response>> {
        let reader = self
            .stream
            .as_mut()
            .ok_or_else(|| "not connected".to_string())?;
        reader
            .get_mut()
            .write_all(&self.request)
            .map_err(|e| format!("send: {e}"))?;
        let mut line = String::new();
        if read_line(reader, &mut line)? == 0 {
            return Ok(None);
        }
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad status line {line:?}"))?;
        let mut length: Option<usize> = None;
        let mut chunked = false;
        let mut close = false;
        loop {
            line.clear();
            read_line(reader, &mut line)?;
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                let value = value.trim();
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.parse().ok();
                } else if name.eq_ignore_ascii_case("transfer-encoding") {
                    chunked = value.eq_ignore_ascii_case("chunked");
                } else if name.eq_ignore_ascii_case("connection") {
                    close = value.eq_ignore_ascii_case("close");
                }
            }
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                line.clear();
                read_line(reader, &mut line)?;
                let size_hex = line.trim().split(';').next().unwrap_or_default();
                let size = usize::from_str_radix(size_hex, 16)
                    .map_err(|_| format!("bad chunk size {line:?}"))?;
                let start = body.len();
                body.resize(start + size, 0);
                reader
                    .read_exact(&mut body[start..])
                    .map_err(|e| format!("read: {e}"))?;
                line.clear();
                read_line(reader, &mut line)?;
                if size == 0 {
                    break;
                }
            }
        } else if let Some(n) = length {
            body.resize(n, 0);
            reader
                .read_exact(&mut body)
                .map_err(|e| format!("read: {e}"))?;
        }
        if close {
            self.reconnect()?;
        }
        Ok(Some(Response { status, body }))
    }
}

fn read_line(reader: &mut BufReader<TcpStream>, line: &mut String) -> BenchResult<usize> {
    reader.read_line(line).map_err(|e| format!("read: {e}"))
}
