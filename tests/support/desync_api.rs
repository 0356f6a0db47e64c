//! A notes API written by hand on a raw `TcpListener` (HTTP/1.1, keep-alive), to see what a
//! really desynchronising server does to `attack http`. Tenants come from static bearer tokens.
//! With `desync`, a refused request (401, 404) is answered before its body is read and the body
//! stays on the connection: the next request on that connection starts with it, its request line
//! no longer parses, and the 400 answer echoes that line — the earlier body included. Without
//! `desync` every body is read first, as a correct server does.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::{Note, note_json, notes_of, tenant_of};

#[derive(Clone)]
struct Store {
    tokens: Arc<Vec<(String, String)>>,
    notes: Arc<Mutex<Vec<Note>>>,
    desync: bool,
}

/// Starts the API; returns its address and each tenant's token (`alpha`, `beta`).
pub async fn start(desync: bool) -> (SocketAddr, Vec<(String, String)>) {
    let tokens = super::static_tokens(&["alpha", "beta"]);
    let store = Store {
        tokens: Arc::new(tokens.clone()),
        notes: Arc::new(Mutex::new(Vec::new())),
        desync,
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve(stream, store.clone()));
        }
    });
    (addr, tokens)
}

/// One parsed request head.
struct Head {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    length: usize,
}

impl Head {
    /// The head, or the request line that does not parse (and the body length to skip).
    fn parse(text: &str) -> Result<Self, (String, usize)> {
        let mut lines = text.split("\r\n");
        let line = lines.next().unwrap_or_default().to_owned();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let length = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let parts: Vec<&str> = line.split(' ').collect();
        let known = ["GET", "POST", "PATCH", "PUT", "DELETE", "HEAD", "OPTIONS"];
        if parts.len() != 3 || !known.contains(&parts[0]) || parts[2] != "HTTP/1.1" {
            return Err((line, length));
        }
        Ok(Self {
            method: parts[0].to_owned(),
            path: parts[1].to_owned(),
            headers,
            length,
        })
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Serves one keep-alive connection until the client closes it.
async fn serve(mut stream: TcpStream, store: Store) {
    let mut buffer: Vec<u8> = Vec::new();
    loop {
        let Some(end) = fill_until_head(&mut stream, &mut buffer).await else {
            return;
        };
        let text = String::from_utf8_lossy(&buffer[..end]).into_owned();
        buffer.drain(..end + 4);
        let (status, body) = match Head::parse(&text) {
            Err((line, length)) => {
                if !fill(&mut stream, &mut buffer, length).await {
                    return;
                }
                buffer.drain(..length);
                // Whatever came before the method is shown back, as many servers do.
                (400, json!({ "error": format!("bad request line: {line}") }))
            }
            Ok(head) => match store.early_answer(&head) {
                // Answered early: the body stays on the connection for the next request.
                Some(refusal) if store.desync => refusal,
                Some(refusal) => {
                    if !fill(&mut stream, &mut buffer, head.length).await {
                        return;
                    }
                    buffer.drain(..head.length);
                    refusal
                }
                None => {
                    if !fill(&mut stream, &mut buffer, head.length).await {
                        return;
                    }
                    let body: Vec<u8> = buffer.drain(..head.length).collect();
                    store.answer(&head, &body)
                }
            },
        };
        let text = body.to_string();
        let reason = match status {
            200 => "OK",
            201 => "Created",
            400 => "Bad Request",
            401 => "Unauthorized",
            _ => "Not Found",
        };
        let response = format!(
            "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{text}",
            text.len()
        );
        if stream.write_all(response.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// Reads until the buffer holds a whole request head; its length (before `\r\n\r\n`).
async fn fill_until_head(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<usize> {
    loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            return Some(end);
        }
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Reads until the buffer holds at least `length` bytes.
async fn fill(stream: &mut TcpStream, buffer: &mut Vec<u8>, length: usize) -> bool {
    while buffer.len() < length {
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
    true
}

impl Store {
    fn tenant(&self, head: &Head) -> Option<String> {
        let token = head.header("authorization")?.strip_prefix("Bearer ")?;
        tenant_of(&self.tokens, token)
    }

    /// The refusal a request gets before its body matters: no valid token (401), another
    /// tenant's or a missing note (404).
    fn early_answer(&self, head: &Head) -> Option<(u16, Value)> {
        let Some(tenant) = self.tenant(head) else {
            return Some((401, json!({ "error": "Unauthorized" })));
        };
        let id = head.path.strip_prefix("/notes/")?;
        let notes = self.notes.lock().unwrap();
        (!notes.iter().any(|(t, i, _)| *t == tenant && i == id))
            .then(|| (404, json!({ "error": "Not Found" })))
    }

    fn answer(&self, head: &Head, body: &[u8]) -> (u16, Value) {
        let tenant = self.tenant(head).unwrap_or_default();
        let text = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|b| b.get("text").and_then(Value::as_str).map(str::to_owned));
        let mut notes = self.notes.lock().unwrap();
        let path = head.path.split('?').next().unwrap_or_default();
        match (head.method.as_str(), path.strip_prefix("/notes")) {
            ("GET", Some("")) => (200, json!({ "items": notes_of(&notes, &tenant) })),
            ("POST", Some("")) => match text {
                Some(text) => {
                    let id = uuid::Uuid::new_v4().to_string();
                    notes.push((tenant, id.clone(), text.clone()));
                    (201, json!({ "id": id, "text": text }))
                }
                None => (400, json!({ "error": "text is required" })),
            },
            (method, Some(rest)) if rest.starts_with('/') => {
                let id = &rest[1..];
                let Some(n) = notes.iter().position(|(t, i, _)| *t == tenant && i == id) else {
                    return (404, json!({ "error": "Not Found" }));
                };
                match method {
                    "GET" => (200, note_json(&notes[n])),
                    "PATCH" => {
                        if let Some(text) = text {
                            notes[n].2 = text;
                        }
                        (200, note_json(&notes[n]))
                    }
                    "DELETE" => {
                        notes.remove(n);
                        (200, json!({ "deleted": id }))
                    }
                    _ => (404, json!({ "error": "Not Found" })),
                }
            }
            _ => (404, json!({ "error": "Not Found" })),
        }
    }
}
