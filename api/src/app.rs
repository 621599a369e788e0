//! What the API works with: the node (log, read models, commands), authentication and the
//! call runtime's handle.

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
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App").field("node", &self.node).finish()
    }
}

impl App {
    /// The API of `node` and its `calls`, logging in by `policy`.
    pub fn new(node: Node, calls: CallRuntime, policy: LoginPolicy) -> Self {
        Self {
            node,
            auth: Arc::new(Auth::new(policy)),
            calls,
            uploads: crate::uploads::UploadGate::default(),
        }
    }
}
