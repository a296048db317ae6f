// Validating a capacity sweep's JSON against results/sweep-schema.json, with the run
// schema it refers to (`"$ref": "schema.json"` for each step's report) registered
// next to it, as the two files lie in results/.
#![allow(dead_code)] // each test binary uses some of it

use serde_json::Value;

/// A schema file of results/, parsed.
pub fn schema(name: &str) -> Value {
    let path = format!("{}/results/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// The sweep schema's validator.
pub fn validator() -> jsonschema::Validator {
    let registry = jsonschema::Registry::new()
        .add("file:///synfin/results/schema.json", schema("schema.json"))
        .expect("the run schema registers")
        .prepare()
        .expect("the registry prepares");
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .with_base_uri("file:///synfin/results/sweep-schema.json")
        .with_registry(&registry)
        .build(&schema("sweep-schema.json"))
        .expect("results/sweep-schema.json is a valid draft 2020-12 schema")
}

/// What is wrong with `v` as a sweep's JSON (nothing: empty).
pub fn errors(v: &Value) -> Vec<String> {
    validator()
        .iter_errors(v)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

/// Asserts that `v` matches the sweep schema.
#[track_caller]
pub fn assert_valid(v: &Value, what: &str) {
    let errors = errors(v);
    assert!(
        errors.is_empty(),
        "{what} does not match results/sweep-schema.json: {errors:#?}"
    );
}
