//! A call's run through its IVR flow: the pure `IvrRun`, the flow it runs, its timer, and the
//! tasks that carry out its actions (a playback, an HTTP request), which report back to the
//! actor as [`IvrNotice`]s. Stopping the driver stops its tasks.

use chrono::{NaiveDateTime, Utc};
use domain::policy::ivr::{IvrInput, IvrRun};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::plan::IvrEntry;

/// The time now in `tz`, as the flow reads it.
pub(crate) fn local_now(tz: chrono_tz::Tz) -> NaiveDateTime {
    Utc::now().with_timezone(&tz).naive_local()
}

/// What the IVR's own tasks report to the call's actor.
#[derive(Debug)]
pub(crate) enum IvrNotice {
    /// The playback numbered so finished.
    Finished(u64),
    /// A prompt item could not be played.
    PromptFailed(String),
    /// An HTTP node's outcome.
    Input(IvrInput),
}

/// A call's run through its flow, with the tasks carrying out its actions.
pub(crate) struct IvrDriver {
    /// The flow and the facts the call entered it with.
    pub(crate) entry: IvrEntry,
    /// The call's place in the flow.
    pub(crate) run: IvrRun,
    /// When the flow's timer runs out.
    pub(crate) timer: Option<Instant>,
    /// The playback task.
    pub(crate) playback: Option<JoinHandle<()>>,
    /// Numbers playbacks, so a finish reported by a stopped one is ignored.
    pub(crate) generation: u64,
    /// The HTTP node's request task.
    pub(crate) http: Option<JoinHandle<()>>,
    /// Where the tasks report.
    pub(crate) notify: mpsc::UnboundedSender<IvrNotice>,
}

impl IvrDriver {
    /// The driver of `run` through `entry`'s flow, reporting on `notify`.
    pub(crate) fn new(
        entry: IvrEntry,
        run: IvrRun,
        notify: mpsc::UnboundedSender<IvrNotice>,
    ) -> Self {
        Self {
            entry,
            run,
            timer: None,
            playback: None,
            generation: 0,
            http: None,
            notify,
        }
    }

    pub(crate) fn stop_playback(&mut self) {
        if let Some(task) = self.playback.take() {
            task.abort();
        }
    }

    /// Stops everything the flow started.
    pub(crate) fn stop(&mut self) {
        self.stop_playback();
        if let Some(task) = self.http.take() {
            task.abort();
        }
        self.timer = None;
    }
}

impl Drop for IvrDriver {
    fn drop(&mut self) {
        self.stop();
    }
}
