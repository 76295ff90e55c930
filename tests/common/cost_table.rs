//! The cost section of terraform/README.md, read back: the per-install request table and
//! the request counts and prices of the cost table, so a test can hold them to a measurement.

use std::collections::BTreeMap;

/// The requests of one `terraform init`, by what they are: `(method, route)`, where route is
/// `discovery`, `versions`, `download` or `archive`.
pub type RequestCounts = BTreeMap<(String, &'static str), u64>;

pub struct CostSection {
    /// From the per-install table: `(method, route) -> (count, runs the viewer-request function)`.
    pub per_install: BTreeMap<(String, &'static str), (u64, bool)>,
    /// The cost table's rows: name -> the cells after the name (warm, nothing cached, seed).
    pub cost_rows: BTreeMap<String, Vec<String>>,
}

pub fn readme() -> String {
    std::fs::read_to_string(tfreg_testkit::workspace_root().join("terraform/README.md"))
        .expect("terraform/README.md")
}

/// What route a request path is, in the table's words.
pub fn route_of(path: &str) -> Option<&'static str> {
    if path == "/.well-known/terraform.json" {
        Some("discovery")
    } else if path.starts_with("/archives/") {
        Some("archive")
    } else if path.starts_with("/v1/modules/") && path.ends_with("/versions") {
        Some("versions")
    } else if path.starts_with("/v1/modules/") && path.ends_with("/download") {
        Some("download")
    } else {
        None
    }
}

fn cells(line: &str) -> Vec<String> {
    line.trim()
        .trim_matches('|')
        .split('|')
        .map(|c| c.trim().to_owned())
        .collect()
}

pub fn parse(readme: &str) -> CostSection {
    let section = &readme[readme.find("\n## Cost\n").expect("a Cost section")..];
    let section = &section[..section[1..].find("\n## ").map_or(section.len(), |i| i + 1)];
    let mut per_install = BTreeMap::new();
    let mut cost_rows = BTreeMap::new();
    for line in section.lines().filter(|l| l.starts_with('|')) {
        let row = cells(line);
        // "`GET /archives/…?…`": a method and a path in backquotes.
        if let Some(request) = row[0].strip_prefix('`').and_then(|r| r.strip_suffix('`')) {
            let (method, path) = request.split_once(' ').expect("`METHOD path`");
            // The table elides the module's path (`…/versions`).
            let path = path.split('?').next().unwrap();
            let route = match path {
                "/.well-known/terraform.json" => "discovery",
                _ if path.starts_with("/archives/") => "archive",
                _ if path.ends_with("/versions") => "versions",
                _ if path.ends_with("/download") => "download",
                _ => panic!("unknown route in {line}"),
            };
            let count = row[1].parse().unwrap_or_else(|_| panic!("count in {line}"));
            let function = match row[2].as_str() {
                "yes" => true,
                "no" => false,
                other => panic!("viewer-request function {other:?} in {line}"),
            };
            per_install.insert((method.to_owned(), route), (count, function));
        } else if row.len() == 4 && !row[0].starts_with("---") {
            cost_rows.insert(row[0].clone(), row[1..].to_vec());
        }
    }
    CostSection {
        per_install,
        cost_rows,
    }
}

/// `"$2.43 (4 M + 500 GB-s)"` -> (2.43, the numbers in the brackets: [4.0, 500.0]).
pub fn dollars_and_counts(cell: &str) -> (f64, Vec<f64>) {
    let cell = cell.trim_matches('*');
    let dollars = cell
        .strip_prefix('$')
        .and_then(|c| c.split([' ', '*']).next())
        .and_then(|d| d.parse().ok())
        .unwrap_or_else(|| panic!("a dollar figure in {cell:?}"));
    let counts = cell
        .split_once('(')
        .map(|(_, rest)| {
            rest.split(|c: char| !(c.is_ascii_digit() || c == ',' || c == '.'))
                .filter_map(|n| n.replace(',', "").parse().ok())
                .collect()
        })
        .unwrap_or_default();
    (dollars, counts)
}
