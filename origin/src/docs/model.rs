//! The extracted documentation, in the shape of the Terraform Registry API's module details
//! (`root`, `submodules`, `examples`, each with `inputs`, `outputs`, `dependencies`,
//! `provider_dependencies`, `resources`), plus what this registry adds (marked below).

use serde::{Deserialize, Serialize};

/// Everything the registry shows about one module version, computed once at publish.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModuleDocs {
    /// The module at the archive root.
    pub root: ModulePart,
    /// Each `modules/*` directory, sorted by path.
    pub submodules: Vec<ModulePart>,
    /// Each `examples/*` directory, sorted by path.
    pub examples: Vec<ModulePart>,
    /// Added: false when some Terraform file could not be read or parsed (or was left out by a
    /// limit), so the inputs and outputs shown may be incomplete.
    pub docs_available: bool,
    /// Added: every problem met, each naming its file, in the order found.
    pub parse_errors: Vec<String>,
}

/// One directory of the module: the root, a submodule or an example.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ModulePart {
    /// `""` for the root, else `modules/x` or `examples/x`.
    pub path: String,
    /// The directory's name (`""` for the root, which the API layer names after the module).
    pub name: String,
    /// `README.md` as written (raw markdown, raw HTML in it included: never put it in a page
    /// as HTML, use `readme_html`); empty when there is none or it was left out.
    pub readme: String,
    /// Added: the README rendered to HTML and sanitised; empty when there is none.
    pub readme_html: String,
    /// True when no Terraform file of the directory was parsed (none there, or none valid).
    pub empty: bool,
    pub inputs: Vec<Input>,
    pub outputs: Vec<Output>,
    /// Module calls (`module "x" { source, version }`).
    pub dependencies: Vec<ModuleCall>,
    pub provider_dependencies: Vec<ProviderDependency>,
    pub resources: Vec<Resource>,
    /// Added: `terraform { required_version }`, when set.
    pub required_version: Option<String>,
}

/// A `variable` block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Input {
    pub name: String,
    /// The type constraint as HCL (`list(string)`, `object({name = string})`); empty when
    /// none is declared.
    #[serde(rename = "type")]
    pub type_: String,
    pub description: String,
    /// The default as JSON; `null` when there is none (then `required` is true) or when it is
    /// `null`. An expression that is not a literal is given as its `${…}` source.
    pub default: serde_json::Value,
    /// True when there is no `default`.
    pub required: bool,
    /// Added.
    pub sensitive: bool,
    /// Added: Terraform's default (true) unless `nullable = false`.
    pub nullable: bool,
    /// Added: at least one `validation` block.
    pub has_validation: bool,
}

/// An `output` block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Output {
    pub name: String,
    pub description: String,
    /// Added.
    pub sensitive: bool,
}

/// A `module` block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModuleCall {
    pub name: String,
    pub source: String,
    /// The version constraint; empty when none.
    pub version: String,
}

/// An entry of `terraform { required_providers { … } }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProviderDependency {
    /// The local name (`aws`).
    pub name: String,
    /// The source's namespace (`hashicorp`); for a bare name, `hashicorp` as Terraform assumes.
    pub namespace: String,
    /// The source address as written (`hashicorp/aws`); for the legacy string syntax,
    /// `hashicorp/<name>` as Terraform assumes.
    pub source: String,
    /// The version constraint; empty when none.
    pub version: String,
}

/// A `resource` block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    pub name: String,
    #[serde(rename = "type")]
    pub type_: String,
}
