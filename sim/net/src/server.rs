//! The remote service: a messaging backend on turmoil TCP that runs each request as a slow,
//! step-wise operation and testifies — in the [`Log`] — when every operation of every session
//! arrived and when it ended, so the checks can tell whether two operations of one session ever
//! overlapped on the wire.
//!
//! - A connection starts with `Hello { session }`. A new `Hello` for a session ends what the
//!   server still runs for that session on older connections (like a new login kicking the old
//!   one) before it is acknowledged, so a client that resets a connection and reconnects cannot
//!   overlap with its own abandoned operation.
//! - A `Request` runs for `op_ms` in steps of [`STEP`]; a `Cancel` stops it at the next step
//!   boundary (cooperatively, like real services) after a [`ROLLBACK`] of its partial work, and
//!   only then is `CancelAck` sent. A client that starts its next operation before that ack
//!   makes the two overlap on the server.
//! - A closed or broken connection ends its operations at once; a crash ends every operation
//!   (logged from the operations' drop guards when turmoil drops the host's runtime).

use crate::log::{End, Event, Log};
use crate::wire::{Frame, Origin, read_frame, write_frame};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, mpsc};
use turmoil::net::{TcpListener, TcpStream};

/// The service's port.
pub const PORT: u16 = 7000;

/// An operation's unit of work: a cancel takes effect at the next step boundary.
pub const STEP: Duration = Duration::from_millis(20);

/// What stopping a cancelled operation costs (rolling back its partial work): it still runs
/// meanwhile, and `CancelAck` is sent only after it.
pub const ROLLBACK: Duration = Duration::from_millis(30);

/// What a server host needs, shared by all its incarnations.
#[derive(Clone, Debug)]
pub struct ServerSpec {
    /// The run's log.
    pub log: Log,
    /// Incarnations started so far.
    pub incs: Arc<AtomicU32>,
}

/// The server software (turmoil runs it again on every bounce).
pub async fn serve(spec: ServerSpec) -> turmoil::Result {
    let inc = spec.incs.fetch_add(1, Ordering::SeqCst);
    spec.log.push(Event::ServerUp { inc });
    let listener = TcpListener::bind((Ipv4Addr::UNSPECIFIED, PORT)).await?;
    let server = Rc::new(Server {
        log: spec.log.clone(),
        inc,
        next_conn: Cell::new(0),
        sessions: RefCell::new(BTreeMap::new()),
    });
    loop {
        let (stream, _peer) = listener.accept().await?;
        tokio::task::spawn_local(server.clone().connection(stream));
    }
}

struct Server {
    log: Log,
    inc: u32,
    next_conn: Cell<u64>,
    /// Live connections by session, then by connection number.
    sessions: RefCell<BTreeMap<String, BTreeMap<u64, Rc<Conn>>>>,
}

#[derive(Default)]
struct Conn {
    ops: RefCell<BTreeMap<u64, Rc<Op>>>,
    superseded: Cell<bool>,
    kicked: Notify,
}

struct Op {
    session: String,
    sconn: u64,
    req: u64,
    origin: Origin,
    cancel: Cell<bool>,
    ended: Cell<bool>,
}

impl Server {
    fn end(&self, op: &Op, how: End) {
        if !op.ended.replace(true) {
            self.log.push(Event::End {
                session: op.session.clone(),
                sconn: op.sconn,
                req: op.req,
                origin: op.origin,
                how,
            });
        }
    }

    /// Ends every operation the session still runs on other connections and drops those
    /// connections.
    fn supersede(&self, session: &str) {
        let old = self
            .sessions
            .borrow_mut()
            .remove(session)
            .unwrap_or_default();
        for conn in old.values() {
            conn.superseded.set(true);
            for op in conn.ops.borrow().values() {
                self.end(op, End::Superseded);
            }
            conn.ops.borrow_mut().clear();
            conn.kicked.notify_one();
        }
    }

    async fn connection(self: Rc<Self>, stream: TcpStream) {
        let sconn = u64::from(self.inc) << 32 | self.next_conn.get();
        self.next_conn.set(self.next_conn.get() + 1);
        let (mut rd, mut wr) = stream.into_split();
        let (tx, mut rx) = mpsc::unbounded_channel::<Frame>();
        let writer = tokio::task::spawn_local(async move {
            while let Some(frame) = rx.recv().await {
                if write_frame(&mut wr, &frame).await.is_err() {
                    break;
                }
            }
        });
        let session = match read_frame(&mut rd).await {
            Ok(Some(Frame::Hello { session })) => session,
            _ => {
                writer.abort();
                return;
            }
        };
        self.supersede(&session);
        let conn = Rc::new(Conn::default());
        self.sessions
            .borrow_mut()
            .entry(session.clone())
            .or_default()
            .insert(sconn, conn.clone());
        let _ = tx.send(Frame::HelloAck);
        loop {
            let frame = tokio::select! {
                biased;
                () = conn.kicked.notified() => break,
                frame = read_frame(&mut rd) => frame,
            };
            match frame {
                Ok(Some(Frame::Request { id, origin, op_ms })) => {
                    let op = Rc::new(Op {
                        session: session.clone(),
                        sconn,
                        req: id,
                        origin,
                        cancel: Cell::new(false),
                        ended: Cell::new(false),
                    });
                    self.log.push(Event::Arrive {
                        session: session.clone(),
                        sconn,
                        req: id,
                        origin,
                    });
                    conn.ops.borrow_mut().insert(id, op.clone());
                    let guard = OpGuard {
                        server: self.clone(),
                        op,
                    };
                    tokio::task::spawn_local(run_op(guard, conn.clone(), op_ms, tx.clone()));
                }
                Ok(Some(Frame::Cancel { id })) => {
                    let running = conn.ops.borrow().get(&id).cloned();
                    match running {
                        Some(op) => op.cancel.set(true),
                        None => {
                            let _ = tx.send(Frame::CancelAck { id });
                        }
                    }
                }
                // Anything else from a client is a protocol error: drop the connection.
                Ok(Some(_)) | Ok(None) | Err(_) => break,
            }
        }
        // Closed, broken or superseded: its operations end now.
        let ops = std::mem::take(&mut *conn.ops.borrow_mut());
        for op in ops.values() {
            self.end(op, End::ConnClosed);
        }
        if !conn.superseded.get() {
            let mut sessions = self.sessions.borrow_mut();
            if let Some(conns) = sessions.get_mut(&session) {
                conns.remove(&sconn);
                if conns.is_empty() {
                    sessions.remove(&session);
                }
            }
        }
        writer.abort();
    }
}

/// Ends its operation as `Crashed` if dropped before the operation ended (turmoil dropping the
/// crashed host's runtime).
struct OpGuard {
    server: Rc<Server>,
    op: Rc<Op>,
}

impl Drop for OpGuard {
    fn drop(&mut self) {
        self.server.end(&self.op, End::Crashed);
    }
}

async fn run_op(guard: OpGuard, conn: Rc<Conn>, op_ms: u32, tx: mpsc::UnboundedSender<Frame>) {
    let step_ms = STEP.as_millis() as u32;
    let steps = op_ms.div_ceil(step_ms).max(1);
    let op = guard.op.clone();
    for _ in 0..steps {
        tokio::time::sleep(STEP).await;
        if op.ended.get() {
            // Ended by its connection closing or by a newer connection of its session.
            return;
        }
        if op.cancel.get() {
            tokio::time::sleep(ROLLBACK).await;
            if op.ended.get() {
                return;
            }
            guard.server.end(&op, End::Cancelled);
            conn.ops.borrow_mut().remove(&op.req);
            let _ = tx.send(Frame::CancelAck { id: op.req });
            return;
        }
    }
    guard.server.end(&op, End::Completed);
    conn.ops.borrow_mut().remove(&op.req);
    let _ = tx.send(Frame::Response { id: op.req });
}
