//! Limits a request's document must keep before anything of it runs: at most one `login` in
//! a request (aliases and fragments counted), so one HTTP request cannot ask the server to
//! check hundreds of passwords.

use std::collections::HashSet;
use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{ExecutableDocument, OperationType, Selection, SelectionSet};
use async_graphql::{Pos, ServerResult, Variables};

use crate::error::ApiError;

/// The `login` fields of `document`'s mutations, where each is.
fn logins(document: &ExecutableDocument) -> Vec<Pos> {
    let mut found = Vec::new();
    for (_, operation) in document.operations.iter() {
        if operation.node.ty == OperationType::Mutation {
            let mut seen = HashSet::new();
            collect(
                document,
                &operation.node.selection_set.node,
                &mut seen,
                &mut found,
            );
        }
    }
    found
}

/// Root fields named `login` in `selections`, through inline fragments and fragment spreads
/// (each fragment followed once).
fn collect(
    document: &ExecutableDocument,
    selections: &SelectionSet,
    seen: &mut HashSet<String>,
    found: &mut Vec<Pos>,
) {
    for selection in &selections.items {
        match &selection.node {
            Selection::Field(field) if field.node.name.node.as_str() == "login" => {
                found.push(field.pos);
            }
            Selection::Field(_) => {}
            Selection::InlineFragment(fragment) => {
                collect(document, &fragment.node.selection_set.node, seen, found);
            }
            Selection::FragmentSpread(spread) => {
                let name = spread.node.fragment_name.node.to_string();
                if seen.insert(name.clone()) {
                    if let Some(fragment) = document.fragments.get(name.as_str()) {
                        collect(document, &fragment.node.selection_set.node, seen, found);
                    }
                }
            }
        }
    }
}

/// The schema extension refusing a request with more than one `login` (VALIDATION).
pub(crate) struct OneLoginPerRequest;

impl ExtensionFactory for OneLoginPerRequest {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(OneLoginPerRequest)
    }
}

#[async_trait::async_trait]
impl Extension for OneLoginPerRequest {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        let found = logins(&document);
        if let Some(second) = found.get(1) {
            let refused = ApiError::validation("login", "a request may log in once only");
            return Err(async_graphql::Error::from(refused).into_server_error(*second));
        }
        Ok(document)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(query: &str) -> usize {
        async_graphql::parser::parse_query(query)
            .map(|document| logins(&document).len())
            .unwrap_or(usize::MAX)
    }

    #[test]
    fn logins_are_counted_through_aliases_and_fragments() {
        let login = r#"login(enterprise: "a", account: "b", password: "c") { token }"#;
        assert_eq!(count(&format!("mutation {{ {login} }}")), 1);
        assert_eq!(count(&format!("mutation {{ a: {login} b: {login} }}")), 2);
        assert_eq!(
            count(&format!(
                "mutation {{ ...F ... on MutationRoot {{ x: {login} }} }} fragment F on MutationRoot {{ y: {login} ...F }}"
            )),
            2
        );
        assert_eq!(count(&format!("query {{ {login} }}")), 0);
    }
}
