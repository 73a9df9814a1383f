//! Wake-up primitives: [`Signal`] (a latch with a value and any number of waiters: a task's
//! cancellation and abort) and [`Notify`] (a sticky edge with one waiter: the driver's wake-up).
//!
//! Both keep their whole state behind one lock and wake outside it, so a `set` or `notify` that
//! races a `poll` is either seen by that poll or wakes the waker it registered: no lost wake-up
//! (checked by `tests/loom_signal.rs` and `tests/loom_notify.rs`).
#![cfg_attr(not(loom), allow(unreachable_pub))]

use crate::sync::{Mutex, lock};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

/// A latch that is set at most once with a value; every waiter then sees that value.
#[derive(Debug)]
pub struct Signal<V> {
    state: Mutex<SignalState<V>>,
}

#[derive(Debug)]
struct SignalState<V> {
    value: Option<V>,
    /// Registered waiters by key; a waiter keeps its key across polls and removes it on drop,
    /// so the map holds at most one waker per live [`Wait`] future.
    wakers: BTreeMap<u64, Waker>,
    next_key: u64,
}

impl<V: Clone> Default for Signal<V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V: Clone> Signal<V> {
    /// An unset signal.
    pub fn new() -> Self {
        Signal {
            state: Mutex::new(SignalState {
                value: None,
                wakers: BTreeMap::new(),
                next_key: 0,
            }),
        }
    }

    /// Sets the signal (the first value wins) and wakes every waiter. Returns whether this call
    /// set it.
    pub fn set(&self, value: V) -> bool {
        let wakers = {
            let mut state = lock(&self.state);
            if state.value.is_some() {
                return false;
            }
            state.value = Some(value);
            std::mem::take(&mut state.wakers)
        };
        for waker in wakers.into_values() {
            waker.wake();
        }
        true
    }

    /// The value, if set.
    pub fn get(&self) -> Option<V> {
        lock(&self.state).value.clone()
    }

    /// Polls for the value, registering `cx`'s waker under `*key` if it is not set yet.
    pub fn poll_wait(&self, key: &mut Option<u64>, cx: &mut Context<'_>) -> Poll<V> {
        let mut state = lock(&self.state);
        if let Some(value) = state.value.clone() {
            if let Some(k) = key.take() {
                state.wakers.remove(&k);
            }
            return Poll::Ready(value);
        }
        let k = *key.get_or_insert_with(|| {
            let k = state.next_key;
            state.next_key += 1;
            k
        });
        match state.wakers.get_mut(&k) {
            Some(w) if w.will_wake(cx.waker()) => {}
            Some(w) => w.clone_from(cx.waker()),
            None => {
                state.wakers.insert(k, cx.waker().clone());
            }
        }
        Poll::Pending
    }

    /// Forgets a waiter's registration (its future was dropped).
    pub fn unregister(&self, key: u64) {
        lock(&self.state).wakers.remove(&key);
    }

    #[cfg(loom)]
    /// Waiters registered now (for tests: dropped waiters leave nothing behind).
    pub fn waiters(&self) -> usize {
        lock(&self.state).wakers.len()
    }
}

/// A future that resolves with the signal's value once it is set.
#[derive(Debug)]
pub struct Wait<V: Clone> {
    signal: Arc<Signal<V>>,
    key: Option<u64>,
}

impl<V: Clone> Wait<V> {
    /// Waits on `signal`.
    pub fn new(signal: Arc<Signal<V>>) -> Self {
        Wait { signal, key: None }
    }
}

impl<V: Clone> Future for Wait<V> {
    type Output = V;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<V> {
        let this = self.get_mut();
        this.signal.poll_wait(&mut this.key, cx)
    }
}

impl<V: Clone> Drop for Wait<V> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.signal.unregister(key);
        }
    }
}

/// A sticky wake-up for one waiter: `notify` before the wait is not lost, and many notifies
/// before one wait collapse into one wake-up.
#[derive(Debug)]
pub struct Notify {
    state: Mutex<NotifyState>,
}

#[derive(Debug)]
struct NotifyState {
    notified: bool,
    waker: Option<Waker>,
}

impl Notify {
    /// A notify that is already notified (so the waiter's first wait returns at once) or not.
    pub fn new(notified: bool) -> Self {
        Notify {
            state: Mutex::new(NotifyState {
                notified,
                waker: None,
            }),
        }
    }

    /// Marks a wake-up pending and wakes the waiter, if one is registered.
    pub fn notify(&self) {
        let waker = {
            let mut state = lock(&self.state);
            state.notified = true;
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Consumes a pending wake-up, or registers `cx`'s waker for the next one.
    pub fn poll_notified(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = lock(&self.state);
        if state.notified {
            state.notified = false;
            return Poll::Ready(());
        }
        match &mut state.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    #[cfg(loom)]
    /// Waits for the next wake-up.
    pub fn notified(&self) -> impl Future<Output = ()> + '_ {
        std::future::poll_fn(move |cx| self.poll_notified(cx))
    }
}
