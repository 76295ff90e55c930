//! Reads one `.tf` file with a real HCL parser (`hcl-rs`) and adds what it declares to the
//! directory's [`ModulePart`]. Expressions are never evaluated: a type constraint is kept as
//! its HCL text, a default as the JSON of its literal (or the `${…}` text of an expression).

use hcl::expr::{Expression, ObjectKey};
use hcl::format::Format;
use hcl::{Block, Body};

use super::model::{Input, ModuleCall, ModulePart, Output, ProviderDependency, Resource};
use super::problem::DocsProblem;

/// Parses `text` (the contents of `file`) and adds its variables, outputs, module calls,
/// resources and `terraform` settings to `part`. On a parse error nothing is added.
pub(super) fn read_terraform_file(
    file: &str,
    text: &str,
    part: &mut ModulePart,
) -> Result<(), DocsProblem> {
    let body = hcl::parse(text).map_err(|error| DocsProblem::InvalidHcl {
        file: file.to_owned(),
        message: error.to_string(),
    })?;
    for block in body.blocks() {
        let labels: Vec<&str> = block.labels().iter().map(|label| label.as_str()).collect();
        match (block.identifier(), labels.as_slice()) {
            ("variable", [name]) => part.inputs.push(input(name, block.body())),
            ("output", [name]) => part.outputs.push(Output {
                name: (*name).to_owned(),
                description: text_attribute(block.body(), "description"),
                sensitive: bool_attribute(block.body(), "sensitive", false),
            }),
            ("module", [name]) => part.dependencies.push(ModuleCall {
                name: (*name).to_owned(),
                source: text_attribute(block.body(), "source"),
                version: text_attribute(block.body(), "version"),
            }),
            ("resource", [type_, name]) => part.resources.push(Resource {
                name: (*name).to_owned(),
                type_: (*type_).to_owned(),
            }),
            ("terraform", []) => read_terraform_block(block, part),
            _ => {}
        }
    }
    Ok(())
}

fn input(name: &str, body: &Body) -> Input {
    let default = attribute(body, "default");
    Input {
        name: name.to_owned(),
        type_: attribute(body, "type").map(hcl_text).unwrap_or_default(),
        description: text_attribute(body, "description"),
        default: default.map(json_value).unwrap_or(serde_json::Value::Null),
        required: default.is_none(),
        sensitive: bool_attribute(body, "sensitive", false),
        nullable: bool_attribute(body, "nullable", true),
        has_validation: body
            .blocks()
            .any(|block| block.identifier() == "validation"),
    }
}

fn read_terraform_block(block: &Block, part: &mut ModulePart) {
    if let Some(version) = attribute(block.body(), "required_version") {
        part.required_version = Some(string_of(version));
    }
    let required_providers = block
        .body()
        .blocks()
        .filter(|block| block.identifier() == "required_providers");
    for providers in required_providers {
        for provider in providers.body().attributes() {
            part.provider_dependencies
                .push(provider_dependency(provider.key(), provider.expr()));
        }
    }
}

/// An entry of `required_providers`: `aws = { source = "hashicorp/aws", version = "~> 5.0" }`
/// or the legacy `aws = "~> 5.0"`.
fn provider_dependency(name: &str, requirement: &Expression) -> ProviderDependency {
    let (source, version) = match requirement {
        Expression::Object(fields) => {
            let field = |wanted: &str| {
                fields
                    .iter()
                    .find(|(key, _)| object_key(key) == wanted)
                    .map(|(_, value)| string_of(value))
            };
            (field("source"), field("version").unwrap_or_default())
        }
        other => (None, string_of(other)),
    };
    // Without a source, Terraform assumes the provider is hashicorp's.
    let source = source.unwrap_or_else(|| format!("hashicorp/{name}"));
    let parts: Vec<&str> = source.split('/').collect();
    let namespace = match parts.as_slice() {
        [_] => "hashicorp".to_owned(),
        [.., namespace, _] => (*namespace).to_owned(),
        [] => String::new(),
    };
    ProviderDependency {
        name: name.to_owned(),
        namespace,
        source,
        version,
    }
}

fn attribute<'a>(body: &'a Body, key: &str) -> Option<&'a Expression> {
    body.attributes()
        .find(|attribute| attribute.key() == key)
        .map(|attribute| attribute.expr())
}

fn text_attribute(body: &Body, key: &str) -> String {
    attribute(body, key).map(string_of).unwrap_or_default()
}

fn bool_attribute(body: &Body, key: &str, default: bool) -> bool {
    match attribute(body, key) {
        Some(Expression::Bool(value)) => *value,
        _ => default,
    }
}

fn object_key(key: &ObjectKey) -> String {
    match key {
        ObjectKey::Expression(Expression::String(text)) => text.clone(),
        other => other.to_string(),
    }
}

/// A string literal's value; anything else (a heredoc, a template, a reference) as text.
fn string_of(expr: &Expression) -> String {
    match hcl::Value::from(expr.clone()) {
        hcl::Value::String(text) => text,
        _ => hcl_text(expr),
    }
}

/// The expression as compact HCL: `list(string)`, `object({name = string})`.
fn hcl_text(expr: &Expression) -> String {
    let mut formatter = hcl::format::Formatter::builder().compact(true).build_vec();
    expr.format_string(&mut formatter).unwrap_or_default()
}

fn json_value(expr: &Expression) -> serde_json::Value {
    serde_json::to_value(hcl::Value::from(expr.clone())).unwrap_or(serde_json::Value::Null)
}
