//! Given/when/then helpers for aggregate tests: `given(events).when(command).then(events)`.

use std::fmt::Debug;

use esrs::Aggregate;

/// A scenario over aggregate `A`, started by [`given`].
pub struct Scenario<A: Aggregate> {
    state: A::State,
}

/// Starts a scenario from a history of events.
pub fn given<A: Aggregate>(history: Vec<A::Event>) -> Scenario<A> {
    let state = history
        .into_iter()
        .fold(A::State::default(), A::apply_event);
    Scenario { state }
}

/// The outcome of a command in a scenario.
pub struct Outcome<A: Aggregate> {
    result: Result<Vec<A::Event>, A::Error>,
}

impl<A: Aggregate> Scenario<A> {
    /// Decides `command` against the history.
    pub fn when(self, command: A::Command) -> Outcome<A> {
        Outcome {
            result: A::handle_command(&self.state, command),
        }
    }
}

impl<A: Aggregate> Outcome<A>
where
    A::Event: Debug + PartialEq,
    A::Error: Debug + PartialEq,
{
    /// Asserts the command was accepted with exactly these events.
    #[track_caller]
    pub fn then(self, expected: Vec<A::Event>) {
        match self.result {
            Ok(events) => assert_eq!(events, expected),
            Err(error) => panic!("expected events {expected:?}, got error {error:?}"),
        }
    }

    /// Asserts the command was refused with this error.
    #[track_caller]
    pub fn then_err(self, expected: A::Error) {
        match self.result {
            Ok(events) => panic!("expected error {expected:?}, got events {events:?}"),
            Err(error) => assert_eq!(error, expected),
        }
    }
}
