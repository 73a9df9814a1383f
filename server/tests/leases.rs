//! Remote workers on fenced leases: the worker loop, stale tokens after a lease expired and
//! was re-delivered, kernel stalls and cancels reaching the worker, and a restart.

mod common;

use common::{TestServer, expect_error};
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_loop_poll_heartbeat_complete() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = TestServer::start(&dir.path().join("b.db")).await;
    // Nothing offered yet: an empty poll.
    assert!(s.poll(&["send"], 0).await.is_null());
    let id = s
        .submit(json!({"kind": "send", "params": {"to": "bob"}, "class": "job"}))
        .await;
    // A worker of another kind does not get it.
    assert!(s.poll(&["render"], 0).await.is_null());
    let lease = s.poll(&["send"], 5).await;
    assert_eq!(lease["task"], id);
    assert_eq!(lease["kind"], "send");
    assert_eq!(lease["params"], json!({"to": "bob"}));
    assert_eq!(lease["attempt"], 1);
    assert_eq!(lease["heartbeat_deadline_ms"], 400);
    let token = lease["token"].as_str().expect("token").to_owned();
    assert!(token.starts_with(&format!("{id}-1-")), "{token}");
    assert_eq!(token.len(), format!("{id}-1-").len() + 32);
    // Claimed: nobody else gets it.
    assert!(s.poll(&["send"], 0).await.is_null());

    let r = s
        .post(
            &format!("/v1/leases/{id}/heartbeat"),
            json!({"token": token, "progress": {"current": 2, "total": 5, "message": "halfway"}}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let beat: Value = r.json().await.expect("json");
    assert_eq!(beat["cancelled"], false);
    assert!(beat["reason"].is_null());
    let view = s.task(id).await;
    assert_eq!(view["state"], "running");
    assert_eq!(
        view["progress"],
        json!({"current": 2, "total": 5, "message": "halfway"})
    );

    let r = s
        .post(
            &format!("/v1/leases/{id}/complete"),
            json!({"token": token, "result": {"sent": true, "to": "bob"}}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let done: Value = r.json().await.expect("json");
    assert_eq!(
        done,
        json!({"task": id, "attempt": 1, "state": "completed"})
    );
    let view = s.task(id).await;
    assert_eq!(view["state"], "completed");
    assert_eq!(view["outcome"], "completed");
    assert_eq!(view["result"], json!({"sent": true, "to": "bob"}));
    // A second report of the same lease is refused.
    let r = s
        .post(
            &format!("/v1/leases/{id}/complete"),
            json!({"token": token, "result": 2}),
        )
        .await;
    expect_error(r, StatusCode::CONFLICT, "no_lease").await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_lease_is_redelivered_and_its_stale_token_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = TestServer::start(&dir.path().join("b.db")).await;
    let id = s
        .submit(json!({"kind": "send", "params": {"n": 1}, "class": "job"}))
        .await;
    let first = s.poll(&["send"], 5).await;
    assert_eq!(first["attempt"], 1);
    let stale = first["token"].as_str().expect("token").to_owned();
    // Worker 1 goes silent past the 400 ms lease timeout: the attempt fails retryably and the
    // class's retry policy offers attempt 2.
    let second = s.poll(&["send"], 10).await;
    assert_eq!(second["task"], id);
    assert_eq!(second["attempt"], 2);
    let fresh = second["token"].as_str().expect("token").to_owned();
    assert_ne!(stale, fresh);
    let view = s.task(id).await;
    assert_eq!(view["attempt"], 2);
    assert!(
        view["error"]
            .as_str()
            .expect("error")
            .contains("lease expired"),
        "{view}"
    );

    // Worker 1 wakes up: every report with its token is refused.
    let r = s
        .post(
            &format!("/v1/leases/{id}/complete"),
            json!({"token": stale, "result": "late"}),
        )
        .await;
    let detail = expect_error(r, StatusCode::CONFLICT, "stale_lease").await;
    assert!(detail.contains("attempt 2"), "{detail}");
    let r = s
        .post(
            &format!("/v1/leases/{id}/heartbeat"),
            json!({"token": stale}),
        )
        .await;
    expect_error(r, StatusCode::CONFLICT, "stale_lease").await;
    let r = s
        .post(
            &format!("/v1/leases/{id}/fail"),
            json!({"token": stale, "error": "x"}),
        )
        .await;
    expect_error(r, StatusCode::CONFLICT, "stale_lease").await;

    let r = s
        .post(
            &format!("/v1/leases/{id}/complete"),
            json!({"token": fresh, "result": "on time"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let view = s.task(id).await;
    assert_eq!(view["state"], "completed");
    assert_eq!(view["attempt"], 2);
    assert_eq!(view["result"], "on time");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retryable_failure_is_retried_on_a_new_lease() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = TestServer::start(&dir.path().join("b.db")).await;
    let id = s.submit(json!({"kind": "render", "class": "job"})).await;
    let first = s.poll(&["render"], 5).await;
    let r = s
        .post(
            &format!("/v1/leases/{id}/fail"),
            json!({"token": first["token"], "error": "printer busy", "retryable": true}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let rep: Value = r.json().await.expect("json");
    assert_eq!(rep["attempt"], 1);
    let second = s.poll(&["render"], 5).await;
    assert_eq!(second["task"], id);
    assert_eq!(second["attempt"], 2);
    let r = s
        .post(
            &format!("/v1/leases/{id}/fail"),
            json!({"token": second["token"], "error": "out of paper", "retryable": false}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let rep: Value = r.json().await.expect("json");
    assert_eq!(rep["state"], "failed");
    let view = s.task(id).await;
    assert_eq!(view["state"], "failed");
    assert_eq!(view["error"], "out of paper");
    assert!(view["result"].is_null());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kernel_stall_and_a_user_cancel_reach_the_worker() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = TestServer::start(&dir.path().join("b.db")).await;

    // Stall: no heartbeat within the class's 300 ms heartbeat timeout.
    let id = s.submit(json!({"kind": "send", "class": "watched"})).await;
    let lease = s.poll(&["send"], 5).await;
    assert_eq!(lease["task"], id);
    s.wait_state(id, "cancelling").await;
    let r = s
        .post(
            &format!("/v1/leases/{id}/heartbeat"),
            json!({"token": lease["token"]}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let beat: Value = r.json().await.expect("json");
    assert_eq!(beat["cancelled"], true);
    assert_eq!(beat["reason"], "stalled");
    let r = s
        .post(
            &format!("/v1/leases/{id}/fail"),
            json!({"token": lease["token"], "error": "stopped"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let view = s.task(id).await;
    assert_eq!(view["state"], "timed_out");
    assert_eq!(view["cancel_reason"], "stalled");

    // User cancel of a claimed lease.
    let id = s.submit(json!({"kind": "send", "class": "job"})).await;
    let lease = s.poll(&["send"], 5).await;
    assert_eq!(lease["task"], id);
    let r = s.post(&format!("/v1/tasks/{id}/cancel"), json!({})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let beat: Value = s
        .post(
            &format!("/v1/leases/{id}/heartbeat"),
            json!({"token": lease["token"]}),
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(beat["cancelled"], true);
    assert_eq!(beat["reason"], "user");
    let r = s
        .post(
            &format!("/v1/leases/{id}/complete"),
            json!({"token": lease["token"], "result": 1}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(s.task(id).await["state"], "cancelled");

    // A cancel before any worker claimed it withdraws the offer.
    let id = s.submit(json!({"kind": "render", "class": "job"})).await;
    s.wait_state(id, "running").await;
    let r = s.post(&format!("/v1/tasks/{id}/cancel"), json!({})).await;
    assert_eq!(r.status(), StatusCode::OK);
    s.wait_state(id, "cancelled").await;
    assert!(s.poll(&["render"], 0).await.is_null());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_the_task_and_it_can_be_leased() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("b.db");
    let s = TestServer::start(&db).await;
    let running = s
        .submit(json!({"kind": "send", "params": {"k": "r"}, "class": "job"}))
        .await;
    let a = s.submit(json!({"kind": "send", "class": "limited"})).await;
    let queued = s
        .submit(json!({"kind": "render", "params": {"k": "q"}, "class": "limited"}))
        .await;
    s.wait_state(a, "running").await;
    assert_eq!(s.task(queued).await["state"], "queued");
    s.stop().await;

    let s = TestServer::start(&db).await;
    // The queued task is still queued, with its kind and parameters.
    let view = s.task(queued).await;
    assert_eq!(view["kind"], "render");
    assert_eq!(view["params"], json!({"k": "q"}));
    // The attempt that ran when the server stopped was interrupted; its retry is leased.
    let lease = s.poll(&["send"], 10).await;
    assert_eq!(lease["task"], running);
    assert_eq!(lease["attempt"], 2);
    assert_eq!(lease["params"], json!({"k": "r"}));
    let r = s
        .post(
            &format!("/v1/leases/{running}/complete"),
            json!({"token": lease["token"], "result": "after restart"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let view = s.task(running).await;
    assert_eq!(view["state"], "completed");
    assert_eq!(view["result"], "after restart");
    // `a` (limited, no retries) was interrupted for good; `queued` then got the class slot.
    assert_eq!(s.task(a).await["state"], "failed");
    let lease = s.poll(&["render"], 5).await;
    assert_eq!(lease["task"], queued);
    assert_eq!(lease["attempt"], 1);
    s.stop().await;
}
