//! [`TaskBuilder`] — one task's options, and the submit that registers its body — with the two
//! ways of naming where and what a task is ([`IntoTarget`], [`ClassRef`]).
//!
//! Above the attempt, context and handle floor (see "Layers" in the crate docs): a submit erases
//! the body into the attempt floor's launcher and hands back a [`TaskHandle`]. A task's own
//! children are submitted from here too: [`TaskContext::child`] and
//! [`TaskContext::spawn_child`] are defined in this file, since a context sits below the
//! builder it returns.

use crate::attempt::TypedBody;
use crate::context::TaskContext;
use crate::error::{TaskError, TaskFailure};
use crate::handle::TaskHandle;
use crate::shared::{Launch, Shared};
use crate::slot::{Resolve, Slot};
use baton_kernel::{ClassId, GroupId, SessionId, Submit, Target, TaskId};
use std::fmt;
use std::future::Future;
use std::sync::Arc;

/// Where a task runs: a [`SessionId`], a [`GroupId`] or a [`Target`].
pub trait IntoTarget {
    /// The kernel's target.
    fn into_target(self) -> Target;
}

impl IntoTarget for Target {
    fn into_target(self) -> Target {
        self
    }
}

impl IntoTarget for SessionId {
    fn into_target(self) -> Target {
        Target::Session(self)
    }
}

impl IntoTarget for GroupId {
    fn into_target(self) -> Target {
        Target::Group(self)
    }
}

/// A class, by name or by [`ClassId`].
pub trait ClassRef {
    /// The class's id among the configured class names (in id order), or the class's spelling
    /// if there is no such class.
    fn class_id(&self, names: &[String]) -> Result<ClassId, String>;
}

impl ClassRef for &str {
    fn class_id(&self, names: &[String]) -> Result<ClassId, String> {
        names
            .iter()
            .position(|n| n == self)
            .and_then(|i| u16::try_from(i).ok())
            .map(ClassId)
            .ok_or_else(|| (*self).to_owned())
    }
}

impl ClassRef for String {
    fn class_id(&self, names: &[String]) -> Result<ClassId, String> {
        self.as_str().class_id(names)
    }
}

impl ClassRef for &String {
    fn class_id(&self, names: &[String]) -> Result<ClassId, String> {
        self.as_str().class_id(names)
    }
}

impl ClassRef for ClassId {
    fn class_id(&self, names: &[String]) -> Result<ClassId, String> {
        if self.index() < names.len() {
            Ok(*self)
        } else {
            Err(self.to_string())
        }
    }
}

/// Options for one task: built by [`Scheduler::task_builder`](crate::Scheduler::task_builder) or [`TaskContext::child`], sent by
/// [`submit`](TaskBuilder::submit).
///
/// ```
/// # #[cfg(feature = "tokio")]
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use baton_kernel::{preset, Target};
/// use baton_runtime::{Scheduler, TaskFailure};
/// let scheduler = Scheduler::new(preset::job_manager()).unwrap();
/// let job = scheduler
///     .task_builder(Target::None, "job")
///     .priority(9)
///     .submit(|ctx| async move { Ok::<_, TaskFailure>(ctx.attempt()) });
/// assert_eq!(job.await, Ok(1));
/// # });
/// ```
#[must_use = "a TaskBuilder does nothing until .submit(body)"]
pub struct TaskBuilder {
    pub(crate) shared: Arc<Shared>,
    pub(crate) class: Result<ClassId, String>,
    pub(crate) target: Target,
    pub(crate) priority: Option<u8>,
    pub(crate) parent: Option<TaskId>,
}

impl fmt::Debug for TaskBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskBuilder")
            .field("class", &self.class)
            .field("target", &self.target)
            .field("priority", &self.priority)
            .field("parent", &self.parent)
            .finish()
    }
}

impl TaskBuilder {
    pub(crate) fn new(shared: Arc<Shared>, target: Target, class: impl ClassRef) -> Self {
        let class = class.class_id(shared.class_names());
        TaskBuilder {
            shared,
            class,
            target,
            priority: None,
            parent: None,
        }
    }

    /// Overrides the class's priority (higher runs first).
    pub fn priority(mut self, priority: u8) -> Self {
        self.priority = Some(priority);
        self
    }

    /// Makes the task a child of `parent`: cancelling the parent cancels it.
    pub fn parent(mut self, parent: TaskId) -> Self {
        self.parent = Some(parent);
        self
    }

    /// Aims the task elsewhere.
    pub fn target(mut self, target: impl IntoTarget) -> Self {
        self.target = target.into_target();
        self
    }

    /// Submits the task (see [`Scheduler::submit`](crate::Scheduler::submit) for the body's contract).
    pub fn submit<T, E, F, Fut>(self, body: F) -> TaskHandle<T>
    where
        F: Fn(TaskContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Into<TaskFailure> + 'static,
    {
        let slot = Arc::new(Slot::new());
        let shared = self.shared;
        let class = match self.class {
            Ok(class) => class,
            Err(name) => {
                slot.resolve_err(TaskError::UnknownClass(name));
                return TaskHandle::new(None, slot, shared);
            }
        };
        let body: Arc<dyn Launch> = Arc::new(TypedBody {
            body,
            slot: slot.clone(),
        });
        let submit = Submit {
            class,
            target: self.target,
            priority: self.priority,
            parent: self.parent,
        };
        let resolver: Arc<dyn Resolve> = slot.clone();
        let result = shared
            .core
            .lock()
            .submit_task(&shared, submit, body, resolver);
        let id = match result {
            Ok(id) => Some(id),
            Err(error) => {
                slot.resolve_err(TaskError::from_submit_error(error));
                None
            }
        };
        TaskHandle::new(id, slot, shared)
    }
}

/// Child tasks: a context submits them through a [`TaskBuilder`], so these live with it.
impl TaskContext {
    /// A builder for a child task of class `class` aimed at this task's session (or at no
    /// target if this task has none). Cancelling or failing this task cancels the child;
    /// completing it lets the child run on.
    ///
    /// A child of an *exclusive* class aimed at the parent's session waits until the parent
    /// releases the session, so a parent must not await such a child; children a parent awaits
    /// should be of a background class.
    pub fn child(&self, class: impl ClassRef) -> TaskBuilder {
        let target = self.session().map_or(Target::None, Target::Session);
        TaskBuilder::new(self.shared().clone(), target, class).parent(self.id())
    }

    /// Submits a child task (see [`child`](TaskContext::child) for its target and lifetime).
    pub fn spawn_child<T, E, F, Fut>(&self, class: impl ClassRef, body: F) -> TaskHandle<T>
    where
        F: Fn(TaskContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Into<TaskFailure> + 'static,
    {
        self.child(class).submit(body)
    }
}
