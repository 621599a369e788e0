//! Reading the agent's number to the caller as they are connected (接通报工号): the legs are
//! held apart in the relay while "工号 1 0 0 1 为您服务" plays to the caller, then joined.

use chrono::Utc;
use domain::call::CallCommand;
use domain::policy::ivr::Utterance;

use super::session::{Flow, Session};
use crate::inbox::CallInput;

impl Session {
    /// Reads `number` to the caller digit by digit, after recording that it does; the legs
    /// hear each other once it has played (see [`Session::announced`]).
    pub(crate) async fn announce_agent(&mut self, number: String) {
        let Some(relay) = self.media.relay.clone() else {
            return;
        };
        self.record(vec![CallCommand::AnnounceAgent {
            number: number.clone(),
            at: Utc::now(),
        }])
        .await;
        relay.set_held(true);
        let digits: Vec<String> = number.chars().map(String::from).collect();
        let items = vec![Utterance::Speech {
            text: format!("工号 {} 为您服务", digits.join(" ")),
        }];
        let (calls, node, enterprise, tx, codec) = (
            self.calls.clone(),
            self.node.clone(),
            self.enterprise,
            self.tx.clone(),
            self.media.a_codec(),
        );
        tokio::spawn(async move {
            let (prompt, failures) = calls.prompts.render(&node, enterprise, &items).await;
            if !prompt.samples().is_empty() {
                relay.play(true, &prompt, codec).finished().await;
            }
            let failure = failures.first().map(ToString::to_string);
            let _ = tx.send(CallInput::Announced { failure });
        });
    }

    /// The agent's number was read: the caller and the agent hear each other (unless the
    /// agent put the caller on hold meanwhile).
    pub(crate) async fn announced(&mut self, failure: Option<String>) -> Flow {
        if let Some(reason) = failure {
            self.record(vec![CallCommand::PromptFailed {
                reason,
                at: Utc::now(),
            }])
            .await;
        }
        if let (Some(relay), None) = (&self.media.relay, &self.media.hold_music) {
            relay.set_held(false);
            relay.touch();
        }
        Flow::Continue
    }
}
