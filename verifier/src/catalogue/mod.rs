//! The catalogue (docs/design.md §Receipts and the catalogue): what this validator has proven, for
//! renters. Served from the store over HTTP:
//!
//! | path | answer |
//! |---|---|
//! | `/` | an HTML page: one row per miner, sortable and filterable by links |
//! | `/v1/machines` | JSON ([`model::Machines`]; schema `verifier/catalogue.schema.json`) |
//! | `/v1/machines/{hotkey}` | JSON, one [`model::Machine`] (404 when unknown) |
//! | `/v1/receipts/{id}` | the receipt file (`application/cbor`; 404 unknown, 410 pruned) |
//! | `/catalogue.schema.json` | the JSON Schema of `/v1/machines` |
//!
//! Query parameters (`/` and `/v1/machines`): `sort` = `uid` (default), `class`, `tops`,
//! `gbs` or `reliability`; `order` = `asc` (default) or `desc`; `class` = a class id to keep
//! only machines with a device of that class.
//!
//! Per miner: hotkey, UID, axon, each device's class, proven memory (the buffer its last
//! passing `membw` held), measured int8 TOPS (the `matmul-i8` work over its measured time)
//! and memory GB/s (the bytes the `membw` passes read over the pass phase's measured time),
//! each from the device's last passing round (the latest round in which every module passed
//! on it); the verdict counts and the last rounds' verdicts; reliability; when it was last
//! proven; whether it is rented; links to the receipts.
//!
//! It runs inside `verifier run` when `[catalogue] listen` is set, alone as
//! `verifier catalogue --config validator.toml`, and after `verifier localnet --catalogue`. It
//! reads the store read-only (WAL: never in the service's way) and keeps what it read for
//! [`CACHE_FOR`]. Bounds: see [`http`]. Nothing but `GET` is answered (405 otherwise).
//!
//! Choices: sorting is server-side, by links (the page has no script); a machine's TOPS and
//! GB/s in the table are the sums over its devices; a device's class is the one its claimed
//! name maps to (the figures are what was measured against it).
#![deny(clippy::indexing_slicing)]

pub mod http;
pub mod model;
mod page;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use validator_store::{Store, StoreError};

pub use http::{RequestError, bind, parse_request, serve};
pub use model::{Catalogue, Machine, Machines, Query, Sort};
pub use page::render_page;

use crate::service::now_unix;

/// How long a catalogue read from the store is served before it is read again.
pub const CACHE_FOR: Duration = Duration::from_secs(2);

/// The JSON Schema of `/v1/machines` (`verifier/catalogue.schema.json`).
pub const SCHEMA_JSON: &str = include_str!("../../catalogue.schema.json");

/// One HTTP answer (the verifier's one responder: [`crate::http_get`]).
pub use crate::http_get::Answer;

impl Answer {
    /// The answer to a refused request (405 says which method is allowed).
    pub fn refused(e: &RequestError) -> Self {
        let mut answer = Self::text(e.status(), format!("{e}\n"));
        if matches!(e, RequestError::Method(_)) {
            answer.headers.push(("Allow", "GET".into()));
        }
        answer
    }

    fn json(value: &impl serde::Serialize) -> Self {
        match serde_json::to_vec_pretty(value) {
            Ok(body) => Self {
                status: "200 OK",
                content_type: "application/json",
                headers: Vec::new(),
                body,
            },
            Err(e) => Self::text("500 Internal Server Error", format!("{e}\n")),
        }
    }
}

/// Where the catalogue's answers come from.
pub trait CatalogueSource: Send + Sync {
    /// The answer to `request` (never fails: a failure is a 5xx answer).
    fn answer<'a>(
        &'a self,
        request: &'a http::Request,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Answer> + Send + 'a>>;
}

/// The catalogue of a store file, read read-only.
pub struct StoreSource {
    path: PathBuf,
    state: Arc<Mutex<Cached>>,
}

#[derive(Default)]
struct Cached {
    store: Option<Store>,
    catalogue: Option<(Instant, Arc<Catalogue>)>,
}

impl StoreSource {
    /// The catalogue of the store at `path` (opened on the first request).
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            state: Arc::default(),
        }
    }

    /// Runs `f` on the open store on a blocking thread.
    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store, &mut Option<(Instant, Arc<Catalogue>)>) -> Result<T, StoreError>
        + Send
        + 'static,
    ) -> Result<T, String> {
        let state = Arc::clone(&self.state);
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let mut state = state
                .lock()
                .map_err(|_| "the catalogue's lock is poisoned")?;
            let Cached { store, catalogue } = &mut *state;
            let store = match store {
                Some(s) => s,
                None => store.insert(Store::open_read_only(&path).map_err(|e| e.to_string())?),
            };
            f(store, catalogue).map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| e.to_string())?
    }

    /// The catalogue, read again when the cached one is older than [`CACHE_FOR`].
    async fn catalogue(&self) -> Result<Arc<Catalogue>, String> {
        self.with(|store, cached| {
            if let Some((at, c)) = cached
                && at.elapsed() < CACHE_FOR
            {
                return Ok(Arc::clone(c));
            }
            let fresh = Arc::new(Catalogue::read(store, now_unix())?);
            *cached = Some((Instant::now(), Arc::clone(&fresh)));
            Ok(fresh)
        })
        .await
    }

    async fn route(&self, request: &http::Request) -> Answer {
        let path = request.path.as_str();
        if let Some(id) = path.strip_prefix("/v1/receipts/") {
            return self.receipt(id).await;
        }
        if path == "/catalogue.schema.json" {
            return Answer {
                status: "200 OK",
                content_type: "application/schema+json",
                headers: Vec::new(),
                body: SCHEMA_JSON.as_bytes().to_vec(),
            };
        }
        let known = path == "/" || path == "/v1/machines" || path.starts_with("/v1/machines/");
        if !known {
            return Answer::text(
                "404 Not Found",
                "no such page: try /, /v1/machines, /v1/machines/{hotkey} or \
                 /v1/receipts/{id}\n"
                    .into(),
            );
        }
        let catalogue = match self.catalogue().await {
            Ok(c) => c,
            Err(e) => {
                return Answer::text(
                    "503 Service Unavailable",
                    format!("the store cannot be read: {e}\n"),
                );
            }
        };
        match path {
            "/" => Answer {
                status: "200 OK",
                content_type: "text/html; charset=utf-8",
                headers: vec![(
                    "Content-Security-Policy",
                    "default-src 'none'; style-src 'unsafe-inline'".into(),
                )],
                body: render_page(&catalogue.query(&request.query)).into_bytes(),
            },
            "/v1/machines" => Answer::json(&catalogue.query(&request.query)),
            _ => {
                let hotkey = path.trim_start_matches("/v1/machines/");
                match catalogue.machine(hotkey) {
                    Some(m) => Answer::json(m),
                    None => Answer::text(
                        "404 Not Found",
                        "no machine with that hotkey in this validator's catalogue\n".into(),
                    ),
                }
            }
        }
    }

    async fn receipt(&self, id: &str) -> Answer {
        if id.len() != 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Answer::text("404 Not Found", "a receipt id is 64 hex digits\n".into());
        }
        let id_owned = id.to_ascii_lowercase();
        let found = self.with(move |store, _| store.receipt(&id_owned)).await;
        match found {
            Ok(Some(validator_store::StoredReceipt {
                bytes: Some(bytes), ..
            })) => Answer {
                status: "200 OK",
                content_type: "application/cbor",
                headers: vec![(
                    "Content-Disposition",
                    format!("attachment; filename=\"{id}.receipt\""),
                )],
                body: bytes,
            },
            Ok(Some(_)) => Answer::text(
                "410 Gone",
                "this pass receipt was pruned after the validator's receipt_retention_rounds\n"
                    .into(),
            ),
            Ok(None) => Answer::text("404 Not Found", "no receipt with that id\n".into()),
            Err(e) => Answer::text(
                "503 Service Unavailable",
                format!("the store cannot be read: {e}\n"),
            ),
        }
    }
}

impl CatalogueSource for StoreSource {
    fn answer<'a>(
        &'a self,
        request: &'a http::Request,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Answer> + Send + 'a>> {
        Box::pin(self.route(request))
    }
}

/// Binds `addr` and serves the catalogue of the store at `store` until the task is aborted.
/// Returns the bound address (the port when `addr` asked for 0) and the task.
pub async fn start(
    addr: std::net::SocketAddr,
    store: PathBuf,
) -> std::io::Result<(std::net::SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = bind(addr).await?;
    let bound = listener.local_addr()?;
    let source: Arc<dyn CatalogueSource> = Arc::new(StoreSource::new(store));
    Ok((bound, tokio::spawn(serve(listener, source))))
}
