//! Feature `tracing`: every attempt's future runs inside a `baton.attempt` span with the task,
//! class, session and attempt; each action the adapter performs is a debug event with the task.
//! A tiny capturing subscriber records spans, events and the span an event happened in.
#![cfg(all(not(loom), feature = "tokio", feature = "tracing"))]

use baton_kernel::{ClassConfig, Config};
use baton_runtime::{Scheduler, TaskFailure, TokioRuntime};
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

type Fields = BTreeMap<String, String>;

#[derive(Default)]
struct Captured {
    /// Span name and fields, by id - 1.
    spans: Vec<(String, Fields)>,
    /// Each event's fields and the span it happened in.
    events: Vec<(Fields, Option<u64>)>,
    /// Entered spans (one thread: a current-thread runtime).
    stack: Vec<u64>,
}

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Captured>>);

struct Visitor<'a>(&'a mut Fields);

impl Visit for Visitor<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), value.to_string());
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let mut fields = Fields::new();
        attrs.record(&mut Visitor(&mut fields));
        let mut c = self.0.lock().unwrap();
        c.spans.push((attrs.metadata().name().to_owned(), fields));
        Id::from_u64(c.spans.len() as u64)
    }
    fn record(&self, span: &Id, values: &Record<'_>) {
        let mut c = self.0.lock().unwrap();
        let index = (span.into_u64() - 1) as usize;
        values.record(&mut Visitor(&mut c.spans[index].1));
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields::new();
        event.record(&mut Visitor(&mut fields));
        let mut c = self.0.lock().unwrap();
        let current = c.stack.last().copied();
        c.events.push((fields, current));
    }
    fn enter(&self, span: &Id) {
        self.0.lock().unwrap().stack.push(span.into_u64());
    }
    fn exit(&self, _: &Id) {
        self.0.lock().unwrap().stack.pop();
    }
}

#[test]
fn an_attempt_runs_in_a_span_with_its_task_class_session_and_attempt() {
    let capture = Capture::default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (task, session) = tracing::subscriber::with_default(capture.clone(), || {
        rt.block_on(async {
            let config = Config::new(vec![ClassConfig::exclusive("send", 5)]);
            let runtime = Arc::new(TokioRuntime::new(tokio::runtime::Handle::current()));
            let s = Scheduler::with_runtime(config, runtime).unwrap();
            let alice = s.connect("alice").unwrap();
            let sent = s.submit(alice, "send", |_ctx| async {
                tracing::info!(marker = "in body", "the body runs");
                Ok::<_, TaskFailure>(())
            });
            let task = sent.id().unwrap();
            sent.await.unwrap();
            (task, alice)
        })
    });
    let c = capture.0.lock().unwrap();
    let (fields, span) = c
        .events
        .iter()
        .find(|(f, _)| f.get("marker").map(String::as_str) == Some("in body"))
        .expect("the body's event was captured");
    let span = span.expect("the body's event happened inside a span");
    let (name, span_fields) = &c.spans[(span - 1) as usize];
    assert_eq!(name, "baton.attempt", "{fields:?}");
    let expected: Fields = [
        ("task", task.0.to_string()),
        ("class", "send".to_owned()),
        ("session", session.0.to_string()),
        ("attempt", "1".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(span_fields, &expected);

    // One debug event per transition the adapter performed, each with the task id.
    let messages: Vec<&str> = c
        .events
        .iter()
        .filter(|(f, _)| f.get("task") == Some(&task.0.to_string()))
        .filter_map(|(f, _)| f.get("message").map(String::as_str))
        .collect();
    assert_eq!(messages, ["baton.start", "baton.finish"]);
    let finish = c
        .events
        .iter()
        .find(|(f, _)| f.get("message").map(String::as_str) == Some("baton.finish"))
        .unwrap();
    assert_eq!(
        finish.0.get("outcome").map(String::as_str),
        Some("completed")
    );
}
