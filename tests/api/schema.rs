//! The checked-in SDL is what the code generates, and it contains the product contract.
use std::collections::BTreeMap;
use std::path::PathBuf;

use async_graphql::parser::parse_schema;
use async_graphql::parser::types::{TypeKind, TypeSystemDefinition};

fn read(relative: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn checked_in_schema_is_generated_from_the_code() {
    assert!(
        read("schema.graphql") == cs_kpi::api::schema::sdl(),
        "schema.graphql is stale: regenerate it with `cargo run -- schema > schema.graphql`"
    );
}

/// Every type, field, argument (type and default), input field, enum value and scalar of an SDL
/// document, as `path -> signature`.
fn signatures(sdl: &str) -> BTreeMap<String, String> {
    let document = parse_schema(sdl).unwrap_or_else(|e| panic!("unparsable SDL: {e}"));
    let mut out = BTreeMap::new();
    for definition in document.definitions {
        let TypeSystemDefinition::Type(t) = definition else { continue };
        let name = t.node.name.node.to_string();
        let kind = match &t.node.kind {
            TypeKind::Scalar => "scalar",
            TypeKind::Object(_) => "type",
            TypeKind::Interface(_) => "interface",
            TypeKind::Union(_) => "union",
            TypeKind::Enum(_) => "enum",
            TypeKind::InputObject(_) => "input",
        };
        out.insert(name.clone(), kind.to_owned());
        match &t.node.kind {
            TypeKind::Object(object) => {
                for field in &object.fields {
                    let field_name = format!("{name}.{}", field.node.name.node);
                    out.insert(field_name.clone(), field.node.ty.node.to_string());
                    for argument in &field.node.arguments {
                        let default =
                            argument.node.default_value.as_ref().map(|v| v.node.to_string()).unwrap_or_default();
                        out.insert(
                            format!("{field_name}({})", argument.node.name.node),
                            format!("{} = {default}", argument.node.ty.node),
                        );
                    }
                }
            }
            TypeKind::InputObject(input) => {
                for field in &input.fields {
                    let default = field.node.default_value.as_ref().map(|v| v.node.to_string()).unwrap_or_default();
                    out.insert(
                        format!("{name}.{}", field.node.name.node),
                        format!("{} = {default}", field.node.ty.node),
                    );
                }
            }
            TypeKind::Enum(e) => {
                for value in &e.values {
                    out.insert(format!("{name}::{}", value.node.value.node), "value".to_owned());
                }
            }
            _ => {}
        }
    }
    out
}

#[test]
fn schema_contains_the_product_contract() {
    let schema = signatures(&cs_kpi::api::schema::sdl());
    let contract = signatures(&read("tests/contract.graphql"));
    let problems: Vec<String> = contract
        .iter()
        .filter(|(path, signature)| schema.get(*path) != Some(signature))
        .map(|(path, signature)| format!("{path}: contract {signature:?}, schema {:?}", schema.get(path)))
        .collect();
    assert!(problems.is_empty(), "the schema differs from the contract:\n{}", problems.join("\n"));
    assert!(contract.len() > 300, "the contract was not read: {} items", contract.len());
}
