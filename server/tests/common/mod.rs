//! A real server on 127.0.0.1:0 over a store in a temp dir, and a reqwest client.
#![allow(dead_code, unreachable_pub, missing_docs)]

use baton_server::{ServeError, Server, ServerConfig};
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};
use std::path::Path;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const TOKEN: &str = "test-token-0123456789";

pub const CONFIG: &str = r#"
kinds = ["send", "render"]

[[class]]
name = "job"
priority = 5
lease_timeout_ms = 400
retry = { max_attempts = 3, base_ms = 10, cap_ms = 50, jitter_permille = 0 }

[[class]]
name = "limited"
priority = 5
limit = 1

[[class]]
name = "sending"
priority = 1
exclusive = true

[[class]]
name = "watched"
priority = 5
heartbeat_timeout_ms = 300
grace_ms = 3000
"#;

pub struct TestServer {
    pub base: String,
    pub client: Client,
    stop: Option<oneshot::Sender<()>>,
    join: Option<JoinHandle<Result<(), ServeError>>>,
}

impl TestServer {
    pub async fn start(db: &Path) -> TestServer {
        let config = ServerConfig::parse(CONFIG).expect("test config");
        let (server, _report) = Server::open(db, &config, TOKEN).expect("open");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = oneshot::channel::<()>();
        let join = tokio::spawn(server.run(listener, async {
            let _ = rx.await;
        }));
        TestServer {
            base: format!("http://{addr}"),
            client: Client::new(),
            stop: Some(tx),
            join: Some(join),
        }
    }

    /// Stops the server and closes its scheduler (everything applied is durable).
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(join) = self.join.take() {
            join.await.expect("join").expect("clean stop");
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.expect("get")
    }

    pub async fn post(&self, path: &str, body: Value) -> Response {
        self.client
            .post(self.url(path))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .await
            .expect("post")
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.client
            .delete(self.url(path))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("delete")
    }

    /// Submits and returns the id (asserting 201).
    pub async fn submit(&self, body: Value) -> u64 {
        let r = self.post("/v1/tasks", body).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let v: Value = r.json().await.expect("json");
        v["id"].as_u64().expect("id")
    }

    /// Polls for a lease of `kinds`, waiting up to `wait_secs`.
    pub async fn poll(&self, kinds: &[&str], wait_secs: u64) -> Value {
        let r = self
            .post(
                "/v1/workers/poll",
                json!({"kinds": kinds, "wait_secs": wait_secs}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let v: Value = r.json().await.expect("json");
        v["lease"].clone()
    }

    pub async fn task(&self, id: u64) -> Value {
        let r = self.get(&format!("/v1/tasks/{id}")).await;
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.expect("json")
    }

    /// Polls GET /v1/tasks/{id} until `state` (at most 5 s).
    pub async fn wait_state(&self, id: u64, state: &str) -> Value {
        for _ in 0..500 {
            let t = self.task(id).await;
            if t["state"] == state {
                return t;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("task {id} never reached {state}: {}", self.task(id).await);
    }
}

/// Asserts `r` has `status` and an error body with `code`; returns the detail.
pub async fn expect_error(r: Response, status: StatusCode, code: &str) -> String {
    assert_eq!(r.status(), status);
    let v: Value = r.json().await.expect("error body is JSON");
    assert_eq!(v["error"], code, "{v}");
    let detail = v["detail"].as_str().expect("detail").to_owned();
    assert!(!detail.is_empty());
    detail
}
