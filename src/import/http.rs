//! A minimal HTTP/1.1 client for `http://` servers: POST a Bundle, read the answer.
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::BoxError;

pub struct Client {
    host: String,
    addr: String,
    path: String,
}

impl Client {
    /// `url` is the FHIR base, e.g. `http://127.0.0.1:8080/fhir`.
    pub fn new(url: &str) -> Result<Client, BoxError> {
        let rest = url.strip_prefix("http://").ok_or("--server must be an http:// URL")?;
        let (host, path) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        let addr = if host.contains(':') { host.to_string() } else { format!("{host}:80") };
        Ok(Client { host: host.to_string(), addr, path: if path.is_empty() { "/".into() } else { path.to_string() } })
    }

    /// POSTs FHIR JSON to the base; returns the status and body.
    pub async fn post_json(&self, body: &[u8]) -> Result<(u16, Vec<u8>), BoxError> {
        let stream = TcpStream::connect(&self.addr).await.map_err(|e| format!("cannot connect to {}: {e}", self.addr))?;
        let mut stream = BufReader::new(stream);
        let head = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/fhir+json\r\nAccept: application/fhir+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.path,
            self.host,
            body.len()
        );
        stream.get_mut().write_all(head.as_bytes()).await?;
        stream.get_mut().write_all(body).await?;
        let mut line = String::new();
        stream.read_line(&mut line).await?;
        let status: u16 = line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| format!("bad HTTP status line {line:?}"))?;
        let (mut length, mut chunked) = (None, false);
        loop {
            let mut h = String::new();
            if stream.read_line(&mut h).await? == 0 || h == "\r\n" || h == "\n" {
                break;
            }
            let lower = h.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                length = v.trim().parse::<usize>().ok();
            }
            if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
                chunked = true;
            }
        }
        let mut out = Vec::new();
        if chunked {
            loop {
                let mut size = String::new();
                stream.read_line(&mut size).await?;
                let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or(""), 16).map_err(|_| "bad chunk size")?;
                if n == 0 {
                    break;
                }
                let mut chunk = vec![0; n + 2];
                stream.read_exact(&mut chunk).await?;
                chunk.truncate(n);
                out.extend(chunk);
            }
        } else if let Some(n) = length {
            out.resize(n, 0);
            stream.read_exact(&mut out).await?;
        } else {
            stream.read_to_end(&mut out).await?;
        }
        Ok((status, out))
    }
}
