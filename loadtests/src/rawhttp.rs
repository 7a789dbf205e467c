//! A minimal HTTP/1.1 keep-alive client for the open-model generator: one connection, one request at
//! a time, a JSON POST and its status. It costs a fraction of reqwest's CPU per request, which matters
//! when the generator shares two cores with the server at tens of thousands of requests per second.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::error::{Error, Result};

/// Where requests go: `http://host:port/path` only.
#[derive(Debug, Clone)]
pub struct Target {
    /// `host:port`.
    pub authority: String,
    /// Path and query.
    pub path: String,
}

impl Target {
    /// Parses a plain-HTTP URL.
    pub fn parse(url: &str) -> Result<Self> {
        let rest = url.strip_prefix("http://").ok_or_else(|| Error::Config(format!("{url}: not http://")))?;
        let (authority, path) = rest.split_once('/').map_or((rest, "/".to_owned()), |(a, p)| (a, format!("/{p}")));
        Ok(Self { authority: authority.to_owned(), path })
    }
}

/// One keep-alive connection, opened on first use and again after any error.
#[derive(Debug)]
pub struct Connection {
    target: Target,
    stream: Option<TcpStream>,
    buffer: Vec<u8>,
}

impl Connection {
    /// A connection to `target` (not yet open).
    pub fn new(target: Target) -> Self {
        Self { target, stream: None, buffer: Vec::with_capacity(1024) }
    }

    /// POSTs `body` as JSON with a bearer `token`; the answer's status, or None when the connection
    /// failed (it is reopened for the next request).
    pub async fn post_json(&mut self, token: &str, body: &[u8]) -> Option<u16> {
        match self.exchange(token, body).await {
            Ok(status) => Some(status),
            Err(_) => {
                self.stream = None;
                None
            }
        }
    }

    /// Opens the connection now if it is not open (a failure is left for the first request).
    pub async fn open(&mut self) {
        if self.stream.is_none() {
            let _ = self.connect().await;
        }
    }

    async fn connect(&mut self) -> std::io::Result<()> {
        let stream = TcpStream::connect(&self.target.authority).await?;
        stream.set_nodelay(true)?;
        self.stream = Some(stream);
        Ok(())
    }

    async fn exchange(&mut self, token: &str, body: &[u8]) -> std::io::Result<u16> {
        if self.stream.is_none() {
            self.connect().await?;
        }
        let Some(stream) = self.stream.as_mut() else { return Err(std::io::ErrorKind::NotConnected.into()) };
        let head = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n",
            self.target.path,
            self.target.authority,
            body.len()
        );
        let mut request = Vec::with_capacity(head.len() + body.len());
        request.extend_from_slice(head.as_bytes());
        request.extend_from_slice(body);
        stream.write_all(&request).await?;
        self.buffer.clear();
        read_response(stream, &mut self.buffer).await
    }
}

fn invalid(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned())
}

/// Reads one response (Content-Length or chunked body) and returns its status.
async fn read_response(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> std::io::Result<u16> {
    let mut chunk = [0_u8; 4096];
    let header_end = loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = std::str::from_utf8(&buffer[..header_end]).map_err(|_| invalid("response head"))?;
    let status = head.get(9..12).and_then(|s| s.parse::<u16>().ok()).ok_or_else(|| invalid("status line"))?;
    let header = |name: &str| {
        head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_ascii_lowercase())
        })
    };
    let chunked = header("transfer-encoding").is_some_and(|v| v.contains("chunked"));
    let length = header("content-length").and_then(|v| v.parse::<usize>().ok());
    // Whether the body is complete in `buffer[header_end..]`.
    let complete = |buffer: &[u8]| match (chunked, length) {
        (true, _) => buffer[header_end..].windows(5).any(|w| w == b"0\r\n\r\n"),
        (false, Some(length)) => buffer.len() >= header_end + length,
        (false, None) => status == 204 || status == 304 || (100..200).contains(&status),
    };
    if !chunked && length.is_none() && !complete(buffer) {
        // A body delimited by closing the connection: not worth supporting here.
        return Err(invalid("response without a length"));
    }
    while !complete(buffer) {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_authority_and_path() -> Result<()> {
        let t = Target::parse("http://127.0.0.1:8080/api/v1/detections")?;
        assert_eq!((t.authority.as_str(), t.path.as_str()), ("127.0.0.1:8080", "/api/v1/detections"));
        assert_eq!(Target::parse("http://localhost:1")?.path, "/");
        assert!(Target::parse("https://example.com/").is_err());
        Ok(())
    }
}
