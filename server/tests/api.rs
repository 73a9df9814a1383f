//! Every endpoint's happy path and its 4xx paths, against a real server.

mod common;

use common::{TOKEN, TestServer, expect_error};
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_metrics_and_openapi() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = TestServer::start(&dir.path().join("b.db")).await;
    let r = s.get("/healthz").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.expect("json")["status"], "ok");

    s.submit(json!({"kind": "send", "params": {"to": "a"}, "class": "limited"}))
        .await;
    // The attempt starts once its submit is committed, then parks its lease: wait for it.
    let mut text = String::new();
    for _ in 0..500 {
        let r = s.get("/metrics").await;
        assert_eq!(r.status(), StatusCode::OK);
        text = r.text().await.expect("text");
        if text.contains("baton_leases{state=\"offered\"} 1") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(text.contains("baton_tasks{state=\"running\"} 1"), "{text}");
    assert!(
        text.contains("baton_class_submitted_total{class=\"limited\"} 1"),
        "{text}"
    );
    assert!(text.contains("baton_leases{state=\"offered\"} 1"), "{text}");
    assert!(text.ends_with("# EOF\n"));

    let r = s.get("/openapi.json").await;
    assert_eq!(r.status(), StatusCode::OK);
    let doc: Value = r.json().await.expect("json");
    for path in [
        "/v1/tasks",
        "/v1/tasks/{id}",
        "/v1/tasks/{id}/cancel",
        "/v1/tasks/{id}/explain",
        "/v1/counts",
        "/v1/sessions",
        "/v1/sessions/{name}",
        "/v1/workers/poll",
        "/v1/leases/{task}/heartbeat",
        "/v1/leases/{task}/complete",
        "/v1/leases/{task}/fail",
        "/metrics",
        "/healthz",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing");
    }
    assert!(doc["components"]["schemas"]["SubmitRequest"].is_object());
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_list_counts_explain_and_cancel() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = TestServer::start(&dir.path().join("b.db")).await;
    let a = s
        .submit(json!({"kind": "send", "params": {"n": 1}, "class": "limited", "priority": 7}))
        .await;
    let b = s
        .submit(json!({"kind": "render", "params": {"n": 2}, "class": "limited", "parent": a}))
        .await;
    assert!(b > a);

    let ta = s.wait_state(a, "running").await;
    assert_eq!(ta["kind"], "send");
    assert_eq!(ta["params"], json!({"n": 1}));
    assert_eq!(ta["priority"], 7);
    assert_eq!(ta["class"], "limited");
    let tb = s.task(b).await;
    assert_eq!(tb["state"], "queued");
    assert_eq!(tb["parent"], a);

    // Cursor paging.
    let r = s.get("/v1/tasks?limit=1").await;
    assert_eq!(r.status(), StatusCode::OK);
    let page: Value = r.json().await.expect("json");
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(page["items"][0]["id"], a);
    assert_eq!(page["next"], a);
    let page: Value = s
        .get(&format!("/v1/tasks?limit=1&after={a}"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(page["items"][0]["id"], b);
    assert!(page["next"].is_null());
    // Filters.
    let page: Value = s
        .get("/v1/tasks?state=queued&class=limited")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(page["items"][0]["id"], b);
    let page: Value = s
        .get(&format!("/v1/tasks?parent={a}"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(page["items"][0]["id"], b);

    let counts: Value = s.get("/v1/counts").await.json().await.expect("json");
    assert_eq!(counts["total"]["running"], 1);
    assert_eq!(counts["total"]["queued"], 1);
    assert_eq!(counts["classes"]["limited"]["queued"], 1);
    assert_eq!(counts["classes"]["job"]["queued"], 0);

    let r = s.get(&format!("/v1/tasks/{b}/explain")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let e: Value = r.json().await.expect("json");
    assert!(
        e["summary"]
            .as_str()
            .expect("summary")
            .contains("at its limit 1/1"),
        "{e}"
    );
    assert!(e["explanation"]["queued"]["blockers"].is_array(), "{e}");

    let r = s.post(&format!("/v1/tasks/{b}/cancel"), json!({})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let c: Value = r.json().await.expect("json");
    assert_eq!(c["state"], "cancelled");
    let r = s.post(&format!("/v1/tasks/{b}/cancel"), json!({})).await;
    expect_error(r, StatusCode::CONFLICT, "already_ended").await;
    let r = s.post("/v1/tasks/424242/cancel", json!({})).await;
    expect_error(r, StatusCode::NOT_FOUND, "unknown_task").await;
    let r = s.get("/v1/tasks/424242/explain").await;
    expect_error(r, StatusCode::NOT_FOUND, "unknown_task").await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_connect_list_and_disconnect() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = TestServer::start(&dir.path().join("b.db")).await;
    let r = s.post("/v1/sessions", json!({"name": "alice"})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let alice: Value = r.json().await.expect("json");
    assert_eq!(alice["name"], "alice");
    let r = s.post("/v1/sessions", json!({"name": "alice"})).await;
    expect_error(r, StatusCode::CONFLICT, "already_connected").await;

    let list: Value = s.get("/v1/sessions").await.json().await.expect("json");
    assert_eq!(
        list,
        json!([{"name": "alice", "id": alice["id"], "closing": false}])
    );

    let t = s
        .submit(json!({"kind": "send", "params": {}, "class": "sending", "session": "alice"}))
        .await;
    let view = s.wait_state(t, "running").await;
    assert_eq!(view["session"], alice["id"]);
    let counts: Value = s.get("/v1/counts").await.json().await.expect("json");
    assert_eq!(counts["sessions"]["alice"]["running"], 1);
    let page: Value = s
        .get("/v1/tasks?session=alice")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(page["items"][0]["id"], t);
    // Exclusive work needs a session.
    let r = s
        .post("/v1/tasks", json!({"kind": "send", "class": "sending"}))
        .await;
    expect_error(r, StatusCode::UNPROCESSABLE_ENTITY, "refused").await;

    // The parked body sees the cancel and ends: disconnect's report lists nothing stuck.
    let r = s.delete("/v1/sessions/alice").await;
    assert_eq!(r.status(), StatusCode::OK);
    let report: Value = r.json().await.expect("json");
    assert_eq!(report["name"], "alice");
    assert_eq!(report["stuck"], json!([]));
    let list: Value = s.get("/v1/sessions").await.json().await.expect("json");
    assert_eq!(list, json!([]));
    let r = s.delete("/v1/sessions/alice").await;
    expect_error(r, StatusCode::NOT_FOUND, "unknown_session").await;
    let r = s
        .post(
            "/v1/tasks",
            json!({"kind": "send", "class": "sending", "session": "alice"}),
        )
        .await;
    expect_error(r, StatusCode::UNPROCESSABLE_ENTITY, "unknown_session").await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_and_bad_input_are_refused_with_nothing_applied() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = TestServer::start(&dir.path().join("b.db")).await;
    let good = json!({"kind": "send", "params": {}, "class": "job"});

    let r = s
        .client
        .post(s.url("/v1/tasks"))
        .json(&good)
        .send()
        .await
        .expect("send");
    expect_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let r = s
        .client
        .post(s.url("/v1/tasks"))
        .bearer_auth(format!("{TOKEN}x"))
        .json(&good)
        .send()
        .await
        .expect("send");
    expect_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let r = s
        .client
        .delete(s.url("/v1/sessions/x"))
        .send()
        .await
        .expect("send");
    expect_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;

    let r = s
        .client
        .post(s.url("/v1/tasks"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body("{\"kind\": ")
        .send()
        .await
        .expect("send");
    expect_error(r, StatusCode::BAD_REQUEST, "bad_json").await;
    let r = s.post("/v1/tasks", json!({"kind": "send"})).await;
    let detail = expect_error(r, StatusCode::BAD_REQUEST, "bad_json").await;
    assert!(detail.contains("class"), "{detail}");

    let r = s
        .post("/v1/tasks", json!({"kind": "nope", "class": "job"}))
        .await;
    let detail = expect_error(r, StatusCode::UNPROCESSABLE_ENTITY, "unknown_kind").await;
    assert!(detail.contains("nope"));
    let r = s
        .post("/v1/tasks", json!({"kind": "send", "class": "nope"}))
        .await;
    expect_error(r, StatusCode::UNPROCESSABLE_ENTITY, "unknown_class").await;
    let r = s
        .post(
            "/v1/tasks",
            json!({"kind": "send", "class": "job", "parent": 999}),
        )
        .await;
    expect_error(r, StatusCode::UNPROCESSABLE_ENTITY, "unknown_parent").await;

    let big = json!({"kind": "send", "class": "job", "params": "x".repeat(2 * 1024 * 1024)});
    // The server may answer 413 and close before it has read the whole body, which the client
    // can see as a broken connection while still sending: try again then (fresh connection).
    let mut answer = None;
    for _ in 0..5 {
        let sent = reqwest::Client::new()
            .post(s.url("/v1/tasks"))
            .bearer_auth(TOKEN)
            .json(&big)
            .send()
            .await;
        if let Ok(r) = sent {
            answer = Some(r);
            break;
        }
    }
    let r = answer.expect("an answer to the oversize body");
    expect_error(r, StatusCode::PAYLOAD_TOO_LARGE, "body_too_large").await;

    let r = s.get("/v1/tasks/abc").await;
    expect_error(r, StatusCode::BAD_REQUEST, "bad_path").await;
    let r = s.get("/v1/tasks/999").await;
    expect_error(r, StatusCode::NOT_FOUND, "unknown_task").await;
    let r = s.get("/v1/tasks?state=sleeping").await;
    expect_error(r, StatusCode::BAD_REQUEST, "bad_state").await;
    let r = s.get("/v1/nothing").await;
    expect_error(r, StatusCode::NOT_FOUND, "no_route").await;
    let r = s.post("/v1/workers/poll", json!({"kinds": ["nope"]})).await;
    expect_error(r, StatusCode::UNPROCESSABLE_ENTITY, "unknown_kind").await;
    let r = s
        .post(
            "/v1/leases/999/complete",
            json!({"token": "t", "result": 1}),
        )
        .await;
    expect_error(r, StatusCode::NOT_FOUND, "unknown_task").await;

    // Nothing was half-applied: no task, no session.
    let counts: Value = s.get("/v1/counts").await.json().await.expect("json");
    let total: u64 = counts["total"]
        .as_object()
        .expect("object")
        .values()
        .filter_map(Value::as_u64)
        .sum();
    assert_eq!(total, 0, "{counts}");
    let page: Value = s.get("/v1/tasks").await.json().await.expect("json");
    assert_eq!(page["items"], json!([]));
    s.stop().await;
}
