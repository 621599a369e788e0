//! The checks a flow passes before it is published. A failure names the node and what is wrong
//! with it; a node no call can reach is a warning, not a failure. Facts the flow refers to (the
//! voice library, extensions, queues) are looked up before the command and arrive in
//! [`FlowLookups`].

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use super::definition::{
    FlowDefinition, IvrNode, NodeAction, PromptItem, PromptSource, SystemVariable, TransferTarget,
};
use crate::validate::{optional_text, FieldError};

/// A recording of the voice library as a flow sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownVoice {
    /// Its name.
    pub name: String,
    /// Whether the operator approved it.
    pub approved: bool,
}

/// What a flow's references are checked against (looked up in the enterprise).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlowLookups {
    /// The enterprise's recordings.
    pub voices: BTreeMap<Uuid, KnownVoice>,
    /// The enterprise's extensions.
    pub extensions: BTreeSet<Uuid>,
    /// The enterprise's queues.
    pub queues: BTreeSet<Uuid>,
}

/// Keys a caller can press in a menu or a digit collection.
pub const DTMF_KEYS: &str = "0123456789*#";

/// Checks `flow`; returns the warnings (nodes no call can reach) or the first failure.
pub fn validate_flow(
    flow: &FlowDefinition,
    lookups: &FlowLookups,
) -> Result<Vec<String>, FieldError> {
    let variables = check_variables(flow)?;
    if flow.nodes.is_empty() {
        return Err(FieldError::new("nodes", "a flow needs at least one node"));
    }
    if flow.nodes.len() > 500 {
        return Err(FieldError::new("nodes", "a flow has at most 500 nodes"));
    }
    let mut keys = BTreeSet::new();
    for node in &flow.nodes {
        check_node_fields(node)?;
        if !keys.insert(node.key.as_str()) {
            return Err(FieldError::new(
                "nodes",
                format!("two nodes have the key '{}'", node.key),
            ));
        }
    }
    if flow.entry.trim().is_empty() {
        return Err(FieldError::new("entry", "the flow needs an entry node"));
    }
    if !keys.contains(flow.entry.as_str()) {
        return Err(FieldError::new(
            "entry",
            format!("the entry node '{}' does not exist", flow.entry),
        ));
    }
    for node in &flow.nodes {
        let fail = |message: String| Err(node_error(node, message));
        for (what, to) in node.action.jumps() {
            if !keys.contains(to) {
                return fail(format!("{what} jumps to '{to}', which does not exist"));
            }
        }
        for (field, prompts) in node.action.prompt_lists() {
            check_prompts(node, field, prompts, &variables, lookups)?;
        }
        check_action(node, &variables, lookups)?;
    }
    check_silent_loops(flow)?;
    Ok(unreachable(flow)
        .into_iter()
        .map(|node| {
            format!(
                "node '{}' ({}) cannot be reached from the entry node",
                node.key, node.name
            )
        })
        .collect())
}

fn node_error(node: &IvrNode, message: String) -> FieldError {
    FieldError::new(
        &format!("nodes.{}", node.key),
        format!("node '{}' ({}): {message}", node.key, node.name),
    )
}

fn is_name(value: &str, max: usize) -> bool {
    !value.is_empty()
        && value.len() <= max
        && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn check_variables(flow: &FlowDefinition) -> Result<BTreeSet<&str>, FieldError> {
    let mut names = BTreeSet::new();
    if flow.variables.len() > 100 {
        return Err(FieldError::new(
            "variables",
            "a flow has at most 100 variables",
        ));
    }
    for variable in &flow.variables {
        if !is_name(&variable.name, 32) {
            return Err(FieldError::new(
                "variables",
                format!(
                    "variable '{}': a name is 1 to 32 letters, digits or underscores",
                    variable.name
                ),
            ));
        }
        if SystemVariable::from_name(&variable.name).is_some() {
            return Err(FieldError::new(
                "variables",
                format!("variable '{}': that is a system variable", variable.name),
            ));
        }
        optional_text("variables.description", &variable.description, 200)?;
        if !names.insert(variable.name.as_str()) {
            return Err(FieldError::new(
                "variables",
                format!("variable '{}' is declared twice", variable.name),
            ));
        }
    }
    Ok(names)
}

fn check_node_fields(node: &IvrNode) -> Result<(), FieldError> {
    let key_ok = !node.key.is_empty()
        && node.key.len() <= 32
        && node
            .key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'));
    if !key_ok {
        return Err(FieldError::new(
            "nodes",
            format!(
                "node key '{}': 1 to 32 letters, digits, '_' or '-'",
                node.key
            ),
        ));
    }
    if node.name.trim().is_empty() {
        return Err(node_error(node, "a node needs a name".into()));
    }
    optional_text(&format!("nodes.{}.name", node.key), &node.name, 64)?;
    optional_text(&format!("nodes.{}.number", node.key), &node.number, 16)?;
    Ok(())
}

fn check_prompts(
    node: &IvrNode,
    field: &str,
    prompts: &[PromptItem],
    variables: &BTreeSet<&str>,
    lookups: &FlowLookups,
) -> Result<(), FieldError> {
    let fail = |message: String| Err(node_error(node, format!("{field}: {message}")));
    if prompts.len() > 20 {
        return fail("at most 20 prompt items".into());
    }
    for (i, item) in prompts.iter().enumerate() {
        let n = i + 1;
        if !(1..=10).contains(&item.loops) {
            return fail(format!("item {n} plays 1 to 10 times"));
        }
        match &item.source {
            PromptSource::Recording { voice_id } => match lookups.voices.get(voice_id) {
                None => return fail(format!("item {n}: recording {voice_id} does not exist")),
                Some(voice) if !voice.approved => {
                    return fail(format!(
                        "item {n}: recording '{}' is not approved",
                        voice.name
                    ))
                }
                Some(_) => {}
            },
            PromptSource::Text { text } => {
                if text.trim().is_empty() || text.chars().count() > 500 {
                    return fail(format!("item {n}: a text is 1 to 500 characters"));
                }
            }
            PromptSource::Variable { name } => {
                if !variables.contains(name.as_str()) {
                    return fail(format!("item {n}: variable '{name}' is not declared"));
                }
            }
            PromptSource::System { .. } => {}
        }
    }
    Ok(())
}

/// The `${name}` placeholders of a template; an unclosed `${` is an error.
pub fn placeholders(template: &str) -> Result<Vec<&str>, String> {
    let mut names = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return Err("a '${' is not closed by '}'".into());
        };
        names.push(&after[..end]);
        rest = &after[end + 1..];
    }
    Ok(names)
}

fn check_template(
    node: &IvrNode,
    field: &str,
    template: &str,
    variables: &BTreeSet<&str>,
) -> Result<(), FieldError> {
    let names = placeholders(template).map_err(|m| node_error(node, format!("{field}: {m}")))?;
    for name in names {
        if !variables.contains(name) && SystemVariable::from_name(name).is_none() {
            return Err(node_error(
                node,
                format!("{field}: variable '{name}' is not declared"),
            ));
        }
    }
    Ok(())
}

fn check_action(
    node: &IvrNode,
    variables: &BTreeSet<&str>,
    lookups: &FlowLookups,
) -> Result<(), FieldError> {
    let fail = |message: String| Err(node_error(node, message));
    let declared = |name: &str| variables.contains(name);
    match &node.action {
        NodeAction::Menu(menu) => {
            if menu.options.is_empty() {
                return fail("a menu needs at least one key".into());
            }
            let mut seen = BTreeSet::new();
            for option in &menu.options {
                if !DTMF_KEYS.contains(option.key) {
                    return fail(format!("'{}' is not a phone key", option.key));
                }
                if !seen.insert(option.key) {
                    return fail(format!("key {} is used twice", option.key));
                }
            }
            if !(1..=60).contains(&menu.timeout_seconds) {
                return fail("timeoutSeconds must be 1 to 60".into());
            }
            if !(1..=9).contains(&menu.max_attempts) {
                return fail("maxAttempts must be 1 to 9".into());
            }
        }
        NodeAction::Transfer(transfer) => match &transfer.target {
            TransferTarget::Extension { extension_id } => {
                if !lookups.extensions.contains(extension_id) {
                    return fail(format!("extension {extension_id} does not exist"));
                }
            }
            TransferTarget::Queue { queue_id } => {
                if !lookups.queues.contains(queue_id) {
                    return fail(format!("queue {queue_id} does not exist"));
                }
            }
            TransferTarget::Variable { name } => {
                if !declared(name) {
                    return fail(format!("variable '{name}' is not declared"));
                }
            }
        },
        NodeAction::TimeCondition { rules, .. } => {
            if rules.len() > 50 {
                return fail("at most 50 rules".into());
            }
            for (i, rule) in rules.iter().enumerate() {
                if rule.weekdays.is_empty() || rule.weekdays.iter().any(|d| !(1..=7).contains(d)) {
                    return fail(format!(
                        "rule {}: weekdays are 1 (Monday) to 7 (Sunday), at least one",
                        i + 1
                    ));
                }
                if rule.start == rule.end {
                    return fail(format!("rule {}: start and end are the same", i + 1));
                }
            }
        }
        NodeAction::CallerArea { rules, .. } => {
            if rules.len() > 50 {
                return fail("at most 50 rules".into());
            }
            for (i, rule) in rules.iter().enumerate() {
                let bad = rule.regions.is_empty()
                    || rule
                        .regions
                        .iter()
                        .any(|r| r.trim().is_empty() || r.chars().count() > 32);
                if bad {
                    return fail(format!(
                        "rule {}: name at least one region of at most 32 characters",
                        i + 1
                    ));
                }
            }
        }
        NodeAction::Voicemail { max_seconds, .. } => {
            if !(1..=600).contains(max_seconds) {
                return fail("maxSeconds must be 1 to 600".into());
            }
        }
        NodeAction::CollectDigits(collect) => {
            if collect.min_digits < 1
                || collect.max_digits > 32
                || collect.min_digits > collect.max_digits
            {
                return fail("digits: 1 <= minDigits <= maxDigits <= 32".into());
            }
            if collect.terminator.is_some_and(|t| !DTMF_KEYS.contains(t)) {
                return fail("the terminator is not a phone key".into());
            }
            if !(1..=60).contains(&collect.timeout_seconds) {
                return fail("timeoutSeconds must be 1 to 60".into());
            }
            if !declared(&collect.variable) {
                return fail(format!("variable '{}' is not declared", collect.variable));
            }
        }
        NodeAction::Http(http) => {
            let url = http.url.trim();
            if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() > 1_000 {
                return fail(
                    "url must start with http:// or https:// (at most 1000 characters)".into(),
                );
            }
            check_template(node, "url", url, variables)?;
            if http.body.len() > 10_000 {
                return fail("body is at most 10000 characters".into());
            }
            check_template(node, "body", &http.body, variables)?;
            if !(100..=10_000).contains(&http.timeout_ms) {
                return fail("timeoutMs must be 100 to 10000".into());
            }
            for output in &http.outputs {
                if output.field.trim().is_empty() {
                    return fail("an output needs a field".into());
                }
                if !declared(&output.variable) {
                    return fail(format!("variable '{}' is not declared", output.variable));
                }
            }
        }
        NodeAction::Playback { .. } | NodeAction::Hangup { .. } => {}
    }
    Ok(())
}

/// Whether a call passes through `node` without hearing anything or being asked for input:
/// such nodes must not form a loop, or a call would spin forever.
fn is_silent(node: &IvrNode) -> bool {
    let plays = node
        .action
        .prompt_lists()
        .iter()
        .any(|(_, prompts)| !prompts.is_empty());
    let waits = matches!(
        node.action,
        NodeAction::Menu(_) | NodeAction::CollectDigits(_)
    );
    !plays && !waits
}

fn check_silent_loops(flow: &FlowDefinition) -> Result<(), FieldError> {
    let silent: BTreeMap<&str, &IvrNode> = flow
        .nodes
        .iter()
        .filter(|n| is_silent(n))
        .map(|n| (n.key.as_str(), n))
        .collect();
    // Depth-first search over the silent nodes; a node met again on the path closes a loop.
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        OnPath,
        Done,
    }
    let mut marks: BTreeMap<&str, Mark> = BTreeMap::new();
    for start in silent.keys() {
        if marks.contains_key(start) {
            continue;
        }
        let mut stack: Vec<(&str, usize)> = vec![(start, 0)];
        marks.insert(start, Mark::OnPath);
        while let Some((key, next)) = stack.pop() {
            let jumps: Vec<&str> = silent
                .get(key)
                .map(|n| n.action.jumps().into_iter().map(|(_, to)| to).collect())
                .unwrap_or_default();
            match jumps.get(next) {
                None => {
                    marks.insert(key, Mark::Done);
                }
                Some(&to) => {
                    stack.push((key, next + 1));
                    let Some(target) = silent.get(to) else {
                        continue;
                    };
                    match marks.get(to) {
                        Some(Mark::OnPath) => {
                            let path: Vec<&str> = stack
                                .iter()
                                .map(|(k, _)| *k)
                                .skip_while(|k| *k != to)
                                .collect();
                            return Err(node_error(
                                target,
                                format!(
                                    "loops back through {} without a prompt or an input",
                                    path.join(" → ")
                                ),
                            ));
                        }
                        Some(Mark::Done) => {}
                        None => {
                            marks.insert(to, Mark::OnPath);
                            stack.push((to, 0));
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

fn unreachable(flow: &FlowDefinition) -> Vec<&IvrNode> {
    let mut reached = BTreeSet::new();
    let mut todo = vec![flow.entry.as_str()];
    while let Some(key) = todo.pop() {
        if !reached.insert(key) {
            continue;
        }
        if let Some(node) = flow.node(key) {
            todo.extend(node.action.jumps().into_iter().map(|(_, to)| to));
        }
    }
    flow.nodes
        .iter()
        .filter(|n| !reached.contains(n.key.as_str()))
        .collect()
}
