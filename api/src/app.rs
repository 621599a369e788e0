//! What the API works with: the node (log, read models, commands), authentication, the
//! call runtime's handle and the file jobs.

use std::sync::Arc;

use calls::CallRuntime;
use node::Node;

use crate::auth::{Auth, LoginPolicy};

/// The API's shared state. Cheap to clone.
#[derive(Clone)]
pub struct App {
    /// The node.
    pub node: Node,
    /// Authentication.
    pub auth: Arc<Auth>,
    /// The call runtime: live calls, seats and click-to-dial.
    pub calls: CallRuntime,
    /// How many uploads are received and converted at once.
    pub uploads: crate::uploads::UploadGate,
    /// The node's file jobs: exports, imports and recording packages.
    pub files: filejobs::FileJobs,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App").field("node", &self.node).finish()
    }
}

impl App {
    /// The API of `node`, its `calls` and its `files`, logging in by `policy`.
    pub fn new(
        node: Node,
        calls: CallRuntime,
        files: filejobs::FileJobs,
        policy: LoginPolicy,
    ) -> Self {
        Self {
            node,
            auth: Arc::new(Auth::new(policy)),
            calls,
            uploads: crate::uploads::UploadGate::default(),
            files,
        }
    }
}
