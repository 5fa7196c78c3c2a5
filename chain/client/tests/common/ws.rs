//! The mock node (`super::mock`) behind a real WebSocket on loopback, so that
//! `ChainClient::connect` and the `verifier` binary reach it over the transport they use
//! against a subtensor node (jsonrpsee's WebSocket client): each JSON-RPC 2.0 request is
//! answered by the mock's handler of that method, or with a JSON-RPC error where it has none; a
//! subscription's items go out as notifications carrying its id. One task per connection; the
//! listener lives as long as the tokio runtime that started it.

use std::net::SocketAddr;
use std::sync::Arc;

use futures::StreamExt;
use serde_json::value::RawValue;
use serde_json::{Value as Json, json};
use subxt_rpcs::client::{MockRpcClient, RpcClientT};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};
use tokio_util::compat::TokioAsyncReadCompatExt;

/// Methods that open a subscription (answered with its id, then notifications).
const SUBSCRIPTIONS: &[(&str, &str)] = &[
    ("author_submitAndWatchExtrinsic", "author_extrinsicUpdate"),
    ("chain_subscribeFinalizedHeads", "chain_finalizedHead"),
    ("chain_subscribeNewHeads", "chain_newHead"),
    ("chain_subscribeAllHeads", "chain_allHead"),
    ("state_subscribeRuntimeVersion", "state_runtimeVersion"),
];

/// Serves `node` on a fresh loopback port; returns the address (`ws://{addr}`).
pub async fn serve(node: MockRpcClient) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let addr = listener.local_addr().expect("the listener's address");
    let node = Arc::new(node);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(connection(stream, node.clone()));
        }
    });
    addr
}

/// One client: the WebSocket handshake, then a request loop; replies go through one writer
/// task so that a subscription's id always precedes its notifications.
async fn connection(stream: TcpStream, node: Arc<MockRpcClient>) {
    let mut server = soketto::handshake::Server::new(stream.compat());
    let key = match server.receive_request().await {
        Ok(request) => request.key(),
        Err(_) => return,
    };
    let accept = soketto::handshake::server::Response::Accept {
        key,
        protocol: None,
    };
    if server.send_response(&accept).await.is_err() {
        return;
    }
    let (mut sender, mut receiver) = server.into_builder().finish();
    let (out, mut outbox) = unbounded_channel::<String>();
    tokio::spawn(async move {
        while let Some(text) = outbox.recv().await {
            if sender.send_text_owned(text).await.is_err() || sender.flush().await.is_err() {
                return;
            }
        }
    });
    let mut subscriptions = 0u64;
    loop {
        let mut data = Vec::new();
        if receiver.receive_data(&mut data).await.is_err() {
            return;
        }
        let Ok(request) = serde_json::from_slice::<Json>(&data) else {
            let _ = out.send(error(Json::Null, -32700, "parse error"));
            continue;
        };
        subscriptions += 1;
        tokio::spawn(answer(
            request,
            node.clone(),
            out.clone(),
            format!("sub-{subscriptions}"),
        ));
    }
}

fn error(id: Json, code: i64, message: &str) -> String {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}}).to_string()
}

fn result(id: Json, result: Json) -> String {
    json!({"jsonrpc": "2.0", "id": id, "result": result}).to_string()
}

/// Answers one request (`sub_id` names the subscription it may open).
async fn answer(
    request: Json,
    node: Arc<MockRpcClient>,
    out: UnboundedSender<String>,
    sub_id: String,
) {
    let id = request.get("id").cloned().unwrap_or(Json::Null);
    let method = request
        .get("method")
        .and_then(Json::as_str)
        .unwrap_or_default()
        .to_owned();
    let params = request
        .get("params")
        .filter(|p| !p.is_null())
        .map(|p| RawValue::from_string(p.to_string()).expect("params re-serialise"));
    if method.contains("unsubscribe") || method.contains("unwatch") {
        let _ = out.send(result(id, Json::Bool(true)));
        return;
    }
    if let Some((_, notification)) = SUBSCRIPTIONS.iter().find(|(m, _)| *m == method) {
        let mut subscription = match node.subscribe_raw(&method, params, "unsubscribe").await {
            Ok(subscription) => subscription,
            Err(e) => {
                let _ = out.send(error(id, -32601, &e.to_string()));
                return;
            }
        };
        let _ = out.send(result(id, Json::String(sub_id.clone())));
        while let Some(Ok(item)) = subscription.stream.next().await {
            let item: Json = serde_json::from_str(item.get()).unwrap_or(Json::Null);
            let message = json!({
                "jsonrpc": "2.0",
                "method": notification,
                "params": {"subscription": sub_id, "result": item},
            });
            let _ = out.send(message.to_string());
        }
        return;
    }
    let reply = match node.request_raw(&method, params).await {
        Ok(raw) => result(id, serde_json::from_str(raw.get()).unwrap_or(Json::Null)),
        Err(e) => error(id, -32601, &e.to_string()),
    };
    let _ = out.send(reply);
}
